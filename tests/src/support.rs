//! Shared pieces of the scripted-server suites (faults, TLS, smuggling,
//! injection, the fault matrix, secrets, load): the usual script
//! fragments for the [`ScriptedServer`](crate::scripted::ScriptedServer)
//! (and, re-exported from [`script`](crate::script), the script language
//! and the [`Fault`] runner), the expected wire lines, a transcript
//! collector, bodies that arrive in awkward pieces, and checks of what a
//! DATA or BDAT body looks like on the wire.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::driver::Client;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use smtp_core::{Config, Direction, Envelope, Error};

use crate::scripted::{expect, hello, reply, Capture, Step, CLIENT_NAME};

pub use crate::script::{class, steps, Fault, Session};

/// The envelope sender the suites use.
pub const FROM: &str = "sender@example.test";
/// The first recipient.
pub const TO: &str = "rcpt@example.test";
/// The second recipient.
pub const TO2: &str = "rcpt2@example.test";

/// [`ehlo_line`] as a constant.
pub const EHLO: &str = "EHLO client.test";
/// `MAIL FROM:<`[`FROM`]`>` as a constant.
pub const MAIL: &str = "MAIL FROM:<sender@example.test>";
/// `RCPT TO:<`[`TO`]`>` as a constant.
pub const RCPT: &str = "RCPT TO:<rcpt@example.test>";

/// The user name of the password and token credentials.
pub const USER: &str = "alice@example.test";
/// The password the suites log in with.
pub const PASSWORD: &str = "s3cret-Pa55word";

/// How long a script waits for the client to hang up.
pub const HANGUP: Duration = Duration::from_secs(3);

/// A small well-formed message (CRLF, no line starting with a dot).
pub const SMALL_MESSAGE: &[u8] =
    b"From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: test\r\n\r\nHello.\r\n";

/// `EHLO client.test`, the line the client sends with the scripted config.
pub fn ehlo_line() -> String {
    format!("EHLO {CLIENT_NAME}")
}

/// `MAIL FROM:<from>` (no parameters).
pub fn mail_line(from: &str) -> String {
    format!("MAIL FROM:<{from}>")
}

/// `RCPT TO:<to>`.
pub fn rcpt_line(to: &str) -> String {
    format!("RCPT TO:<{to}>")
}

/// Waits [`HANGUP`] for the client to close (a `QUIT` is tolerated).
pub fn hangup() -> Step {
    Step::ExpectClose(HANGUP)
}

/// `QUIT`, `221`, then the client closes.
pub fn quit_steps() -> Vec<Step> {
    vec![expect("QUIT"), reply("221 2.0.0 Bye"), hangup()]
}

/// Lines each terminated with CRLF: the expected wire transcript.
pub fn wire<S: AsRef<str>>(lines: &[S]) -> String {
    lines
        .iter()
        .map(|l| format!("{}\r\n", l.as_ref()))
        .collect()
}

/// `body` as DATA puts it on the wire when it needs no change (CRLF line
/// ends, no leading dots): the body and the final `.` line.
pub fn on_the_wire(body: &[u8]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.extend_from_slice(b".\r\n");
    v
}

/// The command lines of one transaction from [`FROM`] to `to` (without
/// the body): MAIL, each RCPT, DATA.
pub fn transaction_lines(to: &[&str]) -> Vec<String> {
    let mut v = vec![mail_line(FROM)];
    v.extend(to.iter().map(|t| rcpt_line(t)));
    v.push("DATA".into());
    v
}

/// Base64 (standard alphabet, padded).
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

/// Connects; panics if that fails.
pub fn connect(config: Config) -> Client {
    Client::connect(config).expect("connect")
}

/// Connects, which must fail; returns the error.
pub fn connect_err(config: Config) -> Error {
    Client::connect(config).expect_err("connect must fail")
}

/// The command lines the server read, with one trailing `QUIT` removed
/// (a client may say goodbye after a fatal reply or not).
pub fn lines_without_final_quit(cap: &Capture) -> Vec<String> {
    let mut lines = cap.lines.clone();
    if lines.last().is_some_and(|l| l == "QUIT") {
        lines.pop();
    }
    lines
}

/// Panics unless less than `limit` passed since `start`.
#[track_caller]
pub fn assert_elapsed_below(start: Instant, limit: Duration) {
    let elapsed = start.elapsed();
    assert!(elapsed < limit, "took {elapsed:?}, limit {limit:?}");
}

/// Concatenates script fragments.
pub fn script(parts: Vec<Vec<Step>>) -> Vec<Step> {
    parts.into_iter().flatten().collect()
}

/// The envelope [`FROM`] → [`TO`].
pub fn envelope() -> Envelope {
    Envelope::new(FROM, [TO]).expect("a valid envelope")
}

/// A server that greets, answers EHLO with `extensions`, takes one
/// message (non-pipelined DATA, or one `BDAT n LAST` when `chunking`),
/// then QUIT. The body lands in [`Capture::bodies`](crate::scripted::Capture::bodies).
pub fn one_message_script(
    extensions: &[&str],
    from: &str,
    to: &[&str],
    chunking: bool,
) -> Vec<Step> {
    let mut steps = hello(extensions);
    steps.push(expect(&mail_line(from)));
    steps.push(reply("250 2.1.0 Ok"));
    for t in to {
        steps.push(expect(&rcpt_line(t)));
        steps.push(reply("250 2.1.5 Ok"));
    }
    if chunking {
        steps.push(Step::ReadBdat);
    } else {
        steps.push(expect("DATA"));
        steps.push(reply("354 End data with <CR><LF>.<CR><LF>"));
        steps.push(Step::ReadData);
    }
    steps.push(reply("250 2.0.0 Ok: queued as 4F3A"));
    steps.extend(quit_steps());
    steps
}

