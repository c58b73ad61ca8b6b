//! Lines that fit: no line of a message over 998 octets reaches the wire
//! (RFC 5322 2.1.1, RFC 5321 4.5.3.1.6). Strict servers refuse such a
//! message only after its whole body was sent (`500 Line too long`), and
//! PHP's `mail()` with one-line HTML produces them all the time.
//!
//! [`LineFitter`] streams a message through and, with
//! [`LongLines::Repair`], repairs what can be repaired without changing
//! what the message's reader sees:
//!
//! * a header line is folded at whitespace (unfolding gives it back);
//! * a line of a quoted-printable part gets soft line breaks (`=` CRLF),
//!   never inside an `=XX` escape;
//! * a line of a base64 part is cut into 76-character lines (decoders
//!   ignore line breaks);
//! * a text part in 7bit, 8bit or binary (or a message without MIME
//!   headers, which is `text/plain`) is re-encoded as quoted-printable and
//!   its `Content-Transfer-Encoding` set accordingly (`MIME-Version: 1.0`
//!   added to a message that had none).
//!
//! Everything else is refused with a [`LongLineError`]: a header line
//! without whitespace to fold at, a long line in a non-text part that is
//! not base64 or quoted-printable, in a preamble or epilogue, in a
//! `message/*` or unknown encoding, anything in a signed message
//! (`DKIM-Signature`, `ARC-Message-Signature`, inside `multipart/signed`
//! or `multipart/encrypted`), and any long line at all with
//! [`LongLines::Refuse`].
//!
//! Re-encoding a part changes its headers, which come before its body: a
//! text part is therefore held back (at most [`HOLD_LIMIT`] octets) until
//! it ends or a long line shows up. A long line further into a larger
//! text part can no longer be repaired and is refused; the session then
//! ends the transaction without the end of data, so nothing is delivered
//! (see `Client::send`). Line breaks come out as CRLF.

use memchr::memchr2;

use super::encode::Encoder;
use super::header::MAX_LINE;
use super::raw::MAX_RAW_HEADER_BLOCK;

mod head;
mod reader;
mod repair;

use head::{fold_head, is_field_line, HeadInfo};
pub(crate) use reader::long_line_error;

/// Largest text part held back while it may still need re-encoding (1 MiB).
pub const HOLD_LIMIT: usize = 1024 * 1024;

/// Longest line a repair writes (RFC 2045's 76 characters).
const REPAIRED_LINE: usize = 76;

/// A long line of a quoted-printable or base64 part is buffered up to this
/// much before pieces of it are written.
const PIECE_BUFFER: usize = 4096;

/// What to do with a message that has a line over 998 octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LongLines {
    /// Repair it where the reader sees the same message (folded headers,
    /// soft line breaks, quoted-printable), refuse it where that is not
    /// possible. The default.
    #[default]
    Repair,
    /// Refuse it, whatever it is (for messages that must go out exactly as
    /// they are, such as signed ones).
    Refuse,
}

impl LongLines {
    /// `"repair"` or `"refuse"` (the URL option `long_lines`).
    pub fn from_name(name: &str) -> Option<LongLines> {
        match name.to_ascii_lowercase().as_str() {
            "repair" => Some(LongLines::Repair),
            "refuse" => Some(LongLines::Refuse),
            _ => None,
        }
    }

    /// The name [`from_name`](Self::from_name) takes.
    pub fn as_str(self) -> &'static str {
        match self {
            LongLines::Repair => "repair",
            LongLines::Refuse => "refuse",
        }
    }
}

/// A message line over 998 octets that could not be repaired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the message is longer than 998 octets and {reason}")]
pub struct LongLineError {
    /// The line's number, counted from 1 at the first header line.
    pub line: u64,
    /// Why it could not be repaired.
    pub reason: String,
}

/// The transfer encoding of a leaf part, as far as repairs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A text part in 7bit, 8bit or binary: re-encodable.
    Text,
    /// Quoted-printable: soft line breaks.
    Qp,
    /// Base64: shorter lines.
    Base64,
    /// Anything else: a long line is refused for this reason.
    Opaque(&'static str),
}

#[derive(Debug)]
struct Leaf {
    kind: Kind,
    /// The part (header block first) is in `held`, not yet written.
    held: bool,
    /// Octets of `held` that are the header block.
    head_len: usize,
    /// Re-encoding the part as quoted-printable.
    qp: Option<Encoder>,
    /// A line went into the re-encoder (the next one needs a break first).
    started: bool,
    /// The part is the message itself (MIME-Version may be missing).
    top: bool,
}

#[derive(Debug)]
enum State {
    /// Reading an entity's header block into `head`.
    Headers { top: bool },
    /// A preamble or an epilogue.
    Between,
    /// A leaf part's body.
    Leaf(Leaf),
}

