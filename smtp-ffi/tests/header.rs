//! The committed `include/smtp.h` must be exactly what the pinned cbindgen
//! generates from the sources, and its version macros must match
//! Cargo.toml.
//!
//! To update the header after changing the API:
//! `SMTP_UPDATE_HEADER=1 cargo test -p smtp-ffi --test header`.

use std::path::PathBuf;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    crate_dir().join("../include/smtp.h")
}

fn generate() -> Vec<u8> {
    let dir = crate_dir();
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .expect("smtp-ffi/cbindgen.toml is readable and valid");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    out
}

#[test]
fn header_is_up_to_date() {
    let generated = generate();
    let path = header_path();
    if std::env::var_os("SMTP_UPDATE_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write include/smtp.h");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != generated {
        let first_difference = committed
            .split(|&b| b == b'\n')
            .zip(generated.split(|&b| b == b'\n'))
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_string(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "include/smtp.h is out of date with smtp-ffi's sources ({first_difference}).\n\
             Regenerate it with:\n    SMTP_UPDATE_HEADER=1 cargo test -p smtp-ffi --test header\n\
             and commit the result."
        );
    }
}

fn define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    header
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} is not defined in include/smtp.h"))
        .trim()
        .to_string()
}

#[test]
fn version_macros_match_cargo_toml() {
    // Checked on the generated text, so a stale cbindgen.toml fails here
    // even when the committed header is regenerated from it.
    let header = String::from_utf8(generate()).unwrap();
    assert_eq!(
        define(&header, "SMTP_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR"),
        "update after_includes in smtp-ffi/cbindgen.toml"
    );
    assert_eq!(
        define(&header, "SMTP_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        "update after_includes in smtp-ffi/cbindgen.toml"
    );
    assert_eq!(
        define(&header, "SMTP_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH"),
        "update after_includes in smtp-ffi/cbindgen.toml"
    );
    assert_eq!(
        define(&header, "SMTP_VERSION_STRING"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION")),
        "update after_includes in smtp-ffi/cbindgen.toml"
    );
    // SAFETY: smtp_version returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(smtp::smtp_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn header_suits_php_ffi() {
    // PHP's FFI parser gets this header minus #include lines, through
    // `cpp -P`: no C23 enum bases, no multi-line macros.
    let header = String::from_utf8(generate()).unwrap();
    assert!(
        !header.contains("enum smtp_result :"),
        "an enum with a fixed underlying type"
    );
    for line in header.lines() {
        if line.starts_with("#define") {
            assert!(!line.ends_with('\\'), "multi-line macro: {line}");
        }
    }
}
