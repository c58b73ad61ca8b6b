//! The message body on the wire: DATA transparency (RFC 5321 4.5.2) and
//! line-ending normalisation, streaming.
//!
//! Every CRLF, bare CR and bare LF in a body is one line break and goes out
//! as CRLF. A CR immediately followed by an LF is one break even when the two
//! arrive in different input chunks; a CR followed by anything else, or at
//! the end of the input, is a break by itself.
//!
//! For `DATA` ([`DataEncoder`], [`copy_data`]) a line that starts with `.`
//! gets one more `.`, and the body ends with CRLF (added only if the last
//! line is unterminated) followed by the terminator `.` CRLF. For `BDAT`
//! (RFC 3030, [`BdatNormalizer`]) only the line endings are normalised: no
//! dot-stuffing and no terminator.
//!
//! The encoders keep their state (at a line start? a CR just seen?) across
//! calls, so the output never depends on how the input is split into chunks.
//! They scan for line breaks with `memchr` and copy unchanged runs whole; text
//! that already uses CRLF and has no line starting with `.` is copied in one
//! piece per chunk.

use std::io::{self, Read, Write};

use memchr::memchr2;

/// Block size [`copy_data`] reads with when the caller has no preference
/// (64 KiB). Passing `0` as the block size selects it too.
pub const DEFAULT_BLOCK_SIZE: usize = 64 * 1024;

/// Largest block size [`copy_data`] uses (64 MiB); larger requests are
/// reduced to it so that a careless argument cannot exhaust memory.
pub const MAX_BLOCK_SIZE: usize = 64 * 1024 * 1024;

/// The terminator that ends a DATA body (after the body's last CRLF).
const TERMINATOR: &[u8] = b".\r\n";

/// Extra output capacity reserved per chunk beyond the input length: room
/// for a few inserted bytes (a stuffed dot, an LF after a bare CR) before the
/// vector has to grow.
const RESERVE_SLACK: usize = 16;

/// The state shared by both encoders: line-ending normalisation, with
/// dot-stuffing when `STUFF` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LineState {
    /// The next input byte starts a line (nothing of the current line has
    /// been seen yet). True at the start of a body.
    at_line_start: bool,
    /// The previous chunk ended with a CR, already written out as CRLF; an LF
    /// at the start of the next chunk belongs to it and is dropped.
    skip_lf: bool,
}

impl LineState {
    const NEW: LineState = LineState {
        at_line_start: true,
        skip_lf: false,
    };

    /// Appends the normalised (and, if `STUFF`, dot-stuffed) form of `input`
    /// to `out`.
    ///
    /// Unchanged input is tracked as a pending segment `input[seg..]` and
    /// copied in one `extend_from_slice` when something must be inserted or
    /// dropped, or at the end of the chunk. A CRLF needs no change, so for
    /// already-normalised text the whole chunk is usually one segment.
    fn encode<const STUFF: bool>(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if input.is_empty() {
            return;
        }
        out.reserve(input.len().saturating_add(RESERVE_SLACK));
        let len = input.len();
        let mut pos = 0;
        if self.skip_lf {
            self.skip_lf = false;
            if input[0] == b'\n' {
                pos = 1;
            }
        }
        let mut seg = pos;
        while pos < len {
            if STUFF && self.at_line_start && input[pos] == b'.' {
                // The dot itself stays in the next segment.
                out.extend_from_slice(&input[seg..pos]);
                out.push(b'.');
                seg = pos;
            }
            let Some(off) = memchr2(b'\r', b'\n', &input[pos..]) else {
                // The rest of the chunk is the start of an unterminated line.
                self.at_line_start = false;
                break;
            };
            let brk = pos + off;
            self.at_line_start = true;
            if input[brk] == b'\n' {
                // A bare LF (the LF of a CRLF is consumed with its CR).
                out.extend_from_slice(&input[seg..brk]);
                out.extend_from_slice(b"\r\n");
                pos = brk + 1;
                seg = pos;
            } else if brk + 1 < len {
                if input[brk + 1] == b'\n' {
                    // CRLF: already correct, leave it in the segment.
                    pos = brk + 2;
                } else {
                    // A bare CR: keep it and add the LF.
                    out.extend_from_slice(&input[seg..=brk]);
                    out.push(b'\n');
                    pos = brk + 1;
                    seg = pos;
                }
            } else {
                // A CR ends the chunk: emit the break now, and remember that
                // an LF opening the next chunk is part of it.
                out.extend_from_slice(&input[seg..=brk]);
                out.push(b'\n');
                self.skip_lf = true;
                pos = len;
                seg = len;
            }
        }
        out.extend_from_slice(&input[seg..]);
    }