/// An enclosing multipart.
#[derive(Debug)]
struct Frame {
    boundary: Vec<u8>,
    /// `multipart/signed` or `multipart/encrypted`: nothing inside may change.
    signed: bool,
}

/// The streaming line fitter; see the module documentation.
#[derive(Debug)]
pub struct LineFitter {
    policy: LongLines,
    /// Lines completed so far.
    lines: u64,
    pending_cr: bool,
    /// The start of the current body line (at most 998 octets, or a long
    /// line's unwritten rest in a base64 or quoted-printable part).
    partial: Vec<u8>,
    /// The current line is over 998 octets and is being repaired.
    long: bool,
    state: State,
    head: Vec<u8>,
    /// Where the current line starts in `head`.
    head_line: usize,
    held: Vec<u8>,
    frames: Vec<Frame>,
    /// The message carries a signature over its headers and body.
    signed: bool,
    /// Something was repaired: the output is longer than the input.
    repaired: bool,
}

impl LineFitter {
    /// A fitter at the start of a message.
    pub fn new(policy: LongLines) -> LineFitter {
        LineFitter {
            policy,
            lines: 0,
            pending_cr: false,
            partial: Vec::new(),
            long: false,
            state: State::Headers { top: true },
            head: Vec::new(),
            head_line: 0,
            held: Vec::new(),
            frames: Vec::new(),
            signed: false,
            repaired: false,
        }
    }

    /// Starts a new message with `policy`, keeping the buffers.
    pub fn reset(&mut self, policy: LongLines) {
        self.policy = policy;
        self.lines = 0;
        self.pending_cr = false;
        self.partial.clear();
        self.long = false;
        self.state = State::Headers { top: true };
        self.head.clear();
        self.head_line = 0;
        self.held.clear();
        self.frames.clear();
        self.signed = false;
        self.repaired = false;
    }

