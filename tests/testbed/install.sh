#!/usr/bin/env bash
# Install what the real-server test bed needs (Debian/Ubuntu, apt):
# postfix, dovecot-core, openssl, python3, iproute2 (for `ip netns`),
# python3-dkim with python3-nacl (dkimpy, the DKIM tests' verifier), and
# dante-server with tinyproxy (the proxies of tests/testbed/proxies.sh).
#
#   tests/testbed/install.sh [--with-php]
#
# --with-php also installs the PHP command-line interpreter (php8.2-cli where
# that package exists, else the distribution's php-cli), php-fpm,
# cgi-fcgi (libfcgi-bin) and Symfony Mailer (php-symfony-mailer, for the
# Smtp\Symfony transport's tests) for the PHP binding tests.
#
# Idempotent and quiet: packages already installed are skipped, and apt runs
# (one "apt-get update", one "apt-get install") only when something is
# missing.  apt's output is shown only when it fails.  Needs root, or sudo.
#
# Postfix is preseeded as "Local only" so that, on machines with an init
# system, the distribution's own instance listens on loopback only.  The test
# bed never uses that instance: start.sh runs a private one.  Likewise the
# distribution's own danted and tinyproxy services, which the test bed never
# uses (it runs private instances): when this script installs them on a
# machine with systemd, they are stopped and disabled.

set -euo pipefail

prog=${0##*/}
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

with_php=0
for arg in "$@"; do
    case $arg in
        --with-php) with_php=1 ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    die "must run as root (and sudo is not available)"
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: only Debian/Ubuntu are supported"

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
# dante-server (danted) and tinyproxy: the test bed's SOCKS5 and HTTP
# CONNECT proxies (tests/testbed/proxies.sh).
for pkg in postfix dovecot-core openssl dante-server tinyproxy; do
    installed "$pkg" || missing+=("$pkg")
done
# python3 may come from elsewhere (pyenv, a CI image): a working interpreter
# on PATH is enough.
command -v python3 >/dev/null 2>&1 || installed python3 || missing+=(python3)
# "flock" (util-linux) is used by start.sh; it is essential on Debian/Ubuntu.
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
# "ip netns" (iproute2): tests/test-all.sh runs the non-loopback
# plaintext-credentials test in a network namespace when it runs as root.
installed iproute2 || command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# dkimpy (and PyNaCl for Ed25519) for tests/tests/dkim.rs, checked with the
# distribution's interpreter that the packages install into.
installed python3-dkim || missing+=(python3-dkim)
installed python3-nacl || missing+=(python3-nacl)
if [ "$with_php" = 1 ] && ! command -v php >/dev/null 2>&1; then
    missing+=(php-cli-placeholder)
fi
# php-fpm and a FastCGI client, for the PHP tests under a live php-fpm
# pool (bindings/php/tests/OutboxFpmTest.php).
if [ "$with_php" = 1 ]; then
    [ -x /usr/sbin/php-fpm8.2 ] || [ -x /usr/sbin/php-fpm ] || missing+=(php-fpm-placeholder)
    command -v cgi-fcgi >/dev/null 2>&1 || missing+=(libfcgi-bin)
    # Symfony Mailer (5.4 on bookworm, under /usr/share/php/Symfony) for
    # bindings/php/tests/SymfonyTransportTest.php.
    installed php-symfony-mailer || missing+=(php-symfony-mailer)
    # Debian's PHPMailer 6, which Smtp\Compat\PHPMailer is checked against
    # (bindings/php/tests/Compat/).
    installed libphp-phpmailer || missing+=(libphp-phpmailer)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

log=$(mktemp "${TMPDIR:-/tmp}/testbed-install.XXXXXX")
trap 'rm -f "$log"' EXIT
apt_run() {
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "$@" >>"$log" 2>&1; then
        cat "$log" >&2
        die "'$*' failed"
    fi
}

apt_run apt-get -q update

# Resolve the PHP package name now that the package lists are fresh.
if [[ " ${missing[*]} " == *" php-cli-placeholder "* ]]; then
    php_pkg=php-cli
    if apt-cache show php8.2-cli >/dev/null 2>&1; then php_pkg=php8.2-cli; fi
    missing=("${missing[@]/php-cli-placeholder/$php_pkg}")
fi
if [[ " ${missing[*]} " == *" php-fpm-placeholder "* ]]; then
    fpm_pkg=php-fpm
    if apt-cache show php8.2-fpm >/dev/null 2>&1; then fpm_pkg=php8.2-fpm; fi
    missing=("${missing[@]/php-fpm-placeholder/$fpm_pkg}")
fi

if [[ " ${missing[*]} " == *" postfix "* ]]; then
    printf '%s\n' \
        'postfix postfix/main_mailer_type select Local only' \
        'postfix postfix/mailname string localhost' |
        "${SUDO[@]}" debconf-set-selections >>"$log" 2>&1 || true
fi

apt_run apt-get -q -y -o Dpkg::Use-Pty=0 --no-install-recommends install "${missing[@]}"

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    for pkg in dante-server:danted tinyproxy:tinyproxy; do
        if [[ " ${missing[*]} " == *" ${pkg%%:*} "* ]]; then
            "${SUDO[@]}" systemctl disable --now "${pkg#*:}" >>"$log" 2>&1 || true
        fi
    done
fi

for cmd in postfix dovecot openssl python3 danted tinyproxy; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] ||
        die "'$cmd' still missing after installing: ${missing[*]}"
done
echo "$prog: installed ${missing[*]}" >&2
