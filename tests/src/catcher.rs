//! A small SMTP server that keeps every message it accepts, for the
//! outbox tests: any number of connections (one thread each), PIPELINING,
//! 8BITMIME and ENHANCEDSTATUSCODES, and recipients refused by their
//! local part (`reject-...` gets 550, `tempfail-...` gets 450, like the
//! test bed). Each message is recorded when its final dot arrives, before
//! the 250 is written, together with whether the client afterwards sent
//! on that connection something it could only send once it had read the
//! 250 ([`Caught::confirmed`]): the next message's body (it follows a 354
//! that follows the 250) or any command but the blind, pipelined MAIL,
//! RCPT and DATA. A later copy of a confirmed message is a duplicate that
//! was not caused by a crash between the reply and the state write.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caught {
    /// The connection it came on (numbered from 0 in accept order).
    pub connection: usize,
    /// `MAIL FROM` address (`""` for the null sender).
    pub from: String,
    /// The accepted `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent, dot-stuffing removed, CRLF line ends, without
    /// the final dot line.
    pub body: Vec<u8>,
    /// The client sent, after this message's final dot, something it
    /// could only send once it had the 250 (see the module documentation).
    pub confirmed: bool,
}

/// What all connections saw so far.
#[derive(Debug, Default)]
struct Seen {
    messages: Vec<Caught>,
    connections: usize,
    lines: Vec<String>,
}

/// The running server; stops accepting when dropped.
#[derive(Debug)]
pub struct Catcher {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
}

impl Catcher {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> Catcher {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        listener.set_nonblocking(true).expect("non-blocking accept");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (seen, stop) = (seen.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let number = {
                                let mut s = seen.lock().unwrap();
                                s.connections += 1;
                                s.connections - 1
                            };
                            let seen = seen.clone();
                            thread::spawn(move || serve(stream, number, &seen));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
            });
        }
        Catcher { port, seen, stop }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A plain client configuration for it (no TLS, 5 s timeouts).
    pub fn config(&self) -> smtp_core::Config {
        smtp_core::Config::new("127.0.0.1", self.port)
            .with_security(smtp_core::Security::None)
            .with_client_name("client.test")
            .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(5)))
    }

    /// Every message accepted so far, in order of their final dots.
    pub fn messages(&self) -> Vec<Caught> {
        self.seen.lock().unwrap().messages.clone()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.seen.lock().unwrap().connections
    }

    /// Every command line received, on all connections.
    pub fn lines(&self) -> Vec<String> {
        self.seen.lock().unwrap().lines.clone()
    }
}

impl Drop for Catcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The reply to `RCPT TO:<address>`.
fn rcpt_reply(address: &str) -> &'static str {
    if address.starts_with("reject-") {
        "550 5.1.1 Recipient refused by the catcher"
    } else if address.starts_with("tempfail-") {
        "450 4.2.0 Recipient deferred by the catcher"
    } else {
        "250 2.1.5 Ok"
    }
}

/// The address inside `<...>` after `prefix` (case ignored).
fn address(line: &str, prefix: &str) -> Option<String> {
    let head = line.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &line[prefix.len()..];
    let open = rest.find('<')?;
    let close = rest[open..].find('>')? + open;
    Some(rest[open + 1..close].to_string())
}

fn serve(stream: TcpStream, number: usize, seen: &Mutex<Seen>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    // Replies to a pipelined group are written one by one: without this,
    // Nagle's algorithm holds the second until the client's delayed ACK.
    let _ = stream.set_nodelay(true);
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut input = BufReader::new(stream);
    let mut send = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).is_ok();
    if !send("220 catcher.test ESMTP") {
        return;
    }
    let (mut from, mut to): (Option<String>, Vec<String>) = (None, Vec::new());
    // The index of the last message of this connection not yet confirmed.
    let mut unconfirmed: Option<usize> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let upper = text.to_ascii_uppercase();
        // A pipelining client sends the next envelope with the final dot,
        // before it has the 250: only a line it could not send without
        // the reply (anything but MAIL, RCPT, DATA) confirms the message.
        let blind =
            upper.starts_with("MAIL FROM:") || upper.starts_with("RCPT TO:") || upper == "DATA";
        {
            let mut s = seen.lock().unwrap();
            if !blind {
                if let Some(i) = unconfirmed.take() {
                    s.messages[i].confirmed = true;
                }
            }
            s.lines.push(text.clone());
        }
        let ok = if upper.starts_with("EHLO") {
            send("250-catcher.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES")
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            send("250 2.0.0 Ok")
        } else if let Some(a) = address(&text, "MAIL FROM:") {
            from = Some(a);
            to.clear();
            send("250 2.1.0 Ok")
        } else if let Some(a) = address(&text, "RCPT TO:") {
            let reply = if from.is_none() {
                "503 5.5.1 need MAIL"
            } else {
                rcpt_reply(&a)
            };
            if reply.starts_with('2') {
                to.push(a);
            }
            send(reply)
        } else if upper == "DATA" {
            if from.is_none() || to.is_empty() {
                send("554 5.5.1 no valid recipients")
            } else {
                if !send("354 go ahead") {
                    return;
                }
                let Some(body) = read_data(&mut input) else {
                    // The client died in the middle: nothing was accepted.
                    return;
                };
                {
                    let mut s = seen.lock().unwrap();
                    // A body comes only after the 354, which came after
                    // the previous message's 250: the client had that.
                    if let Some(i) = unconfirmed.take() {
                        s.messages[i].confirmed = true;
                    }
                    s.messages.push(Caught {
                        connection: number,
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        body,
                        confirmed: false,
                    });
                    unconfirmed = Some(s.messages.len() - 1);
                }
                send("250 2.0.0 Ok: queued")
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            send("250 2.0.0 Ok")
        } else if upper == "QUIT" {
            let _ = send("221 2.0.0 Bye");
            return;
        } else {
            send("502 5.5.2 unknown command")
        };
        if !ok {
            return;
        }
    }
}

/// Reads a DATA body up to the final dot; `None` when the connection ends
/// first.
fn read_data(input: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if !line.ends_with(b"\n") {
            return None;
        }
        if line == b".\r\n" {
            return Some(body);
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        body.extend_from_slice(content);
    }
}
