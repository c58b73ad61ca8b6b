//! DKIM canonicalization (RFC 6376 3.4): the streaming body hash and the
//! header field forms.
//!
//! The body is hashed as it streams, in constant memory: a run of empty
//! lines (or, relaxed, whitespace-only lines) is only counted until a
//! line with content shows it was not at the end, and whitespace is only
//! remembered until the next character shows it was not at a line's end.

use sha2::{Digest, Sha256};

use crate::data::BdatNormalizer;
use crate::error::{Error, Result};

/// A canonicalization algorithm (RFC 6376 3.4), for the header or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Canonicalization {
    /// `simple`: the bytes as they are (the body without trailing empty
    /// lines). Breaks when a relay re-folds or re-spaces anything.
    Simple,
    /// `relaxed`: header names lower-cased and values unfolded, runs of
    /// whitespace made one space, whitespace at line ends and trailing
    /// empty lines ignored. The default.
    #[default]
    Relaxed,
}

impl Canonicalization {
    /// `simple` or `relaxed`.
    pub fn name(self) -> &'static str {
        match self {
            Canonicalization::Simple => "simple",
            Canonicalization::Relaxed => "relaxed",
        }
    }

    /// Parses `simple` or `relaxed` (any case).
    pub fn from_name(name: &str) -> Option<Canonicalization> {
        match name.trim().to_ascii_lowercase().as_str() {
            "simple" => Some(Canonicalization::Simple),
            "relaxed" => Some(Canonicalization::Relaxed),
            _ => None,
        }
    }

    /// Parses the `c=` form: `header/body`, or one name for the header
    /// alone (the body then `simple`, as RFC 6376 3.5 says).
    pub fn parse_pair(text: &str) -> Result<(Canonicalization, Canonicalization)> {
        let bad = || {
            Error::invalid(
                "DKIM canonicalization",
                format!(
                    "must be header/body, each simple or relaxed (relaxed/relaxed), not {text:?}"
                ),
            )
        };
        let (header, body) = match text.split_once('/') {
            Some((h, b)) => (h, b),
            None => (text, "simple"),
        };
        Ok((
            Canonicalization::from_name(header).ok_or_else(bad)?,
            Canonicalization::from_name(body).ok_or_else(bad)?,
        ))
    }
}

/// Input is normalised and canonicalized in pieces of at most this size,
/// so the scratch buffer stays small whatever size the caller's chunks.
const PIECE: usize = 64 * 1024;

/// The body hash (`bh=`) computed as the body streams: feed it chunks of
/// any size with [`update`](BodyHasher::update), then
/// [`finish`](BodyHasher::finish). The result does not depend on how the
/// body is split. Every CRLF, bare LF and bare CR is one line break, as
/// the client sends it on the wire (CRLF); memory use is constant.
#[derive(Debug, Clone)]
pub struct BodyHasher {
    normalizer: BdatNormalizer,
    scratch: Vec<u8>,
    canon: BodyCanon,
}

impl BodyHasher {
    /// A hasher for the `canonicalization` of the body.
    pub fn new(canonicalization: Canonicalization) -> BodyHasher {
        BodyHasher {
            normalizer: BdatNormalizer::new(),
            scratch: Vec::new(),
            canon: BodyCanon::new(canonicalization),
        }
    }

    /// Hashes the next piece of the body.
    pub fn update(&mut self, data: &[u8]) {
        for piece in data.chunks(PIECE) {
            self.scratch.clear();
            self.normalizer.encode(piece, &mut self.scratch);
            self.canon.update(&self.scratch);
        }
    }

    /// The SHA-256 of the canonical body.
    pub fn finish(mut self) -> [u8; 32] {
        self.scratch.clear();
        self.normalizer.finish(&mut self.scratch);
        self.canon.update(&self.scratch);
        self.canon.finish()
    }
}

/// Body canonicalization of input whose line breaks are all CRLF, both
/// bytes in the same piece (what [`BdatNormalizer`] writes).
#[derive(Debug, Clone)]
pub(crate) struct BodyCanon {
    canon: Canonicalization,
    hash: Sha256,
    /// Bytes hashed so far (only whether any were matters).
    hashed: bool,
    /// Empty lines seen and not hashed yet (they may end the body).
    empty_lines: u64,
    /// The current line has content (was partly hashed).
    in_line: bool,
    /// Relaxed: whitespace seen and not hashed yet.
    space: bool,
}

/// `CR LF` 64 times, for hashing runs of empty lines.
const CRLFS: [u8; 128] = {
    let mut a = [b'\n'; 128];
    let mut i = 0;
    while i < 128 {
        a[i] = b'\r';
        i += 2;
    }
    a
};

impl BodyCanon {
    pub(crate) fn new(canon: Canonicalization) -> BodyCanon {
        BodyCanon {
            canon,
            hash: Sha256::new(),
            hashed: false,
            empty_lines: 0,
            in_line: false,
            space: false,
        }
    }

