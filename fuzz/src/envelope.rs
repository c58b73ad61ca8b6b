//! Raw messages: `envelope_from_headers` (sendmail -t) and `StripBcc`.
//!
//! An envelope derived from arbitrary headers holds only valid addresses
//! without duplicates; `StripBcc` leaves no `Bcc:` field in the header
//! block and passes the body through untouched.

use std::io::Read;

use smtp_core::command::validate_address;
use smtp_core::envelope_from_headers;
use smtp_core::message::StripBcc;

/// The envelope target.
pub fn check(data: &[u8]) {
    if let Ok(envelope) = envelope_from_headers(data) {
        assert!(validate_address(envelope.from(), "sender address", true).is_ok());
        assert!(!envelope.to().is_empty());
        for (i, to) in envelope.to().iter().enumerate() {
            assert!(validate_address(to, "recipient address", false).is_ok());
            assert!(
                !envelope.to()[..i].contains(to),
                "duplicate recipient {to:?}"
            );
        }
    }

    let mut out = Vec::new();
    StripBcc::new(data)
        .read_to_end(&mut out)
        .expect("in-memory read");
    assert!(out.len() <= data.len());
    let (head, body) = data.split_at(header_end(data));
    assert!(out.ends_with(body), "the body changed");
    let out_head = &out[..out.len() - body.len()];
    assert!(
        !field_names(out_head)
            .iter()
            .any(|n| n.eq_ignore_ascii_case(b"bcc")),
        "a Bcc field survived"
    );
    if !field_names(head)
        .iter()
        .any(|n| n.eq_ignore_ascii_case(b"bcc"))
    {
        assert_eq!(out, data, "a message without Bcc changed");
    }
}

/// The end of the header block as sendmail and Postfix find it: after an
/// optional mbox `From ` line, the lines that are header fields or their
/// continuations, and the empty line after them if that is what ended
/// them (a line of any other kind starts the body).
fn header_end(data: &[u8]) -> usize {
    let mut pos = 0;
    let mut fields = 0;
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| pos + i + 1);
        let line = &data[pos..end];
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if pos == 0 && line.starts_with(b"From ") {
            pos = end;
            continue;
        }
        if content.is_empty() {
            return end;
        }
        let continuation = matches!(content[0], b' ' | b'\t') && fields > 0;
        if !continuation && !is_field(content) {
            return pos;
        }
        fields += usize::from(!continuation);
        pos = end;
    }
    data.len()
}

/// A `Name:` line with a printable-ASCII name and no blank before the colon.
fn is_field(line: &[u8]) -> bool {
    line.iter().position(|&b| b == b':').is_some_and(|colon| {
        let name = line[..colon].trim_ascii_end();
        !name.is_empty() && name.iter().all(|b| (33..=126).contains(b))
    })
}

/// The names of the fields in a header block (lines that do not start
/// with whitespace; the name is what precedes the colon, trimmed).
fn field_names(head: &[u8]) -> Vec<&[u8]> {
    head.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .filter(|l| !matches!(l[0], b' ' | b'\t'))
        // A line without a colon is no field; its whole text stands for
        // the name, so only a bare `Bcc` line counts as one.
        .map(|l| match l.iter().position(|&b| b == b':') {
            Some(colon) => l[..colon].trim_ascii(),
            None => l,
        })
        .collect()
}
