#!/usr/bin/env bash
# Builds libsmtp (cargo, release) and the scripted fault-injection server
# (tests/src/bin/script-server/, cargo, debug) and runs the PHP bindings'
# PHPUnit suite against them, and against the test bed named by
# SMTP_TESTBED_ENV (see tests/testbed/README.md). With
# SMTP_TESTBED_REQUIRED=1 a missing bed (or script server) fails the
# server tests instead of skipping them. Exits non-zero on any
# failure; the last line sums up: "N passed, N failed[, N skipped]".
#
#   bindings/php/run-tests.sh [PHPUNIT ARGS...]     e.g. --filter Legacy
#
# Needs: cargo, php8.1+ with FFI (Debian: php8.2-cli), phpunit (Debian
# package), mbstring (php8.2-mbstring), cpp (the header test).
# SMTP_LIBRARY may name another libsmtp.so to test; by default the one
# just built in target/release is used. SMTP_SCRIPT_SERVER may name
# another script-server program; by default the one just built in
# target/debug. Both follow CARGO_TARGET_DIR.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

cargo build --release -p smtp-ffi --manifest-path "$root/Cargo.toml"
export SMTP_LIBRARY=${SMTP_LIBRARY:-$target/release/libsmtp.so}
cargo build -p smtp-tests --bin script-server --manifest-path "$root/Cargo.toml"
export SMTP_SCRIPT_SERVER=${SMTP_SCRIPT_SERVER:-$target/debug/script-server}

php=${PHP:-php}
phpunit=${PHPUNIT:-phpunit}
if ! "$php" -r 'exit(extension_loaded("ffi") ? 0 : 1);'; then
    echo "run-tests.sh: PHP's FFI extension is not loaded ($php)" >&2
    exit 2
fi
command -v "$phpunit" >/dev/null || { echo "run-tests.sh: phpunit not found (apt-get install phpunit)" >&2; exit 2; }

if [ -n "${SMTP_TESTBED_ENV:-}" ] && [ ! -r "$SMTP_TESTBED_ENV" ]; then
    echo "run-tests.sh: cannot read SMTP_TESTBED_ENV=$SMTP_TESTBED_ENV" >&2
    exit 2
fi

junit=$(mktemp "${TMPDIR:-/tmp}/smtp-php-junit.XXXXXX")
trap 'rm -f "$junit"' EXIT
rc=0
"$php" "$(command -v "$phpunit")" --configuration "$here/phpunit.xml" --log-junit "$junit" "$@" || rc=$?

# One summary line, like bindings/c/run-tests.sh.
"$php" -r '
    $x = @simplexml_load_file($argv[1]);
    if ($x === false || !isset($x->testsuite)) { echo "0 passed, 1 failed (no PHPUnit results)\n"; exit(1); }
    $s = $x->testsuite->attributes();
    $tests = (int) $s["tests"]; $failed = (int) $s["failures"] + (int) $s["errors"]; $skipped = (int) $s["skipped"];
    $passed = $tests - $failed - $skipped;
    echo $skipped > 0 ? "$passed passed, $failed failed, $skipped skipped\n" : "$passed passed, $failed failed\n";
' "$junit" || rc=1
exit "$rc"
