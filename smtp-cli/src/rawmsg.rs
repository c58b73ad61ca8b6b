//! The sendmail side: the message on standard input as a stream (a lone
//! `.` line ends it without `-i`), and the library's raw-message options
//! that sendmail's flags stand for. Parsing, `Bcc` removal, the envelope
//! and the added headers are the library's ([`smtp_core::RawMessage`]).

use std::io::{self, BufRead, Read};

use smtp_core::{Mailbox, RawOptions};

use crate::exit::{one_line, Failure};

/// Reads a message up to a line holding a single `.` (sendmail without
/// `-i`), which is not part of it; other lines pass as they are (no
/// dot-unstuffing, as sendmail does outside SMTP mode).
pub struct DotTerminated<R> {
    input: R,
    line: Vec<u8>,
    pos: usize,
    done: bool,
    /// Whether the next piece read starts a line.
    at_line_start: bool,
}

impl<R: BufRead> DotTerminated<R> {
    /// Wraps the input.
    pub fn new(input: R) -> DotTerminated<R> {
        DotTerminated {
            input,
            line: Vec::new(),
            pos: 0,
            done: false,
            at_line_start: true,
        }
    }
}

impl<R: BufRead> Read for DotTerminated<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.line.len() {
            if self.done {
                return Ok(0);
            }
            self.line.clear();
            self.pos = 0;
            // A line at a time, at most 64 KiB of it: a long line cannot
            // be a lone dot, so it is passed on in pieces.
            let n = (&mut self.input)
                .take(64 * 1024)
                .read_until(b'\n', &mut self.line)?;
            let lone_dot =
                self.at_line_start && matches!(self.line.as_slice(), b".\n" | b".\r\n" | b".");
            if n == 0 || lone_dot {
                self.done = true;
                self.line.clear();
                return Ok(0);
            }
            self.at_line_start = self.line.ends_with(b"\n");
        }
        let n = buf.len().min(self.line.len() - self.pos);
        buf[..n].copy_from_slice(&self.line[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Gives the input with CRLF line endings (the library's
/// [`BdatNormalizer`](smtp_core::data::BdatNormalizer)), so that what is
/// read is what goes on the wire and its size is the message's.
pub struct Crlf<R> {
    input: R,
    normalizer: smtp_core::data::BdatNormalizer,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> Crlf<R> {
    /// Wraps the input.
    pub fn new(input: R) -> Crlf<R> {
        Crlf {
            input,
            normalizer: smtp_core::data::BdatNormalizer::new(),
            chunk: vec![0; 64 * 1024],
            out: Vec::with_capacity(128 * 1024),
            pos: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Crlf<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.out.clear();
            self.pos = 0;
            let n = self.input.read(&mut self.chunk)?;
            if n == 0 {
                self.normalizer.finish(&mut self.out);
                self.done = true;
            } else {
                self.normalizer.encode(&self.chunk[..n], &mut self.out);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The library's options for what sendmail's flags say: the envelope
/// sender (`-f`, else the configured `from`; else the message's own), the
/// recipients (arguments, each a comma-separated list, plus the header's
/// with `-t`), and the headers completed with `author`.
pub fn raw_options(
    envelope_from: Option<&str>,
    recipients: &[String],
    extract: bool,
    author: Mailbox,
) -> Result<RawOptions, Failure> {
    let mut options = RawOptions::new()
        .recipients_from_headers(extract)
        .complete_headers(author);
    if let Some(from) = envelope_from {
        options = options
            .sender(from)
            .map_err(|e| Failure::data(format!("bad address {:?}: {e}", one_line(from))))?;
    }
    for arg in recipients {
        options = options
            .recipients(arg)
            .map_err(|e| Failure::data(format!("bad recipient {:?}: {e}", one_line(arg))))?;
    }
    Ok(options)
}

/// The `-f` address with `default_domain` appended when it is a name
/// without a domain (`-f root`); other input as it is. Without a default
/// domain such a name is refused, saying what to set.
pub fn qualified_sender(
    input: &str,
    resolver: Option<&crate::aliases::Resolver>,
) -> Result<String, Failure> {
    let trimmed = input.trim();
    let bare = trimmed
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(trimmed)
        .trim();
    if !crate::aliases::is_local_name(bare) {
        return Ok(input.to_string());
    }
    match resolver.and_then(|r| r.default_domain()) {
        Some(domain) => Ok(format!("{bare}@{domain}")),
        None => Err(Failure::data(format!(
            "sender {:?} has no domain: give -f user@domain, or set default_domain in the configuration file (or SMTP_DEFAULT_DOMAIN)",
            one_line(bare)
        ))),
    }
}

/// An envelope address as given to `-f` or on the command line:
/// `addr`, `<addr>`, `Name <addr>`; `""` and `<>` are the null sender.
pub fn bare_address(input: &str) -> Result<String, Failure> {
    smtp_core::message::envelope_address(input)
        .map_err(|e| Failure::data(format!("bad address {:?}: {e}", one_line(input.trim()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], ignore_dots: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if ignore_dots {
            out = input.to_vec();
        } else {
            DotTerminated::new(input).read_to_end(&mut out).unwrap();
        }
        out
    }

    #[test]
    fn lone_dot() {
        let input = b"a\n..b\n.\nafter\n";
        assert_eq!(read(input, false), b"a\n..b\n");
        assert_eq!(read(input, true), input);
        assert_eq!(read(b"a\r\n.\r\nb", false), b"a\r\n");
        assert_eq!(read(b"a\n.", false), b"a\n");
        assert_eq!(read(b"a\n. \n", false), b"a\n. \n");
        // Long lines pass in pieces; a dot inside them ends nothing.
        let mut long = vec![b'x'; 200_000];
        long.extend_from_slice(b"\n.\n");
        assert_eq!(read(&long, false).len(), 200_001);
        // A dot that is the tail of a long line, not a line of its own.
        let mut tail = vec![b'x'; 64 * 1024];
        tail.extend_from_slice(b".\nnext\n");
        assert_eq!(read(&tail, false), tail);
    }

    #[test]
    fn line_endings_as_the_cli_relies_on() {
        let crlf = |input: &[u8]| {
            let mut out = Vec::new();
            Crlf::new(input).read_to_end(&mut out).unwrap();
            out
        };
        assert_eq!(crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd\r\n");
        assert_eq!(crlf(b""), b"");
        assert_eq!(crlf(b"\r\r\n"), b"\r\n\r\n");
        let big = b"line\n".repeat(100_000);
        assert_eq!(crlf(&big), b"line\r\n".repeat(100_000));
    }

    #[test]
    fn addresses() {
        assert_eq!(bare_address("<>").unwrap(), "");
        assert_eq!(bare_address(" <a@x.example> ").unwrap(), "a@x.example");
        assert_eq!(bare_address("Name <a@x.example>").unwrap(), "a@x.example");
        assert!(bare_address("a@b@c").is_err());
        let author = Mailbox::parse("me@x.example").unwrap();
        let options = raw_options(
            Some("Me <me@x.example>"),
            &["a@x.example, B <b@x.example>".into(), "A@x.example".into()],
            false,
            author.clone(),
        )
        .unwrap();
        let m = smtp_core::RawMessage::read(&b"Subject: s\n\nbody\n"[..], &options).unwrap();
        assert_eq!(m.envelope().from(), "me@x.example");
        assert_eq!(
            m.envelope().to(),
            ["a@x.example", "b@x.example", "A@x.example"]
        );
        // A name without a domain is left to the library's resolver.
        let options = raw_options(None, &["nodomain".into()], false, author).unwrap();
        let err = smtp_core::RawMessage::read(&b"From: a@x.example\n\nb\n"[..], &options)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("\"nodomain\" has no domain"),
            "{err}"
        );
        let resolver = crate::aliases::Resolver::new(None, Some("x.example"));
        assert_eq!(
            qualified_sender("root", resolver.as_ref()).unwrap(),
            "root@x.example"
        );
        assert_eq!(
            qualified_sender("<cron>", resolver.as_ref()).unwrap(),
            "cron@x.example"
        );
        assert_eq!(
            qualified_sender("a@y.example", resolver.as_ref()).unwrap(),
            "a@y.example"
        );
        assert_eq!(qualified_sender("<>", None).unwrap(), "<>");
        assert!(qualified_sender("root", None)
            .unwrap_err()
            .message
            .contains("default_domain"));
    }
}
