//! Micro-benchmarks of DKIM signing: a 1 KB composed message encoded
//! unsigned, then signed with Ed25519 and with RSA-2048 (the message
//! encoded twice, once to hash and once to send, as the client does).
//! The RSA key is made by `openssl` at start; without it that case is
//! skipped.
//!
//! `cargo bench -p smtp-core --bench dkim`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Read;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smtp_core::{DkimKey, DkimSigner, EncodeOptions, Message};

fn message() -> Message {
    let mut m = Message::new();
    m.from("Bench <bench@example.org>")
        .and_then(|m| m.to("anything@example.net"))
        .and_then(|m| m.subject("Benchmark message"))
        .expect("valid headers");
    m.text(&"The quick brown fox jumps over the lazy dog.\n".repeat(20))
        .date(UNIX_EPOCH + Duration::from_secs(1_767_225_600));
    m
}

fn ed25519() -> DkimSigner {
    let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .expect("a key");
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    DkimSigner::new(DkimKey::from_pem("example.org", "ed", pem.as_bytes()).expect("loads"))
}

fn rsa() -> Option<DkimSigner> {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let key = DkimKey::from_pem("example.org", "rsa", &out.stdout).expect("loads");
    Some(DkimSigner::new(key))
}

fn bench_dkim(c: &mut Criterion) {
    let options = EncodeOptions::default();
    let m = message();
    let size = m.to_bytes(&options).expect("encodes").len() as u64;
    let mut group = c.benchmark_group("dkim");
    group.throughput(Throughput::Bytes(size));
    group.bench_function("unsigned_1k_encode", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(2048);
            let mut reader = m.reader(black_box(&options)).expect("reader");
            reader.read_to_end(&mut out).expect("reads");
            out
        })
    });
    let mut signers = vec![("ed25519_1k_sign_and_encode", ed25519())];
    match rsa() {
        Some(signer) => signers.push(("rsa2048_1k_sign_and_encode", signer)),
        None => eprintln!("openssl not found: the RSA case is skipped"),
    }
    for (name, signer) in &signers {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(2048);
                let reader = m.reader(black_box(&options)).expect("reader");
                let mut signed = signer.sign_reader(reader).expect("signs");
                signed.read_to_end(&mut out).expect("reads");
                out
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_dkim);
criterion_main!(benches);
