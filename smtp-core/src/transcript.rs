//! The debug transcript: every line sent and received, as the seed's
//! `show_debug` printed it, with credentials replaced.

use std::fmt;
use std::sync::Arc;

use crate::reply::replace_controls;

/// Who produced a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A line the client sent (authentication data already hidden).
    Sent,
    /// A line the server sent.
    Received,
    /// A note from the client (connection opened, TLS established, body size...).
    Info,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Sent => "C:",
            Direction::Received => "S:",
            Direction::Info => "*",
        })
    }
}

/// Receives transcript lines. Called on the sending thread, synchronously;
/// keep it cheap. Lines never contain passwords, tokens or their base64,
/// nor control characters other than tab (a server's escape sequences are
/// shown as U+FFFD).
pub type TranscriptFn = Arc<dyn Fn(Direction, &str) + Send + Sync>;

/// What replaces authentication data in a transcript.
pub const HIDDEN: &str = "[credentials hidden]";

/// A transcript sink, possibly absent.
#[derive(Clone, Default)]
pub(crate) struct Transcript {
    sink: Option<TranscriptFn>,
}

impl Transcript {
    pub(crate) fn new(sink: Option<TranscriptFn>) -> Transcript {
        Transcript { sink }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    pub(crate) fn line(&self, direction: Direction, text: &str) {
        if let Some(sink) = &self.sink {
            sink(direction, &replace_controls(text));
        }
    }

    /// Like `line` but builds the text only when someone listens.
    pub(crate) fn line_with(&self, direction: Direction, text: impl FnOnce() -> String) {
        if let Some(sink) = &self.sink {
            sink(direction, &replace_controls(&text()));
        }
    }
}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.sink.is_some() {
            "Transcript(on)"
        } else {
            "Transcript(off)"
        })
    }
}
