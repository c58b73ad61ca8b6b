#!/usr/bin/env bash
# packaging/deb.sh: the Debian packages (`make deb`), built with dpkg-deb
# alone (no debhelper, no network):
#
#   smtp-submit_VERSION-1_ARCH.deb   libsmtp.so.0 (+ .so.VERSION) in
#       /usr/lib/MULTIARCH, /usr/bin/smtp-send with its man page, the PHP
#       package in /usr/share/php/smtp-submit (autoload.php, src/, legacy/,
#       ffi/, preload.php): what programs, PHP and cron need.
#   libsmtp-dev_VERSION-1_ARCH.deb   /usr/include/smtp.h, libsmtp.so,
#       libsmtp.a and /usr/lib/MULTIARCH/pkgconfig/smtp.pc: for building C
#       programs against the library.
#
# PHP finds the library without configuration: the package's ldconfig
# trigger puts libsmtp.so.0 in the loader's cache, the binding's last
# fallback. Binaries are stripped, files owned by root, man page and
# changelogs gzip -9n, /usr/share/doc/PKG/copyright machine-readable
# (DEP-5), Depends computed by dpkg-shlibdeps (libc6 alone when it is
# missing), md5sums, a shlibs file. Prints the paths of the packages.
#
#   packaging/deb.sh     (environment: see packaging/common.sh; also
#                         DEB_REVISION, default 1, and DEB_MAINTAINER)

# shellcheck source=packaging/common.sh
. "$(dirname "$0")/common.sh"

for tool in dpkg-deb dpkg-architecture; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install dpkg-dev)"
done
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
revision=${DEB_REVISION:-1}
debversion=$VERSION-$revision
maintainer=${DEB_MAINTAINER:-The smtp-submit authors <smtp-submit@example.org>}
libdir=/usr/lib/$multiarch
main=smtp-submit
dev=libsmtp-dev

build_release

