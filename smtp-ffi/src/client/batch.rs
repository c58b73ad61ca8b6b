//! `smtp_client_send_batch()`: many messages over the open session in a
//! few round trips (smtp-core's `Client::send_many`, pipelined across
//! messages), and the report of the last batch, message by message.

use std::cell::OnceCell;
use std::ffi::{c_char, c_int, CString};
use std::io::Read;

use smtp_core::dkim::SignedReader;
use smtp_core::{Client, Envelope, Error, Message, Reply, SendReport};

use super::{read_client, smtp_client, with_client, write_out, RecipientSlot};
use crate::args::{bytes_arg, str_arg};
use crate::last::{self, c_string, error_text};
use crate::message::smtp_message;
use crate::result::{smtp_result, Failure};

/// One message of a batch for `smtp_client_send_batch()`: either a
/// composed message (`message`), or a raw message the caller formatted
/// with its envelope (`sender`, `recipients`, `data`). Zero-initialise it
/// (`smtp_batch_message m = {0};`) and set the fields of one kind; the
/// fields of the other kind must stay NULL / 0.
///
/// Every pointer is only read during `smtp_client_send_batch()`: the
/// caller keeps ownership and may free everything once it returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct smtp_batch_message {
    /// Raw message: the envelope sender, one address (`addr`, `<addr>` or
    /// `Name <addr>`; "" for the null sender). NUL-terminated UTF-8;
    /// must not be NULL for a raw message.
    pub sender: *const c_char,
    /// Raw message: `recipient_count` envelope recipients, NUL-terminated
    /// UTF-8, each one address (`addr`, `<addr>` or `Name <addr>`) or a
    /// comma-separated list of them as in `smtp_client_send_raw()`'s
    /// `to_list`. May be NULL only when `recipient_count` is 0 (the
    /// message is then refused with `SMTP_ERR_INVALID_INPUT`: it needs a
    /// recipient).
    pub recipients: *const *const c_char,
    /// Raw message: the number of entries in `recipients`.
    pub recipient_count: usize,
    /// Raw message: the complete message (headers, empty line, body), `len`
    /// bytes sent as they are (LF or CRLF line endings, sent as CRLF;
    /// dot-stuffed as needed). SIZE and 8BITMIME are declared from the
    /// bytes, as `smtp_client_send_raw()` does. May be NULL only when
    /// `len` is 0.
    pub data: *const u8,
    /// Raw message: the number of bytes at `data`.
    pub len: usize,
    /// A composed message (see `smtp_message_new()`) to send instead,
    /// envelope and encoding chosen as `smtp_client_send_message()` does;
    /// NULL for a raw message. Only read: it stays owned by the caller.
    pub message: *const smtp_message,
}

/// One message of a batch, its pointers read and checked.
enum Item<'a> {
    Composed(&'a Message),
    Raw {
        sender: &'a str,
        recipients: Vec<&'a str>,
        data: &'a [u8],
    },
}

/// What one message of the batch reads from: its bytes, or a composed
/// message produced as it goes out.
enum Body<'a> {
    /// A raw message after its DKIM-Signature fields (none without DKIM).
    Bytes(std::io::Chain<std::io::Cursor<Vec<u8>>, &'a [u8]>),
    /// Boxed: a composed message's reader holds its whole plan.
    Composed(Box<SignedReader<'a>>),
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Body::Bytes(bytes) => bytes.read(buf),
            Body::Composed(reader) => reader.read(buf),
        }
    }
}

/// One message of the last batch: its outcome, and its per-recipient
/// replies; turned into C strings only when the caller asks for them.
pub(super) struct BatchSlot {
    /// The server's final reply, or why the message was not accepted.
    outcome: Result<Reply, Error>,
    recipients: Vec<RecipientSlot>,
    entry: OnceCell<BatchEntry>,
}

/// A message's outcome as C values.
struct BatchEntry {
    result: smtp_result,
    message: CString,
    code: c_int,
    enhanced: CString,
    text: CString,
}