    /// Fits the next piece of the message, appending what is ready to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), LongLineError> {
        if input.is_empty() {
            // Nothing to take; a CR pending from the last push stays so.
            return Ok(());
        }
        if std::mem::take(&mut self.pending_cr) && input.first() == Some(&b'\n') {
            input = &input[1..];
        }
        while !input.is_empty() {
            let Some(i) = memchr2(b'\r', b'\n', input) else {
                return self.piece(input, false, out);
            };
            self.piece(&input[..i], true, out)?;
            let cr = input[i] == b'\r';
            input = &input[i + 1..];
            if cr {
                match input.first() {
                    Some(b'\n') => input = &input[1..],
                    None => self.pending_cr = true,
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Ends the message: writes whatever is still held.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), LongLineError> {
        self.pending_cr = false;
        let unterminated = match self.state {
            State::Headers { .. } => self.head_line < self.head.len(),
            _ => self.long || !self.partial.is_empty(),
        };
        if unterminated {
            self.piece(&[], true, out)?;
        }
        if let State::Headers { top } = self.state {
            self.end_of_head(top, out)?;
        }
        self.end_entity(out)?;
        self.frames.clear();
        Ok(())
    }

    /// Whether a line of this message was repaired so far.
    pub fn repaired(&self) -> bool {
        self.repaired
    }

    /// Fits a whole message held in memory.
    pub fn fit_all(policy: LongLines, message: &[u8]) -> Result<Vec<u8>, LongLineError> {
        let mut out = Vec::with_capacity(message.len() + message.len() / 16 + 16);
        let mut fitter = LineFitter::new(policy);
        fitter.push(message, &mut out)?;
        fitter.finish(&mut out)?;
        Ok(out)
    }

    /// Bytes of buffer held between messages.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.partial.capacity() + self.head.capacity() + self.held.capacity()
    }

    /// Gives back buffers a large message needed.
    pub(crate) fn recycle(&mut self) {
        for v in [&mut self.partial, &mut self.head, &mut self.held] {
            v.clear();
            if v.capacity() > 64 * 1024 {
                *v = Vec::new();
            }
        }
    }

    fn error(&self, reason: impl Into<String>) -> LongLineError {
        LongLineError {
            line: self.lines + 1,
            reason: reason.into(),
        }
    }

    /// Part of the current line; `ends` when a line break follows it.
    fn piece(&mut self, bytes: &[u8], ends: bool, out: &mut Vec<u8>) -> Result<(), LongLineError> {
        if let State::Headers { top } = self.state {
            return self.head_piece(top, bytes, ends, out);
        }
        if !self.long {
            if self.partial.is_empty() && ends && bytes.len() <= MAX_LINE {
                self.body_line(bytes, out)?;
                self.lines += 1;
                return Ok(());
            }
            if self.partial.len() + bytes.len() <= MAX_LINE {
                self.partial.extend_from_slice(bytes);
                if ends {
                    let line = std::mem::take(&mut self.partial);
                    let done = self.body_line(&line, out);
                    self.partial = line;
                    self.partial.clear();
                    done?;
                    self.lines += 1;
                }
                return Ok(());
            }
            self.long_start(out)?;
            self.long = true;
            self.repaired = true;
        }
        self.long_piece(bytes, out)?;
        if ends {
            self.long_end(out)?;
            self.long = false;
            self.lines += 1;
        }
        Ok(())
    }

    /// A piece of a header line: collected whole in `head`.
    fn head_piece(
        &mut self,
        top: bool,
        bytes: &[u8],
        ends: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), LongLineError> {
        if self.head.len() + bytes.len() > MAX_RAW_HEADER_BLOCK {
            // Not a header block this library can hold: the rest goes out
            // as it is, and a long line in it is refused.
            self.head.extend_from_slice(bytes);
            return self.not_a_head(ends, out, "it is in a header block over 1 MiB");
        }
        self.head.extend_from_slice(bytes);
        if !ends {
            return Ok(());
        }
        let line = &self.head[self.head_line..];
        if let Some((k, closing)) = self.delimiter(line) {
            // A part that ends inside its header block.
            let line = self.head.split_off(self.head_line);
            self.end_of_head(top, out)?;
            self.end_entity(out)?;
            self.lines += 1;
            return self.on_delimiter(k, closing, &line, out);
        }
        let blank = line.is_empty();
        let field = blank || is_field_line(line);
        self.head.extend_from_slice(b"\r\n");
        self.lines += 1;
        if blank {
            return self.end_of_head(top, out);
        }
        if !field {
            self.lines -= 1;
            return self.not_a_head(true, out, "the message's header block is malformed");
        }
        self.head_line = self.head.len();
        Ok(())
    }

    /// The header block turned out not to be one: written as it is, and
    /// the rest of the entity is an opaque body.
    fn not_a_head(
        &mut self,
        ended: bool,
        out: &mut Vec<u8>,
        why: &'static str,
    ) -> Result<(), LongLineError> {
        let top = matches!(self.state, State::Headers { top: true });
        let long_head = self
            .head
            .split(|&b| b == b'\n')
            .any(|l| l.strip_suffix(b"\r").unwrap_or(l).len() > MAX_LINE);
        // The line that ends the block is still being read when `ended` is false.
        let mut rest = Vec::new();
        if !ended {
            rest = self.head.split_off(self.head_line);
        } else if !self.head.ends_with(b"\n") {
            self.head.extend_from_slice(b"\r\n");
        }
        if long_head {
            return Err(self.error(why));
        }
        out.extend_from_slice(&self.head);
        self.head.clear();
        self.head_line = 0;
        self.state = State::Leaf(Leaf {
            kind: Kind::Opaque(why),
            held: false,
            head_len: 0,
            qp: None,
            started: false,
            top,
        });
        if ended {
            self.lines += 1;
            Ok(())
        } else {
            self.piece(&rest, false, out)
        }
    }

    /// The header block of an entity is complete: decide what its body is.
    fn end_of_head(&mut self, top: bool, out: &mut Vec<u8>) -> Result<(), LongLineError> {
        let info = HeadInfo::read(&self.head);
        if top {
            // Once signed, the rest of the message stays as it is.
            self.signed |= info.signature;
        }
        let frozen = self.frozen_reason();
        if info.long_line {
            let why = match (frozen, self.policy) {
                (Some(why), _) => Some(why),
                (None, LongLines::Refuse) => Some(REFUSE),
                (None, LongLines::Repair) => None,
            };
            let folded = match why {
                Some(why) => Err(why.to_string()),
                None => fold_head(&self.head),
            };
            match folded {
                Ok(folded) => {
                    self.head = folded;
                    self.repaired = true;
                }
                Err(why) => {
                    let line = self.long_head_line();
                    return Err(LongLineError { line, reason: why });
                }
            }
        }
        let media = info.media_type.as_deref().unwrap_or("text/plain");
        if let (Some(sub), Some(boundary)) = (media.strip_prefix("multipart/"), info.boundary) {
            out.extend_from_slice(&self.head);
            self.frames.push(Frame {
                boundary,
                signed: sub == "signed" || sub == "encrypted",
            });
            self.state = State::Between;
        } else if media == "message/rfc822" || media == "message/global" {
            // An attached message is a message: its own MIME-Version and
            // signatures count like the outer one's.
            out.extend_from_slice(&self.head);
            self.state = State::Headers { top: true };
        } else {
            let cte = info.encoding.as_deref().unwrap_or("7bit");
            let kind = match (frozen, self.policy) {
                (Some(why), _) => Kind::Opaque(why),
                (None, LongLines::Refuse) => Kind::Opaque(REFUSE),
                (None, LongLines::Repair) => match cte {
                    "base64" => Kind::Base64,
                    "quoted-printable" => Kind::Qp,
                    "7bit" | "8bit" | "binary" if media.starts_with("text/") => Kind::Text,
                    "7bit" | "8bit" | "binary" => Kind::Opaque(
                        "it is in a non-text part that is neither base64 nor quoted-printable; \
                         send that part base64-encoded",
                    ),
                    _ => {
                        Kind::Opaque("its part has a transfer encoding this library cannot repair")
                    }
                },
            };
            let held = kind == Kind::Text;
            if held {
                self.held.extend_from_slice(&self.head);
            } else {
                out.extend_from_slice(&self.head);
            }
            self.state = State::Leaf(Leaf {
                kind,
                held,
                head_len: self.head.len(),
                qp: None,
                started: false,
                top,
            });
        }
        self.head.clear();
        self.head_line = 0;
        Ok(())
    }

    /// The number of the first over-long line of `head`.
    fn long_head_line(&self) -> u64 {
        let count = self.head.iter().filter(|&&b| b == b'\n').count() as u64;
        let first = self.lines.saturating_sub(count);
        let index = self
            .head
            .split(|&b| b == b'\n')
            .position(|l| l.strip_suffix(b"\r").unwrap_or(l).len() > MAX_LINE)
            .unwrap_or(0) as u64;
        first + index + 1
    }

    /// Why nothing of the current part may change, if so.
    fn frozen_reason(&self) -> Option<&'static str> {
        if self.signed {
            Some(
                "the message is signed (DKIM-Signature or ARC-Message-Signature): \
                 repairing it would break the signature",
            )
        } else if self.frames.iter().any(|f| f.signed) {
            Some("it is inside a multipart/signed or multipart/encrypted part, which must not change")
        } else {
            None
        }
    }

