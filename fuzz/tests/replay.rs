//! Replays the committed corpus and the regression inputs through the fuzz
//! checks without libFuzzer: `cargo test` inside fuzz/ on any toolchain.

use std::fs;
use std::path::Path;

use smtp_core::Mechanism;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 14] = [
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
];

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(kind);
    let mut total = 0;
    for (target, check) in TARGETS {
        let Ok(entries) = fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let data = fs::read(&path).expect("readable input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            total += 1;
        }
    }
    total
}

#[test]
fn corpus_passes() {
    assert!(replay("corpus") > 0, "no corpus found");
}

#[test]
fn regressions_pass() {
    replay("regressions");
}
