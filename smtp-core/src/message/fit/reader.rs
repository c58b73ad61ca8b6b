//! The line fitter as a reader, with the buffers a session keeps from
//! one message to the next.

use std::io::{self, Read};

use super::{LineFitter, LongLineError, LongLines};
use crate::data::ReadBlock;

/// A reader that fits the lines of the message it reads (see
/// [`LineFitter`]); a line that cannot be repaired is an
/// `io::ErrorKind::InvalidData` error carrying the [`LongLineError`].
pub(crate) struct FitLines<'a> {
    inner: &'a mut dyn Read,
    buffers: &'a mut FitBuffers,
    pos: usize,
    done: bool,
}

/// The fitter and its blocks, kept by a session across messages.
#[derive(Debug)]
pub(crate) struct FitBuffers {
    fitter: LineFitter,
    read: ReadBlock,
    out: Vec<u8>,
}

impl Default for FitBuffers {
    fn default() -> Self {
        FitBuffers {
            fitter: LineFitter::new(LongLines::Repair),
            read: ReadBlock::default(),
            out: Vec::new(),
        }
    }
}

impl FitBuffers {
    /// Clears what a message left and gives back oversized blocks.
    pub(crate) fn recycle(&mut self) {
        self.fitter.recycle();
        self.read.recycle();
        self.out.clear();
        if self.out.capacity() > 256 * 1024 {
            self.out = Vec::new();
        }
    }
}

impl<'a> FitLines<'a> {
    /// Fits `inner` with `policy`, through reused buffers.
    pub(crate) fn new(
        inner: &'a mut dyn Read,
        policy: LongLines,
        buffers: &'a mut FitBuffers,
    ) -> FitLines<'a> {
        buffers.fitter.reset(policy);
        buffers.out.clear();
        FitLines {
            inner,
            buffers,
            pos: 0,
            done: false,
        }
    }

    /// Reads and fits until `want` octets are ready or the message ended,
    /// so that a message of that size is refused before anything of it is
    /// sent.
    pub(crate) fn prefetch(&mut self, want: usize) -> io::Result<()> {
        while !self.done && self.buffers.out.len() - self.pos < want {
            self.fill()?;
        }
        Ok(())
    }

    /// Whether a line was repaired so far.
    pub(crate) fn repaired(&self) -> bool {
        self.buffers.fitter.repaired()
    }

    /// The whole message is in memory and was repaired: its new length.
    pub(crate) fn repaired_len(&self) -> Option<usize> {
        (self.done && self.buffers.fitter.repaired()).then(|| self.buffers.out.len() - self.pos)
    }

    fn fill(&mut self) -> io::Result<()> {
        let b = &mut *self.buffers;
        if self.pos == b.out.len() {
            b.out.clear();
            self.pos = 0;
        }
        let input = b
            .read
            .fill_from(&mut *self.inner, crate::data::DEFAULT_BLOCK_SIZE)?;
        let fitted = if input.is_empty() {
            self.done = true;
            b.fitter.finish(&mut b.out)
        } else {
            b.fitter.push(input, &mut b.out)
        };
        fitted.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

impl Read for FitLines<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buffers.out.len() && !self.done {
            self.fill()?;
        }
        let ready = &self.buffers.out[self.pos..];
        let n = ready.len().min(buf.len());
        buf[..n].copy_from_slice(&ready[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// The [`LongLineError`] an I/O error from [`FitLines`] carries, if any.
pub(crate) fn long_line_error(e: &io::Error) -> Option<&LongLineError> {
    e.get_ref()?.downcast_ref::<LongLineError>()
}
