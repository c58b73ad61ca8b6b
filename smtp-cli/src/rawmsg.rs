//! The sendmail side: reading a message from standard input, taking its
//! header apart, adding the headers sendmail adds (`From`, `Date`,
//! `Message-ID`), removing `Bcc`, and finding recipients for `-t`.

use std::io::{self, BufRead};
use std::time::SystemTime;

use smtp_core::{envelope_from_headers, Mailbox, Message};

use crate::exit::{one_line, Failure};

/// Reads the message. Without `ignore_dots` (sendmail without `-i`), a
/// line holding a single `.` ends the message and is not part of it;
/// other lines are kept as they are (no dot-unstuffing, as sendmail does
/// outside SMTP mode).
pub fn read_message(input: &mut dyn BufRead, ignore_dots: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if ignore_dots {
        input.read_to_end(&mut out)?;
        return Ok(out);
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(out);
        }
        if matches!(line.as_slice(), b".\n" | b".\r\n" | b".") {
            return Ok(out);
        }
        out.extend_from_slice(&line);
    }
}

/// One header field: its name and its byte range (continuation lines and
/// the final CRLF included).
#[derive(Debug, Clone)]
struct Field {
    name: String,
    start: usize,
    end: usize,
}

/// A message with CRLF line endings, its header fields located.
#[derive(Debug)]
pub struct RawMessage {
    bytes: Vec<u8>,
    /// Where the header fields start (after a leading mbox `From ` line).
    head_start: usize,
    /// Where the header fields end.
    head_end: usize,
    /// Where the body starts (after the empty line, if there was one).
    body_start: usize,
    fields: Vec<Field>,
}

/// The field name of a header line (`Name:` with printable ASCII and no
/// blank before the colon), or `None` when the line is not a header field.
fn field_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let trimmed_len = name
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |p| p + 1);
    let name = &name[..trimmed_len];
    if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
        return None;
    }
    std::str::from_utf8(name).ok()
}

impl RawMessage {
    /// Locates the header fields of a message whose line endings are
    /// already CRLF (`BdatNormalizer::encode_all`). The header ends at the
    /// first empty line, or at the first line that is not a header field
    /// (then that line starts the body, and an empty line is inserted when
    /// the message is written, as sendmail does). A leading mbox `From `
    /// line is dropped.
    pub fn parse(bytes: Vec<u8>) -> RawMessage {
        let line_end = |from: usize| -> usize {
            bytes[from..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(bytes.len(), |p| from + p + 2)
        };
        let mut pos = 0;
        if bytes.starts_with(b"From ") {
            pos = line_end(0);
        }
        let head_start = pos;
        let mut fields: Vec<Field> = Vec::new();
        let (head_end, body_start) = loop {
            if pos >= bytes.len() {
                break (pos, pos);
            }
            let end = line_end(pos);
            let line = bytes[pos..end]
                .strip_suffix(b"\r\n")
                .unwrap_or(&bytes[pos..end]);
            if line.is_empty() {
                break (pos, end);
            }
            if matches!(line[0], b' ' | b'\t') {
                if let Some(last) = fields.last_mut() {
                    last.end = end;
                    pos = end;
                    continue;
                }
                break (pos, pos);
            }
            match field_name(line) {
                Some(name) => {
                    fields.push(Field {
                        name: name.to_string(),
                        start: pos,
                        end,
                    });
                    pos = end;
                }
                None => break (pos, pos),
            }
        };
        RawMessage {
            bytes,
            head_start,
            head_end,
            body_start,
            fields,
        }
    }

    /// True when a field with this name (any case) is present.
    pub fn has(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The unfolded value of the first field with this name.
    pub fn value(&self, name: &str) -> Option<String> {
        let field = self
            .fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))?;
        let raw = &self.bytes[field.start..field.end];
        let colon = raw.iter().position(|&b| b == b':')?;
        let unfolded: Vec<u8> = raw[colon + 1..]
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        Some(String::from_utf8_lossy(&unfolded).trim().to_string())
    }

