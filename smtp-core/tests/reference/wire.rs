//! Reference forms of the DATA line rules, byte by byte and written apart
//! from the library's block encoder, so that tests can compare the two.
//!
//! One file, included with `#[path]` by every crate that checks a body:
//! smtp-core's unit tests (src/data.rs) and property tests, the fuzz checks
//! (fuzz/src/util.rs) and the workspace suites (tests/src/support.rs). They
//! are separate crates, and a test oracle does not belong in the library's
//! public API.
#![allow(dead_code)]

/// Every CRLF, bare CR and bare LF of `input` as CRLF.
pub fn normalise_line_breaks(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 16);
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// What a client must send of `body`: line breaks as CRLF, and a CRLF after
/// a non-empty unterminated last line (before the final dot, or at the end
/// of a BDAT body).
pub fn normalise(body: &[u8]) -> Vec<u8> {
    let mut out = normalise_line_breaks(body);
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn is_bare_line_break(bytes: &[u8], i: usize) -> bool {
    match bytes[i] {
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || bytes[i - 1] != b'\r',
        _ => false,
    }
}

/// True when every CR is followed by LF and every LF follows a CR.
pub fn crlf_only(bytes: &[u8]) -> bool {
    !(0..bytes.len()).any(|i| is_bare_line_break(bytes, i))
}

/// The positions of CR not followed by LF and LF not preceded by CR.
pub fn bare_line_breaks(bytes: &[u8]) -> Vec<usize> {
    (0..bytes.len())
        .filter(|&i| is_bare_line_break(bytes, i))
        .collect()
}

/// Checks a DATA body as the server reads it (dot-stuffed, terminator
/// included) and returns the message it carries (dots un-stuffed). Fails
/// on a bare CR or LF, on a line other than the last that is a lone `.` (a
/// second end of data), on a leading dot that was not doubled, and when the
/// body does not end with the terminator.
pub fn data_content(wire: &[u8]) -> Result<Vec<u8>, String> {
    let bare = bare_line_breaks(wire);
    if !bare.is_empty() {
        return Err(format!("bare CR or LF on the wire at offsets {bare:?}"));
    }
    if !(wire == b".\r\n" || wire.ends_with(b"\r\n.\r\n")) {
        return Err("the body does not end with CRLF . CRLF".into());
    }
    let content = &wire[..wire.len() - 3];
    let mut out = Vec::with_capacity(content.len());
    for (n, line) in content.split_inclusive(|&b| b == b'\n').enumerate() {
        match line.strip_prefix(b".") {
            None => out.extend_from_slice(line),
            Some(b"\r\n") => return Err(format!("an end of data at line {}", n + 1)),
            Some(rest) if rest.starts_with(b".") => out.extend_from_slice(rest),
            Some(_) => return Err(format!("a leading dot not doubled at line {}", n + 1)),
        }
    }
    Ok(out)
}
