#!/usr/bin/env bash
# The test bed's proxies: two dante SOCKS5 servers (one with RFC 1929
# user/password authentication, one without) and a tinyproxy HTTP CONNECT
# proxy with Basic credentials, on 127.0.0.1, everything under DIR/proxy
# and DIR/logs.  Called by start.sh and stop.sh; not meant to be run alone.
#
#   tests/testbed/proxies.sh start DIR SOCKS_PORT SOCKS_NOAUTH_PORT HTTP_PORT \
#       ALLOWED_PORTS TINYPROXY_PORTS
#   tests/testbed/proxies.sh stop DIR
#
# ALLOWED_PORTS: comma-separated ports of 127.0.0.1 that both SOCKS servers
# connect to (every other destination is refused with SOCKS reply 2);
# TINYPROXY_PORTS: comma-separated ports CONNECT may reach (tinyproxy's
# ConnectPort; any other port is 403 Forbidden), only on localhost or
# 127.0.0.1.
#
# "start" writes DIR/proxy/proxy.env (KEY='value' lines for testbed.env) and
# exits 0 once the three listeners accept connections; 3 when a port was
# taken (the caller picks others and calls again); 1 on any other failure.
#
# Dante checks user/password against the system's accounts (its "username"
# method reads /etc/shadow): "start" creates a throw-away system account,
# smtptb-XXXXXXXX (no home, no login shell, random password), whose name it
# keeps in DIR/proxy/socks-user; "stop" stops the daemons and removes that
# account.  tinyproxy's credentials live in its own configuration.

set -uo pipefail
umask 022

prog=proxies.sh
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