    /// The first address of the `Sender:`, else the `From:` header, when
    /// it can be parsed.
    pub fn author_address(&self) -> Option<Mailbox> {
        ["sender", "from"].iter().find_map(|name| {
            let value = self.value(name)?;
            Mailbox::parse_list(&value).ok()?.into_iter().next()
        })
    }

    /// Recipients from every `To:`, `Cc:` and `Bcc:` field, without
    /// duplicates (groups understood; `undisclosed-recipients:;` gives none).
    pub fn header_recipients(&self) -> Result<Vec<String>, Failure> {
        let mut block = b"From: <nobody@localhost>\r\n".to_vec();
        let mut any_at = false;
        for field in &self.fields {
            if ["to", "cc", "bcc"]
                .iter()
                .any(|n| field.name.eq_ignore_ascii_case(n))
            {
                let raw = &self.bytes[field.start..field.end];
                any_at |= raw.contains(&b'@');
                block.extend_from_slice(raw);
            }
        }
        block.extend_from_slice(b"\r\n");
        if !any_at {
            return Ok(Vec::new());
        }
        // The library's parser (folding, groups, quoting, duplicates); the
        // From line above only satisfies its need for a sender.
        envelope_from_headers(&block)
            .map(|envelope| envelope.to().to_vec())
            .map_err(|e| Failure::data(format!("bad recipient header: {e}")))
    }

    /// The message to send: `Bcc:` fields removed, `added` fields appended
    /// to the header, an empty line between header and body.
    pub fn assemble(&self, added: &[String]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 256);
        let mut pos = self.head_start;
        for field in &self.fields {
            if field.name.eq_ignore_ascii_case("bcc") {
                out.extend_from_slice(&self.bytes[pos..field.start]);
                pos = field.end;
            }
        }
        out.extend_from_slice(&self.bytes[pos..self.head_end]);
        for line in added {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.bytes[self.body_start..]);
        out
    }
}

/// Where the lines of an assembled message (see [`RawMessage::assemble`])
/// came from in the message as read, so that an error about "line N of
/// the message" can name the line the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMap {
    /// The input line of each header line kept (`Bcc` removed).
    head: Vec<u64>,
    /// How many header lines were added after them.
    added: u64,
    /// The input line of the empty line after the header, if it had one.
    separator: Option<u64>,
    /// The input line of the body's first line.
    body: u64,
}

impl LineMap {
    /// The input line of line `sent` (from 1) of the assembled message;
    /// `None` for a line that was added.
    pub fn input_line(&self, sent: u64) -> Option<u64> {
        let index = sent.checked_sub(1)?;
        let head = self.head.len() as u64;
        if index < head {
            return usize::try_from(index).ok().map(|i| self.head[i]);
        }
        let index = index - head;
        if index < self.added {
            return None;
        }
        match index - self.added {
            0 => self.separator,
            n => Some(self.body + n - 1),
        }
    }