impl BatchSlot {
    fn new(outcome: Result<SendReport, Error>) -> BatchSlot {
        let (outcome, recipients) = match outcome {
            Ok(report) => (Ok(report.reply), report.recipients),
            Err(error) => {
                let refused = match &error {
                    Error::RecipientsRefused { refused } => refused.clone(),
                    _ => Vec::new(),
                };
                (Err(error), refused)
            }
        };
        BatchSlot {
            outcome,
            recipients: recipients.into_iter().map(RecipientSlot::new).collect(),
            entry: OnceCell::new(),
        }
    }

    fn entry(&self) -> &BatchEntry {
        self.entry.get_or_init(|| {
            let (result, message, reply) = match &self.outcome {
                Ok(reply) => (smtp_result::SMTP_OK, reply.to_string(), Some(reply)),
                Err(error) => (error.into(), error_text(error), error.reply()),
            };
            BatchEntry {
                result,
                message: c_string(&message),
                code: reply.map_or(0, |r| c_int::from(r.code())),
                enhanced: c_string(
                    &reply
                        .and_then(Reply::enhanced)
                        .map(|e| e.to_string())
                        .unwrap_or_default(),
                ),
                text: c_string(&reply.map(Reply::text).unwrap_or_default()),
            }
        })
    }
}

/// Sends `count` messages (see `smtp_batch_message`) over the open
/// session, pipelined across messages: with PIPELINING and CHUNKING the
/// commands and bodies of many messages go out without waiting for
/// replies (a few round trips for hundreds of small messages); with
/// PIPELINING alone the next message's envelope goes with the previous
/// message's end. Every reply is still matched to its message, so each
/// message has its own exact outcome. (With
/// `SMTP_RECIPIENTS_ALL_OR_NOTHING` the messages go one after the other:
/// every RCPT reply is needed before a body.)
///
/// Returns `SMTP_OK` once every message has its outcome, whatever the
/// outcomes are: a refused or failed message is not an error of the call.
/// The number of messages the server accepted is written to `*sent_out`
/// when `sent_out` is not NULL (compare it with `count`), and
/// `smtp_last_message()` says "N of M messages accepted". Each message's
/// outcome is read with `smtp_client_batch_result()` (its result code
/// and text), `smtp_client_batch_reply()` (the server's reply) and
/// `smtp_client_batch_recipient()` (per recipient), by its index in
/// `messages`. Outcomes as for one send: with the default recipient
/// policy a message goes to its accepted recipients; a message whose
/// every recipient is refused is `SMTP_ERR_RECIPIENTS_REFUSED`, and the
/// other messages are sent all the same. When the connection fails
/// during the batch, each message without its final reply is
/// `SMTP_ERR_NOT_CONNECTED` (it was not sent) or
/// `SMTP_ERR_DELIVERY_UNKNOWN` (its end was written: the server may have
/// accepted it, check before sending it again); connect again before
/// sending more.
///
/// Checked per message, before anything is sent: an address that does
/// not parse, a raw message without recipients or a composed message
/// that cannot be encoded makes that message `SMTP_ERR_INVALID_INPUT`
/// (or the error of the step that failed), and the others are sent.
///
/// Errors of the call itself, with nothing sent and an empty report:
/// `SMTP_ERR_NULL_PARAMETER` for a NULL `client`, NULL `messages` with
/// `count` > 0, or a NULL pointer where a message needs one (a raw
/// message's `sender`, `recipients` with a count, one of its recipients,
/// `data` with a length); `SMTP_ERR_INVALID_UTF8` for a string that is
/// not UTF-8; `SMTP_ERR_INVALID_INPUT` for an element that sets both
/// `message` and a raw field. `smtp_last_message()` names the element,
/// e.g. "NULL pointer passed for `messages[3].recipients[1]`".
/// `SMTP_ERR_NOT_CONNECTED` when the client has no usable session (see
/// `smtp_client_is_connected()`; connect it first). `count` 0 sends
/// nothing and returns `SMTP_OK`.
///
/// Every pointer is only read during the call. The report replaces the
/// previous batch's (on success and on failure), and the per-recipient
/// results of single sends (`smtp_client_recipient()`) are cleared.
/// Blocks until every message has its outcome.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_send_batch(
    client: *mut smtp_client,
    messages: *const smtp_batch_message,
    count: usize,
    sent_out: *mut usize,
) -> smtp_result {
    with_client(client, |c| {
        c.start_send();
        c.batch.clear();
        // SAFETY: the caller passes NULL or `count` readable elements
        // whose pointers follow smtp_batch_message's rules, all valid and
        // unchanged during the call.
        let items = unsafe { batch_items(messages, count) }?;
        if !items.is_empty() {
            let session = c.session()?;
            if !session.is_connected() {
                return Err(Failure::Core(Error::NotConnected(
                    "the session has ended (QUIT, a 421 or an earlier fatal error); connect again"
                        .into(),
                )));
            }
            c.batch = send(session, &items);
        }
        let sent = c.batch.iter().filter(|s| s.outcome.is_ok()).count();
        last::set_message(&format!("{sent} of {count} messages accepted"));
        if !sent_out.is_null() {
            write_out(sent_out, sent);
        }
        Ok(())
    })
}

