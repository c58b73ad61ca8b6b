//! Repairing one long line of a leaf part: re-encoding a text part as
//! quoted-printable, soft line breaks in a quoted-printable part, shorter
//! lines in a base64 part; and the check that no repair writes a line
//! that reads as a MIME delimiter.

use memchr::memmem;

use super::{Kind, LineFitter, LongLineError, State, HOLD_LIMIT, PIECE_BUFFER, REPAIRED_LINE};
use crate::message::encode::{Encoder, TransferEncoding};

use super::head::rewrite_encoding;

impl LineFitter {
    /// The current line (its first 998 octets or fewer in `partial`) is
    /// over the limit: start repairing it, or refuse.
    pub(super) fn long_start(&mut self, out: &mut Vec<u8>) -> Result<(), LongLineError> {
        let leaf = match &mut self.state {
            State::Leaf(leaf) => leaf,
            _ => return Err(self.error("it is outside any MIME part (a preamble or epilogue)")),
        };
        match leaf.kind {
            Kind::Opaque(why) => Err(self.error(why)),
            Kind::Qp | Kind::Base64 => Ok(()),
            Kind::Text => {
                if leaf.qp.is_none() {
                    if !leaf.held {
                        return Err(self.error(format!(
                            "its text part was already sent in part (only the first {} octets \
                             of a part are held for repair); encode that part as \
                             quoted-printable",
                            HOLD_LIMIT
                        )));
                    }
                    // Re-encode: new header block, then what was held.
                    let from = out.len();
                    rewrite_encoding(&self.held[..leaf.head_len], leaf.top, out);
                    let body = &self.held[leaf.head_len..];
                    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
                    let mut qp = Encoder::new(TransferEncoding::QuotedPrintable, true);
                    let mut scratch = Vec::new();
                    qp.encode(body, out, &mut scratch);
                    leaf.started = !self.held[leaf.head_len..].is_empty();
                    leaf.qp = Some(qp);
                    leaf.held = false;
                    self.held.clear();
                    self.check_repaired(out, from)?;
                }
                let State::Leaf(leaf) = &mut self.state else {
                    unreachable!("checked above")
                };
                let from = out.len();
                let mut scratch = Vec::new();
                let qp = leaf.qp.as_mut().expect("set above");
                if leaf.started {
                    qp.encode(b"\r\n", out, &mut scratch);
                }
                qp.encode(&self.partial, out, &mut scratch);
                leaf.started = true;
                self.partial.clear();
                self.check_repaired(out, from)
            }
        }
    }

    /// More of a long line.
    pub(super) fn long_piece(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), LongLineError> {
        let State::Leaf(leaf) = &mut self.state else {
            unreachable!("long lines are only repaired in leaf parts")
        };
        let from = out.len();
        match leaf.kind {
            Kind::Text => {
                let qp = leaf.qp.as_mut().expect("re-encoding");
                qp.encode(bytes, out, &mut Vec::new());
            }
            Kind::Qp | Kind::Base64 => {
                let base64 = leaf.kind == Kind::Base64;
                let mut bytes = bytes;
                loop {
                    let room = PIECE_BUFFER.saturating_sub(self.partial.len());
                    let take = room.min(bytes.len());
                    self.partial.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    self.write_pieces(base64, REPAIRED_LINE + 4, out)?;
                    if bytes.is_empty() {
                        break;
                    }
                }
            }
            Kind::Opaque(_) => unreachable!("refused in long_start"),
        }
        self.check_repaired(out, from)
    }

    /// The end of a long line.
    pub(super) fn long_end(&mut self, out: &mut Vec<u8>) -> Result<(), LongLineError> {
        let State::Leaf(leaf) = &self.state else {
            unreachable!("long lines are only repaired in leaf parts")
        };
        if matches!(leaf.kind, Kind::Qp | Kind::Base64) {
            let base64 = leaf.kind == Kind::Base64;
            let from = out.len();
            self.write_pieces(base64, REPAIRED_LINE, out)?;
            out.extend_from_slice(&self.partial);
            out.extend_from_slice(b"\r\n");
            self.partial.clear();
            self.check_repaired(out, from)?;
        }
        Ok(())
    }

    /// Writes lines of `partial` while more than `keep` octets are left:
    /// base64 cut at 76 characters, quoted-printable at 75 plus a soft
    /// break (never inside an `=XX` escape).
    fn write_pieces(
        &mut self,
        base64: bool,
        keep: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), LongLineError> {
        if base64 {
            if let Some(&bad) = self.partial.iter().find(|&&b| !is_base64(b)) {
                return Err(self.error(format!(
                    "its base64 part holds a character that is not base64 (0x{bad:02X})"
                )));
            }
        }
        let mut start = 0;
        while self.partial.len() - start > keep {
            let rest = &self.partial[start..];
            let cut = if base64 {
                REPAIRED_LINE
            } else {
                qp_cut(rest, REPAIRED_LINE - 1)
                    .ok_or_else(|| self.error("its quoted-printable text cannot be cut"))?
            };
            out.extend_from_slice(&rest[..cut]);
            out.extend_from_slice(if base64 { b"\r\n" } else { b"=\r\n" });
            start += cut;
        }
        self.partial.drain(..start);
        Ok(())
    }

    /// A repair must not write a line that reads as a MIME delimiter.
    pub(super) fn check_repaired(&self, out: &[u8], from: usize) -> Result<(), LongLineError> {
        if self.frames.is_empty() {
            return Ok(());
        }
        let start = from.saturating_sub(1);
        for i in memmem::find_iter(&out[start..], b"\n--") {
            let line = &out[start + i + 1..];
            let end = memchr::memchr(b'\r', line).unwrap_or(line.len());
            if self.delimiter(&line[..end]).is_some() {
                return Err(
                    self.error("repairing it would write a line that reads as a MIME boundary")
                );
            }
        }
        Ok(())
    }
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// Where to cut quoted-printable text so that the piece is at most `max`
/// characters and no `=XX` escape is split.
fn qp_cut(text: &[u8], max: usize) -> Option<usize> {
    let mut cut = max.min(text.len());
    while cut > 0 {
        let escape_split =
            (cut >= 1 && text[cut - 1] == b'=') || (cut >= 2 && text[cut - 2] == b'=');
        if !escape_split {
            return Some(cut);
        }
        cut -= 1;
    }
    None
}
