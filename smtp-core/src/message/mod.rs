//! Composing messages: RFC 5322 headers and MIME bodies, built as a
//! stream.
//!
//! A [`Message`] is a builder: each setter takes `&str`, bytes or a path,
//! checks its input at once (CR, LF and NUL are refused everywhere, so no
//! value can start a new header) and returns `Result<&mut Message>` so that
//! calls chain with `?`. Nothing is encoded until the message is sent:
//! [`Message::reader`] returns a [`MessageReader`] that produces the
//! message on the fly, reading file attachments block by block, so a
//! message with a 100 MB attachment costs a few hundred kilobytes of
//! memory beyond the attachment's file.
//!
//! ```no_run
//! use smtp_core::{Attachment, Client, Config, Message};
//!
//! # fn main() -> Result<(), smtp_core::Error> {
//! let mut message = Message::new();
//! message
//!     .from("Zoë Example <zoe@example.org>")?
//!     .to("bob@example.net, \"Doe, Jane\" <jane@example.net>")?
//!     .bcc("archive@example.org")?
//!     .subject("Quarterly report — 季度报告")?;
//! message
//!     .text("Hello,\nthe report is attached.\n")
//!     .html("<p>Hello,</p><p>the report is attached. <img src=\"cid:logo\"></p>");
//! message.attach_file("report.pdf")?;
//! message.inline("logo", Attachment::bytes(vec![0x89, b'P', b'N', b'G']).filename("logo.png"))?;
//!
//! let mut client = Client::connect(Config::from_url("smtp://user:secret@mail.example.org:587")?)?;
//! let report = client.send_message(&message)?;
//! println!("accepted: {}", report.reply);
//! # Ok(())
//! # }
//! ```
//!
//! What goes on the wire:
//!
//! * Headers: `Date` (now, UTC, unless set), `From`, `Sender`, `Reply-To`,
//!   `To`, `Cc`, `Subject`, `Message-ID` (random and time, at the sender's
//!   domain), `In-Reply-To`, `References`, custom headers,
//!   `List-Unsubscribe`, `List-Unsubscribe-Post` and `TLS-Required` (see
//!   [`Message::list_unsubscribe_one_click`]), `MIME-Version`.
//!   `Bcc` recipients are in the envelope only, never in a header. Lines
//!   are folded at 76 columns and never exceed 998 octets. Non-ASCII text
//!   in the subject, display names and custom headers becomes RFC 2047
//!   encoded words (UTF-8, B or Q, whichever is shorter, split between
//!   characters).
//! * Bodies: text alone is `text/plain`; HTML alone `text/html`; both a
//!   `multipart/alternative`; inline parts and the HTML are wrapped in
//!   `multipart/related`; attachments make a `multipart/mixed`. Each part
//!   gets the lightest transfer encoding that fits: 7bit, then 8bit (only
//!   with [`EncodeOptions::allow_8bit`]), then quoted-printable or base64,
//!   whichever is shorter; file attachments and binary data are always
//!   base64. Boundaries are random and checked against the 7bit and 8bit
//!   parts (quoted-printable and base64 output cannot contain them).
//! * Addresses: an internationalised domain is written in its IDNA ASCII
//!   form (`xn--...`) whenever the local part is ASCII; a UTF-8 local part
//!   needs a server with SMTPUTF8 ([`Error::Unsupported`] otherwise).

mod address;
mod attachment;
mod date;
mod delivery;
mod encode;
mod fit;
mod header;
pub(crate) mod raw;
mod reader;
mod unsubscribe;

#[cfg(test)]
mod tests;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::capabilities::Capabilities;
use crate::envelope::Envelope;
use crate::error::{Error, Result};

pub use address::Mailbox;
pub(crate) use address::{same_address, wire_address};
pub use attachment::{Attachment, MAX_FILENAME_CHARS};
pub(crate) use attachment::{ContentType, Part, Source};
pub(crate) use fit::long_line_error;
pub use fit::{LongLineError, LongLines};
pub use header::MAX_LINE;
pub use raw::{envelope_address, envelope_from_headers, RawMessage, RawOptions};
pub use reader::MessageReader;
pub use unsubscribe::MAX_UNSUBSCRIBE_URI;

