#!/usr/bin/env bash
# Soak test: sends mail for MINUTES minutes with CONCURRENCY connections at
# once (default 8) from Rust (the release build of tests/tests/load.rs's
# `soak` test) and, at the same time, from C (bindings/c's test_load, in a
# loop), to the test bed's discard port; checks that Postfix counted every
# message and that the Rust process's memory stayed flat; prints a summary.
#
#   tests/soak.sh MINUTES [CONCURRENCY]
#
# Uses the running test bed named by SMTP_TESTBED_ENV, or starts one in a
# temporary directory (tests/testbed/start.sh, as root) and stops it at
# the end.
set -euo pipefail

minutes=${1:?usage: tests/soak.sh MINUTES [CONCURRENCY]}
concurrency=${2:-8}
case $minutes$concurrency in *[!0-9]*) echo "soak.sh: MINUTES and CONCURRENCY are whole numbers" >&2; exit 64 ;; esac
[ "$minutes" -gt 0 ] && [ "$concurrency" -gt 0 ] || { echo "soak.sh: both must be > 0" >&2; exit 64; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

started_bed=""
if [ -z "${SMTP_TESTBED_ENV:-}" ]; then
    bed_dir=$(mktemp -d "${TMPDIR:-/tmp}/smtp-soak.XXXXXX")
    bash tests/testbed/start.sh "$bed_dir" >/dev/null
    export SMTP_TESTBED_ENV=$bed_dir/testbed.env
    started_bed=$bed_dir
fi
cleanup() {
    if [ -n "$started_bed" ]; then bash tests/testbed/stop.sh "$started_bed" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
export SMTP_TESTBED_REQUIRED=1
seconds=$((minutes * 60))

echo "soak: building (release Rust load test, C test_load)..."
cargo test --release -p smtp-tests --test load --no-run >/dev/null 2>&1 ||
    cargo test --release -p smtp-tests --test load --no-run
make -s -C bindings/c lib tests >/dev/null

logs=$(mktemp -d "${TMPDIR:-/tmp}/smtp-soak-logs.XXXXXX")
echo "soak: $minutes minute(s), $concurrency Rust connections at once, C load in a loop; logs in $logs"

# Rust: one process for the whole time (memory is measured across it).
SMTP_SOAK_SECONDS=$seconds SMTP_SOAK_CONCURRENCY=$concurrency \
    cargo test --release -q -p smtp-tests --test load -- --ignored --exact soak --nocapture \
    > "$logs/rust.log" 2>&1 &
rust_pid=$!

# C: test_load (8 threads + one connection) again and again until the time is up.
c_runs=0 c_failed=0 c_sent=0
deadline=$((SECONDS + seconds))
while [ $SECONDS -lt $deadline ]; do
    c_runs=$((c_runs + 1))
    (set -a; . "$SMTP_TESTBED_ENV"; set +a
     SMTP_LOAD_C_PER_THREAD=200 SMTP_LOAD_C_SINGLE=1000 bindings/c/build/test_load) \
        > "$logs/c-$c_runs.out" 2> "$logs/c-$c_runs.err" || c_failed=$((c_failed + 1))
    n=$(sed -n 's/^# .*: sent \([0-9]*\), Postfix counted \([0-9]*\)$/\1 \2/p' "$logs/c-$c_runs.out" |
        awk '$1 == $2 { s += $1 } $1 != $2 { bad = 1 } END { print (bad ? -1 : s + 0) }')
    if [ "$n" -lt 0 ]; then c_failed=$((c_failed + 1)); else c_sent=$((c_sent + n)); fi
done

rust_rc=0
wait "$rust_pid" || rust_rc=$?
rust_line=$(grep '^SOAK:' "$logs/rust.log" || true)

echo
echo "==== soak summary ($minutes min, concurrency $concurrency) ===="
echo "Rust: ${rust_line:-no summary line (see $logs/rust.log)} -> $([ $rust_rc -eq 0 ] && echo OK || echo FAILED)"
echo "C:    $c_runs run(s) of test_load, $c_sent messages counted by Postfix, $c_failed failed run(s)"
if [ "$rust_rc" -ne 0 ]; then tail -n 40 "$logs/rust.log"; fi
[ "$rust_rc" -eq 0 ] && [ "$c_failed" -eq 0 ] && [ "$c_runs" -gt 0 ]