    /// Appends a CRLF if the last line is unterminated, then resets the
    /// state for a new body.
    fn finish_line(&mut self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        *self = LineState::NEW;
    }
}

/// Streaming encoder for the DATA command's body.
///
/// Feed the body in any number of chunks with [`encode`](Self::encode), then
/// call [`finish`](Self::finish) once. Line breaks are normalised to CRLF, a
/// line starting with `.` gets one more `.`, and `finish` appends the final
/// CRLF (if needed) and the terminator `.` CRLF. The output is the same
/// however the body is split.
#[derive(Debug, Clone)]
pub struct DataEncoder {
    state: LineState,
}

impl DataEncoder {
    /// A new encoder, at the start of a body.
    pub fn new() -> Self {
        DataEncoder {
            state: LineState::NEW,
        }
    }

    /// Append the encoded form of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.state.encode::<true>(input, out);
    }

    /// Append what ends the body: CRLF if the last line is unterminated, then
    /// `.` CRLF. (A CR that ended the last chunk was already written as CRLF
    /// by [`encode`](Self::encode), so it gets no second one.) The encoder is
    /// then reset and can be reused for a new body.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.state.finish_line(out);
        out.extend_from_slice(TERMINATOR);
    }

    /// Encodes a whole body held in memory: the complete DATA wire bytes,
    /// terminator included.
    pub fn encode_all(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len().saturating_add(RESERVE_SLACK));
        let mut enc = DataEncoder::new();
        enc.encode(body, &mut out);
        enc.finish(&mut out);
        out
    }
}

impl Default for DataEncoder {
    fn default() -> Self {
        DataEncoder::new()
    }
}

/// Streaming line-ending normaliser for BDAT bodies (no dot-stuffing, no
/// terminator).
///
/// Same shape as [`DataEncoder`]: every CRLF, bare CR and bare LF becomes
/// CRLF, and [`finish`](Self::finish) adds a CRLF only if the body is
/// non-empty and did not end with a line break.
#[derive(Debug, Clone)]
pub struct BdatNormalizer {
    state: LineState,
}

impl BdatNormalizer {
    /// A new normaliser, at the start of a body.
    pub fn new() -> Self {
        BdatNormalizer {
            state: LineState::NEW,
        }
    }

    /// Append the normalised form of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.state.encode::<false>(input, out);
    }

    /// Append a CRLF if the body is non-empty and its last line is
    /// unterminated. The normaliser is then reset and can be reused for a new
    /// body.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.state.finish_line(out);
    }

    /// Normalises a whole body held in memory.
    pub fn encode_all(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len().saturating_add(RESERVE_SLACK));
        let mut norm = BdatNormalizer::new();
        norm.encode(body, &mut out);
        norm.finish(&mut out);
        out
    }
}

impl Default for BdatNormalizer {
    fn default() -> Self {
        BdatNormalizer::new()
    }
}

/// Where copying a body failed: reading the caller's body (the message must
/// then NOT be terminated: the caller will drop the connection so no
/// truncated message is delivered) or writing to the server.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Reading the body failed. The terminator has not been written; the
    /// connection must be dropped so the partial message is not delivered.
    #[error("reading the message body failed: {0}")]
    Source(io::Error),
    /// Writing to the server failed before the whole terminator was
    /// handed over: the server cannot have the end of the message.
    #[error("writing the message body to the server failed: {0}")]
    Sink(io::Error),
    /// Flushing failed after the terminator was handed to the writer (a
    /// TLS stream may still hold it): the server may or may not have the
    /// whole message.
    #[error("sending the end of the message body to the server failed: {0}")]
    Flush(io::Error),
}

/// Copy a whole body from `body` to `out` as DATA wire bytes, ending with the
/// terminator.
///
/// Reads in blocks of `block_size` bytes (`0` means [`DEFAULT_BLOCK_SIZE`];
/// values above [`MAX_BLOCK_SIZE`] are reduced to it) and never holds the
/// whole body: memory stays at a few blocks. Encoded output is collected
/// until it reaches a block before it is written, so a reader that returns
/// small pieces does not cause small writes, and the final block is written
/// together with the terminator in one `write_all` call (no small trailing
/// write left waiting on Nagle's algorithm). Interrupted reads are retried.
/// `out` is flushed once, after the last write.
///
/// Returns the number of body bytes read. On [`CopyError::Source`] the
/// terminator has not been written.
pub fn copy_data<R: Read + ?Sized, W: Write + ?Sized>(
    body: &mut R,
    out: &mut W,
    block_size: usize,
) -> Result<u64, CopyError> {
    copy_data_inner(body, out, block_size, &mut BodyBuffers::default())
        .map(|stats| stats.body_bytes)
}

