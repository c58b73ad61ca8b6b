//! Delivery status notifications (RFC 3464): the `multipart/report` sent
//! to a queued message's sender when recipients failed for good (or, once,
//! when delivery is delayed), with the original header attached; who asked
//! for one (the NOTIFY each recipient was queued with).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::time::SystemTime;

use super::state::{one_line, RecipientState, State};
use super::{Outbox, QueueId};
use crate::dsn::Notify;
use crate::envelope::Envelope;
use crate::error::Result;
use crate::message::format_date;
use crate::message::raw::head::Head;

/// What the notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// These recipients failed; the message will not be tried again for them.
    Failed,
    /// Delivery is delayed; the queue keeps trying.
    Delayed,
}

/// The status code (`5.1.1`) and the reply in a stored reply line such as
/// `550 5.1.1 User unknown`, with a class-only code when it has none.
fn status_of(reply: Option<&str>, report: Report, expired: bool) -> String {
    if expired {
        return "4.4.7".into();
    }
    let mut words = reply.unwrap_or("").split_ascii_whitespace();
    let code = words.next().unwrap_or("");
    let enhanced = words.next().unwrap_or("");
    let is_enhanced = enhanced.split('.').count() == 3
        && enhanced
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    if is_enhanced {
        return enhanced.to_string();
    }
    match (report, code.as_bytes().first()) {
        (_, Some(b'5')) => "5.0.0".into(),
        (Report::Delayed, _) | (_, Some(b'4')) => "4.0.0".into(),
        _ => "5.0.0".into(),
    }
}

/// The whole notification message (CRLF line endings), from the queue's
/// `reporter` name about `recipients` of the message whose state is
/// `state` and whose header block is `original_head`. `expired` marks
/// recipients failed because the message's lifetime ran out.
pub(crate) fn build(
    report: Report,
    state: &State,
    recipients: &[&RecipientState],
    original_head: &[u8],
    expired: bool,
    now: SystemTime,
    message_id: &str,
) -> Vec<u8> {
    let boundary = format!(
        "=_report_{}",
        message_id.trim_matches(['<', '>']).replace('@', "_")
    );
    let (subject, action, intro) = match report {
        Report::Failed => (
            "Undelivered Mail Returned to Sender",
            "failed",
            "Your message could not be delivered to the recipients below; it will not be tried again for them.",
        ),
        Report::Delayed => (
            "Delayed Mail (still being retried)",
            "delayed",
            "Your message has not been delivered to the recipients below yet; the outbox keeps trying. You need not send it again.",
        ),
    };
    let mut text = String::new();
    let _ = write!(
        text,
        "From: Mail Delivery System <{sender}>\r\n\
         To: <{sender}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: {message_id}\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a delivery status notification (RFC 3464).\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {intro}\r\n\r\n",
        sender = state.sender,
        date = format_date(now),
    );
    for r in recipients {
        let why = if expired && report == Report::Failed {
            "the message was in the queue longer than its lifetime".to_string()
        } else {
            r.reply.clone().unwrap_or_else(|| "no reply".into())
        };
        let _ = write!(text, "<{}>: {}\r\n", r.address, one_line(&why));
    }
    let _ = write!(
        text,
        "\r\n--{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; localhost\r\n\
         Arrival-Date: {arrival}\r\n",
        arrival = format_date(state.created),
    );
    // ENVID and ORCPT come back as given (RFC 3464 2.2.1, 2.3.1; xtext,
    // so one line of printable ASCII).
    if let Some(envid) = &state.extensions.envid {
        let _ = write!(text, "Original-Envelope-Id: {envid}\r\n");
    }
    for r in recipients {
        let orcpt = state
            .recipients
            .iter()
            .position(|x| std::ptr::eq(x, *r))
            .and_then(|i| state.extensions.recipients.get(i))
            .and_then(|p| p.orcpt.as_deref());
        let status = status_of(
            r.reply.as_deref(),
            report,
            expired && report == Report::Failed,
        );
        let _ = write!(text, "\r\n");
        if let Some(orcpt) = orcpt {
            let _ = write!(text, "Original-Recipient: {}\r\n", one_line(orcpt));
        }
        let _ = write!(
            text,
            "Final-Recipient: rfc822; {address}\r\n\
             Action: {action}\r\n\
             Status: {status}\r\n",
            address = r.address,
        );
        if let Some(reply) = &r.reply {
            let _ = write!(text, "Diagnostic-Code: smtp; {}\r\n", one_line(reply));
        }
        let _ = write!(text, "Last-Attempt-Date: {}\r\n", format_date(now));
    }
    let _ = write!(
        text,
        "\r\n--{boundary}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n"
    );
    let mut out = text.into_bytes();
    out.extend_from_slice(original_head);
    if !original_head.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

impl Outbox {
    /// Queues a notification about `recipients` to the message's sender.
    pub(super) fn notify(
        &self,
        report: Report,
        state: &State,
        recipients: &[&RecipientState],
        expired: bool,
        now: SystemTime,
        (message, offset): (&QueueId, u64),
    ) -> Result<QueueId> {
        // Opened again: the batch may be reading the message file.
        let head = File::open(self.message_path(message))
            .map(|file| original_head(&file, offset))
            .unwrap_or_default();
        let domain = state
            .sender
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d);
        let message_id = format!("<{}@{domain}>", crate::message::new_id_local());
        let bytes = build(report, state, recipients, &head, expired, now, &message_id);
        // RFC 8689 5: the notice about a REQUIRETLS message requires TLS too.
        let envelope = Envelope::new("", [state.sender.clone()])?
            .with_require_tls(state.extensions.require_tls);
        self.enqueue_at(&envelope, &mut bytes.as_slice(), now)
    }
}