    /// Rewrites the library's "line N of the message ..." refusal of a
    /// long line so that N is the line as read; any other error, or a line
    /// that was added, is left as it is.
    pub fn renumber(&self, error: smtp_core::Error) -> smtp_core::Error {
        let smtp_core::Error::InvalidInput { field, reason } = &error else {
            return error;
        };
        let Some(rest) = reason.strip_prefix("line ") else {
            return error;
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &rest[digits..];
        let number = rest[..digits].parse::<u64>().ok();
        match number.and_then(|n| self.input_line(n)) {
            Some(line) if *field == "message" && tail.starts_with(" of the message ") => {
                smtp_core::Error::InvalidInput {
                    field,
                    reason: format!("line {line}{tail}"),
                }
            }
            _ => error,
        }
    }
}

impl RawMessage {
    /// Where each line of `assemble(added)`'s result comes from.
    pub fn line_map(&self, added: &[String]) -> LineMap {
        let mut line = 1 + self.bytes[..self.head_start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        let mut head = Vec::new();
        let mut pos = self.head_start;
        let mut fields = self.fields.iter().peekable();
        while pos < self.head_end {
            while fields.next_if(|f| f.end <= pos).is_some() {}
            let end = self.bytes[pos..self.head_end]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.head_end, |p| pos + p + 1);
            let in_bcc = fields
                .peek()
                .is_some_and(|f| f.start <= pos && f.name.eq_ignore_ascii_case("bcc"));
            if !in_bcc {
                head.push(line);
            }
            line += 1;
            pos = end;
        }
        let separator = (self.body_start > self.head_end).then_some(line);
        let body = separator.map_or(line, |l| l + 1);
        LineMap {
            head,
            added: added
                .iter()
                .map(|field| 1 + field.matches('\n').count() as u64)
                .sum(),
            separator,
            body,
        }
    }
}

/// The header fields sendmail adds when they are missing: `From:` (from
/// `author`), `Date:` and `Message-ID:` (at the domain of the message's
/// author, else of `author`).
pub fn missing_headers(
    message: &RawMessage,
    author: &Mailbox,
    now: SystemTime,
) -> Result<Vec<String>, Failure> {
    let mut added = Vec::new();
    if !message.has("from") {
        added.push(format!("From: {}", format_mailbox(author)?));
    }
    if !message.has("date") {
        added.push(format!("Date: {}", smtp_core::message::format_date(now)));
    }
    if !message.has("message-id") {
        let domain_of = message
            .author_address()
            .map(|m| m.address)
            .into_iter()
            .chain(std::iter::once(author.address.clone()));
        let id = domain_of
            .filter_map(|address| {
                let domain = address.rsplit_once('@')?.1.to_string();
                let mut m = Message::new();
                m.from(&format!("x@{domain}")).ok()?;
                m.current_message_id().ok()
            })
            .next()
            .ok_or_else(|| {
                Failure::data(format!(
                    "cannot make a Message-ID: no usable domain in {:?}",
                    author.address
                ))
            })?;
        added.push(format!("Message-ID: {id}"));
    }
    Ok(added)
}

/// `Name <address>` or `address`, the name quoted or RFC 2047 encoded as
/// needed.
pub fn format_mailbox(mailbox: &Mailbox) -> Result<String, Failure> {
    if mailbox.address.bytes().any(|b| b.is_ascii_control()) {
        return Err(Failure::data("an address holds a control character"));
    }
    match mailbox.name.as_deref().map(str::trim) {
        None | Some("") => Ok(mailbox.address.clone()),
        Some(name) => Ok(format!("{} <{}>", encode_phrase(name)?, mailbox.address)),
    }
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// A display name as an RFC 5322 phrase: atoms as they are, other ASCII
/// quoted, anything else as UTF-8 encoded words.
pub fn encode_phrase(name: &str) -> Result<String, Failure> {
    if name.chars().any(char::is_control) {
        return Err(Failure::data(format!(
            "the name {:?} holds a control character",
            one_line(name)
        )));
    }
    if name
        .split(' ')
        .all(|w| !w.is_empty() && w.chars().all(is_atext))
    {
        return Ok(name.to_string());
    }
    if name.is_ascii() && !name.contains("=?") {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        return Ok(format!("\"{escaped}\""));
    }
    // Encoded words of at most 45 bytes of text (60 of base64), split
    // between characters, folded onto separate lines.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in name.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    Ok(words.join("\r\n "))
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An envelope address as given to `-f` or on the command line:
/// `addr`, `<addr>`, `Name <addr>`; `""` and `<>` are the null sender.
pub fn bare_address(input: &str) -> Result<String, Failure> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed == "<>" {
        return Ok(String::new());
    }
    if trimmed.contains('<') || trimmed.contains('"') || trimmed.contains('(') {
        return Mailbox::parse(trimmed)
            .map(|m| m.address)
            .map_err(|e| Failure::data(format!("bad address {trimmed:?}: {e}")));
    }
    Ok(trimmed.to_string())
}

/// The address as it goes into the envelope: an internationalised domain
/// in its ASCII (IDNA) form when the local part is ASCII.
pub fn wire_address(address: &str) -> Result<String, Failure> {
    match address.rsplit_once('@') {
        Some((local, domain)) if local.is_ascii() && !domain.is_ascii() => {
            let ascii = smtp_core::message::domain_to_ascii(domain)
                .map_err(|e| Failure::data(format!("bad domain in {address:?}: {e}")))?;
            Ok(format!("{local}@{ascii}"))
        }
        _ => Ok(address.to_string()),
    }
}

/// Recipients given as arguments: each may be a comma-separated list.
pub fn argument_recipients(args: &[String]) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for arg in args {
        let list = Mailbox::parse_list(arg)
            .map_err(|e| Failure::data(format!("bad recipient {:?}: {e}", one_line(arg))))?;
        out.extend(list.into_iter().map(|m| m.address));
    }
    Ok(out)
}

/// Appends `more` to `list`, skipping addresses already there (any case).
pub fn merge_unique(list: &mut Vec<String>, more: Vec<String>) {
    for address in more {
        if !list.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
            list.push(address);
        }
    }
}