/// [`copy_data`] with buffers the caller keeps from one message to the
/// next (the tests check what they keep and wipe).
#[cfg(test)]
pub(crate) fn copy_data_with<R: Read + ?Sized, W: Write + ?Sized>(
    body: &mut R,
    out: &mut W,
    block_size: usize,
    buffers: &mut BodyBuffers,
) -> Result<u64, CopyError> {
    copy_data_inner(body, out, block_size, buffers).map(|stats| stats.body_bytes)
}

/// Capacity a [`BodyBuffers`] output vector keeps between messages: what
/// [`copy_data`] needs at [`DEFAULT_BLOCK_SIZE`]; more (a large BDAT
/// chunk) is given back after the message.
#[cfg(test)]
const KEPT_CAPACITY: usize = 3 * DEFAULT_BLOCK_SIZE + 2 * RESERVE_SLACK;

/// The blocks a body is streamed through, kept by a session across
/// messages: allocating and zero-filling a 64 KiB read block for every
/// message cost more CPU than the rest of a small message's work.
#[derive(Debug, Default)]
pub(crate) struct BodyBuffers {
    /// The caller's body is read into this.
    pub(crate) read: ReadBlock,
    /// Encoded output waiting to be written.
    pub(crate) out: Vec<u8>,
}

#[cfg(test)]
impl BodyBuffers {
    /// Clears what a message left and gives back oversized blocks.
    pub(crate) fn recycle(&mut self) {
        self.out.clear();
        if self.out.capacity() > KEPT_CAPACITY {
            self.out = Vec::new();
        }
        self.read.recycle();
    }
}

/// The block a body is read into, reused across messages.
#[derive(Debug, Default)]
pub(crate) struct ReadBlock {
    buf: Vec<u8>,
    /// How far readers have reported bytes since the last recycle. That
    /// much is zeroed between messages: a reader that reports more than it
    /// wrote (a C callback returning the requested length on a short read)
    /// must find zeros there, never the end of the previous message.
    used: usize,
}

