//! Header fields on the wire: folding, RFC 2047 encoded words, RFC 2231
//! parameters, and the checks that keep caller text from starting a new
//! header line.
//!
//! Every header goes through a [`HeaderWriter`]: it places whitespace-separated
//! tokens and folds before a token that would take the line past
//! [`FOLD_AT`] columns. Tokens are built so that none is longer than a
//! line can be; the writer checks the [`MAX_LINE`] limit once more when the
//! field is finished, and refuses the field rather than write a longer line.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::error::{Error, Result};

/// Header lines are folded before they pass this many columns (RFC 2047
/// section 2 limits lines that hold encoded words to 76; RFC 5322 asks for
/// at most 78).
pub const FOLD_AT: usize = 76;

/// No line of a message is longer than this, CRLF excluded (RFC 5322 2.1.1).
pub const MAX_LINE: usize = 998;

/// Longest encoded word (RFC 2047 section 2).
pub const MAX_ENCODED_WORD: usize = 75;

/// Longest plain word kept as it is in an unstructured header; longer words
/// are written as encoded words, which can be split anywhere.
const MAX_PLAIN_WORD: usize = 900;

/// `=?UTF-8?B?` plus `?=`.
const ENCODED_WORD_OVERHEAD: usize = 12;

/// The smallest first encoded word worth placing after other text on a line
/// (room for one four-byte character in either encoding).
const MIN_FIRST_WORD: usize = ENCODED_WORD_OVERHEAD + 12;

/// Longest header field name accepted from a caller.
pub const MAX_HEADER_NAME: usize = 76;

/// Refuses CR, LF, NUL and other control characters (horizontal tab
/// excepted) in text that goes into a header. `field` names the input.
pub(crate) fn check_header_text(value: &str, field: &'static str) -> Result<()> {
    for c in value.chars() {
        let what = match c {
            '\r' => "CR",
            '\n' => "LF",
            '\0' => "NUL",
            '\t' => continue,
            c if c.is_control() => "a control character",
            _ => continue,
        };
        return Err(Error::invalid(
            field,
            format!("contains {what}, which would start a new header line or corrupt the message"),
        ));
    }
    Ok(())
}

/// Checks a header field name: 1 to [`MAX_HEADER_NAME`] printable ASCII
/// characters, no colon, no space (RFC 5322 2.2).
pub(crate) fn check_header_name(name: &str) -> Result<()> {
    const FIELD: &str = "header name";
    check_header_text(name, FIELD)?;
    if name.is_empty() {
        return Err(Error::invalid(FIELD, "is empty"));
    }
    if name.len() > MAX_HEADER_NAME {
        return Err(Error::invalid(
            FIELD,
            format!("is longer than {MAX_HEADER_NAME} characters"),
        ));
    }
    if let Some(c) = name.chars().find(|c| !matches!(c, '!'..='9' | ';'..='~')) {
        return Err(Error::invalid(
            FIELD,
            format!("contains {c:?}; a header name is printable ASCII without ':' or spaces"),
        ));
    }
    Ok(())
}

/// Writes one header field, folding between tokens.
pub(crate) struct HeaderWriter<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
    col: usize,
    /// Tokens written on the current line (0 right after the name).
    on_line: usize,
    field: &'static str,
}

impl<'o> HeaderWriter<'o> {
    /// Starts `Name:`; `field` names the input in errors.
    pub(crate) fn new(out: &'o mut Vec<u8>, name: &str, field: &'static str) -> Self {
        let start = out.len();
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        HeaderWriter {
            out,
            start,
            col: name.len() + 1,
            on_line: 0,
            field,
        }
    }

    /// Appends `sep` (whitespace, or empty to glue) and `token`, folding
    /// before the separator when the line would pass [`FOLD_AT`] columns.
    /// A token is never split, and the line is not folded right after the
    /// field name.
    pub(crate) fn token(&mut self, sep: &str, token: &str) {
        let fold =
            !sep.is_empty() && self.on_line > 0 && self.col + sep.len() + token.len() > FOLD_AT;
        if fold {
            self.out.extend_from_slice(b"\r\n");
            self.col = 0;
            self.on_line = 0;
        }
        self.out.extend_from_slice(sep.as_bytes());
        self.out.extend_from_slice(token.as_bytes());
        self.col += sep.len() + token.len();
        self.on_line += 1;
    }