/// Sends the messages that can go, in one `send_many`; one slot per item,
/// in order.
fn send(session: &mut Client, items: &[Item<'_>]) -> Vec<BatchSlot> {
    let mut outcomes: Vec<Option<Result<SendReport, Error>>> = items.iter().map(|_| None).collect();
    let mut ready = Vec::with_capacity(items.len());
    let mut positions = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match prepare(item, session) {
            Ok(message) => {
                ready.push(message);
                positions.push(i);
            }
            Err(error) => outcomes[i] = Some(Err(error)),
        }
    }
    if !ready.is_empty() {
        for (i, outcome) in positions.into_iter().zip(session.send_many(ready)) {
            outcomes[i] = Some(outcome);
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            BatchSlot::new(outcome.unwrap_or_else(|| {
                Err(Error::NotConnected(
                    "the message was not sent: the batch ended without its reply".into(),
                ))
            }))
        })
        .collect()
}

/// The messages of a batch, every pointer checked; a failure names the
/// element (`messages[3].recipients[1]`).
///
/// # Safety
/// `messages` is NULL or points to `count` readable elements whose
/// pointers are NULL or valid as `smtp_batch_message` says, for `'a`.
unsafe fn batch_items<'a>(
    messages: *const smtp_batch_message,
    count: usize,
) -> Result<Vec<Item<'a>>, Failure> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if messages.is_null() {
        return Err(Failure::Null("messages"));
    }
    if count > isize::MAX as usize / std::mem::size_of::<smtp_batch_message>() {
        return Err(Failure::invalid("count", "is too large"));
    }
    // SAFETY: non-NULL, size checked, the caller guarantees `count`
    // readable elements.
    let messages = unsafe { std::slice::from_raw_parts(messages, count) };
    messages
        .iter()
        .enumerate()
        // SAFETY: forwarded caller guarantee for each element.
        .map(|(i, m)| unsafe { item(i, m) })
        .collect()
}

/// Element `i` of a batch.
///
/// # Safety
/// As for [`batch_items`].
unsafe fn item<'a>(i: usize, m: &smtp_batch_message) -> Result<Item<'a>, Failure> {
    let path = |field: &str| format!("messages[{i}].{field}");
    if !m.message.is_null() {
        if !m.sender.is_null() || !m.recipients.is_null() || m.recipient_count != 0 || m.len != 0 {
            return Err(Failure::invalid(
                "batch message",
                "sets both `message` and a raw message's fields; give one kind",
            )
            .at(format!("messages[{i}]")));
        }
        // SAFETY: non-NULL; the caller guarantees a live message.
        return Ok(Item::Composed(unsafe { &(*m.message).inner }));
    }
    // SAFETY: NULL or a NUL-terminated string valid for 'a.
    let sender = unsafe { str_arg(m.sender, "sender") }.map_err(|f| f.at(path("sender")))?;
    // SAFETY: NULL (with length 0) or `len` readable bytes valid for 'a.
    let data = unsafe { bytes_arg(m.data, m.len, "data") }.map_err(|f| f.at(path("data")))?;
    let mut recipients = Vec::with_capacity(m.recipient_count.min(1024));
    if m.recipient_count > 0 {
        if m.recipients.is_null() {
            return Err(Failure::Null("recipients").at(path("recipients")));
        }
        if m.recipient_count > isize::MAX as usize / std::mem::size_of::<*const c_char>() {
            return Err(Failure::invalid("recipient_count", "is too large").at(path("recipients")));
        }
        // SAFETY: non-NULL, size checked, the caller guarantees
        // `recipient_count` readable pointers.
        let list = unsafe { std::slice::from_raw_parts(m.recipients, m.recipient_count) };
        for (j, &r) in list.iter().enumerate() {
            // SAFETY: NULL or a NUL-terminated string valid for 'a.
            let r = unsafe { str_arg(r, "recipient") }
                .map_err(|f| f.at(path(&format!("recipients[{j}]"))))?;
            recipients.push(r);
        }
    }
    Ok(Item::Raw {
        sender,
        recipients,
        data,
    })
}

