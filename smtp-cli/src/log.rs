//! The optional log file: one line per message.
//!
//! ```text
//! 2026-01-02T03:04:05Z account=work server=mail.example.org:587 from=<me@example.org> to=<a@example.net>,<b@example.net> size=1234 result=ok exit=0 reply="250 2.0.0 Ok: queued as 4XyZ"
//! 2026-01-02T03:04:09Z server=mail.example.org:587 from=<me@example.org> to=<x@example.net> size=812 result=nouser exit=67 reply="550 5.1.1 <x@example.net>: unknown" error="..."
//! 2026-01-02T03:04:12Z server=mail.example.org:587 from=<me@example.org> to=<a@example.net> size=- result=queued exit=0 queue_id=m1x2.abc error="..."
//! ```
//!
//! `result=queued` is a message put in the outbox (`--queue`), with the
//! error of the attempt that failed for now, if one was made.
//!
//! Values that may hold blanks are quoted (`"` and `\` escaped, control
//! characters replaced). No password ever reaches a log line: the
//! library's errors and replies never contain one, and the URL is not
//! logged.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

use crate::exit::{one_line, Exit};

/// What is known about one message.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// The account name, if one was used.
    pub account: Option<String>,
    /// `host:port`, once known.
    pub server: Option<String>,
    /// The envelope sender, once known.
    pub from: Option<String>,
    /// The envelope recipients, once known.
    pub to: Vec<String>,
    /// The message size in bytes, once known.
    pub size: Option<u64>,
}

/// The outcome logged.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The exit status.
    pub exit: Exit,
    /// The server's reply (the final one on success).
    pub reply: Option<String>,
    /// The error message on failure (or of the attempt before queueing).
    pub error: Option<String>,
    /// The outbox id, when the message was queued instead of sent.
    pub queued: Option<String>,
}

/// `2026-01-02T03:04:05Z` (the library's ISO 8601 form).
pub fn iso_time(time: SystemTime) -> String {
    smtp_core::message::format_iso8601(time)
}

/// A value as a quoted string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in one_line(text).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A token without blanks, quotes or control characters (else quoted).
fn token(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '\\')
    {
        text.to_string()
    } else {
        quote(text)
    }
}

/// The log line for `record` and `outcome` at `time` (without newline).
pub fn format_line(record: &Record, outcome: &Outcome, time: SystemTime) -> String {
    let mut line = iso_time(time);
    if let Some(account) = &record.account {
        line.push_str(&format!(" account={}", token(account)));
    }
    if let Some(server) = &record.server {
        line.push_str(&format!(" server={}", token(server)));
    }
    let angle = |a: &str| token(&format!("<{a}>"));
    line.push_str(" from=");
    line.push_str(&record.from.as_deref().map_or("-".into(), angle));
    line.push_str(" to=");
    if record.to.is_empty() {
        line.push('-');
    } else {
        let list: Vec<String> = record.to.iter().map(|a| angle(a)).collect();
        line.push_str(&list.join(","));
    }
    line.push_str(" size=");
    line.push_str(&record.size.map_or("-".into(), |s| s.to_string()));
    let result = if outcome.queued.is_some() {
        "queued"
    } else {
        outcome.exit.name()
    };
    line.push_str(&format!(" result={result} exit={}", outcome.exit.code()));
    if let Some(id) = &outcome.queued {
        line.push_str(&format!(" queue_id={}", token(id)));
    }
    if let Some(reply) = &outcome.reply {
        line.push_str(&format!(" reply={}", quote(reply)));
    }
    if let Some(error) = &outcome.error {
        line.push_str(&format!(" error={}", quote(error)));
    }
    line
}

/// Appends one line to the log file (created with mode 0600 if missing).
/// A failure is reported on stderr and otherwise ignored: the message's
/// fate does not depend on the log.
pub fn append(path: &Path, record: &Record, outcome: &Outcome) {
    let mut line = format_line(record, outcome, SystemTime::now());
    line.push('\n');
    let result = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(e) = result {
        eprintln!(
            "smtp-send: warning: cannot write the log file {}: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times() {
        assert_eq!(iso_time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso_time(UNIX_EPOCH + Duration::from_secs(1_709_210_096)),
            "2024-02-29T12:34:56Z"
        );
        assert_eq!(
            iso_time(UNIX_EPOCH + Duration::from_secs(4_102_444_799)),
            "2099-12-31T23:59:59Z"
        );
    }

    #[test]
    fn line_format() {
        let record = Record {
            account: Some("work".into()),
            server: Some("h.example:587".into()),
            from: Some("me@x.example".into()),
            to: vec!["a@y.example".into(), "b@y.example".into()],
            size: Some(42),
        };
        let ok = Outcome {
            exit: Exit::Ok,
            reply: Some("250 2.0.0 Ok: queued as \"X\"".into()),
            error: None,
            queued: None,
        };
        assert_eq!(
            format_line(&record, &ok, UNIX_EPOCH),
            "1970-01-01T00:00:00Z account=work server=h.example:587 from=<me@x.example> \
             to=<a@y.example>,<b@y.example> size=42 result=ok exit=0 \
             reply=\"250 2.0.0 Ok: queued as \\\"X\\\"\""
        );
        let failed = Outcome {
            exit: Exit::TempFail,
            reply: None,
            error: Some("could not\nconnect".into()),
            queued: None,
        };
        assert_eq!(
            format_line(&Record::default(), &failed, UNIX_EPOCH),
            "1970-01-01T00:00:00Z from=- to=- size=- result=tempfail exit=75 error=\"could not connect\""
        );
        let null_sender = Record {
            from: Some(String::new()),
            ..Record::default()
        };
        assert!(format_line(&null_sender, &failed, UNIX_EPOCH).contains(" from=<> "));
        let queued = Outcome {
            exit: Exit::Ok,
            reply: None,
            error: Some("could not connect".into()),
            queued: Some("m1.abc".into()),
        };
        assert_eq!(
            format_line(&Record::default(), &queued, UNIX_EPOCH),
            "1970-01-01T00:00:00Z from=- to=- size=- result=queued exit=0 queue_id=m1.abc error=\"could not connect\""
        );
    }
}