    /// Appends `text` as a run of RFC 2047 encoded words (the first one
    /// sized to fit the current line when it can), `sep` before the first.
    pub(crate) fn encoded(&mut self, sep: &str, text: &str) {
        let room = FOLD_AT.saturating_sub(self.col + sep.len());
        let first = if room >= MIN_FIRST_WORD {
            room.min(MAX_ENCODED_WORD)
        } else {
            MAX_ENCODED_WORD
        };
        let words = encoded_words(text, first, MAX_ENCODED_WORD);
        for (i, word) in words.iter().enumerate() {
            self.token(if i == 0 { sep } else { " " }, word);
        }
    }

    /// Ends the field with CRLF, after checking that no line of it is
    /// longer than [`MAX_LINE`]; on failure nothing of the field is kept.
    pub(crate) fn finish(self) -> Result<()> {
        let written = &self.out[self.start..];
        let too_long = written
            .split(|&b| b == b'\n')
            .any(|line| line.strip_suffix(b"\r").unwrap_or(line).len() > MAX_LINE);
        if too_long {
            self.out.truncate(self.start);
            return Err(Error::invalid(
                self.field,
                format!("cannot be written in lines of at most {MAX_LINE} octets"),
            ));
        }
        self.out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

/// Writes `Name: value` for unstructured text (Subject, custom headers):
/// words with non-ASCII characters (or that look like encoded words, or are
/// too long for a line) become RFC 2047 encoded words; the rest stays as
/// it is. The value is trimmed; whitespace inside it is kept.
pub(crate) fn write_unstructured(
    out: &mut Vec<u8>,
    name: &str,
    value: &str,
    field: &'static str,
) -> Result<()> {
    check_header_text(value, field)?;
    let mut w = HeaderWriter::new(out, name, field);
    let mut run: Option<(&str, usize, usize)> = None; // (separator, start, end) in value
    let value = value.trim_matches([' ', '\t']);
    let mut first = true;
    for (sep_range, word_range) in split_words(value) {
        let sep = if first {
            " "
        } else {
            &value[sep_range.0..sep_range.1]
        };
        first = false;
        let word = &value[word_range.0..word_range.1];
        if needs_encoding(word) {
            match &mut run {
                Some((_, _, end)) => *end = word_range.1,
                None => run = Some((sep, word_range.0, word_range.1)),
            }
        } else {
            if let Some((rsep, s, e)) = run.take() {
                w.encoded(rsep, &value[s..e]);
            }
            w.token(sep, word);
        }
    }
    if let Some((rsep, s, e)) = run.take() {
        w.encoded(rsep, &value[s..e]);
    }
    w.finish()
}

/// Splits text into (whitespace before, word) byte ranges.
fn split_words(value: &str) -> Vec<((usize, usize), (usize, usize))> {
    let bytes = value.as_bytes();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let sep_start = i;
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        let word_start = i;
        while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        if word_start < i {
            parts.push(((sep_start, word_start), (word_start, i)));
        }
    }
    parts
}

fn needs_encoding(word: &str) -> bool {
    !word.is_ascii() || word.contains("=?") || word.len() > MAX_PLAIN_WORD
}

/// True for RFC 5322 `atext`.
pub(crate) fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// How a display name (RFC 5322 `phrase`) is written: atoms when it is
/// plain ASCII words, one quoted string when it is other printable ASCII,
/// encoded words otherwise.
pub(crate) enum Phrase {
    /// Tokens to write as they are, space-separated.
    Plain(Vec<String>),
    /// Text to write as encoded words.
    Encoded(String),
}

/// How a display name goes into a header.
pub(crate) fn phrase(name: &str) -> Phrase {
    let words: Vec<&str> = name.split(' ').collect();
    let atoms = words
        .iter()
        .all(|w| !w.is_empty() && w.chars().all(is_atext))
        && words.iter().all(|w| w.len() <= MAX_ENCODED_WORD);
    if atoms && !name.contains("=?") {
        return Phrase::Plain(words.into_iter().map(str::to_string).collect());
    }
    let printable = name.chars().all(|c| matches!(c, ' '..='~'));
    if printable && !name.contains("=?") && name.len() <= 60 {
        let mut quoted = String::with_capacity(name.len() + 2);
        quoted.push('"');
        for c in name.chars() {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        return Phrase::Plain(vec![quoted]);
    }
    Phrase::Encoded(name.to_string())
}

/// Length of one byte in the Q encoding (phrase-safe set of RFC 2047 5(3)).
fn q_len(b: u8) -> usize {
    if b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/' | b' ') {
        1
    } else {
        3
    }
}

fn push_q(b: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    match q_len(b) {
        1 if b == b' ' => out.push('_'),
        1 => out.push(b as char),
        _ => {
            out.push('=');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// Encodes `text` as RFC 2047 encoded words in UTF-8, choosing B or Q by
/// which is shorter for the whole text. The first word is at most
/// `first_max` characters, the others at most `rest_max`; words are split
/// between characters, never inside a UTF-8 sequence.
pub(crate) fn encoded_words(text: &str, first_max: usize, rest_max: usize) -> Vec<String> {
    let q_total: usize = text.bytes().map(q_len).sum();
    let b_total = text.len().div_ceil(3) * 4;
    let use_b = b_total < q_total;
    let mut words = Vec::new();
    let mut chunk_start = 0;
    let mut chunk_len = 0; // bytes of text
    let mut payload = 0; // encoded length of the chunk
    let limit = |words: &Vec<String>| {
        let max = if words.is_empty() {
            first_max
        } else {
            rest_max
        };
        max.max(MIN_FIRST_WORD) - ENCODED_WORD_OVERHEAD
    };
    for (i, c) in text.char_indices() {
        let n = c.len_utf8();
        let q_cost: usize = text.as_bytes()[i..i + n].iter().map(|&b| q_len(b)).sum();
        let next = if use_b {
            (chunk_len + n).div_ceil(3) * 4
        } else {
            payload + q_cost
        };
        if next > limit(&words) && chunk_len > 0 {
            words.push(encode_word(&text[chunk_start..i], use_b));
            chunk_start = i;
            chunk_len = n;
            payload = if use_b { n.div_ceil(3) * 4 } else { q_cost };
        } else {
            chunk_len += n;
            payload = next;
        }
    }
    if chunk_len > 0 {
        words.push(encode_word(&text[chunk_start..], use_b));
    }
    words
}

fn encode_word(text: &str, use_b: bool) -> String {
    let mut word = String::with_capacity(ENCODED_WORD_OVERHEAD + text.len() * 3);
    if use_b {
        word.push_str("=?UTF-8?B?");
        BASE64.encode_string(text.as_bytes(), &mut word);
    } else {
        word.push_str("=?UTF-8?Q?");
        for &b in text.as_bytes() {
            push_q(b, &mut word);
        }
    }
    word.push_str("?=");
    word
}

/// Decodes RFC 2047 encoded words in UTF-8 or US-ASCII (B or Q) in `text`;
/// whitespace between two adjacent encoded words is dropped. Text with an
/// encoded word in another charset, or a malformed one, is returned as it
/// is. Used for values that legacy code encoded already, so they are not
/// encoded twice.
pub fn decode_encoded_words(text: &str) -> Cow<'_, str> {
    if !text.contains("=?") {
        return Cow::Borrowed(text);
    }
    match try_decode(text) {
        Some(decoded) => Cow::Owned(decoded),
        None => Cow::Borrowed(text),
    }
}

fn try_decode(text: &str) -> Option<String> {
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut rest = text;
    let mut after_word = false;
    let mut any = false;
    while !rest.is_empty() {
        // Whitespace run, then a word.
        let ws_len = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let (ws, tail) = rest.split_at(ws_len);
        let word_len = tail.find([' ', '\t']).unwrap_or(tail.len());
        let (word, tail) = tail.split_at(word_len);
        match decode_word(word) {
            Some(bytes) => {
                if !after_word {
                    out.extend_from_slice(ws.as_bytes());
                }
                out.extend_from_slice(&bytes);
                after_word = true;
                any = true;
            }
            None => {
                out.extend_from_slice(ws.as_bytes());
                out.extend_from_slice(word.as_bytes());
                after_word = false;
            }
        }
        rest = tail;
    }
    if !any {
        return None;
    }
    String::from_utf8(out).ok()
}

/// Decodes one `=?charset?X?text?=` word in UTF-8 or US-ASCII.
fn decode_word(word: &str) -> Option<Vec<u8>> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut parts = inner.splitn(3, '?');
    let charset = parts.next()?;
    let encoding = parts.next()?;
    let data = parts.next()?;
    let charset = charset.split('*').next().unwrap_or("");
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
        return None;
    }
    if data.contains('?') {
        return None;
    }
    match encoding {
        "B" | "b" => BASE64.decode(data).ok(),
        "Q" | "q" => {
            let bytes = data.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'_' => out.push(b' '),
                    b'=' => {
                        let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                        out.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            Some(out)
        }
        _ => None,
    }
}

/// RFC 2045 `token` characters.
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c)
}

