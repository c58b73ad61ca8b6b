//! Micro-benchmarks of message composition (`smtp_core::Message`): a small
//! plain-text message, a text + HTML message with a non-ASCII subject, and
//! one with a 1 MiB attachment (base64 while reading), each encoded to
//! bytes with `Message::to_bytes`; plus building the envelope.
//!
//! `cargo bench -p smtp-core --bench compose`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smtp_core::{Attachment, EncodeOptions, Message};

fn plain() -> Message {
    let mut m = Message::new();
    m.from("Bench <bench@example.org>")
        .and_then(|m| m.to("anything@example.net"))
        .and_then(|m| m.subject("Benchmark message"))
        .expect("valid headers");
    m.text(&"The quick brown fox jumps over the lazy dog.\n".repeat(20))
        .date(UNIX_EPOCH + Duration::from_secs(1_767_225_600));
    m
}

fn alternative() -> Message {
    let mut m = Message::new();
    m.from("Zoë <zoe@example.org>")
        .and_then(|m| m.to("bob@example.net, \"Doe, Jane\" <jane@example.net>"))
        .and_then(|m| m.cc("carol@example.net"))
        .and_then(|m| m.subject("Quarterly report — 季度报告"))
        .expect("valid headers");
    m.text(&"Héllo, the report is attached. Ünïcode text.\n".repeat(20))
        .html(&"<p>Héllo, <b>the report</b> is attached.</p>\n".repeat(20))
        .date(UNIX_EPOCH + Duration::from_secs(1_767_225_600));
    m
}

fn with_attachment() -> Message {
    let mut m = plain();
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    m.attach(
        Attachment::bytes(data)
            .filename("report.bin")
            .content_type("application/octet-stream"),
    )
    .expect("valid attachment");
    m
}

fn bench_compose(c: &mut Criterion) {
    let options = EncodeOptions::default();
    let mut group = c.benchmark_group("compose");
    group.bench_function("plain_1k_build_and_encode", |b| {
        b.iter(|| plain().to_bytes(black_box(&options)).expect("encodes"))
    });
    let m = plain();
    group.bench_function("plain_1k_encode", |b| {
        b.iter(|| black_box(&m).to_bytes(&options).expect("encodes"))
    });
    let m = alternative();
    group.bench_function("alternative_utf8_encode", |b| {
        b.iter(|| black_box(&m).to_bytes(&options).expect("encodes"))
    });
    group.bench_function("alternative_envelope", |b| {
        b.iter(|| black_box(&m).envelope(&options).expect("valid envelope"))
    });
    let m = with_attachment();
    group.throughput(Throughput::Bytes(1 << 20));
    group.bench_function("attachment_1mib_encode", |b| {
        b.iter(|| black_box(&m).to_bytes(&options).expect("encodes"))
    });
    group.finish();
}

criterion_group!(benches, bench_compose);
criterion_main!(benches);
