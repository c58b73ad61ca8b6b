#!/usr/bin/env bash
# Start a throw-away Postfix + Dovecot (SASL only) test bed on loopback.
#
#   tests/testbed/start.sh DIR
#
# Everything the instance needs (configuration, queue, certificates, Maildir,
# logs, sockets, pid files) lives under DIR, which is created when missing.
# All listening ports are picked at start-up, so several test beds can run on
# one machine at once.  On success the last line printed on stdout is the path
# of DIR/testbed.env, a shell-sourceable file describing the instance; the
# Rust integration tests read it through the SMTP_TESTBED_ENV variable.
#
# Stop the instance with tests/testbed/stop.sh DIR.
#
# Must run as root (Postfix and Dovecot need it).  When run through sudo, mail
# is delivered as the invoking user (SUDO_UID/SUDO_GID) and DIR is handed to
# that user, so tests running without root can read messages and logs.
# SMTP_TESTBED_MAIL_UID / SMTP_TESTBED_MAIL_GID override the delivery owner
# (default 65534:65534 when not run through sudo).
# SMTP_TESTBED_STRICT_MODE (yes, normalize or reject; default yes) sets
# smtpd_forbid_bare_newline on the strict port.  SMTP_TESTBED_NO_IPV6=1 skips
# the [::1] listener even where IPv6 works.
#
# Outside DIR only one file is used: /tmp/smtp-testbed-ports.lock, a lock
# that keeps concurrent start.sh runs from picking the same ports.  The
# proxies (tests/testbed/proxies.sh) add one throw-away system account,
# smtptb-XXXXXXXX, for dante's user/password check; stop.sh removes it.
# SMTP_TESTBED_NO_PROXIES=1 starts no proxy.

set -euo pipefail
umask 022