    /// A complete body line of at most 998 octets.
    fn body_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Result<(), LongLineError> {
        if let Some((k, closing)) = self.delimiter(line) {
            self.end_entity(out)?;
            return self.on_delimiter(k, closing, line, out);
        }
        let State::Leaf(leaf) = &mut self.state else {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
            return Ok(());
        };
        if let Some(qp) = leaf.qp.as_mut() {
            let from = out.len();
            let mut scratch = Vec::new();
            if leaf.started {
                qp.encode(b"\r\n", out, &mut scratch);
            }
            qp.encode(line, out, &mut scratch);
            leaf.started = true;
            return self.check_repaired(out, from);
        }
        if leaf.held {
            self.held.extend_from_slice(line);
            self.held.extend_from_slice(b"\r\n");
            if self.held.len() > HOLD_LIMIT {
                release(&mut self.held, out);
                leaf.held = false;
            }
            return Ok(());
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// The frame whose delimiter `line` is, and whether it closes it.
    fn delimiter(&self, line: &[u8]) -> Option<(usize, bool)> {
        let rest = line.strip_prefix(b"--")?;
        self.frames.iter().enumerate().rev().find_map(|(k, f)| {
            let after = rest.strip_prefix(f.boundary.as_slice())?;
            let (closing, after) = match after.strip_prefix(b"--") {
                Some(a) => (true, a),
                None => (false, after),
            };
            after
                .iter()
                .all(|&b| b == b' ' || b == b'\t')
                .then_some((k, closing))
        })
    }

    /// Writes a delimiter line and moves to what follows it.
    fn on_delimiter(
        &mut self,
        k: usize,
        closing: bool,
        line: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), LongLineError> {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        if closing {
            self.frames.truncate(k);
            self.state = State::Between;
        } else {
            self.frames.truncate(k + 1);
            self.state = State::Headers { top: false };
        }
        Ok(())
    }

    /// The current entity ends (a delimiter or the end of the message).
    fn end_entity(&mut self, out: &mut Vec<u8>) -> Result<(), LongLineError> {
        if let State::Headers { top } = self.state {
            self.end_of_head(top, out)?;
        }
        if let State::Leaf(leaf) = &mut self.state {
            if let Some(mut qp) = leaf.qp.take() {
                qp.finish(out, &mut Vec::new());
                if leaf.started {
                    out.extend_from_slice(b"\r\n");
                }
            } else if leaf.held {
                release(&mut self.held, out);
            }
            leaf.held = false;
        }
        self.state = State::Between;
        Ok(())
    }
}

/// Moves what was held to `out`: by swapping the two when `out` is empty
/// (the usual case), so a held part is not copied and its MiB not held
/// twice.
fn release(held: &mut Vec<u8>, out: &mut Vec<u8>) {
    if out.is_empty() {
        std::mem::swap(held, out);
    } else {
        out.extend_from_slice(held);
    }
    held.clear();
}

/// Refusal reason under [`LongLines::Refuse`].
const REFUSE: &str = "long lines are set to be refused (long_lines=refuse)";

#[cfg(test)]
mod tests;