/// Collects a client's transcript lines.
#[derive(Clone, Default)]
pub struct Transcript(Arc<Mutex<Vec<(Direction, String)>>>);

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transcript({} lines)", self.lines().len())
    }
}

impl Transcript {
    /// A new, empty collector.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// `config` with this collector as its transcript callback.
    pub fn attach(&self, config: Config) -> Config {
        let sink = self.0.clone();
        config.with_transcript(move |direction, line| {
            sink.lock()
                .expect("transcript lock")
                .push((direction, line.to_string()));
        })
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<(Direction, String)> {
        self.0.lock().expect("transcript lock").clone()
    }

    /// Every line so far as text, one `"<direction> <line>"` a line.
    pub fn text(&self) -> String {
        self.lines()
            .iter()
            .map(|(d, l)| format!("{d} {l}\n"))
            .collect()
    }
}

/// A reader that hands out its bytes in pieces whose sizes follow
/// `pattern` round-robin (e.g. `&[1]` one byte per read, `&[3, 5, 7]`
/// odd sizes), so that a CR and its LF can land in different reads.
#[derive(Debug)]
pub struct Chunked<'a> {
    data: &'a [u8],
    pattern: &'a [usize],
    turn: usize,
    /// How many reads returned data.
    pub reads: usize,
}

impl<'a> Chunked<'a> {
    /// `data` in pieces of the sizes in `pattern` (a zero size is taken as 1).
    pub fn new(data: &'a [u8], pattern: &'a [usize]) -> Chunked<'a> {
        assert!(!pattern.is_empty(), "a chunk pattern needs a size");
        Chunked {
            data,
            pattern,
            turn: 0,
            reads: 0,
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = self.pattern[self.turn % self.pattern.len()].max(1);
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        if n > 0 {
            self.turn += 1;
            self.reads += 1;
        }
        Ok(n)
    }
}

/// A lazily generated body of exactly `len` octets: numbered CRLF lines of
/// printable ASCII, none starting with a dot, so its DATA and BDAT wire
/// forms are the bytes themselves.
#[derive(Debug, Clone)]
pub struct Lines {
    left: usize,
    produced: usize,
}

/// The length of every line of [`Lines`], CRLF included.
pub const LINES_WIDTH: usize = 80;

impl Lines {
    /// A body of `len` octets.
    pub fn new(len: usize) -> Lines {
        Lines {
            left: len,
            produced: 0,
        }
    }

    /// How many octets are still to come.
    pub fn left(&self) -> usize {
        self.left
    }

    /// The byte at offset `i` of any such body.
    fn byte_at(i: usize) -> u8 {
        let col = i % LINES_WIDTH;
        match col {
            c if c == LINES_WIDTH - 2 => b'\r',
            c if c == LINES_WIDTH - 1 => b'\n',
            0 => b'L',
            c => b"abcdefghijklmnopqrstuvwxyz0123456789"[(c + i / LINES_WIDTH) % 36],
        }
    }

    /// The first `len` octets of the body, in memory.
    pub fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(Lines::byte_at).collect()
    }
}

impl Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left);
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = Lines::byte_at(self.produced + k);
        }
        self.produced += n;
        self.left -= n;
        Ok(n)
    }
}

// The byte-by-byte references of the DATA line rules, shared with
// smtp-core's unit and property tests and the fuzz checks.
#[path = "../../smtp-core/tests/reference/wire.rs"]
mod wire_reference;
pub use wire_reference::{bare_line_breaks, data_content, normalise, normalise_line_breaks};

/// Whether `haystack` contains `needle` (an empty needle is contained).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// How many times `needle` (non-empty) occurs in `haystack`.
pub fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// The resident set size of this process in KiB (Linux `VmRSS`), if known.
pub fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_lines() {
        assert_eq!(EHLO, ehlo_line());
        assert_eq!(MAIL, mail_line(FROM));
        assert_eq!(RCPT, rcpt_line(TO));
    }

    #[test]
    fn normalising() {
        assert_eq!(normalise(b"a\rb\nc\r\nd"), b"a\r\nb\r\nc\r\nd\r\n");
        assert_eq!(normalise_line_breaks(b"a\r"), b"a\r\n");
        assert_eq!(normalise_line_breaks(b"a"), b"a");
        assert_eq!(normalise(b""), b"");
        assert_eq!(bare_line_breaks(b"a\r\nb\nc\rd"), vec![4, 6]);
    }

    #[test]
    fn data_bodies() {
        assert_eq!(data_content(b"a\r\n..b\r\n.\r\n").unwrap(), b"a\r\n.b\r\n");
        assert_eq!(data_content(b".\r\n").unwrap(), b"");
        assert!(data_content(b"a\r\n.\r\nb\r\n.\r\n").is_err());
        assert!(data_content(b"a\n.\r\n").is_err());
        assert!(data_content(b"a\r\n").is_err());
        assert!(
            data_content(b".a\r\n.\r\n").is_err(),
            "a leading dot not doubled"
        );
    }

    #[test]
    fn chunked_reads() {
        let mut r = Chunked::new(b"abcdefg", &[1, 3]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcdefg");
        assert_eq!(r.reads, 4);
    }

    #[test]
    fn generated_lines() {
        let mut v = Vec::new();
        Lines::new(200).read_to_end(&mut v).unwrap();
        assert_eq!(v, Lines::bytes(200));
        assert!(bare_line_breaks(&v).is_empty());
        assert_eq!(&v[78..80], b"\r\n");
        assert!(!v.split(|&b| b == b'\n').any(|l| l.starts_with(b".")));
    }
}
