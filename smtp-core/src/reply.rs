//! Server replies (RFC 5321 4.2): a three-digit code, optional RFC 3463
//! enhanced status code, and one or more text lines.

use std::borrow::Cow;
use std::fmt;

/// Longest reply line accepted, CRLF included. RFC 5321 allows 512; real
/// servers send more, so we allow 8 KiB and fail beyond it.
pub const MAX_LINE_LEN: usize = 8 * 1024;

/// Most lines accepted in one reply; a server that never ends a multi-line
/// reply must not make us grow memory without bound.
pub const MAX_REPLY_LINES: usize = 100;

/// An RFC 3463 enhanced status code such as `5.7.8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// Class: 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// Subject, e.g. 7 for security or policy status.
    pub subject: u16,
    /// Detail within the subject.
    pub detail: u16,
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl EnhancedCode {
    /// Parses `class.subject.detail` at the start of `text`, followed by a
    /// space or the end. Returns the code and the rest of the text.
    fn parse_prefix(text: &str) -> Option<(EnhancedCode, &str)> {
        let end = text.find(' ').unwrap_or(text.len());
        let mut parts = text[..end].split('.');
        let class = parts.next()?;
        let subject = parts.next()?;
        let detail = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let digits = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        };
        if class.len() != 1 || !matches!(class, "2" | "4" | "5") {
            return None;
        }
        if !digits(subject, 3) || !digits(detail, 3) {
            return None;
        }
        let code = EnhancedCode {
            class: class.parse().ok()?,
            subject: subject.parse().ok()?,
            detail: detail.parse().ok()?,
        };
        let rest = text[end..].strip_prefix(' ').unwrap_or(&text[end..]);
        Some((code, rest))
    }
}

/// A complete reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    enhanced: Option<EnhancedCode>,
    lines: Vec<String>,
}

impl Reply {
    /// Builds a reply from its parts (used by tests and by callers that
    /// synthesise replies).
    pub fn new(code: u16, enhanced: Option<EnhancedCode>, lines: Vec<String>) -> Reply {
        Reply {
            code,
            enhanced,
            lines,
        }
    }

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code, when the server sent one.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text of each line, without the code, the separator and the enhanced code.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The text of all lines joined with a space.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// The first line's text (for a `334` challenge this is the base64 payload).
    pub fn first_line(&self) -> &str {
        self.lines.first().map(String::as_str).unwrap_or("")
    }

    /// 2xx: the command succeeded.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx: the server waits for more (354 after DATA, 334 during AUTH).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx: a temporary failure; trying later may work.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: a permanent failure.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(enhanced) = self.enhanced {
            write!(f, " {enhanced}")?;
        }
        let text = self.text();
        if !text.is_empty() {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

/// Why a reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// A line did not start with a valid three-digit code.
    BadLine(String),
    /// A continuation line carried a different code from the first line.
    MixedCodes {
        /// The code of the first line.
        first: u16,
        /// The differing code.
        other: u16,
    },
    /// More than [`MAX_REPLY_LINES`] lines.
    TooManyLines,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::BadLine(line) => write!(f, "malformed reply line {line:?}"),
            ReplyError::MixedCodes { first, other } => {
                write!(f, "multi-line reply mixes codes {first} and {other}")
            }
            ReplyError::TooManyLines => {
                write!(f, "reply has more than {MAX_REPLY_LINES} lines")
            }
        }
    }
}

/// Builds a [`Reply`] from lines fed one at a time, so the reader never has
/// to hold more than one line plus the lines already accepted.
#[derive(Debug, Default)]
pub struct ReplyBuilder {
    code: Option<u16>,
    enhanced: Option<EnhancedCode>,
    lines: Vec<String>,
}

impl ReplyBuilder {
    /// A builder for a new reply.
    pub fn new() -> ReplyBuilder {
        ReplyBuilder::default()
    }

    /// Feeds one line without its line ending. Returns `Some(reply)` when
    /// this line ends the reply.
    pub fn push_line(&mut self, raw: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let shown = || String::from_utf8_lossy(&raw[..raw.len().min(80)]).into_owned();
        if raw.len() < 3 || !raw[..3].iter().all(u8::is_ascii_digit) {
            return Err(ReplyError::BadLine(shown()));
        }
        if !(b'2'..=b'5').contains(&raw[0]) || raw[1] > b'5' {
            return Err(ReplyError::BadLine(shown()));
        }
        let code = u16::from(raw[0] - b'0') * 100
            + u16::from(raw[1] - b'0') * 10
            + u16::from(raw[2] - b'0');
        let (last, text) = match raw.get(3) {
            None => (true, &raw[3..3]),
            Some(b' ') => (true, &raw[4..]),
            Some(b'-') => (false, &raw[4..]),
            Some(_) => return Err(ReplyError::BadLine(shown())),
        };
        match self.code {
            Some(first) if first != code => {
                return Err(ReplyError::MixedCodes { first, other: code })
            }
            _ => self.code = Some(code),
        }
        if self.lines.len() >= MAX_REPLY_LINES {
            return Err(ReplyError::TooManyLines);
        }
        let text = String::from_utf8_lossy(text);
        let class = raw[0] - b'0';
        // RFC 2034: every line of the reply carries the enhanced code; we keep
        // the first one and strip it from each line's text.
        let text = match EnhancedCode::parse_prefix(&text) {
            Some((enhanced, rest)) if enhanced.class == class => {
                if self.enhanced.is_none() {
                    self.enhanced = Some(enhanced);
                }
                rest.to_string()
            }
            _ => text.into_owned(),
        };
        self.lines.push(without_controls(text));
        if last {
            let reply = Reply {
                code,
                enhanced: self.enhanced.take(),
                lines: std::mem::take(&mut self.lines),
            };
            self.code = None;
            Ok(Some(reply))
        } else {
            Ok(None)
        }
    }
}

