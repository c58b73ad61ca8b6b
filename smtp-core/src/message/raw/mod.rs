//! Raw messages: what the caller formatted (sendmail, `smtp_client_send_raw`,
//! `Client::send_raw`), read as a stream. Only the header block is held:
//! it is parsed, the envelope derived from it (`sendmail -t`), `Bcc`
//! removed, missing `From`/`Date`/`Message-ID` added; the body streams
//! through untouched.

use std::io::{self, Cursor, Read};
use std::time::SystemTime;

use crate::envelope::Envelope;
use crate::error::{Error, Result};

use super::address::{parse_list_lenient, same_address, wire_address, write_mailboxes};
use super::Mailbox;

pub(crate) mod head;
pub(crate) mod lines;
mod local;

use head::Head;
pub(crate) use lines::LineMap;
use local::{parse_recipients, Recipient, Resolver};

/// Largest header block read to derive an envelope or strip `Bcc:` (1 MiB).
pub const MAX_RAW_HEADER_BLOCK: usize = 1024 * 1024;

/// How a raw message is addressed and completed (see [`RawMessage::read`]).
/// The default takes the envelope from the headers and only removes `Bcc`.
#[derive(Debug, Clone)]
pub struct RawOptions {
    sender: Option<String>,
    recipients: Vec<Recipient>,
    resolver: Option<Resolver>,
    recipients_from_headers: bool,
    author: Option<Mailbox>,
    complete: bool,
    now: Option<SystemTime>,
    to: Vec<Mailbox>,
    subject: Option<String>,
}

impl Default for RawOptions {
    fn default() -> RawOptions {
        RawOptions {
            sender: None,
            recipients: Vec::new(),
            resolver: None,
            recipients_from_headers: true,
            author: None,
            complete: false,
            now: None,
            to: Vec::new(),
            subject: None,
        }
    }
}

impl RawOptions {
    /// The default: envelope from the headers, `Bcc` removed, nothing added.
    pub fn new() -> RawOptions {
        RawOptions::default()
    }

    /// The envelope sender (`sendmail -f`; "" is the null sender) instead
    /// of the `Sender:`/`From:` address. `Name <addr>` and `<addr>` are
    /// accepted.
    pub fn sender(mut self, address: &str) -> Result<RawOptions> {
        self.sender = Some(parse_envelope_address(address, "sender address")?);
        Ok(self)
    }

    /// Adds recipients (`sendmail` arguments): a comma-separated list of
    /// addresses, display names allowed. With [`RawOptions::recipients_from_headers`]
    /// off these are the only ones. A name without a domain (`root`) is
    /// accepted here and resolved by [`RawOptions::local_recipients`] when
    /// the message is read ([`RawMessage::read`] refuses it without one).
    pub fn recipients(mut self, list: &str) -> Result<RawOptions> {
        let parsed = parse_recipients(list, "address")?;
        if parsed.is_empty() {
            return Err(Error::invalid("address", "has no address"));
        }
        for recipient in parsed {
            if !self.recipients.contains(&recipient) {
                self.recipients.push(recipient);
            }
        }
        Ok(self)
    }

    /// Accepts recipients without a domain (`root`, `Cron Daemon
    /// <www-data>`, as cron and system programs address mail) in
    /// [`recipients`](RawOptions::recipients) and, with
    /// [`recipients_from_headers`](RawOptions::recipients_from_headers), in
    /// the `To`, `Cc` and `Bcc` fields: each such name is replaced in the
    /// envelope by the addresses `resolve` returns for it (from an aliases
    /// file, or with a default domain appended). The header is sent as it
    /// is. An error from `resolve`, or no address, fails
    /// [`RawMessage::read`]. Without a resolver such a recipient is an
    /// [`Error::InvalidInput`] for the field `"local recipient"`.
    pub fn local_recipients(
        mut self,
        resolve: impl Fn(&str) -> Result<Vec<String>> + Send + Sync + 'static,
    ) -> RawOptions {
        self.resolver = Some(Resolver::new(resolve));
        self
    }

    /// Whether the header's `To`, `Cc` and `Bcc` (`Resent-To`, `Resent-Cc`
    /// and `Resent-Bcc` when the message has `Resent-` fields) are
    /// recipients too (`sendmail -t`; default on).
    pub fn recipients_from_headers(mut self, on: bool) -> RawOptions {
        self.recipients_from_headers = on;
        self
    }