/// RFC 2231 `attribute-char`s, which need no percent-encoding.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

/// Longest RFC 2231 parameter section value (percent-encoded) on one line.
const PARAM_SECTION: usize = 56;

/// A MIME header parameter, written by [`write_params`].
pub(crate) enum Param<'a> {
    /// `attr=value`, quoted when needed; non-ASCII or long values use RFC
    /// 2231 (`attr*=utf-8''...`, with continuations).
    Rfc2231(&'a str, &'a str),
    /// `attr="value"`, with non-ASCII values as RFC 2047 encoded words
    /// inside the quotes (the old `name=` form many clients still read).
    Rfc2047(&'a str, &'a str),
}

/// Writes `Name: value; p1=v1; p2=v2`, one parameter (or RFC 2231
/// section, or encoded word) per token so that long parameters fold.
pub(crate) fn write_params(
    out: &mut Vec<u8>,
    name: &str,
    value: &str,
    params: &[Param<'_>],
    field: &'static str,
) -> Result<()> {
    // Groups of tokens: ";" separates groups, a space the tokens of a group
    // (the encoded words of one quoted value).
    let mut groups: Vec<Vec<String>> = vec![vec![value.to_string()]];
    for param in params {
        match param {
            Param::Rfc2231(attr, v) => {
                groups.extend(rfc2231_sections(attr, v).into_iter().map(|s| vec![s]))
            }
            Param::Rfc2047(attr, v) => groups.push(rfc2047_param_tokens(attr, v)),
        }
    }
    let mut w = HeaderWriter::new(out, name, field);
    let last_group = groups.len() - 1;
    for (gi, group) in groups.iter().enumerate() {
        let last_token = group.len().saturating_sub(1);
        for (ti, token) in group.iter().enumerate() {
            if ti == last_token && gi < last_group {
                w.token(" ", &format!("{token};"));
            } else {
                w.token(" ", token);
            }
        }
    }
    w.finish()
}

fn quote(value: &str) -> String {
    let mut q = String::with_capacity(value.len() + 2);
    q.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// The sections of an RFC 2231 parameter, each a whole `attr...=value`.
fn rfc2231_sections(attr: &str, value: &str) -> Vec<String> {
    if !value.is_empty() && value.len() <= PARAM_SECTION && value.chars().all(is_token_char) {
        return vec![format!("{attr}={value}")];
    }
    if value.chars().all(|c| matches!(c, ' '..='~')) && value.len() <= PARAM_SECTION {
        return vec![format!("{attr}={}", quote(value))];
    }
    // Percent-encode, split into sections between characters.
    let mut sections: Vec<String> = vec![String::new()];
    for c in value.chars() {
        let mut buf = [0u8; 4];
        let mut enc = String::new();
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            if is_attr_char(b) {
                enc.push(b as char);
            } else {
                enc.push_str(&format!("%{b:02X}"));
            }
        }
        let last = sections.len() - 1;
        if !sections[last].is_empty() && sections[last].len() + enc.len() > PARAM_SECTION {
            sections.push(enc);
        } else {
            sections[last].push_str(&enc);
        }
    }
    if sections.len() == 1 {
        return vec![format!("{attr}*=utf-8''{}", sections[0])];
    }
    sections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i == 0 {
                format!("{attr}*0*=utf-8''{s}")
            } else {
                format!("{attr}*{i}*={s}")
            }
        })
        .collect()
}

