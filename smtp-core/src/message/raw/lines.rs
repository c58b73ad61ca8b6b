//! Where each line of a prepared raw message came from in the message as
//! read, so that a refusal of "line N of the message" names the line the
//! caller wrote, not the line after headers were removed or added.

use crate::error::Error;

/// The input line of each line sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LineMap {
    /// The input line of each header line kept, in order.
    pub(crate) head: Vec<u64>,
    /// How many header lines were added after them.
    pub(crate) added: u64,
    /// The input line of the empty line after the header, if it had one.
    pub(crate) separator: Option<u64>,
    /// The input line of the body's first line.
    pub(crate) body: u64,
    /// Lines put before the message (DKIM signatures).
    pub(crate) prepended: u64,
}

impl LineMap {
    /// The input line of line `sent` (from 1) of the prepared message;
    /// `None` for a line that was added.
    pub(crate) fn input_line(&self, sent: u64) -> Option<u64> {
        let index = sent.checked_sub(1)?.checked_sub(self.prepended)?;
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

    /// Rewrites the "line N of the message ..." refusal of a long line so
    /// that N is the line as read; any other error, or a line that was
    /// added, is left as it is.
    pub(crate) fn renumber(&self, error: Error) -> Error {
        map_message_line(error, |n| self.input_line(n))
    }
}

/// `error` with the number of a "line N of the message" refusal mapped by
/// `map` (left as it is when `map` gives nothing, or for other errors).
pub(crate) fn map_message_line(error: Error, map: impl FnOnce(u64) -> Option<u64>) -> Error {
    let Error::InvalidInput { field, reason } = &error else {
        return error;
    };
    let Some(rest) = reason.strip_prefix("line ") else {
        return error;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let tail = &rest[digits..];
    let number = rest[..digits].parse::<u64>().ok();
    match number.and_then(map) {
        Some(line) if *field == "message" && tail.starts_with(" of the message ") => {
            Error::InvalidInput {
                field,
                reason: format!("line {line}{tail}"),
            }
        }
        _ => error,
    }
}