    /// Completes the header as a submission server would (RFC 6409 8):
    /// `From: author` when the message has no `From`, `Date` and
    /// `Message-ID` (at the author's domain) when missing, and
    /// `MIME-Version: 1.0` for a message with MIME fields but without it.
    pub fn complete_headers(mut self, author: Mailbox) -> RawOptions {
        self.author = Some(author);
        self.complete = true;
        self
    }

    /// A `To:` field with these addresses (comma-separated, display names
    /// allowed) when the message has none, as PHP's `mail($to, ...)` puts
    /// one in.
    pub fn to_when_missing(mut self, list: &str) -> Result<RawOptions> {
        self.to = Mailbox::parse_list(list)?;
        Ok(self)
    }

    /// A `Subject:` field (encoded as RFC 2047 needs) when the message has
    /// none.
    pub fn subject_when_missing(mut self, subject: &str) -> Result<RawOptions> {
        super::header::check_header_text(subject, "subject")?;
        self.subject = Some(subject.to_string());
        Ok(self)
    }

    /// The time written in an added `Date:` (default: now).
    pub fn at(mut self, time: SystemTime) -> RawOptions {
        self.now = Some(time);
        self
    }
}

/// A raw message ready to send: its envelope known, its header block
/// prepared, its body still unread in the input.
pub struct RawMessage<R> {
    envelope: Envelope,
    prepared: Cursor<Vec<u8>>,
    lines: LineMap,
    input: R,
    read: u64,
}

impl<R: Read> RawMessage<R> {
    /// Reads the header block of `input` (at most [`MAX_RAW_HEADER_BLOCK`]
    /// bytes; the body is not read) and prepares the message as `options`
    /// say: the header ends at the first empty line, or at the first line
    /// that is not a header field (an empty line is then inserted before
    /// it); a leading mbox `From ` line is dropped; `Bcc` (`Resent-Bcc`)
    /// fields are removed; missing fields are added after the others. The
    /// envelope sender is the option's, else `Sender:`, else the first
    /// `From:` address (`Resent-Sender`, `Resent-From` for a resent
    /// message), as written (see [`Client::send_raw_message`](crate::Client::send_raw_message)
    /// for IDNA).
    ///
    /// Errors: [`Error::BodyRead`] when reading fails,
    /// [`Error::InvalidInput`] for a block that is too large, a header
    /// address that cannot be parsed, no sender or no recipient.
    pub fn read(mut input: R, options: &RawOptions) -> Result<RawMessage<R>> {
        let (head, rest) = Head::read(&mut input, MAX_RAW_HEADER_BLOCK).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                Error::invalid("raw message", e.to_string())
            } else {
                Error::BodyRead(e)
            }
        })?;
        let added = added_fields(&head, options)?;
        let resent = head.fields.iter().any(|f| is_resent(&f.name));
        let envelope = derive_envelope(&head, &added, resent, options)?;
        let bcc = if resent { "resent-bcc" } else { "bcc" };
        let mut prepared = Vec::with_capacity(head.bytes.len() + added.len() + 2 + rest.len());
        let mut lines = LineMap {
            added: added.iter().filter(|&&b| b == b'\n').count() as u64,
            ..LineMap::default()
        };
        let mut pos = 0;
        let mut line = head.first_line;
        for field in &head.fields {
            let keep = !field.name.eq_ignore_ascii_case(bcc);
            // Lines between fields cannot occur: every line is in a field.
            let text = &head.bytes[pos.max(field.start)..field.end];
            let count = text.iter().filter(|&&b| b == b'\n').count() as u64;
            if keep {
                prepared.extend_from_slice(text);
                lines.head.extend(line..line + count);
            }
            line += count;
            pos = field.end;
        }
        if !prepared.is_empty() && !prepared.ends_with(b"\n") {
            prepared.extend_from_slice(b"\r\n");
        }
        prepared.extend_from_slice(&added);
        prepared.extend_from_slice(b"\r\n");
        lines.separator = head.separator.then_some(line);
        lines.body = line + u64::from(head.separator);
        prepared.extend_from_slice(&rest);
        Ok(RawMessage {
            envelope,
            prepared: Cursor::new(prepared),
            lines,
            input,
            read: 0,
        })
    }

    /// How many bytes of the prepared message have been read (all of it,
    /// once sent): its size before line endings are made CRLF.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The envelope, addresses as written.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Sends to these recipients instead of the derived ones.
    pub fn with_envelope(mut self, envelope: Envelope) -> RawMessage<R> {
        self.envelope = envelope;
        self
    }

    /// `lines` lines (a DKIM signature) are sent before the message.
    pub(crate) fn prepend_lines(&mut self, lines: u64) {
        self.lines.prepended = lines;
    }

    /// Maps a refusal of "line N of the message" to the line as read.
    pub(crate) fn renumber(&self, error: Error) -> Error {
        self.lines.renumber(error)
    }
}