work=$(mktemp -d "${TMPDIR:-/tmp}/smtp-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
m=$work/$main
d=$work/$dev

# ---- contents -------------------------------------------------------------
stage_library "$m" /usr "$libdir"
# The development files go to libsmtp-dev.
install -d "$d$libdir" "$d/usr/include"
mv "$m$libdir/libsmtp.so" "$m$libdir/libsmtp.a" "$m$libdir/pkgconfig" "$d$libdir/"
mv "$m/usr/include/smtp.h" "$d/usr/include/"
rmdir "$m/usr/include"
stage_cli "$m" /usr/bin /usr/share/man
stage_php "$m/usr/share/php/smtp-submit"

# ---- documentation --------------------------------------------------------
rfc2822_date=$(LC_ALL=C date -u -d "@$EPOCH" -R)

# copyright (DEP-5). The binaries also contain the Rust crates they are
# statically linked with: listed with their licences from Cargo.lock.
crates=$(cd "$ROOT" && "$CARGO" tree --offline --locked -e normal,no-proc-macro \
    -p smtp-ffi -p smtp-cli --prefix none -f '{p}: {l}' 2>/dev/null |
    sed -e 's/ (\*)$//' -e 's/ (\/[^)]*)//' | grep -v -e '^smtp-' -e '^$' | sort -u || true)
[ -n "$crates" ] || crates="(the list could not be computed: see Cargo.lock)"
write_copyright() {
    cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: smtp-submit
Upstream-Contact: $maintainer
Comment: The library and smtp-send are statically linked with these Rust
 crates (name, version: licence), built from crates.io sources pinned by
 Cargo.lock:
 .
$(printf '%s\n' "$crates" | sed 's/^/ /')

Files: *
Copyright: The smtp-submit authors
License: MIT or Apache-2.0

License: MIT
$(sed -e 's/^$/./' -e 's/^/ /' "$ROOT/LICENSE-MIT")

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may
 not use this file except in compliance with the License. You may obtain a
 copy of the License at
 .
 https://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 License for the specific language governing permissions and limitations
 under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
EOF
}

write_changelog() {
    cat <<EOF
$main ($debversion) unstable; urgency=medium

  * Built by packaging/deb.sh from upstream $VERSION (commit $COMMIT).

 -- $maintainer  $rfc2822_date
EOF
}

for pkg in $main $dev; do
    doc=$work/$pkg/usr/share/doc/$pkg
    install -d "$doc"
    write_copyright > "$doc/copyright"
    write_changelog | gzip -9n > "$doc/changelog.Debian.gz"
done
# These packages are built outside Debian's archive: no ITP bug to close.
for pkg in $main $dev; do
    install -d "$work/$pkg/usr/share/lintian/overrides"
    printf '# Built by packaging/deb.sh outside the Debian archive: there is no ITP bug to close.\n%s: initial-upload-closes-no-bugs\n' \
        "$pkg" > "$work/$pkg/usr/share/lintian/overrides/$pkg"
done
gzip -9n < "$ROOT/CHANGELOG.md" > "$m/usr/share/doc/$main/changelog.gz"
gzip -9n < "$ROOT/README.md" > "$m/usr/share/doc/$main/README.md.gz"
gzip -9n < "$ROOT/bindings/php/README.md" > "$m/usr/share/doc/$main/README.php.md.gz"
chmod 0644 "$work"/*/usr/share/doc/*/* "$work"/*/usr/share/lintian/overrides/*

# ---- control files ----------------------------------------------------------
# Depends from the ELF files' needs (dpkg-shlibdeps wants a debian/control).
depends=libc6
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
    mkdir -p "$work/src/debian"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$main" "$main" > "$work/src/debian/control"
    if out=$(cd "$work/src" && dpkg-shlibdeps -O -e"$m$libdir/libsmtp.so.$VERSION" -e"$m/usr/bin/smtp-send" 2>"$work/shlibdeps.err"); then
        depends=$(printf '%s\n' "$out" | sed -n 's/^shlibs:Depends=//p')
    else
        echo "deb.sh: dpkg-shlibdeps failed, Depends: libc6 ($(cat "$work/shlibdeps.err"))" >&2
    fi
fi
[ -n "$depends" ] || depends=libc6

# Installed-Size in KiB: each file rounded up, one per other entry.
installed_size() {
    find "$1" -path "$1/DEBIAN" -prune -o ! -path "$1" -printf '%y %s\n' |
        awk '{ n += ($1 == "f") ? int(($2 + 1023) / 1024) : 1 } END { print n }'
}

description_main="authenticated SMTP submission: C library, PHP binding, smtp-send
 Sends mail to a submission server with authentication (every SASL
 mechanism, OAuth 2.0 tokens) over STARTTLS or implicit TLS, with the
 certificate checked and no secret in any log.
 .
 This package contains libsmtp (a stable C ABI), the PHP binding over
 PHP's FFI extension in /usr/share/php/smtp-submit (require its
 autoload.php; it includes a drop-in for the legacy send_mail class), and
 smtp-send, a sendmail-compatible command for PHP's mail() and cron, with
 a durable outbox."
description_dev="authenticated SMTP submission: C development files
 libsmtp sends mail to a submission server with authentication (every SASL
 mechanism, OAuth 2.0 tokens) over STARTTLS or implicit TLS.
 .
 This package contains the header smtp.h, the libsmtp.so link, the static
 library and the pkg-config file (pkg-config --cflags --libs smtp)."

install -d -m 0755 "$m/DEBIAN" "$d/DEBIAN"
cat > "$m/DEBIAN/control" <<EOF
Package: $main
Version: $debversion
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(installed_size "$m")
Depends: $depends
Suggests: php-cli | php-fpm
Section: mail
Priority: optional
Description: $description_main
EOF
cat > "$d/DEBIAN/control" <<EOF
Package: $dev
Source: $main
Version: $debversion
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(installed_size "$d")
Depends: $main (= $debversion)
Section: libdevel
Priority: optional
Description: $description_dev
EOF
# The library's SONAME for other packages' dpkg-shlibdeps, and ldconfig
# after installation and removal.
printf 'libsmtp %s %s (>= %s)\n' "$SOMAJOR" "$main" "$VERSION" > "$m/DEBIAN/shlibs"
printf 'activate-noawait ldconfig\n' > "$m/DEBIAN/triggers"

mkdir -p "$OUTDIR"
for root in "$m" "$d"; do
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0 -r md5sum) > "$root/DEBIAN/md5sums"
    chmod 0644 "$root"/DEBIAN/*
    normalize "$root"
    pkg=$(basename "$root")
    out=$OUTDIR/${pkg}_${debversion}_$arch.deb
    SOURCE_DATE_EPOCH=$EPOCH dpkg-deb --root-owner-group -Zxz --build "$root" "$out.tmp" >/dev/null
    mv -f "$out.tmp" "$out"
    echo "$out"
done
