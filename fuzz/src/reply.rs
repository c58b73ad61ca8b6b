//! Server replies and EHLO capabilities.
//!
//! The reply target reads the input as a server's byte stream, in
//! pseudo-random chunks, the way the session does (lines cut at LF, one CR
//! dropped, a line over `MAX_LINE_LEN` refused), feeds the lines to a
//! `ReplyBuilder`, and checks every reply it builds: the code and line
//! limits hold, and writing the reply back out and parsing it again gives
//! the same reply. `parse_reply` on the whole input must agree with the
//! builder.

use smtp_core::reply::{parse_reply, ReplyBuilder, MAX_LINE_LEN, MAX_REPLY_LINES};
use smtp_core::{Capabilities, Reply};

use crate::util::{chunks, fnv};

/// The reply target.
pub fn check(data: &[u8]) {
    let whole = parse_reply(data);
    if let Ok(reply) = &whole {
        check_reply(reply);
        // The builder fed the same lines (last one unterminated or not)
        // must end with the same first reply.
        let mut builder = ReplyBuilder::new();
        let mut first = None;
        for line in split_lines(data) {
            match builder.push_line(line) {
                Ok(Some(r)) => {
                    first = Some(r);
                    break;
                }
                Ok(None) => {}
                Err(e) => panic!("parse_reply accepted what the builder refuses: {e}"),
            }
        }
        assert_eq!(
            first.as_ref(),
            Some(reply),
            "parse_reply and ReplyBuilder disagree"
        );
    }

    // The stream as the session reads it.
    let lines = read_lines(data, fnv(data));
    let direct: Vec<&[u8]> = split_lines(data).into_iter().take(lines.len()).collect();
    assert_eq!(lines.len(), direct.len());
    for (got, want) in lines.iter().zip(&direct) {
        assert_eq!(got.as_slice(), *want, "chunked line reading differs");
    }
    let mut builder = ReplyBuilder::new();
    let mut pending = 0usize;
    for line in &lines {
        assert!(line.len() <= MAX_LINE_LEN);
        match builder.push_line(line) {
            Ok(Some(reply)) => {
                check_reply(&reply);
                assert_eq!(reply.lines().len(), pending + 1);
                pending = 0;
            }
            Ok(None) => {
                pending += 1;
                assert!(pending <= MAX_REPLY_LINES, "builder holds too many lines");
            }
            // The session drops the connection here; start afresh.
            Err(_) => {
                builder = ReplyBuilder::new();
                pending = 0;
            }
        }
    }
}

/// Lines as the whole-buffer parser sees them: cut at LF, one trailing CR
/// dropped; an unterminated last line counts, an empty one does not.
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    if data.is_empty() || data.ends_with(b"\n") {
        out.pop();
    }
    out
}

/// Complete lines read from `data` delivered in chunks, as the session's
/// reader does; stops at a line longer than [`MAX_LINE_LEN`] (a protocol
/// error there). An unterminated last line is returned too, so the result
/// can be compared with [`split_lines`].
fn read_lines(data: &[u8], seed: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for chunk in chunks(data, seed) {
        buf.extend_from_slice(chunk);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line = &buf[..pos];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > MAX_LINE_LEN {
                return out;
            }
            out.push(line.to_vec());
            buf.drain(..=pos);
        }
        if buf.len() > MAX_LINE_LEN {
            return out;
        }
    }
    if !buf.is_empty() {
        out.push(buf.strip_suffix(b"\r").unwrap_or(&buf).to_vec());
    }
    out
}

