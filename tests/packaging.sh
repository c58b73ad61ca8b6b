#!/usr/bin/env bash
# tests/packaging.sh: checks the release packages (`make check-packages`,
# a step of tests/test-all.sh):
#
#  1. `make dist` twice: the same bytes both times; the tarball holds exactly
#     the expected files (root-owned, one timestamp); unpacked anywhere, its
#     smtp.pc builds a C program that runs against its libsmtp.
#  2. `make deb`: both packages hold exactly the expected files; lintian
#     reports no error (its warnings are shown).
#  3. As root, with dpkg, and only when smtp-submit is not installed already:
#     installs both packages, then checks smtp-send from /usr/bin, its man
#     page, `pkg-config --cflags --libs smtp`, a C program built against
#     /usr/include/smtp.h and -lsmtp, PHP loading the library with no
#     SMTP_LIBRARY (by path and through include_path), and with a test bed
#     (SMTP_TESTBED_ENV) a message from each; then purges both and checks
#     that nothing is left. Otherwise this part is skipped, saying why
#     (SMTP_PACKAGING_REQUIRE_INSTALL=1 makes that a failure).
#
# Reuses the release build in CARGO_TARGET_DIR (cargo rebuilds only what is
# out of date). Packages are written to a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

fail() { printf 'packaging.sh: FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'ok: %s\n' "$*"; }
skip() { printf 'SKIPPED packaging install: %s\n' "$*"; }

version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
arch=$(uname -m)
work=$(mktemp -d "${TMPDIR:-/tmp}/smtp-packaging.XXXXXX")
installed_here=0
cleanup() {
    if [ "$installed_here" = 1 ]; then
        dpkg --purge libsmtp-dev smtp-submit >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
export OUTDIR=$work/out

# The PHP package's files as they are in the repository now.
php_files() { # PREFIX
    (cd bindings/php && find src legacy ffi -type f && printf '%s\n' autoload.php preload.php composer.json) |
        sed "s|^|$1/|"
}
# Compares a list of paths (stdin) with the expected one ($1: a file).
same_list() { # EXPECTED WHAT
    LC_ALL=C sort -o "$1" "$1"
    LC_ALL=C sort > "$1.actual"
    if ! diff -u "$1" "$1.actual" >&2; then
        fail "$2: the file list differs (- expected, + actual)"
    fi
}

# ---- 1. the tarball ---------------------------------------------------------
echo "== make dist"
tarball=$(make --no-print-directory -s dist | tail -n 1)
[ "$tarball" = "$OUTDIR/smtp-submit-$version-$arch.tar.gz" ] || fail "unexpected tarball path: $tarball"
first=$(sha256sum < "$tarball")
sleep 1 # a different clock: a timestamp that leaked in would change the bytes
make --no-print-directory -s dist >/dev/null
[ "$(sha256sum < "$tarball")" = "$first" ] || fail "make dist twice gave different tarballs"
ok "make dist is reproducible ($(du -h "$tarball" | cut -f1) ${first%% *})"

top=smtp-submit-$version-$arch
{
    printf "$top/%s\n" LICENSE-MIT LICENSE-APACHE README.md bin/smtp-send include/smtp.h \
        lib/libsmtp.so lib/libsmtp.so.0 "lib/libsmtp.so.$version" lib/libsmtp.a lib/pkgconfig/smtp.pc \
        share/man/man1/smtp-send.1.gz share/doc/smtp-submit/README.md share/doc/smtp-submit/CHANGELOG.md \
        share/php/smtp-submit/README.md share/php/smtp-submit/LICENSE-MIT share/php/smtp-submit/LICENSE-APACHE
    php_files "$top/share/php/smtp-submit"
} > "$work/expected-tar"
tar -tzf "$tarball" | grep -v '/$' | same_list "$work/expected-tar" "$tarball"
owners=$(tar --numeric-owner -tvzf "$tarball" | awk '{ print $2 }' | sort -u)
[ "$owners" = 0/0 ] || fail "tarball entries not owned by 0/0: $owners"
times=$(tar --full-time -tvzf "$tarball" | awk '{ print $4, $5 }' | sort -u | wc -l)
[ "$times" = 1 ] || fail "tarball entries have $times different times"
[ "$(tar -tvzf "$tarball" "$top/lib/libsmtp.so.0" | sed 's/.* -> //')" = "libsmtp.so.$version" ] ||
    fail "lib/libsmtp.so.0 does not point to libsmtp.so.$version"
ok "tarball: $(tar -tzf "$tarball" | grep -vc '/$') files as expected, owner root, one timestamp"

mkdir -p "$work/unpacked/some/where"
tar -xzf "$tarball" -C "$work/unpacked/some/where"
prefix=$work/unpacked/some/where/$top
cat > "$work/version.c" <<'EOF'
/* tests/packaging.sh: the smallest program against libsmtp. */
#include <smtp.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    printf("%s\n", smtp_version());
    return strcmp(smtp_version(), SMTP_VERSION_STRING) == 0 ? 0 : 1;
}
EOF
flags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs smtp)
# shellcheck disable=SC2086
cc -std=c99 -Wall -Werror "$work/version.c" -o "$work/version-tar" $flags
[ "$(LD_LIBRARY_PATH=$prefix/lib "$work/version-tar")" = "$version" ] || fail "the tarball's library does not run"
[ "$("$prefix/bin/smtp-send" --version 2>&1 | grep -c "$version")" -ge 1 ] || fail "the tarball's smtp-send --version"
ok "unpacked elsewhere: pkg-config ($flags) builds a program that runs; smtp-send --version"