    fn hash(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.hash.update(bytes);
            self.hashed = true;
        }
    }

    /// Hashes the empty lines held back: something follows them.
    fn flush_empty_lines(&mut self) {
        while self.empty_lines > 0 {
            let n = self.empty_lines.min(64) as usize;
            self.hash(&CRLFS[..2 * n]);
            self.empty_lines -= n as u64;
        }
    }

    /// Canonicalizes the next piece of the normalised body.
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self.canon {
            Canonicalization::Simple => self.update_simple(data),
            Canonicalization::Relaxed => self.update_relaxed(data),
        }
    }

    fn update_simple(&mut self, data: &[u8]) {
        let Some(last) = data.iter().rposition(|&b| b != b'\r' && b != b'\n') else {
            // Only line breaks: the first ends a line with content.
            let mut breaks = (data.len() / 2) as u64;
            if breaks > 0 && self.in_line {
                self.hash(b"\r\n");
                self.in_line = false;
                breaks -= 1;
            }
            self.empty_lines += breaks;
            return;
        };
        // `data[..=last]` ends with content: any empty lines before it count.
        if !self.in_line {
            self.flush_empty_lines();
        }
        self.hash(&data[..=last]);
        let tail = &data[last + 1..];
        if tail.is_empty() {
            self.in_line = true;
        } else {
            self.hash(b"\r\n");
            self.in_line = false;
            self.empty_lines += (tail.len() / 2 - 1) as u64;
        }
    }

    fn update_relaxed(&mut self, data: &[u8]) {
        let mut run = 0; // start of the pending run of content bytes
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    if run < i {
                        let (start, end) = (run, i);
                        self.hash(&data[start..end]);
                    }
                    match b {
                        b'\n' => {
                            if self.in_line {
                                self.hash(b"\r\n");
                            } else {
                                self.empty_lines += 1;
                            }
                            self.in_line = false;
                            self.space = false;
                        }
                        b'\r' => {}
                        _ => self.space = true,
                    }
                    run = i + 1;
                }
                _ => {
                    if run == i {
                        // Content starts here: what was held back goes first.
                        if !self.in_line {
                            self.flush_empty_lines();
                        }
                        if self.space {
                            self.hash(b" ");
                            self.space = false;
                        }
                        self.in_line = true;
                    }
                }
            }
            i += 1;
        }
        if run < data.len() {
            self.hash(&data[run..]);
        }
    }

    /// The hash of the canonical body.
    pub(crate) fn finish(mut self) -> [u8; 32] {
        if self.in_line {
            self.hash(b"\r\n");
        }
        if self.canon == Canonicalization::Simple && !self.hashed {
            // RFC 6376 3.4.3: an empty body is one CRLF.
            self.hash.update(b"\r\n");
        }
        self.hash.finalize().into()
    }
}

/// One header field of a header block: its name and its whole text (all
/// its lines, with their CRLFs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) text: &'a [u8],
}

/// The fields of a normalised header block (CRLF line ends), in order.
/// A line that starts with whitespace continues the field before it.
pub(crate) fn fields(block: &[u8]) -> Vec<Field<'_>> {
    // (start of the field, end of its name, end of its last line)
    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < block.len() {
        let end = memchr::memchr(b'\n', &block[pos..]).map_or(block.len(), |i| pos + i + 1);
        let line = &block[pos..end];
        match spans.last_mut() {
            Some(last) if matches!(line.first(), Some(b' ' | b'\t')) => last.2 = end,
            _ => {
                let mut name_end = pos + memchr::memchr(b':', line).unwrap_or(line.len());
                while name_end > pos && matches!(block[name_end - 1], b' ' | b'\t') {
                    name_end -= 1;
                }
                spans.push((pos, name_end, end));
            }
        }
        pos = end;
    }
    spans
        .into_iter()
        .map(|(start, name_end, end)| Field {
            name: &block[start..name_end],
            text: &block[start..end],
        })
        .collect()
}

/// Appends a header field (`text`: all its lines) in the canonical form:
/// `simple` as it is, `relaxed` as `name:value` and CRLF. (For the
/// signature's own field, which is hashed without a CRLF, the caller
/// removes it.)
pub(crate) fn canon_header(canon: Canonicalization, text: &[u8], out: &mut Vec<u8>) {
    match canon {
        Canonicalization::Simple => out.extend_from_slice(text),
        Canonicalization::Relaxed => {
            let colon = memchr::memchr(b':', text).unwrap_or(text.len());
            let mut name = &text[..colon];
            while let Some((&b' ' | &b'\t', rest)) = name.split_last() {
                name = rest;
            }
            out.extend(name.iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            let value = text.get(colon + 1..).unwrap_or(&[]);
            let mut space = false;
            let mut started = false;
            for &b in value {
                match b {
                    b'\r' | b'\n' => {}
                    b' ' | b'\t' => space = true,
                    _ => {
                        if space && started {
                            out.push(b' ');
                        }
                        space = false;
                        started = true;
                        out.push(b);
                    }
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}
