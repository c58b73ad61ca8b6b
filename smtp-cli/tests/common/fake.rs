//! Running `smtp-send` against a small scripted SMTP server in a thread:
//! the command with a clean environment, feeding it standard input, and
//! what the server saw (commands and the message).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::Out;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_smtp-send");
/// How long the server and the tests wait.
pub const WAIT: Duration = Duration::from_secs(15);

/// The command with a clean environment: no configuration files, no
/// SMTP_* variables, and `--queue=never`: here a message the server does
/// not take now is a failure, as it was before the outbox (tested in
/// tests/queue.rs).
pub fn smtp_send() -> Command {
    let mut c = clean_command();
    c.arg("--queue=never")
        .env("HOME", "/nonexistent/smtp-send-test-home");
    c
}

/// The program with nothing from the caller's environment but PATH, and
/// no system configuration file.
pub fn clean_command() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("SMTP_SEND_SYSTEM_CONFIG", "");
    c
}

pub fn run(mut command: Command, stdin: &[u8]) -> Out {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smtp-send");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // The program may exit without reading everything: ignore EPIPE.
    let writer = thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for smtp-send");
    let _ = writer.join();
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn args(mut command: Command, args: &[&str]) -> Command {
    command.args(args);
    command
}

/// Replies of the scripted server. Recipients starting with `reject` get
/// 550, with `tempfail` 450, others 250 (like the test bed).
#[derive(Clone)]
pub struct Script {
    pub greeting: &'static str,
    pub auth: &'static str,
    pub mail: &'static str,
    pub data_end: &'static str,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            greeting: "220 fake.example ESMTP",
            auth: "235 2.7.0 Authentication successful",
            mail: "250 2.1.0 Ok",
            data_end: "250 2.0.0 Ok: queued as FAKE42",
        }
    }
}

/// What the scripted server saw.
#[derive(Debug, Default)]
pub struct Session {
    pub commands: Vec<String>,
    /// The message as received (dot-stuffing removed).
    pub data: Vec<u8>,
}

impl Session {
    pub fn data(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    pub fn has(&self, command: &str) -> bool {
        self.commands.iter().any(|c| c == command)
    }
}

/// Serves one connection in a thread; returns the port and a receiver for
/// the session.
pub fn fake_server(script: Script) -> (u16, mpsc::Receiver<Session>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let session = serve(stream, &script);
        let _ = tx.send(session);
    });
    (port, rx)
}

pub fn serve(stream: TcpStream, script: &Script) -> Session {
    let mut session = Session::default();
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut say = |text: &str| {
        let _ = out.write_all(format!("{text}\r\n").as_bytes());
    };
    say(script.greeting);
    if !script.greeting.starts_with("220") {
        return session;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return session;
        }
        let command = line.trim_end().to_string();
        session.commands.push(command.clone());
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            say("250-fake.example\r\n250-AUTH PLAIN\r\n250-8BITMIME\r\n250 SIZE 1000000");
        } else if upper.starts_with("AUTH") {
            say(script.auth);
        } else if upper.starts_with("MAIL FROM") {
            say(script.mail);
        } else if upper.starts_with("RCPT TO:<REJECT") {
            say("550 5.1.1 <rejected>: Recipient address rejected");
        } else if upper.starts_with("RCPT TO:<TEMPFAIL") {
            say("450 4.2.0 <tempfail>: try again later");
        } else if upper.starts_with("RCPT") {
            say("250 2.1.5 Ok");
        } else if upper == "DATA" {
            say("354 End data with <CR><LF>.<CR><LF>");
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if reader.read_until(b'\n', &mut l).unwrap_or(0) == 0 {
                    return session;
                }
                if l == b".\r\n" {
                    break;
                }
                let l = if l.starts_with(b"..") {
                    &l[1..]
                } else {
                    &l[..]
                };
                data.extend_from_slice(l);
            }
            session.data = data;
            say(script.data_end);
        } else if upper == "RSET" || upper == "NOOP" {
            say("250 2.0.0 Ok");
        } else if upper == "QUIT" {
            say("221 2.0.0 Bye");
            return session;
        } else {
            say("502 5.5.2 Error: command not recognized");
        }
    }
}

pub fn fake_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}?security=none")
}

/// Runs smtp-send against a scripted server.
pub fn with_fake(script: Script, extra: &[&str], stdin: &[u8]) -> (Out, Session) {
    let (port, rx) = fake_server(script);
    let mut c = smtp_send();
    c.env("SMTP_URL", fake_url(port)).args(extra);
    let out = run(c, stdin);
    let session = rx.recv_timeout(WAIT).unwrap_or_default();
    (out, session)
}

/// smtp-send configured through the environment for the STARTTLS port.
pub fn submission(bed: &smtp_tests::testbed::TestBed) -> Command {
    let mut c = smtp_send();
    c.env(
        "SMTP_URL",
        format!(
            "smtp://{}@localhost:{}?timeout=20",
            bed.user, bed.port_submission
        ),
    )
    .env("SMTP_PASSWORD", &bed.password)
    .env("SMTP_CA_FILE", &bed.ca_file);
    c
}