# ---- 2. the Debian packages -----------------------------------------------
echo "== make deb"
make --no-print-directory -s deb > "$work/debs"
debarch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
main_deb=$OUTDIR/smtp-submit_$version-1_$debarch.deb
dev_deb=$OUTDIR/libsmtp-dev_$version-1_$debarch.deb
[ -f "$main_deb" ] && [ -f "$dev_deb" ] || fail "make deb did not write $main_deb and $dev_deb: $(cat "$work/debs")"

deb_files() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|'; }
{
    printf '%s\n' /usr/bin/smtp-send "/usr/lib/$multiarch/libsmtp.so.0" "/usr/lib/$multiarch/libsmtp.so.$version" \
        /usr/share/man/man1/smtp-send.1.gz /usr/share/lintian/overrides/smtp-submit
    printf '/usr/share/doc/smtp-submit/%s\n' copyright changelog.Debian.gz changelog.gz README.md.gz README.php.md.gz
    php_files /usr/share/php/smtp-submit
} > "$work/expected-main"
deb_files "$main_deb" | same_list "$work/expected-main" "$main_deb"
{
    printf '%s\n' /usr/include/smtp.h "/usr/lib/$multiarch/libsmtp.so" "/usr/lib/$multiarch/libsmtp.a" \
        "/usr/lib/$multiarch/pkgconfig/smtp.pc" /usr/share/lintian/overrides/libsmtp-dev \
        /usr/share/doc/libsmtp-dev/copyright /usr/share/doc/libsmtp-dev/changelog.Debian.gz
} > "$work/expected-dev"
deb_files "$dev_deb" | same_list "$work/expected-dev" "$dev_deb"
for f in "$main_deb" "$dev_deb"; do
    [ "$(dpkg-deb -c "$f" | awk '{ print $2 }' | sort -u)" = root/root ] || fail "${f##*/}: files not owned by root"
done
for f in "$main_deb" "$dev_deb"; do
    printf '%s: ' "${f##*/}"
    dpkg-deb -f "$f" Package Version Depends Section | paste -sd' '
done
ok "packages: the expected files, owned by root"

if command -v lintian >/dev/null 2>&1; then
    rc=0
    lintian --fail-on error "$main_deb" "$dev_deb" > "$work/lintian" 2>&1 || rc=$?
    # lintian says it would rather not run as root; it is right, and harmless here.
    grep -v 'running with root privileges' "$work/lintian" || true
    if [ "$rc" != 0 ] || grep -q '^E:' "$work/lintian"; then
        fail "lintian reports errors (exit $rc)"
    fi
    ok "lintian: no error ($(grep -c '^W:' "$work/lintian" || true) warnings, shown above)"
