//! The message body inside the engine: the caller's bytes as the driver
//! hands them in, through the line fitter, read ahead before anything
//! is sent, then cut into BDAT chunks or encoded for DATA.

use std::io;

use super::wire::Link;
use crate::data::{BdatNormalizer, DataEncoder, DEFAULT_BLOCK_SIZE};
use crate::error::Phase;
use crate::message::{LineFitter, LongLines};

/// Size of every BDAT chunk but the last.
pub(crate) const BDAT_CHUNK: usize = 1024 * 1024;

/// The fitted body of the current message, read ahead as far as asked.
pub(crate) struct Body {
    link: Link,
    fitter: LineFitter,
    fitted: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Body {
    pub(crate) fn new(link: Link) -> Body {
        Body {
            link,
            fitter: LineFitter::new(LongLines::Repair),
            fitted: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    /// Starts a message with `policy`, keeping the buffers.
    pub(crate) fn start(&mut self, policy: LongLines) {
        self.fitter.reset(policy);
        self.fitted.clear();
        self.pos = 0;
        self.done = false;
    }

    /// Gives back what a large message needed.
    pub(crate) fn recycle(&mut self) {
        self.fitter.recycle();
        self.fitted.clear();
        self.pos = 0;
        if self.fitted.capacity() > 256 * 1024 {
            self.fitted = Vec::new();
        }
    }

    /// Whether a line was repaired so far.
    pub(crate) fn repaired(&self) -> bool {
        self.fitter.repaired()
    }

    /// The whole message is in memory and was repaired: its new length.
    pub(crate) fn repaired_len(&self) -> Option<usize> {
        (self.done && self.fitter.repaired()).then(|| self.fitted.len() - self.pos)
    }

    /// True when the whole body is read ahead and, even with every line
    /// ending doubled, makes one BDAT chunk of at most `chunk` octets.
    pub(crate) fn fits_one_chunk(&self, chunk: usize) -> bool {
        self.done && (self.fitted.len() - self.pos) * 2 + 2 <= chunk
    }

    /// Reads and fits until `want` octets are ready or the message ended,
    /// so that a message of that size is refused before anything of it
    /// is sent.
    pub(crate) async fn prefetch(&mut self, want: usize) -> io::Result<()> {
        while !self.done && self.fitted.len() - self.pos < want {
            self.fill().await?;
        }
        Ok(())
    }

    /// Fitted octets ready now (at least one unless the body ended),
    /// marked as taken.
    async fn next(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.fitted.len() && !self.done {
            self.fill().await?;
        }
        let start = self.pos;
        self.pos = self.fitted.len();
        Ok(&self.fitted[start..])
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.pos == self.fitted.len() {
            self.fitted.clear();
            self.pos = 0;
        }
        let (fitter, fitted) = (&mut self.fitter, &mut self.fitted);
        let mut outcome = Ok(());
        let more = self
            .link
            .body(DEFAULT_BLOCK_SIZE, Phase::Body, &mut |input| {
                outcome = fitter.push(input, fitted);
            })
            .await?;
        if !more {
            self.done = true;
            outcome = self.fitter.finish(&mut self.fitted);
        }
        outcome.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Encodes the rest of the body for DATA, queueing it a block at a
    /// time (each to be written within `timeout`); the last block, with
    /// the terminator, is left in `pending` for the caller to queue as
    /// the end of the message. Returns the body octets read.
    pub(crate) async fn encode_data(
        &mut self,
        pending: &mut Vec<u8>,
        timeout: std::time::Duration,
    ) -> io::Result<u64> {
        let link = self.link.clone();
        let mut encoder = DataEncoder::new();
        let mut total: u64 = 0;
        pending.clear();
        loop {
            let input = self.next().await?;
            if input.is_empty() {
                break;
            }
            total = total.saturating_add(input.len() as u64);
            // More body follows, so what is pending is not the final block.
            if pending.len() >= DEFAULT_BLOCK_SIZE {
                link.write(pending, Phase::Body, timeout);
                pending.clear();
            }
            encoder.encode(input, pending);
        }
        encoder.finish(pending);
        Ok(total)
    }
}

/// Cuts the fitted body into normalised BDAT chunks of exactly
/// [`BDAT_CHUNK`] octets (the last one shorter).
pub(crate) struct BdatChunks<'a> {
    body: &'a mut Body,
    normalizer: BdatNormalizer,
    pending: &'a mut Vec<u8>,
}

impl<'a> BdatChunks<'a> {
    pub(crate) fn new(body: &'a mut Body, pending: &'a mut Vec<u8>) -> BdatChunks<'a> {
        pending.clear();
        BdatChunks {
            body,
            normalizer: BdatNormalizer::new(),
            pending,
        }
    }

    /// Whether the line fitter repaired something so far.
    pub(crate) fn repaired(&self) -> bool {
        self.body.repaired()
    }

    /// Replaces `out` with the next chunk; true when it ends the body.
    pub(crate) async fn next(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        out.clear();
        while self.pending.len() <= BDAT_CHUNK {
            let input = self.body.next().await?;
            if input.is_empty() {
                self.normalizer.finish(self.pending);
                // Swapped, not copied: both vectors go back to the session.
                std::mem::swap(out, self.pending);
                return Ok(true);
            }
            self.normalizer.encode(input, self.pending);
        }
        out.extend_from_slice(&self.pending[..BDAT_CHUNK]);
        self.pending.drain(..BDAT_CHUNK);
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};
    use std::time::Instant;

    use super::*;
    use crate::engine::wire::Wire;
    use crate::message::long_line_error;

    /// Runs `f` on a body whose bytes are all handed in at once.
    fn with_body<T>(message: &[u8], f: impl AsyncFnOnce(&mut Body) -> T) -> T {
        let link = Link(Arc::new(Mutex::new(Wire::new(Instant::now()))));
        link.lock().body_data(message);
        link.lock().body_data(&[]);
        let mut body = Body::new(link);
        body.start(LongLines::Repair);
        let mut future = std::pin::pin!(f(&mut body));
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("the whole body was there"),
        }
    }

    fn long_text(n: usize) -> String {
        "x".repeat(n)
    }

    #[test]
    fn the_reader_reports_the_typed_error() {
        let m = format!("Subject: x\r\nX-A: {}\r\n\r\nbody\r\n", long_text(1500));
        let err = with_body(m.as_bytes(), async |b| b.prefetch(1024).await).unwrap_err();
        assert_eq!(long_line_error(&err).unwrap().line, 2);
        let m = format!("Subject: x\r\nX-A: {}\r\n\r\nbody\r\n", "a ".repeat(600));
        let len = with_body(m.as_bytes(), async |b| {
            b.prefetch(1 << 20).await.unwrap();
            b.repaired_len()
        });
        assert_eq!(len, Some(m.len() + 2 * (1200 / 78)));
        let (len, all) = with_body(b"Subject: x\r\n\r\nbody\r\n", async |b| {
            b.prefetch(1 << 20).await.unwrap();
            let len = b.repaired_len();
            (len, b.next().await.unwrap().to_vec())
        });
        assert_eq!(len, None, "nothing to repair");
        assert_eq!(all, b"Subject: x\r\n\r\nbody\r\n");
    }

    #[test]
    fn bdat_chunks_are_cut_at_the_chunk_size() {
        let mut message = b"Subject: x\r\n\r\n".to_vec();
        message.extend("line of text\r\n".repeat(BDAT_CHUNK / 14 + 10).bytes());
        let sizes = with_body(&message, async |b| {
            let mut pending = Vec::new();
            let mut chunks = BdatChunks::new(b, &mut pending);
            let mut out = Vec::new();
            let mut sizes = Vec::new();
            loop {
                let last = chunks.next(&mut out).await.unwrap();
                sizes.push(out.len());
                if last {
                    break sizes;
                }
            }
        });
        // Every chunk but the last is full.
        assert_eq!(sizes[0], BDAT_CHUNK);
        assert!(sizes.len() == 2 && sizes[1] > 0, "{sizes:?}");
    }
}