impl ReadBlock {
    /// One `read` of up to `size` bytes from `body` (grown and zero-filled
    /// to `size` first), retried while interrupted; the bytes read, empty
    /// at the end. The count is clamped to the block, so a reader reporting
    /// too much cannot cause a slice panic.
    pub(crate) fn fill_from<R: Read + ?Sized>(
        &mut self,
        body: &mut R,
        size: usize,
    ) -> io::Result<&[u8]> {
        if self.buf.len() < size {
            self.buf.resize(size, 0);
        }
        let block = &mut self.buf[..size];
        let n = loop {
            match body.read(block) {
                Ok(n) => break n.min(size),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.used = self.used.max(n);
        Ok(&self.buf[..n])
    }

    /// Wipes what the last message's readers reported; gives back a block
    /// larger than the default.
    pub(crate) fn recycle(&mut self) {
        if self.buf.len() > DEFAULT_BLOCK_SIZE {
            self.buf = Vec::new();
        } else {
            self.buf[..self.used].fill(0);
        }
        self.used = 0;
    }

    /// Bytes allocated for the block.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// What [`copy_data_inner`] did, for the caller and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CopyStats {
    /// Body bytes read.
    body_bytes: u64,
    /// Capacity of the read buffer plus the output buffer, at the end.
    buffer_capacity: usize,
}

/// The work of [`copy_data`], also reporting the buffer sizes used.
fn copy_data_inner<R: Read + ?Sized, W: Write + ?Sized>(
    body: &mut R,
    out: &mut W,
    block_size: usize,
    buffers: &mut BodyBuffers,
) -> Result<CopyStats, CopyError> {
    let block_size = match block_size {
        0 => DEFAULT_BLOCK_SIZE,
        n => n.min(MAX_BLOCK_SIZE),
    };
    let BodyBuffers { read, out: pending } = buffers;
    // Before each chunk is encoded `pending` holds less than one block, and a
    // chunk of at most one block encodes to at most twice its length, so
    // three blocks plus slack is enough: `pending` never reallocates.
    pending.clear();
    pending.reserve(3 * block_size + 2 * RESERVE_SLACK);
    let mut enc = DataEncoder::new();
    let mut total: u64 = 0;
    loop {
        let input = read
            .fill_from(body, block_size)
            .map_err(CopyError::Source)?;
        if input.is_empty() {
            break;
        }
        total = total.saturating_add(input.len() as u64);
        // More body follows, so what is pending is not the final block.
        if pending.len() >= block_size {
            out.write_all(pending).map_err(CopyError::Sink)?;
            pending.clear();
        }
        enc.encode(input, pending);
    }
    enc.finish(pending);
    out.write_all(pending).map_err(CopyError::Sink)?;
    out.flush().map_err(CopyError::Flush)?;
    Ok(CopyStats {
        body_bytes: total,
        buffer_capacity: read.capacity() + pending.capacity(),
    })
}

// The byte-by-byte references of the DATA line rules the tests compare the
// encoder with, shared with the property tests, the fuzz checks and the
// workspace suites.
#[cfg(test)]
#[path = "../tests/reference/wire.rs"]
mod wire_reference;

#[cfg(test)]
mod tests {
    use super::wire_reference::{data_content, normalise as reference_normalize};
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const VECTORS: &str = include_str!("../testdata/data-encoding.json");

    fn vectors() -> Value {
        serde_json::from_str(VECTORS).expect("vectors parse")
    }

    fn s(v: &Value) -> Vec<u8> {
        v.as_str().expect("string").as_bytes().to_vec()
    }

    /// (body, wire) for every `cases` vector.
    fn cases() -> Vec<(Vec<u8>, Vec<u8>)> {
        vectors()["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| (s(&c["body"]), s(&c["wire"])))
            .collect()
    }

    /// (chunks, wire) for every `chunked` vector.
    fn chunked() -> Vec<(Vec<Vec<u8>>, Vec<u8>)> {
        vectors()["chunked"]
            .as_array()
            .expect("chunked")
            .iter()
            .map(|c| {
                let chunks = c["chunks"].as_array().expect("chunks");
                (chunks.iter().map(s).collect(), s(&c["wire"]))
            })
            .collect()
    }

    fn data_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        let mut enc = DataEncoder::new();
        let mut out = Vec::new();
        for c in chunks {
            enc.encode(c, &mut out);
        }
        enc.finish(&mut out);
        out
    }

    fn bdat_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        let mut norm = BdatNormalizer::new();
        let mut out = Vec::new();
        for c in chunks {
            norm.encode(c, &mut out);
        }
        norm.finish(&mut out);
        out
    }

    /// The body a DATA wire form carries, after the reference's checks.
    fn unstuff(wire: &[u8]) -> Vec<u8> {
        data_content(wire).unwrap_or_else(|problem| panic!("{problem}: {wire:?}"))
    }

    #[test]
    fn vectors_whole() {
        let cases = cases();
        assert!(!cases.is_empty());
        for (body, wire) in &cases {
            assert_eq!(
                DataEncoder::encode_all(body),
                *wire,
                "body {:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(data_chunks([body.as_slice()]), *wire);
        }
    }

    #[test]
    fn vectors_byte_by_byte() {
        for (body, wire) in cases() {
            assert_eq!(data_chunks(body.chunks(1)), wire);
        }
    }

    #[test]
    fn vectors_every_split() {
        for (body, wire) in cases() {
            for at in 0..=body.len() {
                let (a, b) = body.split_at(at);
                assert_eq!(
                    data_chunks([a, b]),
                    wire,
                    "body {:?} split at {at}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }

    #[test]
    fn vectors_with_empty_chunks() {
        for (body, wire) in cases() {
            let mut chunks: Vec<&[u8]> = vec![b""];
            for c in body.chunks(1) {
                chunks.push(c);
                chunks.push(b"");
            }
            assert_eq!(data_chunks(chunks), wire);
        }
    }

    #[test]
    fn vectors_chunked() {
        let chunked = chunked();
        assert!(!chunked.is_empty());
        for (chunks, wire) in chunked {
            assert_eq!(data_chunks(chunks.iter().map(Vec::as_slice)), wire);
            let joined = chunks.concat();
            assert_eq!(DataEncoder::encode_all(&joined), wire);
            assert_eq!(data_chunks(joined.chunks(1)), wire);
        }
    }

    #[test]
    fn encoder_is_reusable_after_finish() {
        let mut enc = DataEncoder::default();
        let mut out = Vec::new();
        // Leave the encoder mid-line with a pending CR, then finish.
        enc.encode(b"abc\r", &mut out);
        enc.finish(&mut out);
        assert_eq!(out, b"abc\r\n.\r\n");
        out.clear();
        // The new body starts at a line start with no CR pending.
        enc.encode(b"\n.x", &mut out);
        enc.finish(&mut out);
        assert_eq!(out, b"\r\n..x\r\n.\r\n");
    }

    #[test]
    fn encode_appends_to_existing_output() {
        let mut out = b"prefix:".to_vec();
        let mut enc = DataEncoder::new();
        enc.encode(b".a", &mut out);
        enc.finish(&mut out);
        assert_eq!(out, b"prefix:..a\r\n.\r\n");
    }

    #[test]
    fn bdat_cases() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"hello", b"hello\r\n"),
            (b"hello\r\n", b"hello\r\n"),
            (b".hidden\r\n", b".hidden\r\n"),
            (b"a\n.\nb", b"a\r\n.\r\nb\r\n"),
            (b"a\r.\rb", b"a\r\n.\r\nb\r\n"),
            (b"a\r\r\n.\r\n", b"a\r\n\r\n.\r\n"),
            (b"\n", b"\r\n"),
            (b"\r", b"\r\n"),
            (b"\r\n", b"\r\n"),
            (b"\n\r", b"\r\n\r\n"),
            (b".", b".\r\n"),
            (b"x\r", b"x\r\n"),
        ];
        for &(body, want) in cases {
            assert_eq!(BdatNormalizer::encode_all(body), want, "{body:?}");
            assert_eq!(bdat_chunks(body.chunks(1)), want, "{body:?}");
            for at in 0..=body.len() {
                let (a, b) = body.split_at(at);
                assert_eq!(bdat_chunks([a, b]), want, "{body:?} at {at}");
            }
        }
    }

    #[test]
    fn bdat_matches_unstuffed_data_vectors() {
        for (body, wire) in cases() {
            let want = unstuff(&wire);
            assert_eq!(BdatNormalizer::encode_all(&body), want);
            assert_eq!(bdat_chunks(body.chunks(1)), want);
        }
        for (chunks, wire) in chunked() {
            assert_eq!(
                bdat_chunks(chunks.iter().map(Vec::as_slice)),
                unstuff(&wire)
            );
        }
    }

    #[test]
    fn bdat_is_reusable_after_finish() {
        let mut norm = BdatNormalizer::default();
        let mut out = Vec::new();
        norm.encode(b"x\r", &mut out);
        norm.finish(&mut out);
        assert_eq!(out, b"x\r\n");
        out.clear();
        norm.encode(b"\ny", &mut out);
        norm.finish(&mut out);
        assert_eq!(out, b"\r\ny\r\n");
    }

    // ---- copy_data ----

    /// Returns its data `step` bytes per call; every `interrupt_every`-th
    /// call (if non-zero) fails with `Interrupted` instead; after `fail_after`
    /// bytes (if set) fails with a real error.
    struct TestReader {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        calls: usize,
        interrupt_every: usize,
        fail_after: Option<usize>,
    }

    impl TestReader {
        fn new(data: &[u8], step: usize) -> Self {
            TestReader {
                data: data.to_vec(),
                pos: 0,
                step,
                calls: 0,
                interrupt_every: 0,
                fail_after: None,
            }
        }
    }

    impl Read for TestReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.interrupt_every != 0 {
                self.calls += 1;
                if self.calls == self.interrupt_every {
                    self.calls = 0;
                    return Err(io::Error::new(io::ErrorKind::Interrupted, "signal"));
                }
            }
            if let Some(limit) = self.fail_after {
                if self.pos >= limit {
                    return Err(io::Error::other("disk on fire"));
                }
            }
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// Records every write call and counts flushes; can fail after a number
    /// of writes.
    #[derive(Default)]
    struct RecordingWriter {
        writes: Vec<Vec<u8>>,
        flushes: usize,
        fail_on_write: Option<usize>,
        fail_flush: bool,
    }

    impl RecordingWriter {
        fn all(&self) -> Vec<u8> {
            self.writes.concat()
        }
    }

    impl Write for RecordingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.fail_on_write == Some(self.writes.len()) {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"));
            }
            self.writes.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushes += 1;
            if self.fail_flush {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"));
            }
            Ok(())
        }
    }

    /// A body with many lines, dots, bare CRs and LFs.
    fn mixed_body() -> Vec<u8> {
        let mut body = Vec::new();
        for i in 0..200 {
            match i % 5 {
                0 => body.extend_from_slice(b".dot line\r\n"),
                1 => body.extend_from_slice(b"bare lf\n"),
                2 => body.extend_from_slice(b"bare cr\r"),
                3 => body.extend_from_slice(b"\r\n.\r\n"),
                _ => body.extend_from_slice(b"plain text line of some length\r\n"),
            }
        }
        body.extend_from_slice(b"last line, unterminated");
        body
    }

    #[test]
    fn copy_data_vectors_all_block_sizes() {
        for (body, wire) in cases() {
            for block in [1, 2, 3, 7, 64, 0] {
                for step in [1, 2, 5, usize::MAX] {
                    let mut r = TestReader::new(&body, step);
                    let mut w = RecordingWriter::default();
                    let n = copy_data(&mut r, &mut w, block).expect("copy");
                    assert_eq!(n, body.len() as u64);
                    assert_eq!(w.all(), wire, "block {block} step {step}");
                    assert_eq!(w.flushes, 1);
                }
            }
        }
    }

    #[test]
    fn copy_data_one_byte_reader() {
        let body = mixed_body();
        let want = DataEncoder::encode_all(&body);
        let mut r = TestReader::new(&body, 1);
        let mut w = RecordingWriter::default();
        let n = copy_data(&mut r, &mut w, 64).expect("copy");
        assert_eq!(n, body.len() as u64);
        assert_eq!(w.all(), want);
        assert_eq!(w.flushes, 1);
        // Small reads are coalesced: every write but the last is a full block.
        let (last, rest) = w.writes.split_last().expect("writes");
        assert!(rest.iter().all(|wr| wr.len() >= 64));
        assert!(last.ends_with(b"\r\n.\r\n"));
    }

    #[test]
    fn copy_data_final_write_holds_terminator() {
        let body = mixed_body();
        let mut r = TestReader::new(&body, usize::MAX);
        let mut w = RecordingWriter::default();
        copy_data(&mut r, &mut w, 256).expect("copy");
        assert!(w.writes.len() > 1);
        let (last, rest) = w.writes.split_last().expect("writes");
        // The final block and the terminator go out in one call.
        assert!(last.len() > TERMINATOR.len() + 2);
        assert!(last.ends_with(b"last line, unterminated\r\n.\r\n"));
        assert!(rest.iter().all(|wr| !wr.ends_with(b"\r\n.\r\n")));
        assert_eq!(w.all(), DataEncoder::encode_all(&body));
    }

    #[test]
    fn copy_data_empty_body() {
        let mut r = TestReader::new(b"", 1);
        let mut w = RecordingWriter::default();
        assert_eq!(copy_data(&mut r, &mut w, 16).expect("copy"), 0);
        assert_eq!(w.writes, vec![b".\r\n".to_vec()]);
        assert_eq!(w.flushes, 1);
    }

    #[test]
    fn copy_data_retries_interrupted() {
        let body = mixed_body();
        for every in [2, 3] {
            let mut r = TestReader::new(&body, 7);
            r.interrupt_every = every;
            let mut w = RecordingWriter::default();
            let n = copy_data(&mut r, &mut w, 32).expect("copy");
            assert_eq!(n, body.len() as u64);
            assert_eq!(w.all(), DataEncoder::encode_all(&body));
        }
    }

    #[test]
    fn copy_data_source_error_writes_no_terminator() {
        let body = mixed_body();
        for fail_after in [0, 1, 100, body.len() - 1, body.len()] {
            let mut r = TestReader::new(&body, 5);
            r.fail_after = Some(fail_after);
            let mut w = RecordingWriter::default();
            let err = copy_data(&mut r, &mut w, 16).expect_err("must fail");
            assert!(matches!(err, CopyError::Source(_)), "{err:?}");
            assert!(err
                .to_string()
                .starts_with("reading the message body failed"));
            let written = w.all();
            // No terminator (a lone '.' line) was written, and no flush.
            assert_eq!(w.flushes, 0);
            assert!(!written.ends_with(b"\r\n.\r\n"));
            assert_ne!(written, b".\r\n");
        }
    }

    #[test]
    fn copy_data_sink_error() {
        let body = mixed_body();
        for fail_on in [0, 1, 2] {
            let mut r = TestReader::new(&body, usize::MAX);
            let mut w = RecordingWriter {
                fail_on_write: Some(fail_on),
                ..Default::default()
            };
            let err = copy_data(&mut r, &mut w, 64).expect_err("must fail");
            assert!(matches!(err, CopyError::Sink(_)), "{err:?}");
            assert!(err.to_string().starts_with("writing the message body"));
            assert_eq!(w.writes.len(), fail_on);
        }
        // The terminator was written in full and then flushing failed: the
        // server may have the message, which is a different error.
        let mut r = TestReader::new(&body, usize::MAX);
        let mut w = RecordingWriter {
            fail_flush: true,
            ..Default::default()
        };
        let err = copy_data(&mut r, &mut w, 64).expect_err("must fail");
        assert!(matches!(err, CopyError::Flush(_)), "{err:?}");
        assert!(w.all().ends_with(b"\r\n.\r\n"));
    }

    #[test]
    fn copy_data_unsized_trait_objects() {
        let body = b"a\n.b".to_vec();
        let mut r: Box<dyn Read> = Box::new(TestReader::new(&body, 1));
        let mut w = RecordingWriter::default();
        {
            let w_dyn: &mut dyn Write = &mut w;
            copy_data(&mut *r, w_dyn, 0).expect("copy");
        }
        assert_eq!(w.all(), b"a\r\n..b\r\n.\r\n");
    }

    /// Produces `remaining` bytes of short mail-like lines on the fly,
    /// including dot lines and bare LFs, without holding them in memory.
    struct GeneratedBody {
        remaining: u64,
        pattern_pos: usize,
    }

    const PATTERN: &[u8] = b"Subject: generated line of text for the memory test\r\n\
        .a line that starts with a dot\r\n\
        a line with a bare lf\n\
        \r\n\
        another ordinary line, a little longer than the others are\r\n";

    impl Read for GeneratedBody {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let want = (buf.len() as u64).min(self.remaining) as usize;
            let mut filled = 0;
            while filled < want {
                let take = (want - filled).min(PATTERN.len() - self.pattern_pos);
                buf[filled..filled + take]
                    .copy_from_slice(&PATTERN[self.pattern_pos..self.pattern_pos + take]);
                filled += take;
                self.pattern_pos = (self.pattern_pos + take) % PATTERN.len();
            }
            self.remaining -= want as u64;
            Ok(want)
        }
    }

