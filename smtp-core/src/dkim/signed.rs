//! [`SignedReader`]: a composed message with its DKIM signature in front.
//! The message is encoded twice: once to hash it, once to send it (see
//! [`MessageReader::rewind`]), so nothing of it is held.

use std::io::{self, Cursor, Read};

use super::sign::DkimSigner;
use crate::error::Result;
use crate::message::MessageReader;

/// A composed message as sent: its `DKIM-Signature` fields (none when
/// unsigned), then the message. Made by [`DkimSigner::sign_reader`] or
/// [`SignedReader::unsigned`].
#[derive(Debug)]
pub struct SignedReader<'a> {
    head: Cursor<Vec<u8>>,
    reader: MessageReader<'a>,
}

impl<'a> SignedReader<'a> {
    /// The message without a signature.
    pub fn unsigned(reader: MessageReader<'a>) -> SignedReader<'a> {
        SignedReader {
            head: Cursor::new(Vec::new()),
            reader,
        }
    }

    /// The `DKIM-Signature` fields (empty when unsigned).
    pub fn signature(&self) -> &[u8] {
        self.head.get_ref()
    }

    /// The message's reader (see [`MessageReader::uses_8bit`] and
    /// [`MessageReader::buffer_capacity`]).
    pub fn message(&self) -> &MessageReader<'a> {
        &self.reader
    }
}

impl Read for SignedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        self.reader.read(buf)
    }
}

impl DkimSigner {
    /// Signs a composed message: reads `reader` to its end to hash it
    /// (file attachments included, block by block), rewinds it, and
    /// returns it with the signature in front. Errors:
    /// [`Error::BodyRead`](crate::Error::BodyRead) when an attachment
    /// file cannot be read.
    pub fn sign_reader<'a>(&self, mut reader: MessageReader<'a>) -> Result<SignedReader<'a>> {
        let signature = self.sign_message(&mut reader)?;
        reader.rewind();
        Ok(SignedReader {
            head: Cursor::new(signature),
            reader,
        })
    }
}
