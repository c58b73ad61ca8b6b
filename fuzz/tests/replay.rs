//! Replays the committed corpus and the regression inputs through the fuzz
//! checks without libFuzzer: `cargo test` inside fuzz/ on any toolchain.

use std::fs;
use std::path::Path;

use smtp_core::Mechanism;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 15] = [
    ("reply", smtp_core_fuzz::reply::check),
    ("capabilities", smtp_core_fuzz::reply::check_capabilities),
    ("sasl_plain", |d| {
        smtp_core_fuzz::sasl::check(Mechanism::Plain, d)
    }),
    ("sasl_login", |d| {
        smtp_core_fuzz::sasl::check(Mechanism::Login, d)
    }),
    ("sasl_cram_md5", |d| {
        smtp_core_fuzz::sasl::check(Mechanism::CramMd5, d)
    }),
    ("sasl_xoauth2", |d| {
        smtp_core_fuzz::sasl::check(Mechanism::XOAuth2, d)
    }),
    ("sasl_oauthbearer", |d| {
        smtp_core_fuzz::sasl::check(Mechanism::OAuthBearer, d)
    }),
    ("sasl_scram_sha1", |d| {
        smtp_core_fuzz::sasl::check(Mechanism::ScramSha1, d)
    }),
    ("sasl_scram_sha256", |d| {
        smtp_core_fuzz::sasl::check(Mechanism::ScramSha256, d)
    }),
    ("data", smtp_core_fuzz::data::check),
    ("bdat", smtp_core_fuzz::data::check_bdat),
    ("address", smtp_core_fuzz::address::check),
    ("envelope", smtp_core_fuzz::envelope::check),
    ("header", smtp_core_fuzz::header::check),
    ("fit", smtp_core_fuzz::fit::check),
];

/// Replays every input under `kind/TARGET/` through TARGET's check and
/// returns the count per target (0 where the directory is missing or
/// empty). Every failing input is named before the test fails.
fn replay(kind: &str) -> Vec<(&'static str, usize)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(kind);
    let mut counts = Vec::new();
    let mut failed = Vec::new();
    for (target, check) in TARGETS {
        let mut count = 0;
        if let Ok(entries) = fs::read_dir(root.join(target)) {
            let mut paths: Vec<_> = entries
                .map(|entry| entry.expect("directory entry").path())
                .collect();
            paths.sort();
            for path in paths {
                let data = fs::read(&path).expect("readable input");
                if std::panic::catch_unwind(|| check(&data)).is_err() {
                    failed.push(format!("{target}: {}", path.display()));
                }
                count += 1;
            }
        }
        counts.push((target, count));
    }
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    let listed: Vec<String> = counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
    eprintln!("replayed {total} {kind} inputs: {}", listed.join(", "));
    assert!(failed.is_empty(), "failing inputs:\n{}", failed.join("\n"));
    counts
}

/// Every target has a committed corpus: a missing or empty directory
/// fails here rather than passing with nothing replayed.
#[test]
fn corpus_passes() {
    for (target, count) in replay("corpus") {
        assert!(count > 0, "fuzz/corpus/{target} is missing or empty");
    }
}

/// The minimised inputs of past finds, each committed with its fix.
#[test]
fn regressions_pass() {
    let counts = replay("regressions");
    assert!(
        counts.iter().any(|&(_, n)| n > 0),
        "no regression inputs found"
    );
}
