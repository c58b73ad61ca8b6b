//! The capturing server's side of one SMTP session: it answers each
//! command the way a permissive MTA would (or as the STARTTLS and AUTH
//! options say), and records the command lines, the AUTH exchange and the
//! message bodies, DATA or BDAT.

use std::net::TcpStream;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::conn::{Body, Conn, ConnCapture, MAX_BODY};
use super::{Options, StartTls};

/// How long the server waits for a command line.
const LINE_WAIT: Duration = Duration::from_secs(20);

/// How long the server waits for the octets of a BDAT chunk.
const CHUNK_WAIT: Duration = Duration::from_secs(5);

/// The most commands one session may send.
const MAX_COMMANDS: usize = 100_000;

/// The name in the greeting and the EHLO reply.
const NAME: &str = "capture.test";

/// The 220 to STARTTLS.
const READY: &[u8] = b"220 2.0.0 Ready to start TLS\r\n";

/// An error challenge for XOAUTH2 and OAUTHBEARER:
/// `{"status":"401","schemes":"bearer"}`.
const OAUTH_ERROR: &[u8] = b"334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=\r\n";

/// Serves one connection to its end and returns what the client sent.
pub fn serve(tcp: TcpStream, options: &Options, done: &AtomicBool) -> std::io::Result<ConnCapture> {
    let mut c = Conn::new(tcp, options.deadline, done)?;
    c.send(format!("220 {NAME} ESMTP ready\r\n").as_bytes());
    let mut bdat: Option<Body> = None;
    for _ in 0..MAX_COMMANDS {
        let Some(raw) = c.line(LINE_WAIT) else {
            break;
        };
        c.record(&raw);
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        let verb = line
            .split([' ', ':'])
            .find(|w| !w.is_empty())
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                let extensions = if c.is_tls() {
                    &options.ehlo_tls
                } else {
                    &options.ehlo
                };
                c.send(&ehlo_reply(extensions));
            }
            "HELO" => c.send(format!("250 {NAME}\r\n").as_bytes()),
            "STARTTLS" => {
                if !starttls(&mut c, options) {
                    break;
                }
            }
            "AUTH" => auth(&mut c, &line, raw, options.auth_ok),
            "MAIL" => c.send(b"250 2.1.0 Ok\r\n"),
            "RCPT" => c.send(b"250 2.1.5 Ok\r\n"),
            "DATA" => {
                c.send(b"354 End data with <CR><LF>.<CR><LF>\r\n");
                let wire = read_data(&mut c);
                c.cap.bodies.push(Body {
                    kind: "data",
                    chunks: vec![wire.len()],
                    wire,
                    unfinished: false,
                });
                c.send(b"250 2.0.0 Ok: queued as CAPTURED\r\n");
            }
            "BDAT" => read_bdat(&mut c, &line, &mut bdat),
            "RSET" | "NOOP" => c.send(b"250 2.0.0 Ok\r\n"),
            "QUIT" => {
                c.send(b"221 2.0.0 Bye\r\n");
                break;
            }
            _ => c.send(b"502 5.5.2 Error: command not recognized\r\n"),
        }
    }
    if let Some(mut body) = bdat {
        body.unfinished = true;
        c.cap.bodies.push(body);
    }
    c.cap.tail = c.drain(Duration::from_millis(200));
    c.close();
    Ok(c.cap)
}

/// `250-capture.test` and the extension lines.
fn ehlo_reply(extensions: &[String]) -> Vec<u8> {
    let mut lines = vec![NAME];
    lines.extend(extensions.iter().map(String::as_str));
    let last = lines.len() - 1;
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let sep = if i == last { ' ' } else { '-' };
        out.extend_from_slice(format!("250{sep}{line}\r\n").as_bytes());
    }
    out
}

