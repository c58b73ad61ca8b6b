#!/usr/bin/env bash
# Explores: runs every fuzz target (or those named) for SECONDS each, after
# one build. Not part of CI, which only replays the committed corpus and
# regressions (cd fuzz && cargo test): a random search may find something
# new in any run, and a find is fixed in a change of its own.
#
#   bash fuzz/run.sh [--jobs N] [--update-corpus] [SECONDS] [TARGET...]
#
#   SECONDS          time per target (default 300); long runs 3600+
#   --jobs N         fuzz N targets at a time (default 1: one core each)
#   --update-corpus  merge what a run found into fuzz/corpus (minimised);
#                    without it the committed corpus is only read, new inputs
#                    go to a scratch directory and the tree stays clean
#
# Environment: FUZZ_TOOLCHAIN (default stable; cargo-fuzz's -Z flags are
# accepted there through RUSTC_BOOTSTRAP=1, so no nightly is needed),
# FUZZ_SANITIZER (address by default, or none), FUZZ_LOG_DIR (scratch
# directory, kept when set).
#
# Exit status: 0 when every target ran clean; 1 on a crash, a failed
# property or a timeout (the input is saved under fuzz/artifacts/TARGET/ and
# its path printed). Then: minimise it (`fuzz/target/<triple>/release/TARGET
# -minimize_crash=1 -runs=10000 PATH`, or `cargo fuzz tmin TARGET PATH`),
# and commit the result as fuzz/regressions/TARGET/<what-it-is> in the same
# change as its fix; see fuzz/README.md.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz_dir")
cd "$root"

jobs=1
update=0
seconds=300
targets=()
while (($#)); do
  case $1 in
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --jobs=*) jobs=${1#--jobs=}; shift ;;
    --update-corpus) update=1; shift ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    [0-9]*) seconds=$1; shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ $seconds =~ ^[0-9]+$ && $jobs =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [--jobs N] [--update-corpus] [SECONDS] [TARGET...]" >&2; exit 2; }

export RUSTUP_TOOLCHAIN=${FUZZ_TOOLCHAIN:-stable}
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

all_targets=$(cargo fuzz list --fuzz-dir "$fuzz_dir")
if ((${#targets[@]} == 0)); then
  mapfile -t targets <<<"$all_targets"
fi
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all_targets" || { echo "unknown target $t (have: $(echo $all_targets))" >&2; exit 2; }
done

build() { cargo fuzz build --fuzz-dir "$fuzz_dir" -s "$1"; }
echo "==> building ${#targets[@]} fuzz targets ($RUSTUP_TOOLCHAIN, sanitizer $sanitizer)"
start_build=$SECONDS
if ! build "$sanitizer"; then
  [[ $sanitizer == none ]] && exit 1
  echo "warning: the $sanitizer build failed; building without a sanitizer" >&2
  build none
fi
echo "built in $((SECONDS - start_build)) s"
triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="$fuzz_dir/target/$triple/release"

log_dir=${FUZZ_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/smtp-fuzz.XXXXXX")}
mkdir -p "$log_dir"
[[ -n ${FUZZ_LOG_DIR:-} ]] || trap 'rm -rf "$log_dir"' EXIT

# Inputs longer than libFuzzer's default 4 KiB matter for replies (the 8 KiB
# line limit) and message bodies.
max_len() {
  case $1 in
    reply | data | bdat) echo 20000 ;;
    header | envelope) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

run_one() {
  local t=$1 scratch="$log_dir/$1.corpus" log="$log_dir/$1.log"
  local dirs=("$scratch" "$fuzz_dir/corpus/$t")
  mkdir -p "$scratch" "$fuzz_dir/corpus/$t" "$fuzz_dir/artifacts/$t"
  [[ -d $fuzz_dir/regressions/$t ]] && dirs+=("$fuzz_dir/regressions/$t")
  local rc=0
  "$bin_dir/$t" "${dirs[@]}" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
    -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$fuzz_dir/artifacts/$t/" >"$log" 2>&1 || rc=$?
  echo "$rc" >"$log_dir/$t.rc"
}

echo "==> fuzzing ${#targets[@]} targets for ${seconds}s each, $jobs at a time (logs: $log_dir)"
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait || true

failed=0
total_runs=0
printf '\n%-20s %8s %12s %10s %8s  %s\n' target seconds executions exec/s new status
for t in "${targets[@]}"; do
  log="$log_dir/$t.log"
  rc=$(cat "$log_dir/$t.rc" 2>/dev/null || echo 99)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [[ -n $runs ]] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
  status=ok
  if [[ $rc != 0 ]]; then
    status="FAILED (exit $rc)"
    failed=1
  fi
  printf '%-20s %8s %12s %10s %8s  %s\n' "$t" "$seconds" "${runs:-?}" "${rate:-?}" "${new:-?}" "$status"
  total_runs=$((total_runs + ${runs:-0}))
  if [[ $rc != 0 ]]; then
    grep -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY' "$log" | head -5 | sed 's/^/    /'
    sed -n 's/.*Test unit written to \(.*\)/    crashing input: \1/p' "$log" | head -3
    echo "    full log: $log"
  fi
done
echo "total executions: $total_runs"

if ((update)); then
  echo "==> merging new inputs into fuzz/corpus"
  for t in "${targets[@]}"; do
    "$bin_dir/$t" -merge=1 -max_len="$(max_len "$t")" "$fuzz_dir/corpus/$t" "$log_dir/$t.corpus" \
      >"$log_dir/$t.merge.log" 2>&1 || echo "merge failed for $t (see $log_dir/$t.merge.log)"
  done
fi

if ((failed)); then
  [[ -n ${FUZZ_LOG_DIR:-} ]] || { trap - EXIT; echo "logs kept in $log_dir"; }
  exit 1
fi