impl<R: Read> Read for RawMessage<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = self.prepared.read(buf)?;
        if n == 0 && !buf.is_empty() {
            n = self.input.read(buf)?;
        }
        self.read += n as u64;
        Ok(n)
    }
}

fn is_resent(name: &str) -> bool {
    name.len() > 7 && name[..7].eq_ignore_ascii_case("resent-")
}

fn push_unique(list: &mut Vec<String>, address: String) {
    if !list.iter().any(|a| same_address(a, &address)) {
        list.push(address);
    }
}

/// The address in an envelope sender as people write it (`sendmail -f`):
/// `addr`, `<addr>` or `Name <addr>`; "" and `<>` are the null sender
/// (the empty string).
pub fn envelope_address(input: &str) -> Result<String> {
    parse_envelope_address(input, "sender address")
}

fn parse_envelope_address(input: &str, field: &'static str) -> Result<String> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed == "<>" {
        return Ok(String::new());
    }
    super::address::parse_one(trimmed, field).map(|m| m.address)
}

/// The fields to add, as header lines ending in CRLF.
fn added_fields(head: &Head, options: &RawOptions) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if !options.to.is_empty() && !head.has("to") {
        write_mailboxes(&mut out, "To", &options.to, true, "to")?;
    }
    if let Some(subject) = options.subject.as_deref().filter(|s| !s.is_empty()) {
        if !head.has("subject") {
            super::header::write_unstructured(&mut out, "Subject", subject, "subject")?;
        }
    }
    let Some(author) = options.author.as_ref().filter(|_| options.complete) else {
        return Ok(out);
    };
    if (head.has("content-type") || head.has("content-transfer-encoding"))
        && !head.has("mime-version")
    {
        // RFC 2045 4: MIME header fields need MIME-Version.
        out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    }
    if !head.has("from") {
        write_mailboxes(
            &mut out,
            "From",
            std::slice::from_ref(author),
            true,
            "author",
        )?;
    }
    if !head.has("date") {
        let now = options.now.unwrap_or_else(SystemTime::now);
        out.extend_from_slice(format!("Date: {}\r\n", super::format_date(now)).as_bytes());
    }
    if !head.has("message-id") {
        // At the domain of the message's own author, else of `author`.
        let written = ["sender", "from"]
            .iter()
            .find_map(|name| {
                let value = head.values(name).next()?;
                parse_list_lenient(&value, "From header")
                    .ok()?
                    .into_iter()
                    .next()
            })
            .map(|m| m.address);
        let domain = written
            .iter()
            .chain(std::iter::once(&author.address))
            .find_map(|address| {
                let (_, domain) = address.rsplit_once('@')?;
                wire_address(&format!("x@{domain}"), false, "author")
                    .ok()
                    .map(|w| w[2..].to_string())
            })
            .ok_or_else(|| {
                Error::invalid(
                    "author",
                    format!(
                        "has no usable domain for a Message-ID: {:?}",
                        author.address
                    ),
                )
            })?;
        out.extend_from_slice(
            format!("Message-ID: <{}@{domain}>\r\n", super::new_id_local()).as_bytes(),
        );
    }
    Ok(out)
}

