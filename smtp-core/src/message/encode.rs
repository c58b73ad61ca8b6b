//! Content-Transfer-Encodings: choosing one per part, and streaming
//! encoders for quoted-printable (RFC 2045 6.7), base64 (76-character
//! lines) and 7bit/8bit text (line breaks made CRLF).
//!
//! Each encoder keeps its state between calls, so a part can be encoded in
//! blocks of any size with the same result, and none of them ever writes a
//! line longer than [`MAX_LINE`](super::header::MAX_LINE).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use super::header::MAX_LINE;

/// How a part's body is written (RFC 2045 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferEncoding {
    /// ASCII text in lines of at most 998 octets.
    SevenBit,
    /// Text with 8-bit octets in lines of at most 998 octets; only for a
    /// server that offers 8BITMIME.
    EightBit,
    /// Quoted-printable: for text that is mostly ASCII, or has long lines.
    QuotedPrintable,
    /// Base64 in lines of 76 characters: for binary data.
    Base64,
}

impl TransferEncoding {
    /// The `Content-Transfer-Encoding` value.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferEncoding::SevenBit => "7bit",
            TransferEncoding::EightBit => "8bit",
            TransferEncoding::QuotedPrintable => "quoted-printable",
            TransferEncoding::Base64 => "base64",
        }
    }
}

/// Longest quoted-printable line before the soft line break `=`.
const QP_LINE: usize = 75;

/// Input bytes per base64 line (57 bytes make 76 characters).
pub(crate) const BASE64_LINE_INPUT: usize = 57;

/// What a scan of a body found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Every byte is ASCII.
    pub ascii: bool,
    /// Longest line, as sent (a leading `.` counts twice: DATA doubles it).
    pub max_line: usize,
    /// A NUL byte (never allowed in 7bit or 8bit data).
    pub nul: bool,
    /// A CR without LF or an LF without CR.
    pub bare_breaks: bool,
    /// Estimated quoted-printable length.
    pub qp_len: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Scans `data` for [`choose`].
pub(crate) fn scan(data: &[u8]) -> Scan {
    let mut s = Scan {
        ascii: true,
        max_line: 0,
        nul: false,
        bare_breaks: false,
        qp_len: 0,
        len: data.len() as u64,
    };
    let mut line = 0usize;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        match b {
            b'\r' | b'\n' => {
                if b == b'\r' && data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                } else {
                    s.bare_breaks = true;
                }
                s.max_line = s.max_line.max(line);
                line = 0;
                s.qp_len += 2;
            }
            _ => {
                if line == 0 && b == b'.' {
                    line += 1;
                }
                line += 1;
                s.ascii &= b.is_ascii();
                s.nul |= b == 0;
                s.qp_len += if matches!(b, 33..=126 | b' ' | b'\t') && b != b'=' {
                    1
                } else {
                    3
                };
            }
        }
        i += 1;
    }
    s.max_line = s.max_line.max(line);
    // Soft line breaks: about three octets per 73.
    s.qp_len += s.qp_len / 73 * 3;
    s
}

/// Encoded length of `n` bytes in base64 with 76-character lines separated
/// by CRLF (no CRLF after the last line).
pub fn base64_encoded_len(n: u64) -> u64 {
    let chars = n.div_ceil(3) * 4;
    let lines = n.div_ceil(BASE64_LINE_INPUT as u64);
    chars + 2 * lines.saturating_sub(1)
}

/// Picks the encoding for a body.
///
/// `exact`: the bytes must arrive exactly as they are (an attachment), so
/// line breaks other than CRLF rule out everything but base64. Otherwise
/// (a text body) line breaks are made CRLF, the canonical form of text.
pub(crate) fn choose(s: &Scan, exact: bool, allow_8bit: bool) -> TransferEncoding {
    let canonical = !exact || !s.bare_breaks;
    let lines_ok = s.max_line <= MAX_LINE && !s.nul;
    if canonical && lines_ok && s.ascii {
        return TransferEncoding::SevenBit;
    }
    if canonical && lines_ok && allow_8bit {
        return TransferEncoding::EightBit;
    }
    // Quoted-printable while it stays within a quarter of base64's size:
    // it keeps mostly-ASCII text readable.
    let b64 = base64_encoded_len(s.len);
    if canonical && s.qp_len <= b64 + b64 / 4 {
        return TransferEncoding::QuotedPrintable;
    }
    TransferEncoding::Base64
}

/// A streaming encoder for one part.
#[derive(Debug, Clone)]
pub(crate) enum Encoder {
    /// 7bit or 8bit: line breaks made CRLF.
    Lines(LineCanon),
    /// Quoted-printable (line breaks in the input are hard breaks).
    Qp(QpEncoder),
    /// Base64, the input first made canonical text when `canon` is set.
    Base64 {
        /// Line-break normalisation before encoding (text bodies).
        canon: Option<LineCanon>,
        /// The encoder.
        b64: Base64Encoder,
    },
}