/// Answers STARTTLS as the options say; false when the session ends here.
fn starttls(c: &mut Conn<'_>, options: &Options) -> bool {
    match (options.starttls, &options.tls) {
        (StartTls::Ok, Some(config)) => {
            c.send(READY);
            c.start_tls(config.clone())
        }
        (StartTls::Inject, _) => {
            // One write: the 220 and a reply nobody asked for.
            let mut bytes = READY.to_vec();
            bytes.extend_from_slice(format!("250-{NAME}\r\n250 AUTH PLAIN LOGIN\r\n").as_bytes());
            c.send(&bytes);
            c.cap.after_starttls = Some(c.drain(Duration::from_secs(2)));
            false
        }
        (StartTls::Unavailable, _) => {
            c.send(b"454 4.7.0 TLS not available due to temporary reason\r\n");
            true
        }
        (StartTls::Garbage, _) => {
            c.send(READY);
            let mut hello = c.drain(Duration::from_millis(500));
            c.send(b"this is not a TLS record, just text\r\n250 OK\r\n");
            hello.extend(c.drain(Duration::from_secs(2)));
            c.cap.after_starttls = Some(hello);
            false
        }
        _ => {
            c.send(b"502 5.5.1 STARTTLS not offered\r\n");
            true
        }
    }
}

/// The AUTH exchange: the prompts the mechanism needs, then 235, or 535
/// (after an error challenge for the OAuth mechanisms).
fn auth(c: &mut Conn<'_>, line: &str, raw: Vec<u8>, ok: bool) {
    let mut words = line.split(' ');
    let mechanism = words.nth(1).unwrap_or("").to_ascii_uppercase();
    let initial = words.next().is_some();
    c.cap.auth.push(raw);
    let read = |c: &mut Conn<'_>| {
        if let Some(l) = c.line(LINE_WAIT) {
            c.record(&l);
            c.cap.auth.push(l);
        }
    };
    if mechanism == "LOGIN" {
        if !initial {
            c.send(b"334 VXNlcm5hbWU6\r\n");
            read(c);
        }
        c.send(b"334 UGFzc3dvcmQ6\r\n");
        read(c);
    } else if !initial {
        c.send(b"334 \r\n");
        read(c);
    }
    if ok {
        c.send(b"235 2.7.0 Authentication successful\r\n");
        return;
    }
    if mechanism == "XOAUTH2" || mechanism == "OAUTHBEARER" {
        c.send(OAUTH_ERROR);
        read(c);
    }
    c.send(b"535 5.7.8 Error: authentication failed\r\n");
}

/// A DATA body as it came, up to and including the terminator: only
/// CRLF . CRLF ends it, as a strict server reads it.
fn read_data(c: &mut Conn<'_>) -> Vec<u8> {
    let mut wire = Vec::new();
    while wire.len() < MAX_BODY {
        let Some(l) = c.line(LINE_WAIT) else {
            break;
        };
        wire.extend_from_slice(&l);
        if l == b".\r\n" && (wire == b".\r\n" || wire.ends_with(b"\r\n.\r\n")) {
            break;
        }
    }
    wire
}

/// One `BDAT <size> [LAST]` command and its octets, added to the body
/// in progress; LAST ends the body.
fn read_bdat(c: &mut Conn<'_>, line: &str, bdat: &mut Option<Body>) {
    let Some((size, last)) = bdat_command(line).filter(|&(size, _)| size <= MAX_BODY) else {
        c.cap.errors.push(format!("bad BDAT line: {line}"));
        c.send(b"501 5.5.4 Syntax error\r\n");
        return;
    };
    let body = bdat.get_or_insert_with(|| Body {
        kind: "bdat",
        wire: Vec::new(),
        chunks: Vec::new(),
        unfinished: false,
    });
    let chunk = c.bytes(size, CHUNK_WAIT);
    body.wire.extend_from_slice(&chunk);
    body.chunks.push(chunk.len());
    if chunk.len() != size {
        c.cap
            .errors
            .push(format!("BDAT {size}: got {} bytes", chunk.len()));
    }
    if last {
        if let Some(body) = bdat.take() {
            c.cap.bodies.push(body);
        }
        c.send(b"250 2.0.0 Ok: queued as CAPTURED\r\n");
    } else {
        c.send(format!("250 2.0.0 {size} octets received\r\n").as_bytes());
    }
}

/// The size and the LAST flag of a well-formed `BDAT <size> [LAST]` line
/// (one space between the words, ASCII case ignored).
fn bdat_command(line: &str) -> Option<(usize, bool)> {
    let rest = line
        .get(..5)?
        .eq_ignore_ascii_case("BDAT ")
        .then(|| &line[5..])?;
    let (digits, last) = match rest.split_once(' ') {
        Some((digits, word)) if word.eq_ignore_ascii_case("LAST") => (digits, true),
        Some(_) => return None,
        None => (rest, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().unwrap_or(usize::MAX), last))
}
