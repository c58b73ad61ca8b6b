#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine with the Rust toolchain:
# installs the test bed's packages, starts Postfix + Dovecot on free loopback
# ports in a temporary directory, runs every check, and stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test-bed packages (postfix, dovecot-core, openssl, php8.2-cli, C toolchain, valgrind)"
bash tests/testbed/install.sh --with-php
if ! command -v valgrind >/dev/null || ! command -v pkg-config >/dev/null || ! command -v g++ >/dev/null \
  || ! command -v phpunit >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make gcc g++ valgrind pkg-config phpunit >/dev/null
fi

bed=$(mktemp -d "${TMPDIR:-/tmp}/smtp-testbed.XXXXXX")
cleanup() { bash tests/testbed/stop.sh "$bed" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "starting the test bed in $bed"
bash tests/testbed/start.sh "$bed" >/dev/null
export SMTP_TESTBED_ENV="$bed/testbed.env"
# Tests that need the servers fail (not skip) when the bed is missing.
export SMTP_TESTBED_REQUIRED=1

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "documentation"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "Rust tests (unit, scripted server, real Postfix + Dovecot)"
cargo test --workspace 2>&1 | tee "$bed/cargo-test.log"

step "C API (bindings/c): header check, C tests, valgrind, ASan/UBSan, install"
make -C bindings/c install-check
make -C bindings/c test valgrind asan

step "PHP binding (bindings/php): PHPUnit against the test bed"
bash bindings/php/run-tests.sh

step "fuzzing (fuzz/run.sh): every target 40 s, two at a time, on the committed corpus"
bash fuzz/run.sh --jobs 2 40

step "benchmark harness smoke run (bench/run.sh --quick)"
bash bench/run.sh --quick

# One line that sums up every cargo test binary's result.
awk '/^test result: / { p += $4; f += $6; i += $8 } END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, i }' "$bed/cargo-test.log"
