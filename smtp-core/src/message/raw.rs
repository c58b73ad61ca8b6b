//! Raw mode: messages the caller formatted, sent as they are, with an
//! envelope taken from their headers when none is given (`sendmail -t`).

use std::io::{self, Read};

use crate::error::{Error, Result};
use crate::session::Envelope;

use super::address::{parse_list_lenient, same_address};

/// Largest header block read to derive an envelope or strip `Bcc:` (1 MiB).
pub const MAX_RAW_HEADER_BLOCK: usize = 1024 * 1024;

/// One header field of a raw header block: the name and the unfolded value.
struct Field<'a> {
    name: &'a [u8],
    /// Byte range of the whole field (name, continuation lines, line break).
    start: usize,
    end: usize,
}

/// Splits a header block into fields. Stops at the first empty line.
fn fields(block: &[u8]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    while pos < block.len() {
        let line_end = memchr::memchr(b'\n', &block[pos..]).map_or(block.len(), |i| pos + i + 1);
        let line = &block[pos..line_end];
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            break;
        }
        if matches!(content[0], b' ' | b'\t') {
            if let Some(last) = out.last_mut() {
                last.end = line_end;
            }
        } else {
            let name = match memchr::memchr(b':', content) {
                Some(colon) => trim_ascii(&content[..colon]),
                None => content,
            };
            out.push(Field {
                name,
                start: pos,
                end: line_end,
            });
        }
        pos = line_end;
    }
    out
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// The unfolded value of a field.
fn value(block: &[u8], field: &Field<'_>) -> String {
    let raw = &block[field.start..field.end];
    let after = memchr::memchr(b':', raw).map_or(raw.len(), |i| i + 1);
    let unfolded: Vec<u8> = raw[after..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    String::from_utf8_lossy(&unfolded).trim().to_string()
}

/// Derives an envelope from a raw message's header block (the bytes up to
/// the first empty line; anything after it is ignored): the sender from
/// `Sender:`, else the first `From:` mailbox; the recipients from every
/// `To:`, `Cc:` and `Bcc:` field, without duplicates. Folded fields are
/// unfolded; groups (`undisclosed-recipients:;`) are understood.
/// Addresses are returned as written (see
/// [`Client::send_raw`](crate::Client::send_raw) for IDNA).
pub fn envelope_from_headers(raw_header_block: &[u8]) -> Result<Envelope> {
    let mut sender = None;
    let mut from = None;
    let mut recipients: Vec<String> = Vec::new();
    for field in fields(raw_header_block) {
        let name = field.name.to_ascii_lowercase();
        let (label, role): (&'static str, u8) = match name.as_slice() {
            b"sender" => ("Sender header", 0),
            b"from" => ("From header", 1),
            b"to" => ("To header", 2),
            b"cc" => ("Cc header", 2),
            b"bcc" => ("Bcc header", 2),
            _ => continue,
        };
        let text = value(raw_header_block, &field);
        let list = parse_list_lenient(&text, label)?;
        match role {
            0 => sender = sender.or_else(|| list.into_iter().next()),
            1 => from = from.or_else(|| list.into_iter().next()),
            _ => {
                for mailbox in list {
                    if !recipients.iter().any(|r| same_address(r, &mailbox.address)) {
                        recipients.push(mailbox.address);
                    }
                }
            }
        }
    }
    let sender = sender.or(from).ok_or_else(|| {
        Error::invalid(
            "raw message",
            "has no From or Sender header to take the envelope sender from",
        )
    })?;
    if recipients.is_empty() {
        return Err(Error::invalid(
            "raw message",
            "has no recipient in To, Cc or Bcc headers",
        ));
    }
    Envelope::new(sender.address, recipients)
}

/// Removes `Bcc:` fields (with their continuation lines) from a header block.
pub(crate) fn strip_bcc(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len());
    let mut pos = 0;
    for field in fields(block) {
        if field.name.eq_ignore_ascii_case(b"bcc") {
            out.extend_from_slice(&block[pos..field.start]);
            pos = field.end;
        }
    }
    out.extend_from_slice(&block[pos..]);
    out
}

/// Reads a raw message's header block, up to and including the first empty
/// line (or the whole input if it has none). Returns the block and whatever
/// was read past it. Fails on a block over `limit` bytes.
pub(crate) fn read_header_block(
    input: &mut dyn Read,
    limit: usize,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let mut scanned = 0; // bytes already searched for the empty line
    loop {
        if let Some(end) = header_end(&buf, scanned) {
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        scanned = buf.len().saturating_sub(3);
        if buf.len() > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the message's header block is larger than {limit} bytes"),
            ));
        }
        let n = match input.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok((buf, Vec::new()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The end of the first empty line (`\n\n`, `\n\r\n`), searching from `from`.
fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    // An empty first line means no headers at all.
    if from == 0 {
        if buf.starts_with(b"\r\n") {
            return Some(2);
        }
        if buf.starts_with(b"\n") {
            return Some(1);
        }
    }
    while let Some(off) = memchr::memchr(b'\n', buf.get(i..)?) {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            Some(b'\r') => {}
            Some(_) => {}
            None => return None,
        }
        i = nl + 1;
    }
    None
}