/// A message's envelope and body, or why it cannot go: nothing is sent
/// for it, and the batch goes on.
fn prepare<'a>(item: &Item<'a>, session: &Client) -> Result<(Envelope, Body<'a>), Error> {
    match item {
        Item::Composed(message) => {
            let (envelope, reader) = session.prepare_message(message)?;
            Ok((envelope, Body::Composed(Box::new(reader))))
        }
        Item::Raw {
            sender,
            recipients,
            data,
        } => {
            let signature = session.raw_signature(data)?;
            let envelope = raw_envelope(sender, recipients)?
                .with_size((signature.len() + data.len()) as u64)
                .with_8bit_body(!data.is_ascii());
            Ok((
                envelope,
                Body::Bytes(std::io::Cursor::new(signature).chain(*data)),
            ))
        }
    }
}

/// A raw message's envelope, parsed as `smtp_client_send_raw()` parses
/// its envelope: each element of `recipients` one address or a
/// comma-separated list of them (none empty).
fn raw_envelope(sender: &str, recipients: &[&str]) -> Result<Envelope, Error> {
    let mut from: Option<String> = None;
    let mut to = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let part = Envelope::parse(sender, recipient)?;
        from.get_or_insert_with(|| part.from().to_owned());
        to.extend_from_slice(part.to());
    }
    match from {
        Some(from) => Envelope::new(from, to),
        None => Err(Error::InvalidInput {
            field: "recipient address",
            reason: "no recipient given".into(),
        }),
    }
}

/// Returns how many messages the last `smtp_client_send_batch()` on this
/// client reported on (its `count`); 0 before the first batch, after a
/// failed call, after a connect, or for NULL. Does not change
/// `smtp_last_message()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_batch_count(client: *const smtp_client) -> usize {
    read_client(client, 0, |c| c.batch.len())
}

fn batch_slot(c: &smtp_client, index: usize) -> Option<&BatchSlot> {
    c.batch.get(index)
}

/// Reads the outcome of message `index` (0-based, its index in the
/// `messages` of the last `smtp_client_send_batch()`): its result (a
/// `smtp_result` value: `SMTP_OK` when the server accepted it) and a
/// text as `smtp_last_message()` would have given for it alone: the
/// server's final reply (e.g. "250 2.0.0 Ok: queued as 4XyZ"), or what
/// went wrong (with the server's reply when there was one).
///
/// Returns true and writes both outputs, or false and writes nothing
/// (NULL `client` or output pointer, `index` out of range). Ownership:
/// the string belongs to the client and stays valid until its next
/// `smtp_client_send_batch()`, `smtp_client_connect()` or
/// `smtp_client_free()`. Does not change `smtp_last_message()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_batch_result(
    client: *const smtp_client,
    index: usize,
    result: *mut c_int,
    message: *mut *const c_char,
) -> bool {
    read_client(client, false, |c| {
        if result.is_null() || message.is_null() {
            return false;
        }
        let Some(e) = batch_slot(c, index).map(BatchSlot::entry) else {
            return false;
        };
        write_out(result, e.result as c_int);
        write_out(message, e.message.as_ptr());
        true
    })
}