/// Invariants of any reply the parser produces, and the round trip.
pub fn check_reply(reply: &Reply) {
    let code = reply.code();
    assert!(
        (200..=559).contains(&code) && code / 10 % 10 <= 5,
        "code {code}"
    );
    assert!(!reply.lines().is_empty() && reply.lines().len() <= MAX_REPLY_LINES);
    for line in reply.lines() {
        assert!(!line.contains('\n'));
        // Control characters (but tab) are replaced: nothing a server
        // sends can act on a terminal or a log through an error message.
        assert!(!line.chars().any(|c| c.is_control() && c != '\t'));
        // Lossy UTF-8 makes at most three bytes of one.
        assert!(line.len() <= 3 * MAX_LINE_LEN);
    }
    if let Some(enhanced) = reply.enhanced() {
        assert_eq!(u16::from(enhanced.class), code / 100);
        assert!(enhanced.subject <= 999 && enhanced.detail <= 999);
    }
    let kinds = [
        reply.is_positive(),
        reply.is_intermediate(),
        reply.is_transient(),
        reply.is_permanent(),
    ];
    assert_eq!(kinds.iter().filter(|&&k| k).count(), 1);
    assert!(reply.to_string().starts_with(&code.to_string()));
    let _ = reply.text();
    let _ = reply.first_line();

    let again = parse_reply(&serialise(reply)).expect("a re-serialised reply parses");
    assert_eq!(&again, reply, "re-serialised reply differs");
}

/// Writes a reply back in wire form, the enhanced code on every line.
pub fn serialise(reply: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    let n = reply.lines().len();
    for (i, line) in reply.lines().iter().enumerate() {
        out.extend_from_slice(reply.code().to_string().as_bytes());
        out.push(if i + 1 == n { b' ' } else { b'-' });
        if let Some(enhanced) = reply.enhanced() {
            out.extend_from_slice(format!("{enhanced} ").as_bytes());
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The capabilities target: any EHLO reply (parsed, or lines taken as they
/// come when the input is not a valid reply) gives capabilities that are
/// consistent with the lines they came from.
pub fn check_capabilities(data: &[u8]) {
    let reply = match parse_reply(data) {
        Ok(reply) => reply,
        Err(_) => Reply::new(
            250,
            None,
            data.split(|&b| b == b'\n')
                .take(MAX_REPLY_LINES)
                .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\r").unwrap_or(l)).into_owned())
                .collect(),
        ),
    };
    let caps = Capabilities::from_ehlo(&reply);
    assert_eq!(caps, Capabilities::from_ehlo(&reply), "not deterministic");
    assert!(caps.extended);
    let lines = reply.lines();
    assert_eq!(caps.raw.as_slice(), lines.get(1..).unwrap_or(&[]));
    assert!(!caps.server_name.contains(' '));
    if let Some(first) = lines.first() {
        assert!(first.starts_with(&caps.server_name));
    }

    // Upper-cased first words of the extension lines.
    let keywords: Vec<String> = caps
        .raw
        .iter()
        .filter_map(|l| l.split_ascii_whitespace().next())
        .map(|k| k.to_ascii_uppercase())
        .collect();
    let has = |k: &str| keywords.iter().any(|w| w == k);
    assert_eq!(caps.pipelining, has("PIPELINING"));
    assert_eq!(caps.chunking, has("CHUNKING"));
    assert_eq!(caps.eight_bit_mime, has("8BITMIME"));
    assert_eq!(caps.smtputf8, has("SMTPUTF8"));
    assert_eq!(caps.starttls, has("STARTTLS"));
    assert_eq!(caps.enhanced_status_codes, has("ENHANCEDSTATUSCODES"));
    assert_eq!(caps.dsn, has("DSN"));
    assert_eq!(caps.size.is_some(), has("SIZE"));

    for (i, name) in caps.auth.iter().enumerate() {
        assert!(!name.is_empty());
        assert_eq!(name, &name.to_ascii_uppercase());
        assert!(!name.chars().any(|c| c.is_ascii_whitespace()));
        assert!(!caps.auth[..i].contains(name), "duplicate {name}");
        assert!(caps.offers_auth(&name.to_ascii_lowercase()));
        let announced = caps
            .raw
            .iter()
            .any(|l| l.to_ascii_uppercase().contains(name.as_str()));
        assert!(announced, "{name} was never announced");
    }
    if !has("AUTH") && !keywords.iter().any(|k| k.starts_with("AUTH=")) {
        assert!(caps.auth.is_empty());
    }
}