/// A reply's text with every control character but tab replaced by
/// U+FFFD: the text reaches error messages, logs and terminals, where a
/// hostile server's escape sequences or bare CRs must not act.
fn without_controls(text: String) -> String {
    match replace_controls(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(replaced) => replaced,
    }
}

/// `text` with every control character but tab replaced by U+FFFD,
/// borrowed when there is none (the transcript shows server lines this way).
pub(crate) fn replace_controls(text: &str) -> Cow<'_, str> {
    let is_replaced = |c: char| c.is_control() && c != '\t';
    if text.chars().any(is_replaced) {
        Cow::Owned(
            text.chars()
                .map(|c| if is_replaced(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// Parses a complete reply held in memory (lines separated by CRLF or LF).
/// Returns an error if the text does not hold exactly one complete reply.
pub fn parse_reply(text: &[u8]) -> Result<Reply, ReplyError> {
    let mut builder = ReplyBuilder::new();
    let mut lines = text.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() && lines.peek().is_none() {
            break;
        }
        if let Some(reply) = builder.push_line(line)? {
            let rest_empty = lines.all(|l| l.is_empty() || l == b"\r");
            return if rest_empty {
                Ok(reply)
            } else {
                Err(ReplyError::BadLine("data after the last reply line".into()))
            };
        }
    }
    Err(ReplyError::BadLine(
        "reply ended before its last line".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_reply_text_are_replaced() {
        let reply =
            parse_reply(b"550-5.1.1 bad\x1b[2J\x07 user\r\n550 5.1.1 tab\there\rCR\x00\r\n")
                .unwrap();
        assert_eq!(
            reply.lines(),
            ["bad\u{FFFD}[2J\u{FFFD} user", "tab\there\u{FFFD}CR\u{FFFD}"]
        );
        assert!(!reply
            .to_string()
            .chars()
            .any(|c| c.is_control() && c != '\t'));
    }

    #[test]
    fn single_line() {
        let r = parse_reply(b"250 OK\r\n").unwrap();
        assert_eq!(r.code(), 250);
        assert_eq!(r.lines(), ["OK"]);
        assert!(r.is_positive());
        assert_eq!(r.enhanced(), None);
    }

    #[test]
    fn bare_code_line() {
        let r = parse_reply(b"250\r\n").unwrap();
        assert_eq!(r.code(), 250);
        assert_eq!(r.lines(), [""]);
    }

    #[test]
    fn multi_line_with_enhanced_codes() {
        let r = parse_reply(b"550-5.1.1 No such user\r\n550 5.1.1 here\r\n").unwrap();
        assert_eq!(r.code(), 550);
        assert_eq!(
            r.enhanced(),
            Some(EnhancedCode {
                class: 5,
                subject: 1,
                detail: 1
            })
        );
        assert_eq!(r.lines(), ["No such user", "here"]);
        assert_eq!(r.to_string(), "550 5.1.1 No such user here");
        assert!(r.is_permanent());
    }

    #[test]
    fn enhanced_code_class_must_match() {
        let r = parse_reply(b"250 5.1.1 odd\r\n").unwrap();
        assert_eq!(r.enhanced(), None);
        assert_eq!(r.lines(), ["5.1.1 odd"]);
    }

    #[test]
    fn enhanced_code_shapes() {
        assert!(EnhancedCode::parse_prefix("2.0.0").is_some());
        assert!(EnhancedCode::parse_prefix("4.123.456 x").is_some());
        assert!(EnhancedCode::parse_prefix("4.1234.4 x").is_none());
        assert!(EnhancedCode::parse_prefix("3.1.1").is_none());
        assert!(EnhancedCode::parse_prefix("2.0").is_none());
        assert!(EnhancedCode::parse_prefix("2.0.0.0").is_none());
        assert!(EnhancedCode::parse_prefix("2..0").is_none());
    }

    #[test]
    fn lf_only_lines_are_accepted() {
        let r = parse_reply(b"220-a\n220 b\n").unwrap();
        assert_eq!(r.lines(), ["a", "b"]);
    }

    #[test]
    fn mixed_codes_are_an_error() {
        assert_eq!(
            parse_reply(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::MixedCodes {
                first: 250,
                other: 251
            })
        );
    }

    #[test]
    fn malformed_lines() {
        for bad in [
            &b"25\r\n"[..],
            b"abc def\r\n",
            b"250xOK\r\n",
            b"650 no\r\n",
            b"160 no\r\n",
            b"2a0 x\r\n",
            b"\r\n",
        ] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn incomplete_reply() {
        assert!(parse_reply(b"250-a\r\n").is_err());
        assert!(parse_reply(b"250 a\r\n250 b\r\n").is_err());
    }

    #[test]
    fn too_many_lines() {
        let mut b = ReplyBuilder::new();
        for _ in 0..MAX_REPLY_LINES {
            assert_eq!(b.push_line(b"250-x"), Ok(None));
        }
        assert_eq!(b.push_line(b"250 x"), Err(ReplyError::TooManyLines));
    }

    #[test]
    fn builder_is_reusable() {
        let mut b = ReplyBuilder::new();
        assert!(b.push_line(b"250 2.0.0 a").unwrap().is_some());
        let r = b.push_line(b"354 go ahead").unwrap().unwrap();
        assert_eq!(r.code(), 354);
        assert_eq!(r.enhanced(), None);
    }

    #[test]
    fn non_utf8_text_is_kept_lossily() {
        let r = parse_reply(b"250 caf\xe9\r\n").unwrap();
        assert_eq!(r.code(), 250);
        assert!(r.text().starts_with("caf"));
    }
}