/// Passes a raw message through without its `Bcc:` header fields: the
/// header block (at most [`MAX_RAW_HEADER_BLOCK`] bytes, else an
/// `InvalidData` error) is buffered and filtered, the body streams
/// through unchanged.
pub struct StripBcc<R: Read> {
    inner: R,
    head: Option<io::Cursor<Vec<u8>>>,
}

impl<R: Read> StripBcc<R> {
    /// Wraps a raw message.
    pub fn new(inner: R) -> StripBcc<R> {
        StripBcc { inner, head: None }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for StripBcc<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.head.is_none() {
            let (block, rest) = read_header_block(&mut self.inner, MAX_RAW_HEADER_BLOCK)?;
            let mut head = strip_bcc(&block);
            head.extend_from_slice(&rest);
            self.head = Some(io::Cursor::new(head));
        }
        if let Some(head) = self.head.as_mut() {
            let n = head.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &[u8] = b"From: Alice <alice@example.org>\r\n\
        To: bob@example.net,\r\n  \"Doe, Carol\" <carol@example.net>\r\n\
        Cc: undisclosed-recipients:;\r\n\
        Bcc: secret@example.com,\r\n\tBOB@EXAMPLE.NET\r\n\
        Subject: hi\r\n\
        BCC: also@example.com\r\n\
        \r\n\
        Bcc: not-a-header@example.com\r\nbody\r\n";

    #[test]
    fn derives_envelope() {
        let env = envelope_from_headers(RAW).unwrap();
        assert_eq!(env.from(), "alice@example.org");
        assert_eq!(
            env.to(),
            [
                "bob@example.net",
                "carol@example.net",
                "secret@example.com",
                "BOB@EXAMPLE.NET",
                "also@example.com"
            ]
        );
        let env =
            envelope_from_headers(b"From: a@x.org\nSender: s@x.org\nTo: t@y.org\n\n").unwrap();
        assert_eq!(env.from(), "s@x.org");
        assert!(envelope_from_headers(b"To: t@y.org\r\n\r\n").is_err());
        assert!(envelope_from_headers(b"From: a@x.org\r\n\r\nTo: b@y.org\r\n").is_err());
        assert!(envelope_from_headers(b"From: a@x.org\r\nTo: <b@y.org\r\n\r\n").is_err());
    }

    #[test]
    fn strips_bcc_only_in_headers() {
        let mut out = Vec::new();
        StripBcc::new(RAW).read_to_end(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("secret@"));
        assert!(!text.contains("also@"));
        assert!(text.contains("\r\n\r\nBcc: not-a-header@example.com\r\nbody\r\n"));
        assert!(
            text.starts_with("From: Alice <alice@example.org>\r\nTo: bob@example.net,\r\n  \"Doe")
        );
        assert!(text.contains("Cc: undisclosed-recipients:;\r\nSubject: hi\r\n\r\n"));
    }

    #[test]
    fn header_block_reading() {
        let mut input: &[u8] = b"A: 1\nB: 2\n\nbody";
        let (block, rest) = read_header_block(&mut input, 100).unwrap();
        assert_eq!(block, b"A: 1\nB: 2\n\n");
        assert_eq!(rest, b"body");
        let mut input: &[u8] = b"A: 1\r\n";
        let (block, rest) = read_header_block(&mut input, 100).unwrap();
        assert_eq!(
            (block.as_slice(), rest.as_slice()),
            (&b"A: 1\r\n"[..], &b""[..])
        );
        let mut input: &[u8] = b"\r\nbody";
        assert_eq!(read_header_block(&mut input, 100).unwrap().0, b"\r\n");
        let big = vec![b'x'; 300];
        assert!(read_header_block(&mut big.as_slice(), 100).is_err());
        // One byte at a time.
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let (block, rest) =
            read_header_block(&mut Slow(b"A: 1\r\nBcc: x@y\r\n\r\nrest"), 100).unwrap();
        assert_eq!(block, b"A: 1\r\nBcc: x@y\r\n\r\n");
        assert!(rest.is_empty());
        let mut out = Vec::new();
        StripBcc::new(Slow(b"A: 1\r\nBcc: x@y\r\n\r\nrest"))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"A: 1\r\n\r\nrest");
    }
}