/// The envelope from the options and the header (with the added fields).
fn derive_envelope(
    head: &Head,
    added: &[u8],
    resent: bool,
    options: &RawOptions,
) -> Result<Envelope> {
    let (sender_fields, recipient_fields): (&[&str], &[&str]) = if resent {
        (
            &["resent-sender", "resent-from"],
            &["resent-to", "resent-cc", "resent-bcc"],
        )
    } else {
        (&["sender", "from"], &["to", "cc", "bcc"])
    };
    let label = |name: &str| -> &'static str {
        match name {
            "sender" => "Sender header",
            "from" => "From header",
            "to" => "To header",
            "cc" => "Cc header",
            "bcc" => "Bcc header",
            "resent-sender" => "Resent-Sender header",
            "resent-from" => "Resent-From header",
            "resent-to" => "Resent-To header",
            "resent-cc" => "Resent-Cc header",
            _ => "Resent-Bcc header",
        }
    };
    let added_head = if added.is_empty() {
        None
    } else {
        Head::read(&mut &added[..], MAX_RAW_HEADER_BLOCK)
            .ok()
            .map(|(h, _)| h)
    };
    let values = |name: &'static str| {
        head.values(name)
            .chain(added_head.iter().flat_map(move |h| h.values(name)))
            .collect::<Vec<String>>()
    };
    let sender = match &options.sender {
        Some(sender) => sender.clone(),
        None => {
            let mut found = None;
            for name in sender_fields {
                for value in values(name) {
                    let list = parse_list_lenient(&value, label(name))?;
                    if found.is_none() {
                        found = list.into_iter().next().map(|m| m.address);
                    }
                }
                if found.is_some() {
                    break;
                }
            }
            found.ok_or_else(|| {
                Error::invalid(
                    "raw message",
                    "has no From or Sender header to take the envelope sender from",
                )
            })?
        }
    };
    let mut recipients = Vec::new();
    let resolver = options.resolver.as_ref();
    if options.recipients_from_headers {
        for name in recipient_fields {
            for value in values(name) {
                for recipient in parse_recipients(&value, label(name))? {
                    for address in local::resolve(&recipient, resolver)? {
                        push_unique(&mut recipients, address);
                    }
                }
            }
        }
    }
    for recipient in &options.recipients {
        for address in local::resolve(recipient, resolver)? {
            push_unique(&mut recipients, address);
        }
    }
    if recipients.is_empty() {
        return Err(Error::invalid(
            "recipients",
            if options.recipients_from_headers {
                "none: the message has no To, Cc or Bcc address and none was given"
            } else {
                "none given"
            },
        ));
    }
    Envelope::new(sender, recipients)
}

/// Derives an envelope from a raw message's header block (the bytes up to
/// the first empty line; anything after it is ignored): the sender from
/// `Sender:`, else the first `From:` mailbox; the recipients from every
/// `To:`, `Cc:` and `Bcc:` field, without duplicates. Folded fields are
/// unfolded; groups (`undisclosed-recipients:;`) are understood.
/// Addresses are returned as written (see
/// [`Client::send_raw`](crate::Client::send_raw) for IDNA). The same as
/// [`RawMessage::read`] with the default options.
pub fn envelope_from_headers(raw_header_block: &[u8]) -> Result<Envelope> {
    RawMessage::read(raw_header_block, &RawOptions::default()).map(|m| m.envelope)
}

impl Envelope {
    /// An envelope from a sender and a recipient list as people write
    /// them: `addr`, `<addr>` or `Name <addr>` ("" and `<>` are the null
    /// sender), recipients comma-separated. An internationalised domain
    /// with an ASCII local part is put in IDNA form, so no SMTPUTF8 is
    /// needed for it.
    pub fn parse(sender: &str, recipients: &str) -> Result<Envelope> {
        let sender = parse_envelope_address(sender, "sender address")?;
        // With SMTPUTF8 assumed, only the domain of an ASCII local part changes.
        let wire = |a: &str, field| {
            if a.is_empty() {
                Ok(String::new())
            } else {
                wire_address(a, true, field)
            }
        };
        let from = wire(&sender, "sender address")?;
        let to = Mailbox::parse_list(recipients)?
            .iter()
            .map(|m| wire(&m.address, "recipient address"))
            .collect::<Result<Vec<_>>>()?;
        Envelope::new(from, to)
    }
}

/// Passes a raw message through without its `Bcc:` header fields and
/// otherwise unchanged: the header block (as [`RawMessage::read`] finds
/// it, at most [`MAX_RAW_HEADER_BLOCK`] bytes, else an `InvalidData`
/// error) is buffered and filtered, the body streams through.
pub struct StripBcc<R: Read> {
    inner: R,
    head: Option<Cursor<Vec<u8>>>,
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
            let (head, rest) = Head::read(&mut self.inner, MAX_RAW_HEADER_BLOCK)?;
            let mut out = Vec::with_capacity(head.bytes.len() + rest.len() + 2);
            out.extend_from_slice(&head.mbox_line);
            for field in &head.fields {
                if !field.name.eq_ignore_ascii_case("bcc") {
                    out.extend_from_slice(&head.bytes[field.start..field.end]);
                }
            }
            out.extend_from_slice(&head.separator_line);
            out.extend_from_slice(&rest);
            self.head = Some(Cursor::new(out));
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
mod tests;