// Helpers the command-line tool, the C ABI, the fuzz targets and the
// benchmarks use; public but not part of the documented API.
#[doc(hidden)]
pub use address::domain_to_ascii;
#[doc(hidden)]
pub use date::{format_date, format_iso8601};
#[doc(hidden)]
pub use encode::{base64_encoded_len, TransferEncoding};
#[doc(hidden)]
pub use fit::{LineFitter, HOLD_LIMIT};
#[doc(hidden)]
pub use header::{decode_encoded_words, FOLD_AT};
#[doc(hidden)]
pub use raw::{StripBcc, MAX_RAW_HEADER_BLOCK};

use header::check_header_text;

/// What the server can take, which decides how a message is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EncodeOptions {
    /// The server offers 8BITMIME: text parts with non-ASCII characters
    /// may go as `8bit` (then the envelope says `BODY=8BITMIME`).
    pub allow_8bit: bool,
    /// The server offers SMTPUTF8: addresses with a UTF-8 local part may be
    /// used (in the envelope and, as UTF-8, in the headers).
    pub smtputf8: bool,
}

impl EncodeOptions {
    /// The options a server's EHLO capabilities allow.
    pub fn for_server(capabilities: &Capabilities) -> EncodeOptions {
        EncodeOptions {
            allow_8bit: capabilities.eight_bit_mime,
            smtputf8: capabilities.smtputf8,
        }
    }
}

/// A message being composed. See the [module documentation](self).
///
/// Setters that take caller text validate it and return
/// `Result<&mut Message>`; [`text`](Message::text),
/// [`html`](Message::html) and [`date`](Message::date) cannot fail and
/// return `&mut Message`. Address setters other than `from` and `sender`
/// add to what is there and accept lists (`"a@x.org, B <b@y.org>"`).
#[derive(Debug, Clone)]
pub struct Message {
    from: Option<Mailbox>,
    sender: Option<Mailbox>,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    bcc: Vec<Mailbox>,
    reply_to: Vec<Mailbox>,
    subject: Option<String>,
    date: Option<SystemTime>,
    message_id: Option<String>,
    id_local: String,
    in_reply_to: Vec<String>,
    references: Vec<String>,
    headers: Vec<(String, String)>,
    text: Option<String>,
    html: Option<String>,
    parts: Vec<Part>,
    envelope_from: Option<String>,
    envelope_to: Vec<String>,
    delivery: delivery::Delivery,
    unsubscribe: Option<unsubscribe::ListUnsubscribe>,
    tls_required_no: bool,
}

impl Default for Message {
    fn default() -> Self {
        Message::new()
    }
}

impl Message {
    /// An empty message, with a fresh Message-ID (its domain is added from
    /// the sender when the message is written).
    pub fn new() -> Message {
        Message {
            from: None,
            sender: None,
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            subject: None,
            date: None,
            message_id: None,
            id_local: new_id_local(),
            in_reply_to: Vec::new(),
            references: Vec::new(),
            headers: Vec::new(),
            text: None,
            html: None,
            parts: Vec::new(),
            envelope_from: None,
            envelope_to: Vec::new(),
            delivery: delivery::Delivery::default(),
            unsubscribe: None,
            tls_required_no: false,
        }
    }

    /// Sets the author: `Name <user@domain>` or `user@domain` (one mailbox;
    /// replaces an earlier one).
    pub fn from(&mut self, mailbox: &str) -> Result<&mut Self> {
        self.from = Some(address::parse_one(mailbox, "from")?);
        Ok(self)
    }

    /// Sets the `Sender:` (the mailbox that actually sends, when it is not
    /// the author). It is also the envelope sender.
    pub fn sender(&mut self, mailbox: &str) -> Result<&mut Self> {
        self.sender = Some(address::parse_one(mailbox, "sender")?);
        Ok(self)
    }

    /// Adds `To:` recipients (a list).
    pub fn to(&mut self, list: &str) -> Result<&mut Self> {
        let list = address::parse_list(list, "to")?;
        self.to.extend(list);
        Ok(self)
    }

    /// Adds `Cc:` recipients (a list).
    pub fn cc(&mut self, list: &str) -> Result<&mut Self> {
        let list = address::parse_list(list, "cc")?;
        self.cc.extend(list);
        Ok(self)
    }

