#!/usr/bin/env bash
# The benchmark harness in one command (see bench/README.md):
#
#   bash bench/run.sh            # the full run (about 5 minutes), prints the table
#   bash bench/run.sh --quick    # every client briefly, small counts (CI smoke run)
#   bash bench/run.sh --help     # the harness's options (--rtt, --count, --out ...)
#
# Installs what is missing (Debian, as root: Postfix + Dovecot for the test
# bed, smtp-sink comes with Postfix, PHP CLI, PHPMailer, a C compiler),
# builds the clients in release mode, then runs bench/harness.py, which
# starts its own servers on free loopback ports (or uses the running test
# bed named by SMTP_TESTBED_ENV) and stops them at the end. Exits non-zero
# if any client failed.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
prog=bench/run.sh
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

for arg in "$@"; do
    case $arg in
        -h|--help) exec python3 bench/harness.py --help ;;
    esac
done

# ----- install (only what is missing) -----------------------------------------
apt_install() {
    [ "$(id -u)" -eq 0 ] || die "missing packages ($*); run as root or install them"
    note "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$@" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$@" >/dev/null; } ||
        die "apt-get install $* failed"
}

if [ -z "${SMTP_TESTBED_ENV:-}" ] || ! command -v php >/dev/null 2>&1; then
    if ! command -v postfix >/dev/null 2>&1 || ! command -v dovecot >/dev/null 2>&1 ||
        ! command -v php >/dev/null 2>&1; then
        bash tests/testbed/install.sh --with-php
    fi
fi
command -v smtp-sink >/dev/null 2>&1 || [ -x /usr/sbin/smtp-sink ] || apt_install postfix
[ -f /usr/share/php/libphp-phpmailer/autoload.php ] || apt_install libphp-phpmailer
command -v cc >/dev/null 2>&1 || apt_install gcc libc6-dev
command -v python3 >/dev/null 2>&1 || apt_install python3
[ -x /usr/bin/time ] || apt_install time

# ----- build ------------------------------------------------------------------
note "building (release)"
cargo build --release --quiet -p smtp-bench --bins --examples
cargo build --release --quiet -p smtp-ffi -p smtp-cli
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
mkdir -p bench/build/lib
# The library's SONAME is libsmtp.so.0; link and run against the fresh build.
ln -sf "$TARGET/libsmtp.so" bench/build/lib/libsmtp.so
ln -sf "$TARGET/libsmtp.so" bench/build/lib/libsmtp.so.0
cc -O2 -Wall -Wextra -Werror -std=c11 -I include bench/c/bench_c.c -o bench/build/bench-c \
    -L bench/build/lib -Wl,-rpath,"$ROOT/bench/build/lib" -lsmtp

# ----- run --------------------------------------------------------------------
exec python3 bench/harness.py "$@"
