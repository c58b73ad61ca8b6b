#!/usr/bin/env bash
# Runs a command in a throw-away network namespace where the name
# dual.test resolves to ::1 first, then 127.0.0.1, and v6only.test to ::1
# alone: the setting of the Happy Eyeballs tests of the C and PHP
# bindings (each makes ::1 a black hole on its port by filling a
# listener's accept queue, so further SYNs are dropped, and serves SMTP on
# 127.0.0.1). `ip netns exec` mounts /etc/netns/NAME/hosts over
# /etc/hosts for the command only; nothing outside the namespace changes.
#
#   tests/netns/dual-stack.sh COMMAND [ARGS...]
#
# Needs root and iproute2. The namespace and its /etc/netns directory are
# removed when the command ends. SMTP_DUAL_STACK_NS=1 is set inside.

set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (network namespaces)" >&2; exit 1; }
command -v ip >/dev/null || { echo "$0: needs iproute2's ip" >&2; exit 1; }

ns=smtpds$$
ip netns add "$ns"
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
}
trap cleanup EXIT
mkdir -p "/etc/netns/$ns"
printf '::1 dual.test\n127.0.0.1 dual.test\n::1 v6only.test\n' > "/etc/netns/$ns/hosts"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" env SMTP_DUAL_STACK_NS=1 "$@"