    /// Adds blind-copy recipients (a list): they get the message, and no
    /// header names them.
    pub fn bcc(&mut self, list: &str) -> Result<&mut Self> {
        let list = address::parse_list(list, "bcc")?;
        self.bcc.extend(list);
        Ok(self)
    }

    /// Adds `Reply-To:` mailboxes (a list).
    pub fn reply_to(&mut self, list: &str) -> Result<&mut Self> {
        let list = address::parse_list(list, "reply-to")?;
        self.reply_to.extend(list);
        Ok(self)
    }

    /// Sets the subject (any language; encoded as needed). Text that is
    /// already RFC 2047 encoded in UTF-8 is decoded first, so it is not
    /// encoded twice.
    pub fn subject(&mut self, subject: &str) -> Result<&mut Self> {
        let subject = header::decode_encoded_words(subject);
        check_header_text(&subject, "subject")?;
        self.subject = Some(subject.into_owned());
        Ok(self)
    }

    /// Sets the plain-text body (replaces an earlier one). Line breaks may
    /// be LF, CRLF or CR; they are sent as CRLF.
    pub fn text(&mut self, body: &str) -> &mut Self {
        self.text = Some(body.to_string());
        self
    }

    /// Sets the HTML body (replaces an earlier one). With a text body too,
    /// the two become a `multipart/alternative`.
    pub fn html(&mut self, body: &str) -> &mut Self {
        self.html = Some(body.to_string());
        self
    }

    /// Sets the `Date:` (by default the time the message is written).
    pub fn date(&mut self, time: SystemTime) -> &mut Self {
        self.date = Some(time);
        self
    }

    /// Sets the `Message-ID:` (`<id@domain>` or `id@domain`) instead of
    /// the generated one.
    pub fn message_id(&mut self, id: &str) -> Result<&mut Self> {
        let mut ids = parse_msg_ids(id, "message id")?;
        if ids.len() != 1 {
            return Err(Error::invalid("message id", "expected exactly one id"));
        }
        self.message_id = ids.pop();
        Ok(self)
    }

    /// Sets `In-Reply-To:` (one or more message ids, `<a@b> <c@d>`).
    pub fn in_reply_to(&mut self, ids: &str) -> Result<&mut Self> {
        self.in_reply_to = parse_msg_ids(ids, "in-reply-to")?;
        Ok(self)
    }

    /// Sets `References:` (message ids, oldest first).
    pub fn references(&mut self, ids: &str) -> Result<&mut Self> {
        self.references = parse_msg_ids(ids, "references")?;
        Ok(self)
    }