/// Tokens of `attr="..."`: one, or for non-ASCII text the encoded words
/// of the value, the first with `attr="` and the last with the closing quote
/// (folding between them is whitespace inside the quoted string, which
/// decoders drop between encoded words).
fn rfc2047_param_tokens(attr: &str, value: &str) -> Vec<String> {
    let printable = value.chars().all(|c| matches!(c, ' '..='~'));
    if printable && !value.contains("=?") && value.len() <= PARAM_SECTION {
        return vec![format!("{attr}={}", quote(value))];
    }
    let first = MAX_ENCODED_WORD.saturating_sub(attr.len() + 3);
    let mut words = encoded_words(value, first, MAX_ENCODED_WORD);
    if let Some(w) = words.first_mut() {
        *w = format!("{attr}=\"{w}");
    }
    if let Some(w) = words.last_mut() {
        w.push('"');
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unstructured(value: &str) -> String {
        let mut out = Vec::new();
        write_unstructured(&mut out, "Subject", value, "subject").unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Unfolds a header and decodes its encoded words.
    fn round_trip(header: &str) -> String {
        let unfolded = header.trim_end_matches("\r\n").replace("\r\n", "");
        let value = unfolded.split_once(": ").unwrap().1;
        decode_encoded_words(value).into_owned()
    }

    fn assert_lines(header: &str, max: usize) {
        for line in header.split("\r\n") {
            assert!(
                line.len() <= max,
                "line of {} > {max}: {line:?}",
                line.len()
            );
        }
    }

    #[test]
    fn ascii_subject_is_kept() {
        assert_eq!(unstructured("Hello world"), "Subject: Hello world\r\n");
    }

    #[test]
    fn long_ascii_subject_folds_at_whitespace() {
        let s = "word ".repeat(60);
        let h = unstructured(s.trim());
        assert_lines(&h, FOLD_AT);
        assert!(h.matches("\r\n").count() > 3);
        assert_eq!(round_trip(&h), s.trim());
    }

    #[test]
    fn chinese_cyrillic_and_emoji_round_trip() {
        for s in [
            "你好，世界！这是一个很长的中文主题，用来测试编码字的分割是否总在字符边界上进行，绝不拆开一个UTF-8序列。",
            "Привет, мир! Это длинная тема письма на русском языке для проверки переноса строк.",
            "🎉🎉🎉 party 🎉 time 👩‍👩‍👧‍👦 family ❤️",
            "Re: 会议 notes — café",
            "ü",
        ] {
            let h = unstructured(s);
            assert!(h.is_ascii(), "{h}");
            assert_lines(&h, FOLD_AT);
            assert_eq!(round_trip(&h), s, "{h}");
            for word in h.split([' ', '\r', '\n']).filter(|w| w.starts_with("=?")) {
                assert!(word.len() <= MAX_ENCODED_WORD, "{word}");
                // Each word decodes to valid UTF-8 by itself: no split sequence.
                assert!(decode_word(word).map(String::from_utf8).unwrap().is_ok());
            }
        }
    }

    #[test]
    fn very_long_subjects() {
        let s = "中文".repeat(2000);
        let h = unstructured(&s);
        assert_lines(&h, FOLD_AT);
        assert_eq!(round_trip(&h), s);
        let long_word = "x".repeat(5000);
        let h = unstructured(&long_word);
        assert_lines(&h, MAX_LINE);
        assert_lines(&h, FOLD_AT);
        assert_eq!(round_trip(&h), long_word);
        let medium = format!("see {}", "y".repeat(500));
        let h = unstructured(&medium);
        assert_lines(&h, MAX_LINE);
        assert_eq!(round_trip(&h), medium);
    }

    #[test]
    fn b_or_q_whichever_is_shorter() {
        assert!(unstructured("Bemerkungen-für-Lieferanten").contains("?Q?"));
        assert!(unstructured("你好你好").contains("?B?"));
    }

    #[test]
    fn literal_encoded_word_lookalike_is_protected() {
        let s = "about =?x?= syntax";
        let h = unstructured(s);
        assert_eq!(round_trip(&h), s);
    }

    #[test]
    fn whitespace_between_plain_and_encoded_words() {
        let s = "a  ü  b ü ü c";
        assert_eq!(round_trip(&unstructured(s)), s);
    }

    #[test]
    fn injection_is_refused() {
        for evil in ["a\r\nBcc: x@y", "a\nb", "a\rb", "a\0b", "a\x0bb", "\r\n"] {
            let mut out = Vec::new();
            let err = write_unstructured(&mut out, "Subject", evil, "subject").unwrap_err();
            assert!(matches!(
                err,
                Error::InvalidInput {
                    field: "subject",
                    ..
                }
            ));
            assert!(out.is_empty());
        }
        assert!(check_header_text("tab\tok", "x").is_ok());
    }

    #[test]
    fn header_names() {
        for ok in ["X-Mailer", "List-Unsubscribe", "x!#"] {
            check_header_name(ok).unwrap();
        }
        for bad in [
            "",
            "X Mailer",
            "X:Y",
            "X\r\nY",
            "X\nY",
            "X\0",
            "Ü",
            &"x".repeat(77),
        ] {
            assert!(check_header_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn phrases() {
        assert!(matches!(phrase("John Doe"), Phrase::Plain(v) if v == ["John", "Doe"]));
        assert!(matches!(phrase("Doe, John"), Phrase::Plain(v) if v == ["\"Doe, John\""]));
        assert!(matches!(phrase("a \"q\" \\"), Phrase::Plain(v) if v == ["\"a \\\"q\\\" \\\\\""]));
        assert!(matches!(phrase("Jürgen"), Phrase::Encoded(_)));
        assert!(matches!(phrase("=?utf-8?q?x?="), Phrase::Encoded(_)));
    }

    #[test]
    fn rfc2231_parameters() {
        let mut out = Vec::new();
        let name = "报告-2024年度财务数据汇总表格最终版本（机密）.xlsx";
        write_params(
            &mut out,
            "Content-Disposition",
            "attachment",
            &[Param::Rfc2231("filename", name)],
            "x",
        )
        .unwrap();
        let h = String::from_utf8(out).unwrap();
        assert_lines(&h, FOLD_AT);
        assert!(h.contains("filename*0*=utf-8''"), "{h}");
        // Reassemble the sections and decode.
        let unfolded = h.replace("\r\n", "");
        let mut value = String::new();
        for part in unfolded.split("; ").skip(1) {
            let v = part.trim().trim_end_matches(';');
            let v = v.split_once('=').unwrap().1;
            value.push_str(v.strip_prefix("utf-8''").unwrap_or(v));
        }
        let decoded = percent_encoding::percent_decode_str(&value)
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, name);

        let mut out = Vec::new();
        write_params(
            &mut out,
            "Content-Type",
            "text/plain",
            &[
                Param::Rfc2231("charset", "utf-8"),
                Param::Rfc2231("name", "a b.txt"),
            ],
            "x",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Content-Type: text/plain; charset=utf-8; name=\"a b.txt\"\r\n"
        );
    }

    #[test]
    fn rfc2047_parameter_fallback() {
        let mut out = Vec::new();
        let name = "很长的中文文件名用于测试参数里的编码字分割和折行是否正确处理.pdf";
        write_params(
            &mut out,
            "Content-Type",
            "application/pdf",
            &[Param::Rfc2047("name", name)],
            "x",
        )
        .unwrap();
        let h = String::from_utf8(out).unwrap();
        assert_lines(&h, FOLD_AT);
        let unfolded = h.trim_end().replace("\r\n", "");
        let quoted = unfolded
            .split_once("name=\"")
            .unwrap()
            .1
            .trim_end_matches('"');
        assert_eq!(decode_encoded_words(quoted), name);
        assert!(!h.contains(";\r\n =?") && !h.contains("?=;"), "{h}");
    }

    #[test]
    fn decoder_leaves_unknown_charsets() {
        assert_eq!(
            decode_encoded_words("=?iso-8859-1?Q?caf=E9?="),
            "=?iso-8859-1?Q?caf=E9?="
        );
        assert_eq!(decode_encoded_words("=?utf-8?Q?caf=C3=A9?= x"), "café x");
        assert_eq!(
            decode_encoded_words("=?utf-8?B?5L2g?= =?utf-8?B?5aW9?="),
            "你好"
        );
        assert_eq!(
            decode_encoded_words("=?utf-8?Q?bad=ZZ?="),
            "=?utf-8?Q?bad=ZZ?="
        );
    }
}
