#!/usr/bin/env bash
# bindings/php/install-library.sh: builds libsmtp and installs it where this
# PHP binding finds it with no configuration, then checks that PHP loads it.
# `composer run install-library` in bindings/php runs it; so can you:
#
#   bindings/php/install-library.sh          PREFIX=/usr/local (the default)
#
# It needs the repository (the Rust sources and bindings/c), cargo and a C
# toolchain's make. The library is built as the calling user; installing
# into PREFIX (lib/libsmtp.so.0 and its links, lib/libsmtp.a,
# include/smtp.h, lib/pkgconfig/smtp.pc, then ldconfig) is done as root,
# through sudo when not root already.
#
# With the default PREFIX the binding finds /usr/local/lib/libsmtp.so.0
# first (Smtp\Ffi\Library::DEFAULT_PATH). Another PREFIX works when its lib
# directory is on the loader's path (ldconfig); else set SMTP_LIBRARY.
# Without the repository: the Debian packages (`make deb`) or the tarball
# (`make dist`), built on any machine with it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=${PREFIX:-/usr/local}
die() { printf 'install-library.sh: %s\n' "$*" >&2; exit 1; }

[ -f "$root/bindings/c/Makefile" ] && [ -f "$root/smtp-ffi/Cargo.toml" ] ||
    die "needs the smtp-submit repository (bindings/c, smtp-ffi) around $here; without it, install the Debian package or the tarball (make deb / make dist on a machine with the repository)"
command -v cargo >/dev/null 2>&1 ||
    die "cargo is missing: apt-get install cargo (Debian 12 and later), or https://rustup.rs"
command -v make >/dev/null 2>&1 || die "make is missing: apt-get install make gcc"
target=${CARGO_TARGET_DIR:-$root/target}

echo "install-library.sh: building libsmtp (cargo build --release -p smtp-ffi)"
make --no-print-directory -C "$root/bindings/c" lib CARGO_TARGET_DIR="$target"

# Installing as root must not build (root may have no cargo, and its files
# would land in the user's target directory): CARGO=true makes the install
# target's build step a no-op; it copies what was just built.
install_cmd=(make --no-print-directory -C "$root/bindings/c" install PREFIX="$prefix" CARGO=true
    CARGO_TARGET_DIR="$target")
if [ "$(id -u)" = 0 ]; then
    "${install_cmd[@]}"
elif command -v sudo >/dev/null 2>&1; then
    echo "install-library.sh: installing into $prefix with sudo"
    sudo "${install_cmd[@]}"
else
    die "installing into $prefix needs root: run as root, or install sudo"
fi
echo "install-library.sh: installed $prefix/lib/libsmtp.so.0, $prefix/include/smtp.h, $prefix/lib/pkgconfig/smtp.pc"

php=${PHP:-php}
if command -v "$php" >/dev/null 2>&1 && "$php" -r 'exit(extension_loaded("ffi") ? 0 : 1);'; then
    if loaded=$(env -u SMTP_LIBRARY "$php" -r 'require $argv[1]; $l = Smtp\Ffi\Library::get(); echo $l->version(), " from ", $l->origin();' \
        "$here/autoload.php" 2>&1); then
        echo "install-library.sh: PHP loads libsmtp $loaded without SMTP_LIBRARY"
    elif [ "$prefix" = /usr/local ]; then
        die "installed, but PHP does not find it without SMTP_LIBRARY: $loaded"
    else
        echo "install-library.sh: $prefix/lib is not on the loader's path: set SMTP_LIBRARY=$prefix/lib/libsmtp.so.0 for PHP"
    fi
else
    echo "install-library.sh: installed; PHP with FFI not found to check it (apt-get install php8.2-cli)"
fi
