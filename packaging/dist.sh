#!/usr/bin/env bash
# packaging/dist.sh: the binary tarball, smtp-submit-VERSION-ARCH.tar.gz
# (`make dist`): a /usr/local-style tree to unpack anywhere, typically
#
#   tar -xzf smtp-submit-0.1.0-x86_64.tar.gz --strip-components=1 -C /usr/local && ldconfig
#
#   smtp-submit-VERSION-ARCH/
#     bin/smtp-send
#     include/smtp.h
#     lib/libsmtp.so.VERSION, libsmtp.so.0 -> it, libsmtp.so -> libsmtp.so.0, libsmtp.a
#     lib/pkgconfig/smtp.pc        (relocatable: prefix=${pcfiledir}/../..)
#     share/man/man1/smtp-send.1.gz
#     share/php/smtp-submit/       (the PHP package: autoload.php, src/, legacy/, ffi/...)
#     share/doc/smtp-submit/       (README.md, CHANGELOG.md)
#     LICENSE-MIT, LICENSE-APACHE, README.md
#
# Unpacked into /usr/local, the library is where the PHP binding looks
# first (/usr/local/lib/libsmtp.so.0). Reproducible for one commit and one
# build: names sorted, owner root, every time SOURCE_DATE_EPOCH (the last
# commit's), gzip without a name or time. Prints the tarball's path.
#
#   packaging/dist.sh            (environment: see packaging/common.sh)

# shellcheck source=packaging/common.sh
. "$(dirname "$0")/common.sh"

arch=$(uname -m)
name=smtp-submit-$VERSION-$arch
build_release

work=$(mktemp -d "${TMPDIR:-/tmp}/smtp-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
top=$work/$name

# The library, header and pkg-config file, installed for /usr/local into a
# staging directory, then moved up to the top of the tree.
stage_library "$work/stage" /usr/local /usr/local/lib
mkdir -p "$top"
mv "$work/stage/usr/local/lib" "$work/stage/usr/local/include" "$top/"
# The .pc file finds everything relative to itself, wherever the tree goes.
sed -i -e 's|^prefix=.*|prefix=${pcfiledir}/../..|' \
    -e 's|^libdir=/usr/local/lib$|libdir=${prefix}/lib|' \
    -e 's|^includedir=/usr/local/include$|includedir=${prefix}/include|' \
    "$top/lib/pkgconfig/smtp.pc"
if grep -q /usr/local "$top/lib/pkgconfig/smtp.pc"; then
    die "smtp.pc still names /usr/local: $(cat "$top/lib/pkgconfig/smtp.pc")"
fi

stage_cli "$top" /bin /share/man
stage_php "$top/share/php/smtp-submit" --with-docs
install -d "$top/share/doc/smtp-submit"
install -m 0644 "$ROOT/README.md" "$ROOT/CHANGELOG.md" "$top/share/doc/smtp-submit/"
install -m 0644 "$ROOT/LICENSE-MIT" "$ROOT/LICENSE-APACHE" "$ROOT/README.md" "$top/"
normalize "$top"

mkdir -p "$OUTDIR"
out=$OUTDIR/$name.tar.gz
tar --create --directory "$work" --sort=name --format=gnu \
    --owner=0 --group=0 --numeric-owner --mtime="@$EPOCH" \
    "$name" | gzip -9n > "$out.tmp"
mv -f "$out.tmp" "$out"
echo "$out"