prog=${0##*/}
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

[ $# -eq 1 ] || { echo "usage: $prog DIR" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo $0 $1)"
for cmd in postfix postconf dovecot doveadm openssl python3; do
    command -v "$cmd" >/dev/null 2>&1 ||
        die "'$cmd' not found; run tests/testbed/install.sh first"
done

start_time=$(date +%s.%N)

mkdir -p -- "$1"
DIR=$(cd -- "$1" && pwd -P)
# Paths end up unquoted in Postfix and Dovecot configuration files, where
# blanks, commas and colons have a meaning: refuse anything unusual.
[[ $DIR =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
    die "DIR must be a path made of [A-Za-z0-9._/+-] only (got '$DIR')"
# Dovecot's sockets live under DIR; Unix socket paths are limited to 107 bytes.
[ ${#DIR} -le 64 ] ||
    die "DIR path is too long for Unix sockets (${#DIR} > 64 chars): $DIR"

PF_CONF=$DIR/postfix/etc
PF_QUEUE=$DIR/postfix/queue
PF_DATA=$DIR/postfix/data
DC_DIR=$DIR/dovecot
DC_CONF=$DC_DIR/dovecot.conf
DC_RUN=$DC_DIR/run
DC_SOCKET=$DC_RUN/auth-postfix
CERTS=$DIR/certs
MAILDIR=$DIR/maildir
LOGS=$DIR/logs
PF_LOG=$LOGS/postfix.log
DC_LOG=$LOGS/dovecot.log
ENV_FILE=$DIR/testbed.env

DOMAIN=example.test
USER1=testuser
# Deliberately contains a blank and punctuation (no colon: passwd-file uses
# colons as field separators).
PASS1='t3st-P@ss word!'
USER2=other
PASS2=other-pass

# Alive = exists and is not a zombie (orphans may not be reaped quickly here).
pid_alive() {
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    local state
    state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
pid_from() { if [ -s "$1" ]; then awk 'NR == 1 { print $1 }' "$1"; fi; }

# running PIDFILE COMM: the pid file names a live process called COMM.
running() {
    local pid
    pid=$(pid_from "$1")
    pid_alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}
if running "$PF_QUEUE/pid/master.pid" master || running "$DC_RUN/master.pid" dovecot; then
    die "a test bed is already running in $DIR; run tests/testbed/stop.sh $DIR first"
fi

# Owner of delivered mail (and of DIR's readable parts).
if [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ]; then
    MAIL_UID=${SMTP_TESTBED_MAIL_UID:-$SUDO_UID}
    MAIL_GID=${SMTP_TESTBED_MAIL_GID:-${SUDO_GID:-$SUDO_UID}}
else
    MAIL_UID=${SMTP_TESTBED_MAIL_UID:-65534}
    MAIL_GID=${SMTP_TESTBED_MAIL_GID:-65534}
fi
[[ $MAIL_UID =~ ^[0-9]+$ && $MAIL_GID =~ ^[0-9]+$ ]] || die "mail uid/gid must be numeric"
[ "$MAIL_UID" -ge 100 ] || die "mail uid $MAIL_UID is below Postfix's virtual_minimum_uid (100)"

rm -f -- "$ENV_FILE"
# Stale sockets from an earlier run would confuse Dovecot (a leftover
# anvil-auth-penalty socket makes every auth process retry it for 5 s).
rm -rf -- "$DC_RUN"
mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA" "$DC_RUN" "$DC_DIR/state" "$CERTS" \
    "$MAILDIR/new" "$MAILDIR/cur" "$MAILDIR/tmp" "$LOGS"
# Postfix (user postfix), Dovecot (user dovecot) and the delivery agent must be
# able to traverse DIR.
chmod 755 "$DIR" "$DIR/postfix" "$DC_DIR" "$LOGS"
chown -R "$MAIL_UID:$MAIL_GID" "$MAILDIR"
chmod 700 "$MAILDIR" "$MAILDIR/new" "$MAILDIR/cur" "$MAILDIR/tmp"
chown postfix "$PF_DATA"
# Pre-create the logs so that they stay readable for the test process.
touch "$PF_LOG" "$DC_LOG"
chmod 644 "$PF_LOG" "$DC_LOG"

# ---------------------------------------------------------------------------
# Certificates (ECDSA P-256: fast to generate).
# ---------------------------------------------------------------------------
gen_certs() {
    # PEM files go to $CERTS; scratch files (extension configs, the
    # "openssl ca" database, openssl's output) to $DIR/certs-work.
    local d=$CERTS w=$DIR/certs-work ossl_log=$DIR/certs-work/openssl.log
    rm -rf "$w"; mkdir -p "$w"
    rm -f "$d"/*.pem "$d"/*.key
    : >"$ossl_log"
    run_ossl() { openssl "$@" >>"$ossl_log" 2>&1 || { cat "$ossl_log" >&2; die "openssl $1 failed"; }; }
    newkey() { run_ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

    newkey "$d/ca.key"
    run_ossl req -x509 -new -key "$d/ca.key" -sha256 -days 3650 \
        -subj "/O=SMTP test bed/CN=SMTP test bed CA $(date +%s%N)" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$d/ca.pem"

    # Extensions for end-entity certificates; $SAN filled in per certificate.
    cat >"$w/leaf.ext" <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = ${ENV::SAN}
EOF
    cat >"$w/selfsigned.ext" <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = ${ENV::SAN}
EOF

    # sign NAME CN SAN: CA-signed leaf certificate valid now.
    sign() {
        newkey "$d/$1.key"
        run_ossl req -new -key "$d/$1.key" -subj "/O=SMTP test bed/CN=$2" -out "$w/$1.csr"
        SAN=$3 run_ossl x509 -req -in "$w/$1.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -set_serial "0x$(openssl rand -hex 12)" -sha256 -days 825 \
            -extfile "$w/leaf.ext" -out "$d/$1.pem"
    }
    local local_san='DNS:localhost,IP:127.0.0.1,IP:::1'
    sign server localhost "$local_san"
    sign wrongname wrong.example 'DNS:wrong.example'

    # Self-signed leaf for localhost, not issued by the CA.
    { printf '[req]\ndistinguished_name = dn\n[dn]\n[v3_selfsigned]\n'; cat "$w/selfsigned.ext"; } >"$w/selfsigned.cnf"
    newkey "$d/selfsigned.key"
    SAN=$local_san run_ossl req -x509 -new -key "$d/selfsigned.key" -sha256 -days 825 \
        -subj "/O=SMTP test bed/CN=localhost" \
        -config "$w/selfsigned.cnf" -extensions v3_selfsigned -out "$d/selfsigned.pem"

    # Expired localhost certificate issued by the CA (2020-01-01 .. 2021-01-01).
    newkey "$d/expired.key"
    run_ossl req -new -key "$d/expired.key" -subj "/O=SMTP test bed/CN=localhost" -out "$w/expired.csr"
    if openssl x509 -help 2>&1 | grep -q -- '-not_before'; then
        SAN=$local_san run_ossl x509 -req -in "$w/expired.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -set_serial "0x$(openssl rand -hex 12)" -sha256 \
            -not_before 20200101000000Z -not_after 20210101000000Z \
            -extfile "$w/leaf.ext" -out "$d/expired.pem"
    else
        # OpenSSL < 3.4: "openssl ca" is the tool that takes explicit dates.
        local db=$w/ca-db
        rm -rf "$db"; mkdir -p "$db"; : >"$db/index.txt"; openssl rand -hex 12 >"$db/serial"
        cat >"$db/ca.cnf" <<EOF
[ca]
default_ca = testbed
[testbed]
database = $db/index.txt
new_certs_dir = $db
serial = $db/serial
default_md = sha256
policy = testbed_policy
unique_subject = no
copy_extensions = none
[testbed_policy]
organizationName = optional
commonName = supplied
EOF
        SAN=$local_san run_ossl ca -batch -notext -config "$db/ca.cnf" \
            -cert "$d/ca.pem" -keyfile "$d/ca.key" \
            -startdate 20200101000000Z -enddate 20210101000000Z \
            -extfile "$w/leaf.ext" -in "$w/expired.csr" -out "$d/expired.pem"
    fi
    # Throw-away keys for a throw-away CA: readable, so that tests running
    # without root can load them into a scripted TLS server.
    chmod 644 "$d"/*.pem "$d"/*.key
    rm -f "$d/ca.srl"
}
gen_certs

# ---------------------------------------------------------------------------
# Dovecot: SASL server only.
# ---------------------------------------------------------------------------
cat >"$DC_DIR/users" <<EOF
$USER1:{PLAIN}$PASS1::::::
$USER2:{PLAIN}$PASS2::::::
EOF
chgrp dovecot "$DC_DIR/users"
chmod 640 "$DC_DIR/users"

cat >"$DC_CONF" <<EOF
# Generated by tests/testbed/start.sh: Dovecot as a SASL server for Postfix.
# No mail protocols, no network listeners, everything under $DIR.
protocols =
base_dir = $DC_RUN
state_dir = $DC_DIR/state
instance_name = smtp-testbed
log_path = $DC_LOG
info_log_path = $DC_LOG
ssl = no
# Postfix decides per port whether TLS is needed before AUTH.
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256
auth_verbose = yes
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DC_DIR/users
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$MAILDIR
}
# No brute-force protection: failed logins in one test must not slow down
# every later AUTH from 127.0.0.1 (the auth penalty grows up to 15 s).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF

# ---------------------------------------------------------------------------
# Ports.  Random ports outside the kernel's ephemeral range, checked by
# binding.  A machine-wide lock serialises "pick ports" .. "Postfix bound
# them" between concurrent start.sh runs so they cannot pick the same port.
# ---------------------------------------------------------------------------
pick_ports() {
    python3 - "$@" <<'PY'
import random, socket, sys
count, want6 = int(sys.argv[1]), sys.argv[2] == "1"
try:
    lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
except OSError:
    lo, hi = 32768, 60999
ranges = [r for r in ((10000, lo - 1), (hi + 1, 65000)) if r[1] - r[0] > 1000]

def free(port, family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()

def candidate():
    if ranges:
        a, b = random.choice(ranges)
        return random.randint(a, b)
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    return p

chosen = []
while len(chosen) < count:
    p = candidate()
    if p in chosen or not free(p, socket.AF_INET, "127.0.0.1"):
        continue
    # The last port is the IPv6 one when requested.
    if want6 and len(chosen) == count - 1 and not free(p, socket.AF_INET6, "::1"):
        continue
    chosen.append(p)
print(" ".join(map(str, chosen)))
PY
}

ipv6_ok=0
if [ "${SMTP_TESTBED_NO_IPV6:-}" != 1 ] && python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0)); s.close()' 2>/dev/null; then
    ipv6_ok=1
fi

# Shell-quote a value for the env file (single quotes, ' as '\'').
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

write_postfix_config() {
    local inet_protocols=ipv4 inet_interfaces=127.0.0.1
    if [ -n "$PORT_IPV6" ]; then inet_protocols=all; inet_interfaces='127.0.0.1, [::1]'; fi
    cat >"$PF_CONF/main.cf" <<EOF
# Generated by tests/testbed/start.sh: a private Postfix instance for tests.
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
mail_owner = postfix
setgid_group = postdrop

myhostname = testbed.example.test
mydomain = example.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost =
biff = no
append_dot_mydomain = no
readme_directory = no
# Queue ids unique for the instance's life: short ids (microseconds and
# inode) repeat when the discard transport frees queue files at once, and
# the load tests match the ids clients got with those in the log.
enable_long_queue_ids = yes

# Loopback only.
inet_interfaces = $inet_interfaces
inet_protocols = $inet_protocols
mynetworks = 127.0.0.0/8 [::1]/128

# No syslog here: log to a file under DIR.
maillog_file = $PF_LOG
maillog_file_prefixes = $LOGS

# Never resolve names; nothing is ever relayed, and mail Postfix generates
# itself for other domains (bounces, DSNs) is thrown away.
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
default_transport = discard:outbound-mail-disabled
relay_transport = discard:outbound-mail-disabled

# Leave messages as the client sent them (no added Date/Message-ID/From,
# no address rewriting in headers).
local_header_rewrite_clients =
remote_header_rewrite_domain =

# Every local part of example.test goes to one Maildir ($MAILDIR/).
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_base = $DIR
virtual_mailbox_maps = static:maildir/
virtual_uid_maps = static:$MAIL_UID
virtual_gid_maps = static:$MAIL_GID
virtual_mailbox_limit = 0
# undeliverable-*@example.test is accepted, then bounced (for the DSN tests).
transport_maps = regexp:$PF_CONF/transport
# ...which smtpd would otherwise refuse at RCPT as an unknown address.
smtpd_reject_unlisted_recipient = no
mailbox_size_limit = 0
message_size_limit = 209715200

smtputf8_enable = yes
in_flow_delay = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200
smtpd_junk_command_limit = 1000

# SASL through Dovecot (smtpd is not chrooted, so an absolute path works).
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DC_SOCKET
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous

# TLS material; whether TLS is offered is decided per port in master.cf.
smtpd_tls_cert_file = $CERTS/server.pem
smtpd_tls_key_file = $CERTS/server.key
smtpd_tls_security_level = none
smtpd_tls_loglevel = 1

# Nothing is relayed.  reject-*/tempfail-* are refused for everybody; the
# other example.test recipients need AUTH, except on the "noauth" port.
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
    check_recipient_access regexp:$PF_CONF/recipient_access,
    permit_sasl_authenticated,
    check_recipient_access regexp:$PF_CONF/auth_required
testbed_open_recipient_restrictions =
    check_recipient_access regexp:$PF_CONF/recipient_access,
    permit
EOF

    cat >"$PF_CONF/recipient_access" <<'EOF'
# Matched against the recipient address (case-insensitively).
/^reject-[^@]*@example\.test$/     550 5.1.1 Recipient refused by the test bed
/^tempfail-[^@]*@example\.test$/   450 4.2.0 Temporary failure by the test bed
EOF
    cat >"$PF_CONF/transport" <<'EOF'
# Accepted at RCPT, then bounced by the error agent (delivery status tests).
/^undeliverable-[^@]*@example\.test$/   error:5.1.1 undeliverable by the test bed
EOF
    cat >"$PF_CONF/auth_required" <<'EOF'
/./   REJECT Authentication required (test bed)
EOF

    # The first seven master.cf columns: service type private unpriv chroot
    # wakeup maxproc.  Nothing runs chrooted.
    {
        cat <<EOF
# Generated by tests/testbed/start.sh.
# a. PORT_PLAIN: no TLS at all, AUTH over plaintext.
127.0.0.1:$PORT_PLAIN inet n - n - - smtpd
  -o syslog_name=postfix/plain
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=yes
# b. PORT_SUBMISSION: STARTTLS required before AUTH and mail.
127.0.0.1:$PORT_SUBMISSION inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
# c. PORT_SMTPS: implicit TLS.
127.0.0.1:$PORT_SMTPS inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
# d. PORT_NOAUTH: no AUTH, no TLS, example.test open to everybody.
127.0.0.1:$PORT_NOAUTH inet n - n - - smtpd
  -o syslog_name=postfix/noauth
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=no
  -o smtpd_recipient_restrictions=\$testbed_open_recipient_restrictions
EOF
        if [ -n "$PORT_STRICT" ]; then
            cat <<EOF
# e. PORT_STRICT: like PORT_PLAIN, but a bare <LF> is not a line end
#    (smtpd_forbid_bare_newline; no exclusions, loopback included).
127.0.0.1:$PORT_STRICT inet n - n - - smtpd
  -o syslog_name=postfix/strict
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_forbid_bare_newline=$BARE_NEWLINE_MODE
  -o smtpd_forbid_bare_newline_exclusions=
EOF
        fi
        cat <<EOF
# f. PORT_DISCARD: like PORT_PLAIN, accepted mail is thrown away.
127.0.0.1:$PORT_DISCARD inet n - n - - smtpd
  -o syslog_name=postfix/discard
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=yes
  -o content_filter=discard:discard-port
EOF
        if [ -n "$PORT_IPV6" ]; then
            cat <<EOF
# g. PORT_IPV6: like PORT_PLAIN on [::1].
[::1]:$PORT_IPV6 inet n - n - - smtpd
  -o syslog_name=postfix/ipv6
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=yes
EOF
        fi
        cat <<'EOF'
# Internal services.
pickup     unix  n  -  n  60    1  pickup
cleanup    unix  n  -  n  -     0  cleanup
qmgr       unix  n  -  n  300   1  qmgr
tlsmgr     unix  -  -  n  1000? 1  tlsmgr
rewrite    unix  -  -  n  -     -  trivial-rewrite
bounce     unix  -  -  n  -     0  bounce
defer      unix  -  -  n  -     0  bounce
trace      unix  -  -  n  -     0  bounce
verify     unix  -  -  n  -     1  verify
flush      unix  n  -  n  1000? 0  flush
proxymap   unix  -  -  n  -     -  proxymap
proxywrite unix  -  -  n  -     1  proxymap
smtp       unix  -  -  n  -     -  smtp
relay      unix  -  -  n  -     -  smtp
showq      unix  n  -  n  -     -  showq
error      unix  -  -  n  -     -  error
retry      unix  -  -  n  -     -  error
discard    unix  -  -  n  -     -  discard
local      unix  -  n  n  -     -  local
virtual    unix  -  n  n  -     -  virtual
lmtp       unix  -  -  n  -     -  lmtp
anvil      unix  -  -  n  -     1  anvil
scache     unix  -  -  n  -     1  scache
postlog    unix-dgram n - n - 1 postlogd
EOF
    } >"$PF_CONF/master.cf"
}

# The strict port needs smtpd_forbid_bare_newline (Postfix 3.9, backported to
# 3.8.4 and 3.7.9 and later).  "yes" is accepted by every version that has it
# (since 3.7.11 it means "normalize": a bare <LF> is not a valid end of line,
# so "<LF>.<LF>" cannot end DATA).
# SMTP_TESTBED_STRICT_MODE=reject makes the port refuse any bare <LF> instead
# (needs 3.7.11 or later).
if [ -n "$(postconf -dh smtpd_forbid_bare_newline 2>/dev/null)" ]; then
    BARE_NEWLINE_MODE=${SMTP_TESTBED_STRICT_MODE:-yes}
    [[ $BARE_NEWLINE_MODE =~ ^(yes|normalize|reject)$ ]] ||
        die "SMTP_TESTBED_STRICT_MODE must be yes, normalize or reject"
    have_strict=1
else
    BARE_NEWLINE_MODE=
    have_strict=0
fi

# ---------------------------------------------------------------------------
# Start Dovecot.
# ---------------------------------------------------------------------------
# The daemons must not inherit the caller's stdout/stderr (a caller reading
# our output through a pipe would otherwise wait for them to exit).
dovecot -c "$DC_CONF" </dev/null >>"$LOGS/dovecot-start.err" 2>&1 ||
    { tail -n 20 "$LOGS/dovecot-start.err" "$DC_LOG" >&2; die "dovecot failed to start"; }
for _ in $(seq 100); do [ -S "$DC_SOCKET" ] && break; sleep 0.05; done
[ -S "$DC_SOCKET" ] || { tail -n 20 "$DC_LOG" >&2; die "dovecot auth socket $DC_SOCKET did not appear"; }

cleanup_on_failure() {
    "$(dirname -- "$0")/stop.sh" "$DIR" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------------------
# Start Postfix.
#
# A private instance: "postfix -c $PF_CONF" with its own main.cf/master.cf,
# queue_directory and data_directory under DIR.  Postfix only insists on
# alternate_config_directories (in the system's default main.cf) for set-gid
# commands run by non-root users; run as root, as here, "postfix -c" needs no
# change to /etc/postfix, so the system's default instance is left alone.
# "postfix start" creates the queue directories, runs its integrity checks
# and then "master -w", which returns once every listener is bound.
# ---------------------------------------------------------------------------
exec 9>/tmp/smtp-testbed-ports.lock
flock -w 60 9 || die "could not take the port lock /tmp/smtp-testbed-ports.lock"
started=0
for _attempt in 1 2 3; do
    n=6; [ "$ipv6_ok" = 1 ] && n=7
    read -r -a ports <<<"$(pick_ports "$n" "$ipv6_ok")"
    PORT_PLAIN=${ports[0]} PORT_SUBMISSION=${ports[1]} PORT_SMTPS=${ports[2]}
    PORT_NOAUTH=${ports[3]} PORT_STRICT=${ports[4]} PORT_DISCARD=${ports[5]}
    PORT_IPV6=${ports[6]:-}
    [ "$have_strict" = 1 ] || PORT_STRICT=
    write_postfix_config
    log_size=$(stat -c %s "$PF_LOG")
    : >"$LOGS/postfix-start.err"
    if postfix -c "$PF_CONF" start </dev/null >>"$LOGS/postfix-start.err" 2>&1 9>&-; then
        started=1; break
    fi
    if { tail -c +$((log_size + 1)) "$PF_LOG"; cat "$LOGS/postfix-start.err"; } |
        grep -q -i 'address already in use'; then
        note "port collision, retrying with other ports"
        continue
    fi
    break
done
if [ "$started" != 1 ]; then
    flock -u 9; exec 9>&-
    tail -n 30 "$PF_LOG" "$LOGS/postfix-start.err" >&2 || true
    cleanup_on_failure
    die "postfix failed to start"
fi

# ---------------------------------------------------------------------------
# The proxies (tests/testbed/proxies.sh), still under the port lock: dante
# SOCKS5 with and without user/password, tinyproxy (HTTP CONNECT, Basic
# credentials, CONNECT only to the submission and smtps ports).  Skipped
# with SMTP_TESTBED_NO_PROXIES=1 or when dante or tinyproxy is missing;
# the SMTP_TESTBED_*PROXY*/SOCKS5* variables are then empty.
# ---------------------------------------------------------------------------
: >"$DIR/proxy.env.tmp"
if [ "${SMTP_TESTBED_NO_PROXIES:-}" = 1 ]; then
    note "proxies skipped (SMTP_TESTBED_NO_PROXIES=1)"
elif ! command -v danted >/dev/null 2>&1 || ! command -v tinyproxy >/dev/null 2>&1; then
    note "proxies skipped: danted or tinyproxy not found (tests/testbed/install.sh installs them)"
else
    proxies_up=0
    for _attempt in 1 2 3; do
        read -r -a pports <<<"$(pick_ports 3 0)"
        rc=0
        bash "$(dirname -- "$0")/proxies.sh" start "$DIR" "${pports[0]}" "${pports[1]}" "${pports[2]}" \
            "$PORT_PLAIN,$PORT_SUBMISSION,$PORT_SMTPS,$PORT_NOAUTH" "$PORT_SUBMISSION,$PORT_SMTPS" \
            </dev/null >/dev/null 2>>"$LOGS/proxies-start.log" || rc=$?
        if [ "$rc" = 0 ]; then proxies_up=1; break; fi
        [ "$rc" = 3 ] || break
        note "proxy port collision, retrying with other ports"
    done
    if [ "$proxies_up" != 1 ]; then
        flock -u 9; exec 9>&-
        tail -n 20 "$LOGS/proxies-start.log" >&2 || true
        cleanup_on_failure
        die "the proxies failed to start (see $LOGS/proxies-start.log)"
    fi
    cp "$DIR/proxy/proxy.env" "$DIR/proxy.env.tmp"
fi
flock -u 9; exec 9>&-

# ---------------------------------------------------------------------------
# Wait until every port greets with 220 (TLS first on the SMTPS port).
# ---------------------------------------------------------------------------
wait_out=$(python3 - "$CERTS/ca.pem" "$PORT_PLAIN" "$PORT_SUBMISSION" "$PORT_SMTPS" \
    "$PORT_NOAUTH" "${PORT_STRICT:-0}" "$PORT_DISCARD" "${PORT_IPV6:-0}" <<'PY' 2>&1
import socket, ssl, sys, time
ca = sys.argv[1]
names = ["plain", "submission", "smtps", "noauth", "strict", "discard", "ipv6"]
ports = dict(zip(names, map(int, sys.argv[2:])))
ctx = ssl.create_default_context(cafile=ca)
deadline = time.monotonic() + 20
pending = {n: p for n, p in ports.items() if p}
last = {}
while pending and time.monotonic() < deadline:
    for name, port in list(pending.items()):
        host = "::1" if name == "ipv6" else "127.0.0.1"
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                if name == "smtps":
                    s = ctx.wrap_socket(s, server_hostname="localhost")
                line = s.makefile("rb").readline()
                if line.startswith(b"220"):
                    del pending[name]
                else:
                    last[name] = line
        except (OSError, ssl.SSLError) as e:
            last[name] = repr(e)
    if pending:
        time.sleep(0.05)
if pending:
    for name in pending:
        print(f"port {name} ({pending[name]}) not ready: {last.get(name)}")
    sys.exit(1)
PY
) || {
    printf '%s\n' "$wait_out" >&2
    echo "--- $PF_LOG" >&2; tail -n 30 "$PF_LOG" >&2
    echo "--- $DC_LOG" >&2; tail -n 30 "$DC_LOG" >&2
    cleanup_on_failure
    die "the test bed did not come up within 20 s"
}

# ---------------------------------------------------------------------------
# The env file.
# ---------------------------------------------------------------------------
{
    echo "# SMTP test bed started $(date -u +%Y-%m-%dT%H:%M:%SZ) by tests/testbed/start.sh"
    kv() { printf '%s=%s\n' "$1" "$(shq "$2")"; }
    kv SMTP_TESTBED_DIR "$DIR"
    kv SMTP_TESTBED_HOST 127.0.0.1
    kv SMTP_TESTBED_PORT_PLAIN "$PORT_PLAIN"
    kv SMTP_TESTBED_PORT_SUBMISSION "$PORT_SUBMISSION"
    kv SMTP_TESTBED_PORT_SMTPS "$PORT_SMTPS"
    kv SMTP_TESTBED_PORT_NOAUTH "$PORT_NOAUTH"
    kv SMTP_TESTBED_PORT_STRICT "${PORT_STRICT:-}"
    kv SMTP_TESTBED_PORT_DISCARD "$PORT_DISCARD"
    kv SMTP_TESTBED_PORT_IPV6 "${PORT_IPV6:-}"
    kv SMTP_TESTBED_USER "$USER1"
    kv SMTP_TESTBED_PASSWORD "$PASS1"
    kv SMTP_TESTBED_USER2 "$USER2"
    kv SMTP_TESTBED_PASSWORD2 "$PASS2"
    kv SMTP_TESTBED_DOMAIN "$DOMAIN"
    kv SMTP_TESTBED_CA_FILE "$CERTS/ca.pem"
    kv SMTP_TESTBED_CERT_DIR "$CERTS"
    kv SMTP_TESTBED_MAILDIR "$MAILDIR"
    kv SMTP_TESTBED_LOG "$PF_LOG"
    kv SMTP_TESTBED_DOVECOT_LOG "$DC_LOG"
    # The proxies' variables (empty when they were skipped).
    if [ -s "$DIR/proxy.env.tmp" ]; then
        cat "$DIR/proxy.env.tmp"
    else
        for k in SOCKS5_PORT SOCKS5_USER SOCKS5_PASSWORD SOCKS5_NOAUTH_PORT SOCKS5_ALLOWED_PORTS \
                 HTTP_PROXY_PORT HTTP_PROXY_USER HTTP_PROXY_PASSWORD HTTP_PROXY_ALLOWED_PORTS PROXY_LOGS; do
            kv "SMTP_TESTBED_$k" ""
        done
    fi
} >"$ENV_FILE.tmp"
rm -f -- "$DIR/proxy.env.tmp"
mv -f "$ENV_FILE.tmp" "$ENV_FILE"
# It holds the passwords of the bed's users and of the SOCKS proxy's
# throw-away system account: readable by root and the sudo user only.
chmod 600 "$ENV_FILE"

# Hand the readable parts to the sudo user.
if [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ]; then
    chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$ENV_FILE" "$CERTS" "$CERTS"/* 2>/dev/null || true
fi

elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$start_time" "$(date +%s.%N)")
note "test bed up in ${elapsed}s: plain=$PORT_PLAIN submission=$PORT_SUBMISSION smtps=$PORT_SMTPS noauth=$PORT_NOAUTH strict=${PORT_STRICT:-none} discard=$PORT_DISCARD ipv6=${PORT_IPV6:-none} socks5=${pports[0]:-none} socks5-noauth=${pports[1]:-none} http-proxy=${pports[2]:-none}"
echo "$ENV_FILE"