else
    fail "lintian is missing (apt-get install lintian)"
fi

# ---- 3. installed -------------------------------------------------------------
install_test() {
    echo "== dpkg -i"
    # Set first: a dpkg -i that fails half way is purged too (neither
    # package was installed before, checked below).
    installed_here=1
    dpkg -i "$main_deb" "$dev_deb" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
    ok "dpkg -i smtp-submit libsmtp-dev"

    [ "$(command -v smtp-send)" = /usr/bin/smtp-send ] || fail "smtp-send is not /usr/bin/smtp-send: $(command -v smtp-send)"
    /usr/bin/smtp-send --version | grep -q "$version" || fail "smtp-send --version"
    /usr/bin/smtp-send --help | grep -q '^EXIT CODES' || fail "smtp-send --help"
    if command -v man >/dev/null 2>&1; then
        [ "$(man -w smtp-send)" = /usr/share/man/man1/smtp-send.1.gz ] || fail "man -w smtp-send"
    fi
    ok "/usr/bin/smtp-send --version: $(/usr/bin/smtp-send --version | head -n 1); man page"

    # (/usr)/lib: with merged /usr the cache names /lib.
    ldconfig -p | grep -Eq "libsmtp\.so\.0 .*=> (/usr)?/lib/$multiarch/libsmtp\.so\.0\$" ||
        fail "libsmtp.so.0 is not in the loader's cache (ldconfig trigger)"
    flags=$(env -u PKG_CONFIG_PATH pkg-config --cflags --libs smtp)
    [ "$(env -u PKG_CONFIG_PATH pkg-config --modversion smtp)" = "$version" ] || fail "pkg-config --modversion smtp"
    # shellcheck disable=SC2086
    cc -std=c99 -Wall -Werror "$work/version.c" -o "$work/version-deb" $flags
    [ "$(env -u LD_LIBRARY_PATH "$work/version-deb")" = "$version" ] || fail "a program linked with -lsmtp"
    ldd "$work/version-deb" | grep -Eq "libsmtp\.so\.0 => (/usr)?/lib/$multiarch/libsmtp\.so\.0 " ||
        fail "ldd: $(ldd "$work/version-deb")"
    ok "pkg-config --cflags --libs smtp: '$flags'; a C program built with it runs (libsmtp.so.0 from /usr/lib/$multiarch)"

    if command -v php >/dev/null 2>&1 && php -r 'exit(extension_loaded("ffi") ? 0 : 1);'; then
        local code='$l = Smtp\Ffi\Library::get(); echo $l->version(), " ", $l->origin(), " ", class_exists("send_mail") ? "legacy" : "-";'
        local expect="$version libsmtp.so.0 legacy"
        if [ -e /usr/local/lib/libsmtp.so.0 ]; then
            expect="$version /usr/local/lib/libsmtp.so.0 legacy" # found first, as documented
        fi
        got=$(env -u SMTP_LIBRARY php -r "require '/usr/share/php/smtp-submit/autoload.php'; $code")
        [ "$got" = "$expect" ] || fail "PHP without SMTP_LIBRARY: '$got', expected '$expect'"
        got=$(env -u SMTP_LIBRARY php -d include_path=.:/usr/share/php -r "require 'smtp-submit/autoload.php'; $code")
        [ "$got" = "$expect" ] || fail "PHP through include_path: '$got', expected '$expect'"
        ok "PHP (no SMTP_LIBRARY): require '/usr/share/php/smtp-submit/autoload.php' loads $got"
    else
        echo "SKIPPED PHP check: no php with FFI"
    fi

    if [ -n "${SMTP_TESTBED_ENV:-}" ] && [ -r "$SMTP_TESTBED_ENV" ]; then
        (
            set -a; . "$SMTP_TESTBED_ENV"; set +a
            token=packaging-$$-$RANDOM
            to=example@$SMTP_TESTBED_DOMAIN
            printf 'Subject: %s smtp-send\r\n\r\nfrom the installed smtp-send\r\n' "$token" |
                env -u SMTP_LIBRARY SMTP_SEND_SYSTEM_CONFIG= XDG_CONFIG_HOME="$work" \
                    SMTP_URL="smtp://localhost:$SMTP_TESTBED_PORT_SUBMISSION?ca_file=$SMTP_TESTBED_CA_FILE" \
                    SMTP_USER="$SMTP_TESTBED_USER" SMTP_PASSWORD="$SMTP_TESTBED_PASSWORD" \
                    /usr/bin/smtp-send --queue=never -f "packaging@$SMTP_TESTBED_DOMAIN" "$to"
            env -u SMTP_LIBRARY TOKEN="$token" TO="$to" php -r '
                require "/usr/share/php/smtp-submit/autoload.php";
                $m = new Smtp\Mailer(host: "localhost", port: (int) getenv("SMTP_TESTBED_PORT_SUBMISSION"),
                    user: getenv("SMTP_TESTBED_USER"), password: getenv("SMTP_TESTBED_PASSWORD"),
                    caFile: getenv("SMTP_TESTBED_CA_FILE"));
                $m->send(new Smtp\Message(from: "packaging@" . getenv("SMTP_TESTBED_DOMAIN"), to: getenv("TO"),
                    subject: getenv("TOKEN") . " php", text: "from the installed PHP package\n"));
                $m->quit();'
            for what in smtp-send php; do
                for _ in $(seq 1 40); do
                    grep -rlq "Subject: $token $what" "$SMTP_TESTBED_MAILDIR" 2>/dev/null && break
                    sleep 0.5
                done
                grep -rlq "Subject: $token $what" "$SMTP_TESTBED_MAILDIR" || fail "the message from $what was not delivered"
            done
        )
        ok "the installed smtp-send and PHP package each delivered a message through the test bed"
    else
        echo "SKIPPED sending from the installed packages: no test bed (SMTP_TESTBED_ENV)"
    fi

    echo "== dpkg --purge"
    dpkg --purge libsmtp-dev smtp-submit > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg --purge"; }
    installed_here=0
    for f in /usr/bin/smtp-send /usr/include/smtp.h "/usr/lib/$multiarch/libsmtp.so.0" "/usr/lib/$multiarch/libsmtp.so" \
        "/usr/lib/$multiarch/pkgconfig/smtp.pc" /usr/share/php/smtp-submit /usr/share/doc/smtp-submit \
        /usr/share/man/man1/smtp-send.1.gz; do
        [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is still there after dpkg --purge"
    done
    ! dpkg-query -W smtp-submit libsmtp-dev >/dev/null 2>&1 || fail "dpkg still knows the packages"
    ! ldconfig -p | grep -Eq "(/usr)?/lib/$multiarch/libsmtp\.so" || fail "libsmtp.so.0 still in the loader's cache"
    ! env -u PKG_CONFIG_PATH pkg-config --exists smtp 2>/dev/null || fail "pkg-config still finds smtp"
    ok "dpkg --purge: every file gone, the loader's cache updated"
}

why=""
if [ "$(id -u)" != 0 ]; then
    why="not root"
elif ! command -v dpkg >/dev/null 2>&1; then
    why="no dpkg"
elif dpkg-query -W -f='${Status}' smtp-submit 2>/dev/null | grep -qv 'not-installed' ||
     dpkg-query -W -f='${Status}' libsmtp-dev 2>/dev/null | grep -qv 'not-installed'; then
    why="smtp-submit or libsmtp-dev is installed on this machine already (not touching it)"
fi
if [ -z "$why" ]; then
    install_test
elif [ "${SMTP_PACKAGING_REQUIRE_INSTALL:-}" = 1 ]; then
    fail "cannot test the installation: $why"
else
    skip "$why"
fi
echo "packaging.sh: OK"