/// Reads the server reply that decided message `index` of the last batch
/// (what `smtp_last_reply_code()`, `smtp_last_enhanced_code()` and
/// `smtp_last_reply_text()` would have given for it alone): the final
/// reply of an accepted message (250), the refusal of a refused one
/// (e.g. 550, "5.1.1", the text); code 0 and "" when no reply was
/// involved (e.g. a connection failure, invalid input).
///
/// Returns true and writes all three outputs, or false and writes nothing
/// (NULL `client` or output pointer, `index` out of range). Ownership and
/// lifetime as for `smtp_client_batch_result()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_batch_reply(
    client: *const smtp_client,
    index: usize,
    code: *mut c_int,
    enhanced: *mut *const c_char,
    text: *mut *const c_char,
) -> bool {
    read_client(client, false, |c| {
        if code.is_null() || enhanced.is_null() || text.is_null() {
            return false;
        }
        let Some(e) = batch_slot(c, index).map(BatchSlot::entry) else {
            return false;
        };
        write_out(code, e.code);
        write_out(enhanced, e.enhanced.as_ptr());
        write_out(text, e.text.as_ptr());
        true
    })
}

/// Returns how many per-recipient replies message `index` of the last
/// batch has: every recipient of an accepted message (some may have been
/// refused while the others got it), the refused ones of a message that
/// failed with `SMTP_ERR_RECIPIENTS_REFUSED`, 0 otherwise. 0 for NULL or
/// an `index` out of range.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_batch_recipient_count(
    client: *const smtp_client,
    index: usize,
) -> usize {
    read_client(client, 0, |c| {
        batch_slot(c, index).map_or(0, |s| s.recipients.len())
    })
}

