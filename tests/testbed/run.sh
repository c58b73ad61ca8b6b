#!/usr/bin/env bash
# Run a command against a fresh test bed, then stop the test bed.
#
#   tests/testbed/run.sh [COMMAND [ARG...]]
#
# Starts the test bed in a new temporary directory (start.sh), runs COMMAND
# (default: cargo test -p smtp-tests) with SMTP_TESTBED_ENV pointing at the
# env file and SMTP_TESTBED_REQUIRED=1, stops the test bed (stop.sh) and
# exits with COMMAND's status.  The directory is kept for inspection when
# COMMAND fails, removed otherwise.  start.sh and stop.sh need root: when
# not root, they run through sudo while COMMAND runs as the calling user.

set -uo pipefail

here=$(cd -- "$(dirname -- "$0")" && pwd -P)
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
[ $# -gt 0 ] || set -- cargo test -p smtp-tests

# /tmp rather than $TMPDIR: Unix socket paths under DIR must stay short.
dir=$(mktemp -d /tmp/smtp-testbed.XXXXXX) || exit 1
env_file=$("${SUDO[@]}" "$here/start.sh" "$dir" | tail -n 1)
if [ ! -f "$env_file" ]; then
    echo "run.sh: the test bed did not start (see $dir/logs)" >&2
    exit 1
fi
stop() { "${SUDO[@]}" "$here/stop.sh" "$dir" >/dev/null 2>&1; }
trap stop EXIT
trap 'exit 130' INT TERM

SMTP_TESTBED_ENV=$env_file SMTP_TESTBED_REQUIRED=1 "$@"
status=$?
stop
trap - EXIT
if [ "$status" -eq 0 ]; then
    "${SUDO[@]}" rm -rf -- "$dir"
else
    echo "run.sh: command failed with status $status; test bed files kept in $dir" >&2
fi
exit "$status"
