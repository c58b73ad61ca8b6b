//! Micro-benchmarks of reply parsing (`smtp_core::reply`): a one-line
//! reply with an enhanced status code, a typical multi-line EHLO reply, and
//! the same EHLO reply read through `Capabilities::from_ehlo`.
//!
//! `cargo bench -p smtp-core --bench reply_parse`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smtp_core::reply::{parse_reply, ReplyBuilder};
use smtp_core::Capabilities;

const ONE_LINE: &[u8] = b"250 2.0.0 Ok: queued as 4Xk2Lq0zZbz9tGN\r\n";

const EHLO: &[u8] = b"250-mail.example.org\r\n\
250-PIPELINING\r\n\
250-SIZE 209715200\r\n\
250-VRFY\r\n\
250-ETRN\r\n\
250-AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256\r\n\
250-ENHANCEDSTATUSCODES\r\n\
250-8BITMIME\r\n\
250-DSN\r\n\
250-SMTPUTF8\r\n\
250 CHUNKING\r\n";

fn bench_replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply");
    group.throughput(Throughput::Bytes(ONE_LINE.len() as u64));
    group.bench_function("parse_one_line", |b| {
        b.iter(|| parse_reply(black_box(ONE_LINE)).expect("valid reply"))
    });
    group.bench_function("builder_one_line", |b| {
        b.iter(|| {
            let mut builder = ReplyBuilder::new();
            builder
                .push_line(black_box(&ONE_LINE[..ONE_LINE.len() - 2]))
                .expect("valid line")
                .expect("last line")
        })
    });
    group.throughput(Throughput::Bytes(EHLO.len() as u64));
    group.bench_function("parse_ehlo_11_lines", |b| {
        b.iter(|| parse_reply(black_box(EHLO)).expect("valid reply"))
    });
    let reply = parse_reply(EHLO).expect("valid reply");
    group.bench_function("capabilities_from_ehlo", |b| {
        b.iter(|| Capabilities::from_ehlo(black_box(&reply)))
    });
    group.finish();
}

criterion_group!(benches, bench_replies);
criterion_main!(benches);