[ $# -ge 2 ] || { echo "usage: $prog start|stop DIR ..." >&2; exit 2; }
action=$1
DIR=$(cd -- "$2" && pwd -P) || die "no directory $2"
PX=$DIR/proxy
LOGS=$DIR/logs
USER_FILE=$PX/socks-user
# Only names of this shape are ever removed by "stop".
USER_RE='^smtptb-[0-9a-f]{8}$'

alive() {
    local state
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
pid_from() { if [ -s "$1" ]; then awk 'NR == 1 { print $1 }' "$1" 2>/dev/null; fi; }

children() {
    awk -v p="$1" '$1 == "PPid:" { if ($2 == p) { split(FILENAME, a, "/"); print a[3] } nextfile }' \
        /proc/[0-9]*/status 2>/dev/null || true
}

# stop_daemon NAME COMM PIDFILE: SIGTERM, wait up to 10 s for it and its
# children, then SIGKILL.  A pid file naming another process is ignored.
stop_daemon() {
    local name=$1 comm=$2 pidfile=$3 pid kids p left
    pid=$(pid_from "$pidfile")
    if ! alive "$pid" || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]; then
        return 0
    fi
    kids=$(children "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do
        left=
        for p in $pid $kids; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.05
    done
    if [ -n "$left" ]; then
        note "$name did not stop in time; killing$left"
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        for _ in $(seq 40); do
            left=
            for p in $pid $kids; do alive "$p" && left="$left $p"; done
            [ -z "$left" ] && break
            sleep 0.05
        done
    fi
    note "$name stopped"
}

remove_user() {
    local user
    [ -s "$USER_FILE" ] || return 0
    user=$(head -n 1 "$USER_FILE")
    if [[ $user =~ $USER_RE ]] && getent passwd "$user" >/dev/null 2>&1; then
        userdel "$user" >/dev/null 2>&1 || note "could not remove the account $user"
    fi
    rm -f -- "$USER_FILE"
}

stop_all() {
    stop_daemon "danted (auth)" danted "$PX/danted-auth.pid"
    stop_daemon "danted (no auth)" danted "$PX/danted-noauth.pid"
    stop_daemon tinyproxy tinyproxy "$PX/tinyproxy.pid"
    remove_user
}

if [ "$action" = stop ]; then
    stop_all
    exit 0
fi
[ "$action" = start ] && [ $# -eq 7 ] || { echo "usage: $prog start DIR P1 P2 P3 ALLOWED TINYPROXY" >&2; exit 2; }
SOCKS_PORT=$3 SOCKS_NOAUTH_PORT=$4 HTTP_PORT=$5 ALLOWED=$6 CONNECT_PORTS=$7
for p in "$SOCKS_PORT" "$SOCKS_NOAUTH_PORT" "$HTTP_PORT" ${ALLOWED//,/ } ${CONNECT_PORTS//,/ }; do
    [[ $p =~ ^[0-9]+$ ]] || die "not a port: $p"
done
for cmd in danted tinyproxy useradd userdel chpasswd openssl python3; do
    command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found; run tests/testbed/install.sh first"
done

# Leftovers of an earlier run in this DIR.
stop_all
mkdir -p "$PX" "$LOGS"
rm -f -- "$PX"/*.pid "$PX/proxy.env"

# ---------------------------------------------------------------------------
# The SOCKS account and the HTTP credentials: random, letters and digits.
# ---------------------------------------------------------------------------
SOCKS_USER=smtptb-$(openssl rand -hex 4)
SOCKS_PASS=sx-$(openssl rand -hex 12)
HTTP_USER=webproxy
HTTP_PASS=hx-$(openssl rand -hex 12)
printf '%s\n' "$SOCKS_USER" >"$USER_FILE"
# An interrupted or failed start leaves no account and no daemon behind.
trap 'rc=$?; [ "$rc" -eq 0 ] || stop_all; exit "$rc"' EXIT
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --comment "SMTP test bed SOCKS user ($DIR)" "$SOCKS_USER" >/dev/null 2>&1 ||
    die "useradd $SOCKS_USER failed"
printf '%s:%s\n' "$SOCKS_USER" "$SOCKS_PASS" | chpasswd >/dev/null 2>&1 ||
    { remove_user; die "chpasswd failed"; }

# ---------------------------------------------------------------------------
# dante: one configuration per instance.
# ---------------------------------------------------------------------------
# socks pass rules: one per allowed destination port on 127.0.0.1.
socks_rules() {
    local method=$1 p
    for p in ${ALLOWED//,/ }; do
        cat <<EOF
socks pass {
  from: 127.0.0.1/32 to: 127.0.0.1/32 port = $p
  command: connect
  socksmethod: $method
  log: error connect disconnect
}
EOF
    done
}
write_dante() { # NAME PORT METHOD
    local name=$1 port=$2 method=$3
    {
        cat <<EOF
# Generated by tests/testbed/proxies.sh: SOCKS5 ($name) for the test bed.
logoutput: $LOGS/danted-$name.log
errorlog: $LOGS/danted-$name.err
internal: 127.0.0.1 port = $port
external: 127.0.0.1
clientmethod: none
socksmethod: $method
user.privileged: root
user.unprivileged: nobody
timeout.negotiate: 30
timeout.io: 600
client pass {
  from: 127.0.0.1/32 to: 0.0.0.0/0
  log: error
}
client block {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  log: connect error
}
EOF
        socks_rules "$method"
        cat <<'EOF'
socks block {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  log: connect error
}
EOF
    } >"$PX/danted-$name.conf"
    : >"$LOGS/danted-$name.log"
    : >"$LOGS/danted-$name.err"
    chmod 644 "$LOGS/danted-$name.log" "$LOGS/danted-$name.err"
}
write_dante auth "$SOCKS_PORT" username
write_dante noauth "$SOCKS_NOAUTH_PORT" none

# ---------------------------------------------------------------------------
# tinyproxy: Basic credentials, CONNECT only to the given ports of
# localhost / 127.0.0.1 (the filter denies every other host).
# ---------------------------------------------------------------------------
cat >"$PX/tinyproxy.filter" <<'EOF'
^localhost$
^127\.0\.0\.1$
EOF
# Written 0600 from the start: the credentials are in it.
umask 077
{
    cat <<EOF
# Generated by tests/testbed/proxies.sh: HTTP CONNECT proxy for the test bed.
User nobody
Group nogroup
Port $HTTP_PORT
Listen 127.0.0.1
Timeout 600
LogFile "$LOGS/tinyproxy.log"
LogLevel Info
PidFile "$PX/tinyproxy.pid"
MaxClients 100
Allow 127.0.0.1
DisableViaHeader Yes
Filter "$PX/tinyproxy.filter"
FilterType ERE
FilterDefaultDeny Yes
BasicAuth $HTTP_USER $HTTP_PASS
EOF
    for p in ${CONNECT_PORTS//,/ }; do echo "ConnectPort $p"; done
} >"$PX/tinyproxy.conf"
umask 022
: >"$LOGS/tinyproxy.log"
chown nobody "$LOGS/tinyproxy.log"
chmod 644 "$LOGS/tinyproxy.log"

# ---------------------------------------------------------------------------
# Start, then wait until each port accepts a connection.
# ---------------------------------------------------------------------------
start_out=$LOGS/proxies-start.err
: >"$start_out"
in_use() { grep -q -i 'address already in use' "$start_out" "$LOGS"/danted-*.err "$LOGS/tinyproxy.log" 2>/dev/null; }
fail() { # STATUS MESSAGE
    tail -n 20 "$start_out" "$LOGS"/danted-*.err "$LOGS/tinyproxy.log" >&2 2>/dev/null
    stop_all
    note "$2"
    exit "$1"
}
for name in auth noauth; do
    danted -D -f "$PX/danted-$name.conf" -p "$PX/danted-$name.pid" \
        </dev/null >>"$start_out" 2>&1 9>&- ||
        { in_use && fail 3 "port taken"; fail 1 "danted ($name) failed to start"; }
done
tinyproxy -c "$PX/tinyproxy.conf" </dev/null >>"$start_out" 2>&1 9>&- ||
    { in_use && fail 3 "port taken"; fail 1 "tinyproxy failed to start"; }

if ! python3 - "$SOCKS_PORT" "$SOCKS_NOAUTH_PORT" "$HTTP_PORT" <<'PY' >>"$start_out" 2>&1
import socket, sys, time
pending = set(map(int, sys.argv[1:]))
deadline = time.monotonic() + 10
while pending and time.monotonic() < deadline:
    for port in list(pending):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            pending.discard(port)
        except OSError:
            pass
    if pending:
        time.sleep(0.05)
if pending:
    print("not listening:", sorted(pending))
    sys.exit(1)
PY
then
    in_use && fail 3 "port taken"
    fail 1 "the proxies did not come up within 10 s"
fi
for f in danted-auth danted-noauth tinyproxy; do
    [ -s "$PX/$f.pid" ] || fail 1 "no pid file $PX/$f.pid"
done

shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
kv() { printf '%s=%s\n' "$1" "$(shq "$2")"; }
{
    kv SMTP_TESTBED_SOCKS5_PORT "$SOCKS_PORT"
    kv SMTP_TESTBED_SOCKS5_USER "$SOCKS_USER"
    kv SMTP_TESTBED_SOCKS5_PASSWORD "$SOCKS_PASS"
    kv SMTP_TESTBED_SOCKS5_NOAUTH_PORT "$SOCKS_NOAUTH_PORT"
    kv SMTP_TESTBED_SOCKS5_ALLOWED_PORTS "$ALLOWED"
    kv SMTP_TESTBED_HTTP_PROXY_PORT "$HTTP_PORT"
    kv SMTP_TESTBED_HTTP_PROXY_USER "$HTTP_USER"
    kv SMTP_TESTBED_HTTP_PROXY_PASSWORD "$HTTP_PASS"
    kv SMTP_TESTBED_HTTP_PROXY_ALLOWED_PORTS "$CONNECT_PORTS"
    kv SMTP_TESTBED_PROXY_LOGS "$LOGS/danted-auth.log:$LOGS/danted-noauth.log:$LOGS/tinyproxy.log"
} >"$PX/proxy.env"
# The SOCKS password is a system account's: not for other local users.
chmod 600 "$PX/proxy.env"
exit 0
