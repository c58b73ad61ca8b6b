//! The baseline: a plain socket that speaks just enough SMTP (EHLO, AUTH
//! PLAIN, then per message `MAIL`/`RCPT` and `BDAT <size> LAST` when the
//! server offers CHUNKING, `DATA` otherwise) and copies the prepared
//! message (CRLF line endings, no line starting with a dot, so it needs no
//! encoding) to the socket unchanged: from memory, or with
//! `BENCH_STREAM=1` from its file with `std::io::copy` (sendfile/splice
//! on Linux). Commands are pipelined when offered. This is the least work
//! a client can do for the same bytes on the wire: what it achieves is
//! what the server and the loopback allow.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use smtp_bench::{Settings, Stopwatch};

/// Longest reply line accepted, and most lines in one reply.
const MAX_LINE: usize = 8192;
const MAX_LINES: usize = 100;

type BoxError = Box<dyn std::error::Error>;

struct Session {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    line: Vec<u8>,
}

impl Session {
    /// Reads one reply; returns its code and its lines' text.
    fn reply(&mut self) -> Result<(u16, Vec<String>), BoxError> {
        let mut lines = Vec::new();
        loop {
            self.line.clear();
            let n =
                Read::take(&mut self.reader, MAX_LINE as u64).read_until(b'\n', &mut self.line)?;
            if n == 0 {
                return Err("connection closed by the server".into());
            }
            let text = String::from_utf8_lossy(&self.line);
            let text = text.trim_end_matches(['\r', '\n']);
            if text.len() < 3 || !text.is_char_boundary(3) {
                return Err(format!("malformed reply line {text:?}").into());
            }
            let code: u16 = text[..3].parse()?;
            lines.push(text.get(4..).unwrap_or("").to_string());
            if text.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, lines));
            }
            if lines.len() >= MAX_LINES {
                return Err("reply too long".into());
            }
        }
    }

    /// Reads one reply and checks its code is `want` (or 2xx when 0).
    fn expect(&mut self, want: u16) -> Result<Vec<String>, BoxError> {
        let (code, lines) = self.reply()?;
        let ok = if want == 0 {
            (200..300).contains(&code)
        } else {
            code == want
        };
        if ok {
            Ok(lines)
        } else {
            Err(format!("unexpected reply {code} {}", lines.join(" / ")).into())
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), BoxError> {
        self.writer.write_all(bytes)?;
        Ok(())
    }
}

/// Standard base64 (RFC 4648) with padding, for AUTH PLAIN.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn run() -> Result<(), BoxError> {
    let s = Settings::from_env()?;
    let size = std::fs::metadata(&s.message)?.len();
    let in_memory = if s.stream {
        None
    } else {
        Some(std::fs::read(&s.message)?)
    };
    let stream = TcpStream::connect((s.host.as_str(), s.port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_write_timeout(Some(Duration::from_secs(120)))?;
    stream.set_nodelay(true)?;
    let mut sess = Session {
        reader: BufReader::with_capacity(16 * 1024, stream.try_clone()?),
        writer: stream,
        line: Vec::with_capacity(256),
    };
    sess.expect(220)?;
    sess.send(b"EHLO bench.example.test\r\n")?;
    let caps = sess.expect(250)?;
    let has = |kw: &str| {
        caps.iter().any(|l| {
            l.split(' ')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case(kw))
        })
    };
    let pipelining = s.pipelining && has("PIPELINING");
    let chunking = s.chunking && has("CHUNKING");
    if let Some((user, password)) = &s.credentials {
        let token = base64(format!("\0{user}\0{password}").as_bytes());
        sess.send(format!("AUTH PLAIN {token}\r\n").as_bytes())?;
        sess.expect(235)?;
    }
    let mut envelope = format!("MAIL FROM:<{}>\r\n", s.from).into_bytes();
    for r in &s.rcpts {
        envelope.extend_from_slice(format!("RCPT TO:<{r}>\r\n").as_bytes());
    }
    let rcpt_count = s.rcpts.len();
    // With PIPELINING the whole envelope and the body command go in one
    // write (and with BDAT a message held in memory goes with them).
    let mut head = envelope.clone();
    if chunking {
        head.extend_from_slice(format!("BDAT {size} LAST\r\n").as_bytes());
    } else {
        head.extend_from_slice(b"DATA\r\n");
    }
    // The body as it goes on the wire (with the DATA terminator), and, for
    // BDAT with PIPELINING, the whole transaction in one buffer.
    let mut tail = in_memory.clone().unwrap_or_default();
    if !chunking {
        tail.extend_from_slice(b".\r\n");
    }
    let mut one_write = head.clone();
    one_write.extend_from_slice(&tail);

    let watch = Stopwatch::start();
    for _ in 0..s.count {
        if pipelining {
            if chunking {
                match &in_memory {
                    Some(_) => sess.send(&one_write)?,
                    None => {
                        sess.send(&head)?;
                        std::io::copy(&mut File::open(&s.message)?, &mut sess.writer)?;
                    }
                }
                for _ in 0..=rcpt_count {
                    sess.expect(250)?;
                }
                sess.expect(250)?;
                continue;
            }
            sess.send(&head)?;
            for _ in 0..=rcpt_count {
                sess.expect(250)?;
            }
            sess.expect(354)?;
        } else {
            sess.send(format!("MAIL FROM:<{}>\r\n", s.from).as_bytes())?;
            sess.expect(250)?;
            for r in &s.rcpts {
                sess.send(format!("RCPT TO:<{r}>\r\n").as_bytes())?;
                sess.expect(250)?;
            }
            if chunking {
                sess.send(format!("BDAT {size} LAST\r\n").as_bytes())?;
            } else {
                sess.send(b"DATA\r\n")?;
                sess.expect(354)?;
            }
        }
        if in_memory.is_some() {
            sess.send(&tail)?;
        } else {
            std::io::copy(&mut File::open(&s.message)?, &mut sess.writer)?;
            if !chunking {
                sess.send(b".\r\n")?;
            }
        }
        sess.expect(250)?;
    }
    let measurement = watch.stop("raw", s.count, size * s.count);
    sess.send(b"QUIT\r\n")?;
    let _ = sess.reply();
    println!("{}", measurement.to_line());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-raw: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
