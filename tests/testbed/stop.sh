#!/usr/bin/env bash
# Stop the Postfix, Dovecot and proxies (dante, tinyproxy) of a test bed
# started with start.sh DIR, and remove the proxies' throw-away account.
#
#   tests/testbed/stop.sh DIR
#
# Waits (bounded) until the daemons and their children are gone, escalating
# to SIGKILL if needed.  Files under DIR are left for inspection.  Safe to
# call more than once, and on a DIR where nothing runs.

set -uo pipefail

prog=${0##*/}
[ $# -eq 1 ] || { echo "usage: $prog DIR" >&2; exit 2; }
if [ ! -d "$1" ]; then
    echo "$prog: $1 does not exist; nothing to stop" >&2
    exit 0
fi
DIR=$(cd -- "$1" && pwd -P)

# A process counts as alive while /proc has it and it is not a zombie (there
# may be no init process reaping orphans quickly).
alive() {
    local state
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

children() {
    awk -v p="$1" '$1 == "PPid:" { if ($2 == p) { split(FILENAME, a, "/"); print a[3] } nextfile }' \
        /proc/[0-9]*/status 2>/dev/null || true
}

pid_from() { if [ -s "$1" ]; then awk 'NR == 1 { print $1 }' "$1" 2>/dev/null; fi; }

# stop_tree NAME COMM PIDFILE COMMAND...: run COMMAND (a graceful stop), then
# wait for the daemon and the children it had to exit.  COMM is the daemon's
# process name: a stale pid file naming some other process is ignored.
status=0
stop_tree() {
    local name=$1 comm=$2 pidfile=$3 pid kids p left
    shift 3
    pid=$(pid_from "$pidfile")
    if ! alive "$pid" || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]; then
        echo "$prog: $name not running" >&2
        return 0
    fi
    kids=$(children "$pid")
    "$@" >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do             # up to 10 s
        left=
        for p in $pid $kids; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.05
    done
    if [ -n "$left" ]; then
        echo "$prog: $name did not stop in time; killing$left" >&2
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        for _ in $(seq 40); do
            left=
            for p in $pid $kids; do alive "$p" && left="$left $p"; done
            [ -z "$left" ] && break
            sleep 0.05
        done
        if [ -n "$left" ]; then
            echo "$prog: $name processes still alive:$left" >&2
            status=1
            return
        fi
    fi
    echo "$prog: $name stopped" >&2
}

PF_CONF=$DIR/postfix/etc
PF_PIDFILE=$DIR/postfix/queue/pid/master.pid
DC_PIDFILE=$DIR/dovecot/run/master.pid

pf_pid=$(pid_from "$PF_PIDFILE")
if [ -f "$PF_CONF/main.cf" ] && command -v postfix >/dev/null 2>&1; then
    stop_tree postfix master "$PF_PIDFILE" postfix -c "$PF_CONF" stop
else
    stop_tree postfix master "$PF_PIDFILE" kill -TERM "${pf_pid:-0}"
fi
dc_pid=$(pid_from "$DC_PIDFILE")
stop_tree dovecot dovecot "$DC_PIDFILE" kill -TERM "${dc_pid:-0}"
# The proxies (when start.sh started them) and the SOCKS account.
if [ -d "$DIR/proxy" ]; then
    bash "$(dirname -- "$0")/proxies.sh" stop "$DIR" || status=1
fi
exit "$status"
