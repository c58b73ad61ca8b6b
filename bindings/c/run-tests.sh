#!/usr/bin/env bash
# Runs the C test programs in DIR (every executable DIR/test_*), each under
# $SMTP_TEST_WRAPPER if set (e.g. valgrind), and ends with the sum of their
# results as one line: "N passed, N failed" (", N skipped" when some were).
#
#   run-tests.sh DIR
#
# The test bed is read from $SMTP_TESTBED_ENV (a shell-sourceable file, see
# tests/testbed/README.md); without it the tests that need a server are
# skipped, or failed when SMTP_TESTBED_REQUIRED=1. A program that exits
# non-zero without reporting a failure (a crash, a sanitizer or valgrind
# error) counts as one failed test. Each program's stderr is kept in
# DIR/logs/NAME.log and shown when it fails. SMTP_SCRIPT_SERVER names the
# scripted server program (tests/src/bin/script-server/main.rs) that
# test_starttls and test_secrets start; the Makefile sets it.
set -u

dir=${1:?usage: run-tests.sh DIR}
if [ -n "${SMTP_TESTBED_ENV:-}" ]; then
    if [ ! -r "$SMTP_TESTBED_ENV" ]; then
        echo "run-tests.sh: cannot read SMTP_TESTBED_ENV=$SMTP_TESTBED_ENV" >&2
        exit 2
    fi
    set -a
    # shellcheck disable=SC1090
    . "$SMTP_TESTBED_ENV"
    set +a
fi
read -r -a wrapper <<< "${SMTP_TEST_WRAPPER:-}"

mkdir -p "$dir/logs"
passed=0 failed=0 skipped=0 programs=0
# SMTP_TEST_ONLY=NAME runs that program alone (the Happy Eyeballs test in
# its network namespace, see the Makefile).
for t in "$dir"/${SMTP_TEST_ONLY:-test_*}; do
    if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
    name=${t##*/}
    log=$dir/logs/$name.log
    programs=$((programs + 1))
    out=$("${wrapper[@]}" "$t" 2> "$log")
    rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    p=0 f=0 s=0
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]; then
        p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[4]:-0}
    fi
    note=""
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        note=" (exit status $rc without a reported failure: crash, sanitizer or valgrind error)"
    fi
    if [ -z "$line" ] && [ "$rc" -eq 0 ]; then
        f=1
        note=" (no result line)"
    fi
    printf '  %-14s -> %d passed, %d failed, %d skipped%s\n' "$name" "$p" "$f" "$s" "$note"
    # valgrind's and LeakSanitizer's summaries, when there are any.
    grep -E 'ERROR SUMMARY|definitely lost|SUMMARY: (Address|Leak|Undefined)' "$log" | sed 's/^/      /'
    if [ "$f" -ne 0 ]; then
        echo "  ---- $name stderr ($log) ----"
        tail -n 200 "$log" | sed 's/^/  | /'
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done

if [ "$programs" -eq 0 ]; then
    echo "run-tests.sh: no test programs in $dir" >&2
    failed=1
fi
if [ "$skipped" -ne 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
