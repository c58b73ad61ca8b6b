//! Micro-benchmarks of the DATA encoder (`smtp_core::data`): throughput in
//! bytes per second on ordinary text with short CRLF lines (some starting
//! with a dot), on LF-only text (every break rewritten), and on text with
//! no line break at all; each fed in 64 KiB chunks, as `copy_data` does.
//! Also `copy_data` end to end into a sink, and the BDAT normaliser.
//!
//! `cargo bench -p smtp-core --bench data_encoder`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smtp_core::data::{copy_data, BdatNormalizer, DataEncoder};

/// Input size per iteration (4 MiB: well past the caches' small sizes,
/// short enough for many samples).
const SIZE: usize = 4 << 20;
/// The chunk size `copy_data` reads with by default.
const CHUNK: usize = 64 << 10;

/// Ordinary text: lines of 40 to 90 characters, one in 97 starting with a
/// dot, with the given line ending.
fn text(eol: &[u8]) -> Vec<u8> {
    let words = [
        "mail ",
        "server ",
        "the ",
        "of ",
        "delivery ",
        "report ",
        "queue ",
        "and ",
    ];
    let mut out = Vec::with_capacity(SIZE + 128);
    let mut i = 0usize;
    while out.len() < SIZE {
        let width = 40 + (i * 37) % 51;
        let start = out.len();
        if i % 97 == 0 {
            out.push(b'.');
        }
        while out.len() - start < width {
            out.extend_from_slice(words[(i + out.len()) % words.len()].as_bytes());
        }
        out.extend_from_slice(eol);
        i += 1;
    }
    out.truncate(SIZE);
    out
}

/// One long line of letters.
fn no_line_breaks() -> Vec<u8> {
    (0..SIZE).map(|i| b'a' + (i % 26) as u8).collect()
}

fn encode_chunks(input: &[u8], out: &mut Vec<u8>) {
    let mut enc = DataEncoder::new();
    for chunk in input.chunks(CHUNK) {
        out.clear();
        enc.encode(chunk, out);
        black_box(&*out);
    }
    out.clear();
    enc.finish(out);
}

fn bench_encoder(c: &mut Criterion) {
    let inputs = [
        ("crlf_short_lines", text(b"\r\n")),
        ("lf_short_lines", text(b"\n")),
        ("no_line_breaks", no_line_breaks()),
    ];
    let mut group = c.benchmark_group("data_encoder");
    group.throughput(Throughput::Bytes(SIZE as u64));
    for (name, input) in &inputs {
        let mut out = Vec::with_capacity(2 * CHUNK + 64);
        group.bench_function(*name, |b| {
            b.iter(|| encode_chunks(black_box(input), &mut out))
        });
    }
    let crlf = &inputs[0].1;
    let mut out = Vec::with_capacity(2 * CHUNK + 64);
    group.bench_function("bdat_normalizer_crlf_short_lines", |b| {
        b.iter(|| {
            let mut norm = BdatNormalizer::new();
            for chunk in black_box(crlf).chunks(CHUNK) {
                out.clear();
                norm.encode(chunk, &mut out);
                black_box(&out);
            }
            out.clear();
            norm.finish(&mut out);
        })
    });
    group.bench_function("copy_data_crlf_short_lines_to_sink", |b| {
        b.iter(|| {
            copy_data(&mut black_box(&crlf[..]), &mut io::sink(), 0).expect("sink never fails")
        })
    });
    group.finish();
}

criterion_group!(benches, bench_encoder);
criterion_main!(benches);
