# packaging/common.sh: what dist.sh and deb.sh share: the version, the
# architecture, the fixed timestamp, the release build, and the staging of
# each part (library, header, pkg-config file, smtp-send, its man page, the
# PHP package) into a directory tree. Sourced, not run.
#
# Environment: CARGO (cargo), CARGO_TARGET_DIR (default target/ in the
# repository), OUTDIR (where packages go; default $CARGO_TARGET_DIR/packages),
# SOURCE_DATE_EPOCH (default: the time of the last git commit),
# SMTP_PACKAGING_NO_BUILD=1 to use target/release as it is.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACKAGING=$ROOT/packaging
CARGO=${CARGO:-cargo}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELEASE=$CARGO_TARGET_DIR/release
OUTDIR=${OUTDIR:-$CARGO_TARGET_DIR/packages}
# Every file a package gets is written with these modes, whatever the umask.
umask 022

die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# The workspace version (the [workspace.package] version of Cargo.toml).
VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1)
[ -n "$VERSION" ] || die "no version in $ROOT/Cargo.toml"
# The C ABI's SONAME major (smtp-ffi/build.rs).
SOMAJOR=0

# A fixed time for every file: the last commit's, so that two builds of one
# commit give the same archive. Not exported: the cc crate (ring's C code)
# rebuilds when SOURCE_DATE_EPOCH changes in cargo's environment.
EPOCH=${SOURCE_DATE_EPOCH:-}
if [ -z "$EPOCH" ]; then
    EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || true)
    [ -n "$EPOCH" ] || EPOCH=$(stat -c %Y "$ROOT/Cargo.toml")
fi
COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

# Builds (or finds up to date) the release library and smtp-send.
build_release() {
    if [ "${SMTP_PACKAGING_NO_BUILD:-}" != 1 ]; then
        "$CARGO" build --release --locked -p smtp-ffi -p smtp-cli --manifest-path "$ROOT/Cargo.toml"
    fi
    for f in libsmtp.so libsmtp.a smtp-send; do
        [ -f "$RELEASE/$f" ] || die "$RELEASE/$f is missing (cargo build --release -p smtp-ffi -p smtp-cli)"
    done
}

# strip_elf FILE...: what dh_strip does (debug sections, .comment, .note).
strip_elf() {
    strip --remove-section=.comment --remove-section=.note --strip-unneeded "$@"
}
strip_static() {
    strip --strip-debug --remove-section=.comment --remove-section=.note \
        --enable-deterministic-archives "$@"
}

# stage_library DEST PREFIX LIBDIR: libsmtp.so.VERSION with its SONAME and
# development links, libsmtp.a, smtp.h and smtp.pc, through the C binding's
# own `make install` (the same layout as a source install), stripped.
stage_library() {
    local dest=$1 prefix=$2 libdir=$3
    make --no-print-directory -s -C "$ROOT/bindings/c" install \
        DESTDIR="$dest" PREFIX="$prefix" LIBDIR="$libdir" CARGO="$CARGO" >/dev/null
    strip_elf "$dest$libdir/libsmtp.so.$VERSION"
    strip_static "$dest$libdir/libsmtp.a"
    chmod 0644 "$dest$libdir/libsmtp.so.$VERSION"
}

# stage_cli DEST BINDIR MANDIR: smtp-send, stripped, and its man page
# (gzip -9n: no name, no time in the header).
stage_cli() {
    local dest=$1 bindir=$2 mandir=$3
    install -d "$dest$bindir" "$dest$mandir/man1"
    install -m 0755 "$RELEASE/smtp-send" "$dest$bindir/smtp-send"
    strip_elf "$dest$bindir/smtp-send"
    local date
    date=$(date -u -d "@$EPOCH" +%Y-%m-%d)
    sed -e "s/@VERSION@/$VERSION/g" -e "s/@DATE@/$date/g" "$PACKAGING/smtp-send.1" \
        | gzip -9n > "$dest$mandir/man1/smtp-send.1.gz"
    chmod 0644 "$dest$mandir/man1/smtp-send.1.gz"
}

# stage_php DEST [--with-docs]: the PHP package: everything under
# bindings/php/src at build time, legacy/, ffi/, autoload.php, preload.php,
# composer.json; with --with-docs also its README.md and the licence files
# (the Debian package has them in /usr/share/doc instead). Not the tests,
# the benchmarks, nor generate-header.sh (it needs the repository).
stage_php() {
    local dest=$1 docs=${2:-}
    local php=$ROOT/bindings/php
    install -d "$dest"
    (cd "$php" && find src legacy ffi -type f -print0) |
        while IFS= read -r -d '' f; do
            install -D -m 0644 "$php/$f" "$dest/$f"
        done
    install -m 0644 "$php/autoload.php" "$php/preload.php" "$php/composer.json" "$dest/"
    if [ "$docs" = --with-docs ]; then
        install -m 0644 "$php/README.md" "$ROOT/LICENSE-MIT" "$ROOT/LICENSE-APACHE" "$dest/"
    fi
}

# normalize TREE: directories 0755, every timestamp EPOCH.
normalize() {
    find "$1" -type d -exec chmod 0755 {} +
    find "$1" -exec touch -h -d "@$EPOCH" {} +
}
