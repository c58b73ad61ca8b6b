//! Raw messages signed before they are sent: the message is hashed while
//! it is kept, in memory up to [`SPOOL_MEMORY`], else in a private
//! temporary file (created new, mode 0600, removed at once on Unix and
//! in any case when dropped), then sent from there after its signature.

use std::fs::{File, OpenOptions};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::sign::DkimSigner;
use crate::error::{Error, Result};

/// Largest message kept in memory while it is hashed (256 KiB); a larger
/// one goes to a temporary file.
pub const SPOOL_MEMORY: usize = 256 * 1024;

/// A message read once (while its signature was computed) and kept to be
/// read again.
#[derive(Debug)]
pub struct Spool {
    inner: Kept,
    path: Option<PathBuf>,
}

#[derive(Debug)]
enum Kept {
    Memory(Cursor<Vec<u8>>),
    File(File),
}

impl Spool {
    /// Whether the message went to a temporary file.
    pub fn on_disk(&self) -> bool {
        matches!(self.inner, Kept::File(_))
    }
}

impl Read for Spool {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Kept::Memory(cursor) => cursor.read(buf),
            Kept::File(file) => file.read(buf),
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes a temporary file still named in the directory when an error
/// ends the spooling before a [`Spool`] owns it.
struct Remover(Option<PathBuf>);

impl Drop for Remover {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn spool_error(action: &str, e: io::Error) -> Error {
    Error::BodyRead(io::Error::new(
        e.kind(),
        format!("DKIM: {action} the temporary copy of the message: {e}"),
    ))
}

/// A new private temporary file in [`std::env::temp_dir`].
fn temp_file() -> Result<(File, Option<PathBuf>)> {
    let dir = std::env::temp_dir();
    let mut last = None;
    for _ in 0..8 {
        let random: [u8; 12] = crate::message::random_bytes();
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!("smtp-dkim-{}-{name}.tmp", std::process::id()));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(file) => {
                // Unix: gone from the directory now, open until dropped.
                #[cfg(unix)]
                let path = std::fs::remove_file(&path).err().map(|_| path);
                #[cfg(not(unix))]
                let path = Some(path);
                return Ok((file, path));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(spool_error("creating", e)),
        }
    }
    Err(spool_error(
        "creating",
        last.unwrap_or_else(|| io::Error::other("no free name")),
    ))
}

impl DkimSigner {
    /// Reads a whole message from `input`, signing it as it comes and
    /// keeping it (see [`Spool`]); returns the `DKIM-Signature` fields
    /// and the message to send after them.
    ///
    /// Errors: [`Error::BodyRead`] when `input` or the temporary file
    /// fails, [`Error::InvalidInput`] for a header block over
    /// [`MAX_RAW_HEADER_BLOCK`](crate::message::MAX_RAW_HEADER_BLOCK).
    pub fn sign_spooled(&self, input: &mut dyn Read) -> Result<(Vec<u8>, Spool)> {
        let mut stream = self.stream();
        let mut memory = Vec::new();
        let mut file: Option<File> = None;
        let mut path = Remover(None);
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::BodyRead(e)),
            };
            let block = &buf[..n];
            stream.update(block)?;
            if file.is_none() && memory.len() + n > SPOOL_MEMORY {
                let (mut f, p) = temp_file()?;
                path.0 = p;
                f.write_all(&memory)
                    .map_err(|e| spool_error("writing", e))?;
                memory = Vec::new();
                file = Some(f);
            }
            match file.as_mut() {
                Some(f) => f.write_all(block).map_err(|e| spool_error("writing", e))?,
                None => memory.extend_from_slice(block),
            }
        }
        let signature = stream.finish()?;
        let inner = match file {
            Some(mut f) => {
                f.flush().map_err(|e| spool_error("writing", e))?;
                f.seek(SeekFrom::Start(0))
                    .map_err(|e| spool_error("reading", e))?;
                Kept::File(f)
            }
            None => Kept::Memory(Cursor::new(memory)),
        };
        Ok((
            signature,
            Spool {
                inner,
                path: path.0.take(),
            },
        ))
    }
}
