//! [`SignedReader`]: a composed message with its DKIM signature in front.
//! A message of up to [`KEPT_MESSAGE`] octets is kept as it is hashed and
//! sent from there; a larger one is encoded twice, once to hash it, once
//! to send it (see [`MessageReader::rewind`]), so nothing of it is held.

use std::io::{self, Cursor, Read};

use super::sign::DkimSigner;
use crate::error::{Error, Result};
use crate::message::MessageReader;

/// The largest composed message kept in memory while it is signed, rather
/// than encoded a second time to be sent (most mail is far smaller).
pub const KEPT_MESSAGE: usize = 64 * 1024;

/// A composed message as sent: its `DKIM-Signature` fields (none when
/// unsigned), then the message. Made by [`DkimSigner::sign_reader`] or
/// [`SignedReader::unsigned`].
#[derive(Debug)]
pub struct SignedReader<'a> {
    head: Cursor<Vec<u8>>,
    /// The whole message as hashed, when it was small enough to keep.
    kept: Option<Cursor<Vec<u8>>>,
    reader: MessageReader<'a>,
}

impl<'a> SignedReader<'a> {
    /// The message without a signature.
    pub fn unsigned(reader: MessageReader<'a>) -> SignedReader<'a> {
        SignedReader {
            head: Cursor::new(Vec::new()),
            kept: None,
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
        match &mut self.kept {
            Some(kept) => kept.read(buf),
            None => self.reader.read(buf),
        }
    }
}

impl DkimSigner {
    /// Signs a composed message: reads `reader` to its end to hash it
    /// (file attachments included, block by block) and returns it with the
    /// signature in front: from the bytes read when the message is at
    /// most [`KEPT_MESSAGE`] octets, else rewound to be encoded again as
    /// it is sent. Errors: [`Error::BodyRead`](crate::Error::BodyRead)
    /// when an attachment file cannot be read.
    pub fn sign_reader<'a>(&self, mut reader: MessageReader<'a>) -> Result<SignedReader<'a>> {
        let mut stream = self.stream();
        let mut kept = Some(Vec::new());
        let mut buf = vec![0; 16 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::BodyRead(e)),
            };
            stream.update(&buf[..n])?;
            if let Some(bytes) = &mut kept {
                if bytes.len() + n <= KEPT_MESSAGE {
                    bytes.extend_from_slice(&buf[..n]);
                } else {
                    kept = None;
                }
            }
        }
        let signature = stream.finish()?;
        if kept.is_none() {
            reader.rewind();
        }
        Ok(SignedReader {
            head: Cursor::new(signature),
            kept: kept.map(Cursor::new),
            reader,
        })
    }
}