#[cfg(test)]
mod tests {
    use smtp_core::data::BdatNormalizer;

    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn read(input: &[u8], ignore_dots: bool) -> Vec<u8> {
        read_message(&mut &input[..], ignore_dots).unwrap()
    }

    #[test]
    fn lone_dot() {
        let input = b"a\n..b\n.\nafter\n";
        assert_eq!(read(input, false), b"a\n..b\n");
        assert_eq!(read(input, true), input);
        assert_eq!(read(b"a\r\n.\r\nb", false), b"a\r\n");
        assert_eq!(read(b"a\n.", false), b"a\n");
        assert_eq!(read(b"a\n. \n", false), b"a\n. \n");
    }

    #[test]
    fn line_endings_as_the_cli_relies_on() {
        assert_eq!(
            BdatNormalizer::encode_all(b"a\nb\r\nc\rd"),
            b"a\r\nb\r\nc\r\nd\r\n"
        );
        assert_eq!(BdatNormalizer::encode_all(b""), b"");
        assert_eq!(BdatNormalizer::encode_all(b"\r\r\n"), b"\r\n\r\n");
    }

    fn parse(text: &str) -> RawMessage {
        RawMessage::parse(BdatNormalizer::encode_all(text.as_bytes()))
    }

    #[test]
    fn header_parsing_and_assembly() {
        let m = parse("From me@x.example Mon Jan  1 00:00:00 2024\nTo: a@x.example,\n b@x.example\nBcc: hidden@x.example\nSubject: hi\n\nbody\nBcc: kept\n");
        assert!(m.has("TO") && m.has("bcc") && !m.has("date"));
        assert_eq!(m.value("to").unwrap(), "a@x.example, b@x.example");
        assert_eq!(
            m.header_recipients().unwrap(),
            ["a@x.example", "b@x.example", "hidden@x.example"]
        );
        let out = String::from_utf8(m.assemble(&["Date: now".into()])).unwrap();
        assert_eq!(
            out,
            "To: a@x.example,\r\n b@x.example\r\nSubject: hi\r\nDate: now\r\n\r\nbody\r\nBcc: kept\r\n"
        );

        // No empty line: the first non-header line starts the body.
        let m = parse("Subject: x\nthis is body\n");
        assert_eq!(m.assemble(&[]), b"Subject: x\r\n\r\nthis is body\r\n");
        // No header at all.
        let m = parse("just text\n");
        assert_eq!(
            m.assemble(&["From: a@b".into()]),
            b"From: a@b\r\n\r\njust text\r\n"
        );
        // Empty message.
        assert_eq!(parse("").assemble(&["X: y".into()]), b"X: y\r\n\r\n");
        // A group with nobody in it.
        let m = parse("To: undisclosed-recipients:;\n\nb\n");
        assert!(m.header_recipients().unwrap().is_empty());
        let m = parse("To: <broken@x.example\n\nb\n");
        assert!(m.header_recipients().is_err());
    }