    /// Adds a header field. The name is printable ASCII without `:` or
    /// spaces; the value is unstructured text (encoded when not ASCII).
    ///
    /// Names with a setter of their own are passed to it (`From`, `Sender`,
    /// `To`, `Cc`, `Bcc`, `Reply-To`, `Subject`, `Message-ID`,
    /// `In-Reply-To`, `References`); names this library writes itself
    /// (`Date`, `MIME-Version`, `Content-Type`,
    /// `Content-Transfer-Encoding`, `Content-Disposition`, `Content-ID`)
    /// and `Return-Path` (the receiving server's) are refused, and so are
    /// `List-Unsubscribe`, `List-Unsubscribe-Post` and `TLS-Required`
    /// (set them with [`list_unsubscribe`](Message::list_unsubscribe),
    /// [`list_unsubscribe_one_click`](Message::list_unsubscribe_one_click)
    /// and [`tls_required_no`](Message::tls_required_no), which check them
    /// and never write a field twice).
    pub fn header(&mut self, name: &str, value: &str) -> Result<&mut Self> {
        header::check_header_name(name)?;
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "from" => return self.from(value),
            "sender" => return self.sender(value),
            "to" => return self.to(value),
            "cc" => return self.cc(value),
            "bcc" => return self.bcc(value),
            "reply-to" => return self.reply_to(value),
            "subject" => return self.subject(value),
            "message-id" => return self.message_id(value),
            "in-reply-to" => return self.in_reply_to(value),
            "references" => return self.references(value),
            "date"
            | "mime-version"
            | "content-type"
            | "content-transfer-encoding"
            | "content-disposition"
            | "content-id"
            | "return-path" => {
                return Err(Error::invalid(
                    "header name",
                    format!("{name} is written by the library (use the matching setter, or none)"),
                ));
            }
            _ => {}
        }
        if let Some(setter) = unsubscribe::reserved_setter(&lower) {
            return Err(Error::invalid(
                "header name",
                format!("{name} is set with {setter}"),
            ));
        }
        let value = header::decode_encoded_words(value);
        check_header_text(&value, "header value")?;
        self.headers.push((name.to_string(), value.into_owned()));
        Ok(self)
    }

    /// Sets the envelope sender (`MAIL FROM`) instead of the one derived
    /// from `Sender:` / `From:`: a bare address, or `""` for the null
    /// sender.
    pub fn envelope_from(&mut self, address: &str) -> Result<&mut Self> {
        const FIELD: &str = "envelope sender";
        check_header_text(address, FIELD)?;
        let address = address.trim();
        let address = address
            .strip_prefix('<')
            .and_then(|a| a.strip_suffix('>'))
            .unwrap_or(address);
        if !address.is_empty() {
            address::validate_addr_spec(address, FIELD)?;
        }
        self.envelope_from = Some(address.to_string());
        Ok(self)
    }

    /// Adds envelope recipients (`RCPT TO`, a list). Once any is set they
    /// replace the ones derived from To, Cc and Bcc.
    pub fn envelope_to(&mut self, list: &str) -> Result<&mut Self> {
        let list = address::parse_list(list, "envelope recipient")?;
        self.envelope_to.extend(list.into_iter().map(|m| m.address));
        Ok(self)
    }

    /// The `Message-ID` the message will carry, with angle brackets.
    /// Fails when it is generated and there is no sender to take the
    /// domain from.
    pub fn current_message_id(&self) -> Result<String> {
        if let Some(id) = &self.message_id {
            return Ok(format!("<{id}>"));
        }
        let mailbox = self
            .sender
            .as_ref()
            .or(self.from.as_ref())
            .ok_or_else(no_from)?;
        let domain = mailbox.domain();
        let domain = if domain.is_ascii() {
            domain.to_string()
        } else {
            domain_to_ascii(domain)?
        };
        Ok(format!("<{}@{domain}>", self.id_local))
    }

    /// The envelope: sender from [`envelope_from`](Message::envelope_from),
    /// else `Sender:`, else `From:`; recipients from
    /// [`envelope_to`](Message::envelope_to), else To, Cc and Bcc without
    /// duplicates. Addresses are in wire form for `options`, and the
    /// envelope declares an 8-bit body when a part will be sent as 8bit.
    pub fn envelope(&self, options: &EncodeOptions) -> Result<Envelope> {
        let eight_bit = self.uses_8bit(options);
        self.envelope_with(options, eight_bit)
    }

    pub(crate) fn envelope_with(
        &self,
        options: &EncodeOptions,
        eight_bit: bool,
    ) -> Result<Envelope> {
        let from = match &self.envelope_from {
            Some(from) => from.clone(),
            None => self
                .sender
                .as_ref()
                .or(self.from.as_ref())
                .ok_or_else(no_from)?
                .address
                .clone(),
        };
        let from = if from.is_empty() {
            from
        } else {
            address::wire_address(&from, options.smtputf8, "envelope sender")?
        };
        let derived;
        let recipients: Vec<&str> = if self.envelope_to.is_empty() {
            derived = self
                .to
                .iter()
                .chain(&self.cc)
                .chain(&self.bcc)
                .map(|m| m.address.as_str())
                .collect::<Vec<_>>();
            derived
        } else {
            self.envelope_to.iter().map(String::as_str).collect()
        };
        let mut to: Vec<String> = Vec::with_capacity(recipients.len());
        for address in recipients {
            let wire = address::wire_address(address, options.smtputf8, "envelope recipient")?;
            if !to.iter().any(|seen| address::same_address(seen, &wire)) {
                to.push(wire);
            }
        }
        let envelope = Envelope::new(from, to)?.with_8bit_body(eight_bit);
        self.delivery.apply(envelope, options.smtputf8)
    }

    /// A reader that produces the whole message (headers and body, CRLF
    /// line endings, not dot-stuffed) as it is read. File attachments are
    /// opened when the reader reaches them; a read error then comes out of
    /// [`Read::read`](std::io::Read::read).
    pub fn reader(&self, options: &EncodeOptions) -> Result<MessageReader<'_>> {
        MessageReader::new(self, options)
    }

    /// The whole message in memory (for small messages and tests).
    pub fn to_bytes(&self, options: &EncodeOptions) -> Result<Vec<u8>> {
        let mut reader = self.reader(options)?;
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut out).map_err(Error::BodyRead)?;
        Ok(out)
    }

    fn uses_8bit(&self, options: &EncodeOptions) -> bool {
        if !options.allow_8bit {
            return false;
        }
        let text_8bit = [&self.text, &self.html].into_iter().flatten().any(|t| {
            encode::choose(&encode::scan(t.as_bytes()), false, true) == TransferEncoding::EightBit
        });
        text_8bit
            || self
                .parts
                .iter()
                .any(|p| part_encoding(p, options) == TransferEncoding::EightBit)
    }
}