    #[derive(Default)]
    struct CountingSink {
        bytes: u64,
        largest_write: usize,
        tail: Vec<u8>,
    }

    impl Write for CountingSink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.bytes += buf.len() as u64;
            self.largest_write = self.largest_write.max(buf.len());
            let keep = buf.len().min(8);
            self.tail = buf[buf.len() - keep..].to_vec();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Streams a 100 MB body generated on the fly (about 1.2 s in a debug
    /// build) and checks the buffers stay a few blocks.
    #[test]
    fn copy_data_bounded_memory() {
        const SIZE: u64 = 100 * 1024 * 1024;
        let block = 16 * 1024;
        let mut r = GeneratedBody {
            remaining: SIZE,
            pattern_pos: 0,
        };
        let mut w = CountingSink::default();
        let stats =
            copy_data_inner(&mut r, &mut w, block, &mut BodyBuffers::default()).expect("copy");
        assert_eq!(stats.body_bytes, SIZE);
        assert!(
            stats.buffer_capacity <= 5 * block,
            "buffers {} for block {block}",
            stats.buffer_capacity
        );
        assert!(w.largest_write <= 3 * block + 2 * RESERVE_SLACK);
        assert!(w.bytes > SIZE);
        assert!(w.tail.ends_with(b"\r\n.\r\n"));
    }

    #[test]
    fn copy_data_buffers_never_grow_worst_case() {
        // Every byte doubles: bare LFs and dot lines.
        let body = b".\n".repeat(10_000);
        let block = 1024;
        let mut r = TestReader::new(&body, usize::MAX);
        let mut w = CountingSink::default();
        let stats =
            copy_data_inner(&mut r, &mut w, block, &mut BodyBuffers::default()).expect("copy");
        assert_eq!(stats.buffer_capacity, block + 3 * block + 2 * RESERVE_SLACK);
        assert_eq!(w.bytes, body.len() as u64 * 2 + 3);
    }

    #[test]
    fn body_buffers_are_reused_across_messages() {
        let mut buffers = BodyBuffers::default();
        let mut first = Vec::new();
        copy_data_with(&mut &b"one\n.two\n"[..], &mut first, 0, &mut buffers).expect("copy");
        let (read_ptr, out_ptr) = (buffers.read.buf.as_ptr(), buffers.out.as_ptr());
        buffers.recycle();
        let mut second = Vec::new();
        copy_data_with(&mut &b"one\n.two\n"[..], &mut second, 0, &mut buffers).expect("copy");
        assert_eq!(first, b"one\r\n..two\r\n.\r\n");
        assert_eq!(first, second);
        // The same blocks, not new allocations.
        assert_eq!(buffers.read.buf.as_ptr(), read_ptr);
        assert_eq!(buffers.out.as_ptr(), out_ptr);
    }

    /// Writes `text` once but reports `claimed` bytes: a reader breaking
    /// the `Read` contract, like a C callback that returns the requested
    /// length on a short read.
    struct OverReporting {
        text: &'static [u8],
        claimed: usize,
        done: bool,
    }

    impl Read for OverReporting {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.done {
                return Ok(0);
            }
            self.done = true;
            buf[..self.text.len()].copy_from_slice(self.text);
            Ok(self.claimed)
        }
    }