    #[test]
    fn line_numbers_of_the_input() {
        // 1 mbox line, 2-3 To, 4 Bcc, 5 Subject, 6 empty, 7 body, 8 long.
        let m = parse("From me Mon\nTo: a@x.example,\n b@x.example\nBcc: h@x.example\nSubject: s\n\nbody\nlong\n");
        let out = String::from_utf8(m.assemble(&["Date: now".into(), "X: y".into()])).unwrap();
        let sent: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(sent[6], "body");
        let map = m.line_map(&["Date: now".into(), "X: y".into()]);
        let input: Vec<Option<u64>> = (1..=8).map(|n| map.input_line(n)).collect();
        assert_eq!(
            input,
            [
                Some(2),
                Some(3),
                Some(5),
                None,
                None,
                Some(6),
                Some(7),
                Some(8)
            ]
        );
        assert_eq!(map.input_line(0), None);
        // No empty line after the header: one is inserted.
        let m = parse("Subject: x\nbody\nlong\n");
        let map = m.line_map(&["From: a\r\n folded".into()]);
        let input: Vec<Option<u64>> = (1..=5).map(|n| map.input_line(n)).collect();
        assert_eq!(input, [Some(1), None, None, None, Some(2)]);
        // The library's refusal, renumbered; anything else kept.
        let refusal = |reason: &str| smtp_core::Error::InvalidInput {
            field: "message",
            reason: reason.into(),
        };
        let e = map.renumber(refusal(
            "line 6 of the message is longer than 998 octets and it cannot be folded",
        ));
        assert_eq!(
            e.to_string(),
            "invalid message: line 3 of the message is longer than 998 octets and it cannot be folded"
        );
        let e = map.renumber(refusal("line 2 of the message is longer"));
        assert_eq!(
            e.to_string(),
            "invalid message: line 2 of the message is longer"
        );
        let e = map.renumber(refusal("linear"));
        assert_eq!(e.to_string(), "invalid message: linear");
    }

    #[test]
    fn added_headers() {
        let author = Mailbox {
            name: Some("Zoë Ünïcode".into()),
            address: "zoe@x.example".into(),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let m = parse("To: a@y.example\n\nbody\n");
        let added = missing_headers(&m, &author, now).unwrap();
        assert_eq!(
            added[0],
            "From: =?UTF-8?B?Wm/DqyDDnG7Dr2NvZGU=?= <zoe@x.example>"
        );
        assert_eq!(added[1], "Date: Tue, 14 Nov 2023 22:13:20 +0000");
        assert!(added[2].starts_with("Message-ID: <") && added[2].ends_with("@x.example>"));

        let m = parse("From: Someone <s@other.example>\nDate: x\n\nbody\n");
        let added = missing_headers(&m, &author, now).unwrap();
        assert_eq!(added.len(), 1);
        assert!(added[0].ends_with("@other.example>"), "{}", added[0]);
    }

    #[test]
    fn phrases() {
        assert_eq!(encode_phrase("Cron Daemon").unwrap(), "Cron Daemon");
        assert_eq!(
            encode_phrase("Doe, J. \"x\"").unwrap(),
            "\"Doe, J. \\\"x\\\"\""
        );
        assert!(encode_phrase("a\nb").is_err());
        let long = "é".repeat(40);
        let encoded = encode_phrase(&long).unwrap();
        assert_eq!(encoded.matches("=?UTF-8?B?").count(), 2);
        assert!(encoded.lines().all(|l| l.len() < 78));
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(bare_address("<>").unwrap(), "");
        assert_eq!(bare_address(" <a@x.example> ").unwrap(), "a@x.example");
        assert_eq!(bare_address("Name <a@x.example>").unwrap(), "a@x.example");
        assert_eq!(
            wire_address("a@bücher.example").unwrap(),
            "a@xn--bcher-kva.example"
        );
        assert_eq!(
            argument_recipients(&["a@x.example, B <b@x.example>".into()]).unwrap(),
            ["a@x.example", "b@x.example"]
        );
        assert!(argument_recipients(&["nodomain".into()]).is_err());
        let mut list = vec!["a@x.example".to_string()];
        merge_unique(&mut list, vec!["A@X.example".into(), "b@x.example".into()]);
        assert_eq!(list, ["a@x.example", "b@x.example"]);
    }
}
