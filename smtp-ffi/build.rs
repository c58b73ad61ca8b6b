//! Gives the shared library its SONAME (`libsmtp.so.0`) on ELF platforms,
//! so programs linked against it keep working across compatible updates.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux"
            | "android"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
            | "illumos"
            | "solaris"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsmtp.so.0");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