/// Reads the server's reply for recipient `recipient` (0-based, in the
/// order given) of message `index` of the last batch, as
/// `smtp_client_recipient()` does for a single send: the address, the
/// reply code (250 accepted, 550 refused...), the enhanced status code
/// ("" if none) and the reply text.
///
/// Returns true and writes all four outputs, or false and writes nothing
/// (NULL `client` or output pointer, an index out of range). Ownership
/// and lifetime as for `smtp_client_batch_result()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_batch_recipient(
    client: *const smtp_client,
    index: usize,
    recipient: usize,
    address: *mut *const c_char,
    code: *mut c_int,
    enhanced: *mut *const c_char,
    text: *mut *const c_char,
) -> bool {
    read_client(client, false, |c| {
        if address.is_null() || code.is_null() || enhanced.is_null() || text.is_null() {
            return false;
        }
        let Some(r) = batch_slot(c, index)
            .and_then(|s| s.recipients.get(recipient))
            .map(RecipientSlot::entry)
        else {
            return false;
        };
        write_out(address, r.address.as_ptr());
        write_out(code, r.code);
        write_out(enhanced, r.enhanced.as_ptr());
        write_out(text, r.text.as_ptr());
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{smtp_client_free, smtp_client_new};
    use std::ffi::CStr;
    use std::ptr;

    fn last_message() -> String {
        // SAFETY: never NULL; valid until the next call returning smtp_result.
        unsafe { CStr::from_ptr(crate::last::smtp_last_message()) }
            .to_string_lossy()
            .into_owned()
    }

    fn raw(sender: &CStr, recipients: &[*const c_char], data: &[u8]) -> smtp_batch_message {
        smtp_batch_message {
            sender: sender.as_ptr(),
            recipients: recipients.as_ptr(),
            recipient_count: recipients.len(),
            data: data.as_ptr(),
            len: data.len(),
            message: ptr::null(),
        }
    }

    /// A client that never connects (nothing listens on port 1 here, and
    /// no connect is attempted: argument errors come first).
    fn client() -> *mut smtp_client {
        let mut c = ptr::null_mut();
        // SAFETY: valid string and output pointer.
        let r = unsafe { smtp_client_new(c"127.0.0.1".as_ptr(), 1, &mut c) };
        assert_eq!(r, smtp_result::SMTP_OK);
        c
    }

    #[test]
    fn bad_arguments_fail_the_call_and_name_the_element() {
        let c = client();
        let data = b"Subject: x\r\n\r\nbody\r\n";
        let good = [c"a@example.test".as_ptr()];
        let with_null = [c"a@example.test".as_ptr(), ptr::null()];
        let mut sent = 99usize;
        // SAFETY: every pointer is NULL or valid for the call.
        unsafe {
            let r = smtp_client_send_batch(c, ptr::null(), 3, &mut sent);
            assert_eq!(r, smtp_result::SMTP_ERR_NULL_PARAMETER);
            assert_eq!(last_message(), "NULL pointer passed for `messages`");

            let batch = [
                raw(c"s@example.test", &good, data),
                raw(c"s@example.test", &with_null, data),
            ];
            let r = smtp_client_send_batch(c, batch.as_ptr(), 2, &mut sent);
            assert_eq!(r, smtp_result::SMTP_ERR_NULL_PARAMETER);
            assert_eq!(
                last_message(),
                "NULL pointer passed for `messages[1].recipients[1]`"
            );

            let mut no_sender = raw(c"s@example.test", &good, data);
            no_sender.sender = ptr::null();
            let r = smtp_client_send_batch(c, &no_sender, 1, &mut sent);
            assert_eq!(r, smtp_result::SMTP_ERR_NULL_PARAMETER);
            assert!(
                last_message().contains("messages[0].sender"),
                "{}",
                last_message()
            );

            let mut no_data = raw(c"s@example.test", &good, data);
            no_data.data = ptr::null();
            let r = smtp_client_send_batch(c, &no_data, 1, &mut sent);
            assert_eq!(r, smtp_result::SMTP_ERR_NULL_PARAMETER);
            assert!(
                last_message().contains("messages[0].data"),
                "{}",
                last_message()
            );

            let bad = [c"\xff\xfe".as_ptr()];
            let r = smtp_client_send_batch(c, &raw(c"s@example.test", &bad, data), 1, &mut sent);
            assert_eq!(r, smtp_result::SMTP_ERR_INVALID_UTF8);
            assert!(
                last_message().contains("messages[0].recipients[0]"),
                "{}",
                last_message()
            );

            let m = crate::message::smtp_message_new();
            let mut both = raw(c"s@example.test", &good, data);
            both.message = m;
            let r = smtp_client_send_batch(c, &both, 1, &mut sent);
            assert_eq!(r, smtp_result::SMTP_ERR_INVALID_INPUT);
            assert!(
                last_message().starts_with("messages[0]: "),
                "{}",
                last_message()
            );
            crate::message::smtp_message_free(m);

            // Arguments fine, no session: not connected, nothing reported.
            let batch = [raw(c"s@example.test", &good, data)];
            let r = smtp_client_send_batch(c, batch.as_ptr(), 1, &mut sent);
            assert_eq!(r, smtp_result::SMTP_ERR_NOT_CONNECTED);
            assert_eq!(sent, 99, "written only on success");
            assert_eq!(smtp_client_batch_count(c), 0);

            // Nothing to send: done, connected or not.
            let r = smtp_client_send_batch(c, ptr::null(), 0, &mut sent);
            assert_eq!(r, smtp_result::SMTP_OK);
            assert_eq!(sent, 0);
            assert_eq!(last_message(), "0 of 0 messages accepted");

            let r = smtp_client_send_batch(ptr::null_mut(), batch.as_ptr(), 1, &mut sent);
            assert_eq!(r, smtp_result::SMTP_ERR_NULL_PARAMETER);
            let (mut result, mut text) = (0, ptr::null());
            assert!(!smtp_client_batch_result(c, 0, &mut result, &mut text));
            assert!(!smtp_client_batch_result(
                ptr::null(),
                0,
                &mut result,
                &mut text
            ));
            assert_eq!(smtp_client_batch_recipient_count(ptr::null(), 0), 0);
            smtp_client_free(c);
        }
    }

    #[test]
    fn each_recipient_is_an_address_or_a_list() {
        let e = raw_envelope(
            "Me <me@example.test>",
            &["a@example.test", "B <b@example.test>, c@example.test"],
        )
        .unwrap();
        assert_eq!(e.from(), "me@example.test");
        assert_eq!(
            e.to(),
            ["a@example.test", "b@example.test", "c@example.test"]
        );
        let e = raw_envelope("", &["a@example.test"]).unwrap();
        assert_eq!(e.from(), "");
        for bad in [
            &[][..],
            &[""][..],
            &["a@example.test", " "][..],
            &["not an address"][..],
        ] {
            let error = raw_envelope("me@example.test", bad).unwrap_err();
            assert!(
                matches!(error, Error::InvalidInput { .. }),
                "{bad:?}: {error}"
            );
        }
    }
}