impl Encoder {
    /// An encoder for `encoding`; `text` makes line breaks CRLF before
    /// base64 (7bit, 8bit and quoted-printable always treat line breaks as
    /// line breaks).
    pub(crate) fn new(encoding: TransferEncoding, text: bool) -> Encoder {
        match encoding {
            TransferEncoding::SevenBit | TransferEncoding::EightBit => {
                Encoder::Lines(LineCanon::default())
            }
            TransferEncoding::QuotedPrintable => Encoder::Qp(QpEncoder::default()),
            TransferEncoding::Base64 => Encoder::Base64 {
                canon: text.then(LineCanon::default),
                b64: Base64Encoder::default(),
            },
        }
    }

    /// Appends the encoded form of `input` to `out`; `scratch` is working
    /// space.
    pub(crate) fn encode(&mut self, input: &[u8], out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        match self {
            Encoder::Lines(c) => c.encode(input, out),
            Encoder::Qp(q) => q.encode(input, out),
            Encoder::Base64 { canon: None, b64 } => b64.encode(input, out),
            Encoder::Base64 {
                canon: Some(c),
                b64,
            } => {
                scratch.clear();
                c.encode(input, scratch);
                b64.encode(scratch, out);
            }
        }
    }

    /// Appends whatever the encoder still holds.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        match self {
            Encoder::Lines(c) => c.finish(out),
            Encoder::Qp(q) => q.finish(out),
            Encoder::Base64 { canon, b64 } => {
                if let Some(c) = canon {
                    scratch.clear();
                    c.finish(scratch);
                    b64.encode(scratch, out);
                }
                b64.finish(out);
            }
        }
    }
}

/// Makes every CRLF, bare CR and bare LF a CRLF.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineCanon {
    pending_cr: bool,
}

impl LineCanon {
    fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 2);
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => out.extend_from_slice(b"\r\n"),
                b => out.push(b),
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Quoted-printable for text: CRLF, CR and LF are hard line breaks; lines
/// are broken softly (`=` CRLF) before 76 characters; whitespace before a
/// line break is encoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct QpEncoder {
    col: usize,
    pending_cr: bool,
    /// A space or tab held back: it is encoded if a line break follows.
    pending_ws: Option<u8>,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

impl QpEncoder {
    fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 8);
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                self.hard_break(out);
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => self.hard_break(out),
                b' ' | b'\t' => {
                    if let Some(w) = self.pending_ws.replace(b) {
                        self.put(&[w], out);
                    }
                }
                b => {
                    if let Some(w) = self.pending_ws.take() {
                        self.put(&[w], out);
                    }
                    if (33..=126).contains(&b) && b != b'=' {
                        self.put(&[b], out);
                    } else {
                        self.put_escaped(b, out);
                    }
                }
            }
        }
    }

    fn put_escaped(&mut self, b: u8, out: &mut Vec<u8>) {
        let token = [b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
        self.put(&token, out);
    }

    fn put(&mut self, token: &[u8], out: &mut Vec<u8>) {
        if self.col + token.len() > QP_LINE {
            out.extend_from_slice(b"=\r\n");
            self.col = 0;
        }
        out.extend_from_slice(token);
        self.col += token.len();
    }

    fn hard_break(&mut self, out: &mut Vec<u8>) {
        if let Some(w) = self.pending_ws.take() {
            self.put_escaped(w, out);
        }
        out.extend_from_slice(b"\r\n");
        self.col = 0;
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            self.hard_break(out);
        }
        if let Some(w) = self.pending_ws.take() {
            self.put_escaped(w, out);
        }
        self.col = 0;
    }
}

/// Base64 in 76-character lines separated by CRLF; the last line has no
/// CRLF (the MIME delimiter that follows brings one).
#[derive(Debug, Clone, Default)]
pub(crate) struct Base64Encoder {
    carry: Vec<u8>,
    started: bool,
}

impl Base64Encoder {
    fn encode(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        out.reserve((input.len() + self.carry.len()) / 57 * 78 + 80);
        if !self.carry.is_empty() {
            let take = (BASE64_LINE_INPUT - self.carry.len()).min(input.len());
            self.carry.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.carry.len() < BASE64_LINE_INPUT {
                return;
            }
            let carry = std::mem::take(&mut self.carry);
            self.line(&carry, out);
            self.carry = carry;
            self.carry.clear();
        }
        let mut lines = input.chunks_exact(BASE64_LINE_INPUT);
        for line in lines.by_ref() {
            self.line(line, out);
        }
        self.carry.extend_from_slice(lines.remainder());
    }