/// The transfer encoding of an attachment or inline part.
pub(crate) fn part_encoding(part: &Part, options: &EncodeOptions) -> TransferEncoding {
    match &part.source {
        Source::Bytes(data) if part.content_type.is_text() => {
            encode::choose(&encode::scan(data), true, options.allow_8bit)
        }
        _ => TransferEncoding::Base64,
    }
}

fn no_from() -> Error {
    Error::invalid("from", "no From address: set one with Message::from")
}

/// Random bytes from the operating system; if it has none to give, a hash
/// of the time, the process id and a counter (unique, if not secret).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if getrandom::getrandom(&mut buf).is_err() {
        use sha2::{Digest, Sha256};
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut filled = 0;
        while filled < N {
            let mut h = Sha256::new();
            h.update(now_nanos().to_le_bytes());
            h.update(std::process::id().to_le_bytes());
            h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
            let digest = h.finalize();
            let n = (N - filled).min(digest.len());
            buf[filled..filled + n].copy_from_slice(&digest[..n]);
            filled += n;
        }
    }
    buf
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `time.random`: the time in base 36 and 20 random alphanumerics.
pub(crate) fn new_id_local() -> String {
    let mut t = now_nanos();
    let mut time = Vec::new();
    while t > 0 {
        time.push(ALNUM[(t % 36) as usize]);
        t /= 36;
    }
    time.reverse();
    let random: [u8; 20] = random_bytes();
    let mut id = String::from_utf8(time).unwrap_or_default();
    id.push('.');
    id.extend(random.iter().map(|b| ALNUM[usize::from(b % 62)] as char));
    id
}

/// A random MIME boundary: `=_` and 30 alphanumerics. (`=_` cannot occur
/// in quoted-printable or base64 output.)
pub(crate) fn new_boundary() -> String {
    let random: [u8; 30] = random_bytes();
    let mut b = String::from("=_");
    b.extend(random.iter().map(|b| ALNUM[usize::from(b % 62)] as char));
    b
}

/// Parses message ids: `<a@b>` or `a@b`, separated by whitespace or commas.
fn parse_msg_ids(input: &str, field: &'static str) -> Result<Vec<String>> {
    check_header_text(input, field)?;
    let mut ids = Vec::new();
    let mut rest = input.trim_start_matches([' ', '\t', ',']);
    while !rest.is_empty() {
        let (id, tail) = if let Some(inner) = rest.strip_prefix('<') {
            let end = inner
                .find('>')
                .ok_or_else(|| Error::invalid(field, "has a '<' without '>'"))?;
            (&inner[..end], &inner[end + 1..])
        } else {
            let end = rest.find([' ', '\t', ',', '<']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        let ok_chars = id
            .chars()
            .all(|c| c.is_ascii_graphic() && !"<>\"\\(),;:".contains(c) || c == '@');
        let ok_shape = id
            .split_once('@')
            .is_some_and(|(l, r)| !l.is_empty() && !r.is_empty() && !r.contains('@'));
        if !ok_chars || !ok_shape || id.len() > 250 {
            return Err(Error::invalid(
                field,
                format!("{id:?} is not a message id (expected <left@right> in printable ASCII)"),
            ));
        }
        ids.push(id.to_string());
        rest = tail.trim_start_matches([' ', '\t', ',']);
    }
    if ids.is_empty() {
        return Err(Error::invalid(field, "has no message id"));
    }
    Ok(ids)
}