    #[test]
    fn over_reported_reads_never_send_the_previous_message() {
        let mut buffers = BodyBuffers::default();
        let secret = b"SECRET-FOR-ALICE: password hunter2, account 1234567890\r\n";
        copy_data_with(&mut &secret[..], &mut Vec::new(), 0, &mut buffers).expect("copy");
        buffers.recycle();
        let mut second = Vec::new();
        let mut reader = OverReporting {
            text: b"Hi\r\n",
            claimed: 64,
            done: false,
        };
        copy_data_with(&mut reader, &mut second, 0, &mut buffers).expect("copy");
        assert!(second.starts_with(b"Hi\r\n\0\0"), "{second:?}");
        assert!(!second.windows(6).any(|w| w == b"SECRET"), "{second:?}");
        // A count beyond the block is clamped, not a panic.
        let mut huge = OverReporting {
            text: b"x",
            claimed: usize::MAX,
            done: false,
        };
        let mut third = Vec::new();
        buffers.recycle();
        copy_data_with(&mut huge, &mut third, 16, &mut buffers).expect("copy");
        assert_eq!(third.len(), 16 + 2 + 3);
    }

    #[test]
    fn body_buffers_give_back_what_a_large_message_needed() {
        let mut buffers = BodyBuffers::default();
        let body = vec![b'x'; 1 << 20];
        copy_data_with(&mut &body[..], &mut io::sink(), 1 << 20, &mut buffers).expect("copy");
        assert!(buffers.out.capacity() > KEPT_CAPACITY);
        buffers.recycle();
        assert!(buffers.out.capacity() <= KEPT_CAPACITY);
        assert!(buffers.read.buf.len() <= DEFAULT_BLOCK_SIZE);
    }