    fn line(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.started {
            out.extend_from_slice(b"\r\n");
        }
        self.started = true;
        let mut buf = [0u8; 76];
        // 57 bytes or fewer always fit in 76 characters.
        if let Ok(n) = BASE64.encode_slice(bytes, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.carry.is_empty() {
            let carry = std::mem::take(&mut self.carry);
            self.line(&carry, out);
        }
        self.started = false;
    }

    /// Capacity held between calls.
    pub(crate) fn capacity(&self) -> usize {
        self.carry.capacity()
    }
}

impl Encoder {
    /// Bytes of buffer this encoder holds between calls.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            Encoder::Base64 { b64, .. } => b64.capacity(),
            _ => 0,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A quoted-printable decoder for the tests.
    pub(crate) fn qp_decode(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'=' if text.get(i + 1..i + 3) == Some(b"\r\n") => i += 3,
                b'=' => {
                    let hex = std::str::from_utf8(&text[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    fn encode_all(enc: TransferEncoding, text: bool, data: &[u8], block: usize) -> Vec<u8> {
        let mut e = Encoder::new(enc, text);
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        for chunk in data.chunks(block.max(1)) {
            e.encode(chunk, &mut out, &mut scratch);
        }
        e.finish(&mut out, &mut scratch);
        out
    }

    fn max_line(data: &[u8]) -> usize {
        data.split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
            .max()
            .unwrap_or(0)
    }

    fn canonical(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut c = LineCanon::default();
        c.encode(data, &mut out);
        c.finish(&mut out);
        out
    }

    #[test]
    fn qp_round_trip_in_any_blocks() {
        let samples: Vec<Vec<u8>> = vec![
            b"plain ascii\r\nline two".to_vec(),
            "Привет, мир!\nВторая строка\r\n".as_bytes().to_vec(),
            "x".repeat(5000).into_bytes(),
            b"trailing space \r\ntrailing tab\t\nend  ".to_vec(),
            b"a=b =3D\x00\x7f\r".to_vec(),
            b"\r\r\n\n".to_vec(),
            format!("{}é{}", "a".repeat(74), " ".repeat(80)).into_bytes(),
        ];
        for data in &samples {
            let expected = canonical(data);
            for block in [1, 2, 3, 7, 64, 100_000] {
                let out = encode_all(TransferEncoding::QuotedPrintable, true, data, block);
                assert!(out.is_ascii());
                assert!(max_line(&out) <= 76, "{}", String::from_utf8_lossy(&out));
                for line in out.split(|&b| b == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    assert!(!line.ends_with(b" ") && !line.ends_with(b"\t"));
                }
                assert_eq!(qp_decode(&out), expected, "block {block}");
            }
        }
    }

    #[test]
    fn base64_lines_and_round_trip() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        for block in [1, 56, 57, 58, 1000, 100_000] {
            let out = encode_all(TransferEncoding::Base64, false, &data, block);
            assert_eq!(out.len() as u64, base64_encoded_len(data.len() as u64));
            let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
            for line in &lines[..lines.len() - 1] {
                assert_eq!(line.len(), 77); // 76 + CR
            }
            assert!(!out.ends_with(b"\r\n"));
            let joined: Vec<u8> = out
                .iter()
                .copied()
                .filter(|b| !b"\r\n".contains(b))
                .collect();
            assert_eq!(BASE64.decode(joined).unwrap(), data);
        }
        assert!(encode_all(TransferEncoding::Base64, false, b"", 10).is_empty());
        assert_eq!(base64_encoded_len(0), 0);
        assert_eq!(base64_encoded_len(57), 76);
        assert_eq!(base64_encoded_len(58), 76 + 2 + 4);
    }

    #[test]
    fn base64_text_is_canonical() {
        let out = encode_all(TransferEncoding::Base64, true, b"a\nb\rc", 1);
        assert_eq!(BASE64.decode(out).unwrap(), b"a\r\nb\r\nc");
    }

    #[test]
    fn lines_are_canonical() {
        let out = encode_all(TransferEncoding::SevenBit, true, b"a\nb\rc\r\n\r", 1);
        assert_eq!(out, b"a\r\nb\r\nc\r\n\r\n");
    }

    #[test]
    fn choice() {
        let c = |d: &[u8], exact, eight| choose(&scan(d), exact, eight);
        use TransferEncoding::*;
        assert_eq!(c(b"hello\nworld", false, false), SevenBit);
        assert_eq!(c(b"", false, false), SevenBit);
        assert_eq!(c("héllo wörld".as_bytes(), false, false), QuotedPrintable);
        assert_eq!(c("héllo wörld".as_bytes(), false, true), EightBit);
        assert_eq!(c("Привет мир".as_bytes(), false, false), Base64);
        assert_eq!(c("你好世界".as_bytes(), false, true), EightBit);
        let long = "y".repeat(5000);
        assert_eq!(c(long.as_bytes(), false, false), QuotedPrintable);
        assert_eq!(c(long.as_bytes(), false, true), QuotedPrintable);
        let edge = "z".repeat(998);
        assert_eq!(c(edge.as_bytes(), false, false), SevenBit);
        let dotted = format!(".{}", "z".repeat(997));
        assert_eq!(c(dotted.as_bytes(), false, false), QuotedPrintable);
        assert_eq!(c(b"nul\0inside", false, true), QuotedPrintable);
        // Exact data: bare LF rules out everything but base64.
        assert_eq!(c(b"a\nb", true, false), Base64);
        assert_eq!(c(b"a\r\nb", true, false), SevenBit);
        let binary: Vec<u8> = (0..=255u8).collect();
        assert_eq!(c(&binary, true, true), Base64);
    }
}
