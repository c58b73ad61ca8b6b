//! The DATA encoder and the BDAT normaliser.
//!
//! The input is a message body. It is encoded whole, in pseudo-random
//! chunks, byte by byte, and through `copy_data` with a reader that
//! returns pseudo-random short reads; all must give the same wire bytes,
//! and those must hold exactly one terminator, at the end, no bare CR or
//! LF, and give back the normalised body once un-stuffed.

use std::io::{self, Read};

use smtp_core::data::{copy_data, BdatNormalizer, DataEncoder};

use crate::util::{chunks, crlf_only, data_content, fnv, normalise, Rng};

/// The DATA target.
pub fn check(data: &[u8]) {
    let seed = fnv(data);
    let wire = DataEncoder::encode_all(data);

    // However the body is split, the output is the same.
    let mut enc = DataEncoder::new();
    let mut split = Vec::new();
    for chunk in chunks(data, seed) {
        enc.encode(chunk, &mut split);
    }
    enc.finish(&mut split);
    assert_eq!(split, wire, "chunked encoding differs");
    // The encoder was reset by finish: a second body comes out alike.
    let mut again = Vec::new();
    for chunk in data.chunks(1) {
        enc.encode(chunk, &mut again);
    }
    enc.finish(&mut again);
    assert_eq!(
        again, wire,
        "byte-by-byte encoding (reused encoder) differs"
    );

    let mut streamed = Vec::new();
    let block = 1 + (seed >> 32) as usize % 64;
    let mut reader = ShortReads {
        data,
        rng: Rng::new(seed ^ 0x5eed),
    };
    let n = copy_data(&mut reader, &mut streamed, block).expect("in-memory copy");
    assert_eq!(n, data.len() as u64);
    assert_eq!(streamed, wire, "copy_data differs");

    check_wire(data, &wire);
}

/// The wire properties of one encoded body.
pub fn check_wire(body: &[u8], wire: &[u8]) {
    // One terminator, at the end; no bare CR or LF; every leading dot
    // doubled; and un-stuffing gives the body back.
    match data_content(wire) {
        Ok(content) => assert_eq!(
            content,
            normalise(body),
            "un-stuffing does not give the body back"
        ),
        Err(problem) => panic!("{problem}"),
    }
    assert!(wire.len() <= 2 * body.len() + 5);
}

/// The BDAT target: CRLF only, and equal to the normalised body, however
/// the body is split.
pub fn check_bdat(data: &[u8]) {
    let whole = BdatNormalizer::encode_all(data);
    assert!(crlf_only(&whole), "bare CR or LF in a BDAT body");
    assert_eq!(whole, normalise(data));
    let mut norm = BdatNormalizer::new();
    for round in 0..2u64 {
        let mut out = Vec::new();
        for chunk in chunks(data, fnv(data).wrapping_add(round)) {
            norm.encode(chunk, &mut out);
        }
        norm.finish(&mut out);
        assert_eq!(out, whole, "chunked normalisation differs");
    }
}

/// A reader that hands out the body in short, uneven reads.
struct ShortReads<'a> {
    data: &'a [u8],
    rng: Rng,
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rng.chunk_len(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