    // ---- properties ----

    fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                3 => Just(b'\r'),
                3 => Just(b'\n'),
                3 => Just(b'.'),
                2 => Just(b'a'),
                1 => any::<u8>(),
            ],
            0..160,
        )
    }

    fn split_by<'a>(body: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(body.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for a in at {
            chunks.push(&body[prev..a]);
            prev = a;
        }
        chunks.push(&body[prev..]);
        chunks
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn prop_data_encoding(
            body in body_strategy(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let chunks = split_by(&body, &cuts);
            let wire = data_chunks(chunks.iter().copied());

            // (5) Independent of the split.
            prop_assert_eq!(&wire, &DataEncoder::encode_all(&body));
            prop_assert_eq!(&wire, &data_chunks(body.chunks(1)));

            // (1) Ends with the terminator, (2) has no other line that is a
            // lone dot, (3) has no bare CR or LF, (4) un-stuffs to the
            // normalised body.
            prop_assert_eq!(data_content(&wire), Ok(reference_normalize(&body)));
        }

        #[test]
        fn prop_bdat_normalisation(
            body in body_strategy(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let chunks = split_by(&body, &cuts);
            let out = bdat_chunks(chunks.iter().copied());
            prop_assert_eq!(&out, &reference_normalize(&body));
            prop_assert_eq!(&out, &BdatNormalizer::encode_all(&body));
        }
    }

    // ---- throughput (run with --release --ignored --nocapture) ----

    #[test]
    #[ignore = "throughput measurement; run in release"]
    fn throughput() {
        use std::time::Instant;
        fn measure(name: &str, body: &[u8], stuff: bool) {
            let mut out = Vec::with_capacity(body.len() * 2 + 16);
            let block = DEFAULT_BLOCK_SIZE;
            let rounds = 8;
            // Warm up: touch the output pages once before timing.
            out.resize(body.len() * 2 + 16, 0);
            let start = Instant::now();
            for _ in 0..rounds {
                out.clear();
                if stuff {
                    let mut enc = DataEncoder::new();
                    for c in body.chunks(block) {
                        enc.encode(c, &mut out);
                    }
                    enc.finish(&mut out);
                } else {
                    let mut enc = BdatNormalizer::new();
                    for c in body.chunks(block) {
                        enc.encode(c, &mut out);
                    }
                    enc.finish(&mut out);
                }
            }
            let secs = start.elapsed().as_secs_f64();
            let gbps = (body.len() * rounds) as f64 / secs / 1e9;
            println!("{name}: {gbps:.2} GB/s ({} bytes out)", out.len());
        }
        let line_crlf = b"The quick brown fox jumps over the lazy dog, 0123456789 abcdefghij\r\n";
        let line_lf = b"The quick brown fox jumps over the lazy dog, 0123456789 abcdefghij\n";
        let mixed = b"short line\r\n.dotted line here\r\n\r\nanother line of text, medium\n";
        let size = 128 * 1024 * 1024;
        let crlf = line_crlf.repeat(size / line_crlf.len());
        let lf = line_lf.repeat(size / line_lf.len());
        let mix = mixed.repeat(size / mixed.len());
        measure("DATA crlf text 68-byte lines", &crlf, true);
        measure("DATA lf text 67-byte lines", &lf, true);
        measure("DATA mixed short lines", &mix, true);
        measure("BDAT crlf text", &crlf, false);
        measure("BDAT lf text", &lf, false);

        let mut sink = io::sink();
        let start = Instant::now();
        let n = copy_data(&mut &crlf[..], &mut sink, DEFAULT_BLOCK_SIZE).expect("copy");
        let secs = start.elapsed().as_secs_f64();
        println!("copy_data crlf text: {:.2} GB/s", n as f64 / secs / 1e9);
    }
}
