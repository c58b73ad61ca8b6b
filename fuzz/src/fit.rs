//! The line fitter: whatever a raw message is, what comes out has CRLF
//! line breaks only and no line over 998 octets, the same however the
//! input is split; a message with no long line comes out as the BDAT
//! normaliser makes it; `LongLines::Refuse` refuses exactly the messages
//! with a long line; nothing panics.

use smtp_core::data::BdatNormalizer;
use smtp_core::message::{LineFitter, LongLines, MAX_LINE};

use crate::util::{chunks, crlf_only, fnv};

/// The longest line, taking CR, LF and CRLF as line breaks.
fn longest_line(data: &[u8]) -> usize {
    data.split(|&b| b == b'\n' || b == b'\r')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

/// The fit target. The input is a raw message; its first byte, when it is
/// a digit, repeats the rest that many times, so short inputs reach long
/// lines.
pub fn check(data: &[u8]) {
    let expanded;
    let data = match data.split_first() {
        Some((&d @ b'1'..=b'9', rest)) => {
            expanded = rest.repeat(usize::from(d - b'0') * 120);
            &expanded[..]
        }
        _ => data,
    };
    let whole = LineFitter::fit_all(LongLines::Repair, data);

    let mut fitter = LineFitter::new(LongLines::Repair);
    let mut out = Vec::new();
    let mut split = Ok(());
    for chunk in chunks(data, fnv(data)) {
        split = split.and_then(|()| fitter.push(chunk, &mut out));
    }
    let split = split.and_then(|()| fitter.finish(&mut out)).map(|()| out);
    assert_eq!(whole, split, "chunked fitting differs");

    let long = longest_line(data) > MAX_LINE;
    if let Ok(out) = &whole {
        assert!(crlf_only(out), "bare CR or LF");
        assert!(longest_line(out) <= MAX_LINE, "a line over 998 octets");
        if !long {
            assert_eq!(out, &BdatNormalizer::encode_all(data), "changed without need");
        }
    }
    let refused = LineFitter::fit_all(LongLines::Refuse, data);
    assert_eq!(refused.is_err(), long, "refuse mode and long lines disagree");
}