/// The header block of a queued message whose bytes start at `offset`
/// in its file (empty when unreadable).
fn original_head(mut file: &File, offset: u64) -> Vec<u8> {
    match file.seek(SeekFrom::Start(offset)) {
        Ok(_) => Head::read(&mut file, 64 * 1024)
            .map(|(head, _)| head.bytes)
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Whether `recipient` (of `state`) asked for notification `what`; a
/// recipient without NOTIFY gets failures and delays, as RFC 3461 4.1
/// leaves the default to the server.
pub(super) fn wants_notification(state: &State, recipient: &RecipientState, what: Notify) -> bool {
    let index = state
        .recipients
        .iter()
        .position(|r| std::ptr::eq(r, recipient));
    match index
        .and_then(|i| state.extensions.recipients.get(i))
        .and_then(|p| p.notify)
    {
        Some(notify) => notify.contains(what),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::RecipientStatus;
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_failure_report_has_the_rfc_3464_fields() {
        let failed = RecipientState {
            address: "gone@example.net".into(),
            status: RecipientStatus::Failed,
            reply: Some("550 5.1.1 <gone@example.net>: User unknown".into()),
        };
        let plain = RecipientState {
            address: "old@example.net".into(),
            status: RecipientStatus::Failed,
            reply: Some("554 Transaction failed".into()),
        };
        let state = State {
            created: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            sender: "me@example.org".into(),
            size: 10,
            eight_bit: false,
            attempts: 1,
            next_attempt: UNIX_EPOCH,
            held: false,
            possible_duplicate: false,
            warned: false,
            last_error: None,
            recipients: vec![failed.clone(), plain.clone()],
            extensions: Default::default(),
        };
        let head = b"From: me@example.org\r\nSubject: hello\r\n";
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        let dsn = build(
            Report::Failed,
            &state,
            &[&failed, &plain],
            head,
            false,
            now,
            "<x@example.org>",
        );
        let text = String::from_utf8(dsn).unwrap();
        for needle in [
            "To: <me@example.org>\r\n",
            "Content-Type: multipart/report; report-type=delivery-status;\r\n",
            "Auto-Submitted: auto-replied\r\n",
            "Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: User unknown\r\n",
            "Final-Recipient: rfc822; old@example.net\r\nAction: failed\r\nStatus: 5.0.0\r\n",
            "Content-Type: text/rfc822-headers\r\n\r\nFrom: me@example.org\r\nSubject: hello\r\n",
            "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
        assert!(text.ends_with("--\r\n"));
        assert!(text.lines().all(|l| l.len() <= 998));
        let expired = build(
            Report::Failed,
            &state,
            &[&plain],
            head,
            true,
            now,
            "<y@example.org>",
        );
        let expired = String::from_utf8(expired).unwrap();
        assert!(expired.contains("Status: 4.4.7\r\n"), "{expired}");
        let delayed = build(
            Report::Delayed,
            &state,
            &[&plain],
            head,
            false,
            now,
            "<z@example.org>",
        );
        let delayed = String::from_utf8(delayed).unwrap();
        assert!(delayed.contains("Action: delayed\r\n"), "{delayed}");
    }
}
