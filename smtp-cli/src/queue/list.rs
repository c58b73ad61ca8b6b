//! `smtp-send -bp`: the queue listed like `mailq`, or as JSON with
//! `--json` (an array, one object per message; written here, escaping
//! included, rather than adding a serializer for one listing).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smtp_core::outbox::Entry;

use crate::exit::Failure;

/// Prints the queue in `dir` on standard output. A directory that does
/// not exist is an empty queue (listing creates nothing).
pub fn list(dir: &Result<PathBuf, Failure>, json: bool) -> Result<(), Failure> {
    let path = dir
        .as_ref()
        .map_err(|f| Failure::new(f.exit, f.message.clone()))?;
    let entries = if path.exists() {
        smtp_core::Outbox::open(path)
            .map_err(|e| super::spool_failure(&e))?
            .list()
            .map_err(|e| Failure::new(crate::exit::Exit::TempFail, e.to_string()))?
    } else {
        Vec::new()
    };
    let now = SystemTime::now();
    if json {
        print!("{}", to_json(&entries, now));
    } else {
        print!("{}", to_text(&entries, now, &path.display().to_string()));
    }
    Ok(())
}

/// Seconds since the epoch.
fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A duration in its largest unit: `42s`, `5m`, `3h`, `2d`.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The `mailq`-like listing.
pub(crate) fn to_text(entries: &[Entry], now: SystemTime, dir: &str) -> String {
    if entries.is_empty() {
        return format!("Mail queue is empty ({dir})\n");
    }
    let mut out = String::new();
    for e in entries {
        let _ = write!(out, "{}  {} bytes", e.id, e.size);
        if e.problem.is_none() {
            let age = now.duration_since(e.created).unwrap_or_default();
            let _ = write!(out, "  age {}  attempts {}", short(age), e.attempts);
            let next = match e.next_attempt.duration_since(now) {
                _ if e.held => "held".to_string(),
                Ok(wait) if wait.as_secs() > 0 => format!("next attempt in {}", short(wait)),
                _ => "due now".to_string(),
            };
            let _ = write!(out, "  {next}");
            if e.possible_duplicate {
                out.push_str("  possible duplicate");
            }
        }
        out.push('\n');
        if let Some(problem) = &e.problem {
            let _ = writeln!(out, "  problem: {problem}");
            continue;
        }
        let _ = writeln!(out, "  from <{}>", e.sender);
        for r in &e.recipients {
            let _ = write!(out, "  to <{}>  {}", r.address, r.status.name());
            if let Some(reply) = &r.reply {
                let _ = write!(out, "  ({reply})");
            }
            out.push('\n');
        }
        if let Some(error) = &e.last_error {
            let _ = writeln!(out, "  last error: {error}");
        }
    }
    let n = entries.len();
    let _ = writeln!(
        out,
        "-- {n} message{} in {dir}",
        if n == 1 { "" } else { "s" }
    );
    out
}

/// A JSON string literal.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON string or `null`.
fn optional(text: Option<&str>) -> String {
    text.map_or_else(|| "null".to_string(), string)
}

/// The JSON listing: an array, one object (one line) per message.
pub(crate) fn to_json(entries: &[Entry], now: SystemTime) -> String {
    let mut out = String::from("[");
    for (i, e) in entries.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        let recipients: Vec<String> = e
            .recipients
            .iter()
            .map(|r| {
                format!(
                    "{{\"address\":{},\"status\":{},\"reply\":{}}}",
                    string(&r.address),
                    string(r.status.name()),
                    optional(r.reply.as_deref())
                )
            })
            .collect();
        let age = now.duration_since(e.created).unwrap_or_default().as_secs();
        let _ = write!(
            out,
            "{{\"id\":{},\"size\":{},\"created\":{},\"age_seconds\":{age},\"sender\":{},\
             \"recipients\":[{}],\"attempts\":{},\"next_attempt\":{},\"held\":{},\
             \"possible_duplicate\":{},\"last_error\":{},\"problem\":{}}}",
            string(e.id.as_str()),
            e.size,
            unix(e.created),
            string(&e.sender),
            recipients.join(","),
            e.attempts,
            unix(e.next_attempt),
            e.held,
            e.possible_duplicate,
            optional(e.last_error.as_deref()),
            optional(e.problem.as_deref()),
        );
    }
    out.push_str(if entries.is_empty() { "]\n" } else { "\n]\n" });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(string("l1\r\nl2\t\u{1}"), r#""l1\r\nl2\t\u0001""#);
        assert_eq!(string("é\u{2028}"), "\"é\\u2028\"");
        assert_eq!(optional(None), "null");
        assert_eq!(to_json(&[], UNIX_EPOCH), "[]\n");
    }

    #[test]
    fn durations_are_short() {
        let s = |secs| short(Duration::from_secs(secs));
        assert_eq!(
            [s(0), s(59), s(60), s(3599), s(3600), s(86_400 * 3)],
            ["0s", "59s", "1m", "59m", "1h", "3d"]
        );
        assert_eq!(to_text(&[], UNIX_EPOCH, "/q"), "Mail queue is empty (/q)\n");
    }
}
