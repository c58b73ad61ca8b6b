//! A small text language for the scripted server's scripts, the error
//! classes the fault tests compare, [`Fault`], the runner of a script
//! that must make the client fail, so that fault tests read as tables, and
//! [`Session`], its counterpart for a session that must work.
//!
//! A script is one step a line, or steps separated by `;`:
//!
//! ```
//! use smtp_tests::script::steps;
//!
//! let script = steps("hello PIPELINING, AUTH PLAIN; mail; > 550 5.7.1 no; rset; quit");
//! assert_eq!(script.len(), 3 + 2 + 2 + 3);
//! ```
//!
//! | step | does |
//! | --- | --- |
//! | `> TEXT` | sends the reply line `TEXT`; `> A \| B \| C` sends three lines in one write |
//! | `< PREFIX` | expects a line starting with `PREFIX` (ASCII case ignored; trailing spaces count) |
//! | `any` | reads one line, whatever it is |
//! | `greeting` | the usual `220` greeting |
//! | `ehlo` | expects `EHLO client.test` |
//! | `ehlo-reply A, B` | a `250` EHLO reply offering the extensions `A` and `B` |
//! | `hello A, B` | `greeting`, `ehlo`, `ehlo-reply A, B` (`hello` alone offers nothing) |
//! | `mail [ADDR]` | expects `MAIL FROM:<ADDR>` ([`FROM`] by default) |
//! | `rcpt [ADDR]` | expects `RCPT TO:<ADDR>` ([`TO`] by default) |
//! | `body` | reads a DATA body up to the final dot |
//! | `bdat` | reads one BDAT command and its chunk |
//! | `read N` | reads exactly `N` bytes |
//! | `read-to-close` | reads until the client closes (at most [`HANGUP`]) |
//! | `sleep 300ms`, `sleep 4s` | waits |
//! | `silence 150ms` | the client must send nothing meanwhile |
//! | `raw TEXT` | sends `TEXT` as it is (escapes below, no CRLF added) |
//! | `slowly TEXT` | sends `TEXT` one byte a millisecond (escapes, no CRLF added) |
//! | `starttls` | the server side of the TLS handshake |
//! | `close` | closes the connection; the script ends |
//! | `hangup` | waits for the client to close (a `QUIT` is tolerated) |
//! | `quit` | expects `QUIT`, answers `221`, waits for the close |
//! | `rset` | expects `RSET`, answers `250` |
//! | `transaction [ADDR ...]` | a whole lock-step transaction to the addresses ([`TO`] by default) |
//! | `pipelined [ADDR ...]` | the same, the envelope and DATA read before any reply |
//!
//! In `>`, `raw` and `slowly` text, `\r`, `\n`, `\t`, `\\`, `\;` and
//! `\xNN` stand for the byte; write such scripts as raw string literals.
//! Empty steps and lines starting with `#` are skipped. A step the
//! language does not know panics, naming it.

use std::time::{Duration, Instant};

use crate::driver::Client;
use smtp_core::{Config, Error};

use crate::scripted::{
    ehlo_reply, expect, greeting, hello, raw, replies, reply, Capture, ScriptedServer, Step,
};
use crate::support::{
    connect, ehlo_line, hangup, lines_without_final_quit, mail_line, quit_steps, rcpt_line, FROM,
    HANGUP, TO,
};

/// The steps of a script written in the language above.
pub fn steps(text: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for step in split(text) {
        let step = step.trim_start();
        if step.trim_end().is_empty() || step.starts_with('#') {
            continue;
        }
        parse_step(step, &mut out);
    }
    out
}

/// Splits at `;` and line ends that are not escaped.
fn split(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = parts.last_mut().expect("a part");
                last.push('\\');
                if let Some(next) = chars.next() {
                    last.push(next);
                }
            }
            ';' | '\n' => parts.push(String::new()),
            c => parts.last_mut().expect("a part").push(c),
        }
    }
    parts
}

/// The text of a `>` or `<` step: what follows the sign and one space.
fn operand(text: &str) -> &str {
    text.strip_prefix(' ').unwrap_or(text)
}

fn parse_step(step: &str, out: &mut Vec<Step>) {
    if let Some(text) = step.strip_prefix('>') {
        let lines: Vec<String> = operand(text).split(" | ").map(unescape_text).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        out.push(match refs.as_slice() {
            [one] => reply(one),
            many => replies(many),
        });
        return;
    }
    if let Some(prefix) = step.strip_prefix('<') {
        out.push(expect(operand(prefix)));
        return;
    }
    let step = step.trim_end();
    let (word, rest) = step.split_once(' ').unwrap_or((step, ""));
    let rest = rest.trim();
    let words: Vec<&str> = rest.split_whitespace().collect();
    match word {
        "any" => out.push(Step::ExpectAny),
        "greeting" => out.push(greeting()),
        "ehlo" => out.push(expect(&ehlo_line())),
        "ehlo-reply" => out.push(ehlo_reply(&extensions(rest))),
        "hello" => out.extend(hello(&extensions(rest))),
        "mail" => out.push(expect(&mail_line(words.first().copied().unwrap_or(FROM)))),
        "rcpt" => out.push(expect(&rcpt_line(words.first().copied().unwrap_or(TO)))),
        "body" => out.push(Step::ReadData),
        "bdat" => out.push(Step::ReadBdat),
        "read" => out
            .push(Step::ReadExact(rest.parse().unwrap_or_else(|_| {
                panic!("`read` wants a byte count: {step:?}")
            }))),
        "read-to-close" => out.push(Step::ReadToClose(HANGUP)),
        "sleep" => out.push(Step::Sleep(duration(rest))),
        "silence" => out.push(Step::ExpectSilence(duration(rest))),
        "raw" => out.push(raw(&unescape(rest))),
        "slowly" => out.push(Step::SendSlowly {
            bytes: unescape(rest),
            pause: Duration::from_millis(1),
        }),
        "starttls" => out.push(Step::StartTls),
        "close" => out.push(Step::Close),
        "hangup" => out.push(hangup()),
        "quit" => out.extend(quit_steps()),
        "rset" => out.extend([expect("RSET"), reply("250 2.0.0 Ok")]),
        "transaction" => out.extend(transaction(&recipients(&words), false)),
        "pipelined" => out.extend(transaction(&recipients(&words), true)),
        _ => panic!("unknown script step {step:?}"),
    }
}

/// `A, B` → `["A", "B"]`; nothing → `[]`.
fn extensions(list: &str) -> Vec<&str> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

fn recipients<'a>(words: &[&'a str]) -> Vec<&'a str> {
    if words.is_empty() {
        vec![TO]
    } else {
        words.to_vec()
    }
}

/// One transaction from [`FROM`] to `to`, every command accepted: one
/// reply per command, or (`pipelined`) the envelope and DATA read before
/// their replies go out in one write.
fn transaction(to: &[&str], pipelined: bool) -> Vec<Step> {
    let mut s = vec![expect(&mail_line(FROM))];
    if pipelined {
        s.extend(to.iter().map(|t| expect(&rcpt_line(t))));
        s.push(expect("DATA"));
        let mut answers = vec!["250 2.1.0 Ok"];
        answers.extend(to.iter().map(|_| "250 2.1.5 Ok"));
        answers.push("354 End data with <CR><LF>.<CR><LF>");
        s.push(replies(&answers));
    } else {
        s.push(reply("250 2.1.0 Ok"));
        for t in to {
            s.extend([expect(&rcpt_line(t)), reply("250 2.1.5 Ok")]);
        }
        s.extend([expect("DATA"), reply("354 End data with <CR><LF>.<CR><LF>")]);
    }
    s.extend([Step::ReadData, reply("250 2.0.0 Ok: queued as 4F3A")]);
    s
}

/// `300ms` or `4s`.
fn duration(text: &str) -> Duration {
    let number = |n: &str| -> u64 {
        n.parse()
            .unwrap_or_else(|_| panic!("a duration is like 300ms or 4s, not {text:?}"))
    };
    match (text.strip_suffix("ms"), text.strip_suffix('s')) {
        (Some(ms), _) => Duration::from_millis(number(ms)),
        (None, Some(s)) => Duration::from_secs(number(s)),
        _ => panic!("a duration is like 300ms or 4s, not {text:?}"),
    }
}

fn unescape_text(text: &str) -> String {
    String::from_utf8(unescape(text)).expect("a reply line is UTF-8")
}

/// The bytes of `text` with its escapes replaced.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('\\') => out.push(b'\\'),
            Some(';') => out.push(b';'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(
                    u8::from_str_radix(&hex, 16)
                        .unwrap_or_else(|_| panic!("bad \\x escape in {text:?}")),
                );
            }
            other => panic!("unknown escape \\{other:?} in {text:?}"),
        }
    }
    out
}

/// A compact, comparable description of an error: the variant and what
/// tells its cases apart, e.g. `"Rejected MailFrom 550"`, `"Protocol
/// Greeting"`, `"Timeout Data 500ms"`, `"Auth Login 535"` (`"Auth Login"`
/// without a reply), `"Tls TlsHandshake UnknownIssuer"`,
/// `"DeliveryUnknown EndOfData (Io EndOfData)"`.
pub fn class(err: &Error) -> String {
    match err {
        Error::Connect { .. } => "Connect".into(),
        Error::Timeout { phase, after } => format!("Timeout {phase:?} {after:?}"),
        Error::Tls { phase, kind, .. } => format!("Tls {phase:?} {kind:?}"),
        Error::Rejected { phase, reply } => format!("Rejected {phase:?} {}", reply.code()),
        Error::RecipientsRefused { refused } => format!("RecipientsRefused {}", refused.len()),
        Error::Auth {
            mechanism, reply, ..
        } => match reply {
            Some(reply) => format!("Auth {mechanism:?} {}", reply.code()),
            None => format!("Auth {mechanism:?}"),
        },
        Error::NoCompatibleAuth { offered, .. } => {
            let mut class = "NoCompatibleAuth".to_string();
            for mechanism in offered {
                class.push(' ');
                class.push_str(mechanism);
            }
            class
        }
        Error::PlaintextAuthRefused { .. } => "PlaintextAuthRefused".into(),
        Error::Protocol { phase, .. } => format!("Protocol {phase:?}"),
        Error::InvalidInput { field, .. } => format!("InvalidInput {field}"),
        Error::Unsupported { extension, .. } => format!("Unsupported {extension}"),
        Error::DeliveryUnknown { phase, cause } => {
            format!("DeliveryUnknown {phase:?} ({})", class(cause))
        }
        Error::BodyRead(_) => "BodyRead".into(),
        Error::NotConnected(_) => "NotConnected".into(),
        Error::Io { phase, .. } => format!("Io {phase:?}"),
        other => format!("{other:?}"),
    }
}

/// What the server must have read when a [`Fault`] ran.
#[derive(Debug, Clone)]
enum Sent {
    /// Not checked.
    Unchecked,
    /// These lines, then at most a `QUIT`.
    Lines(Vec<String>),
    /// Exactly these lines (not even a `QUIT` after them).
    Exactly(Vec<String>),
    /// Not one byte.
    Nothing,
}

/// Makes the client configuration from the server's.
type MakeConfig = Box<dyn FnOnce(&ScriptedServer) -> Config>;

/// One fault case: a script, the client configuration, the error the
/// client must end with and what the server must have read. Every check
/// names the case. [`Fault::connect`] and [`Fault::session`] run it and
/// hand back the error and the capture for further checks.
///
/// ```no_run
/// use smtp_tests::script::Fault;
///
/// Fault::new("EHLO 421", "greeting; ehlo; > 421 4.3.2 bye; hangup")
///     .fails("Rejected Ehlo 421")
///     .sends(&["EHLO client.test"])
///     .connect();
/// ```
pub struct Fault {
    name: String,
    script: Vec<Step>,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    config: MakeConfig,
    class: Option<String>,
    sent: Sent,
    clean: bool,
    closed: bool,
    within: Option<Duration>,
    not_before: Option<Duration>,
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fault")
            .field("name", &self.name)
            .field("script", &self.script)
            .field("class", &self.class)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Fault {
    /// The case `name` with the script `text` (see [`steps`]), the
    /// server's default configuration, the script ending without error.
    pub fn new(name: &str, text: &str) -> Fault {
        Fault::with_steps(name, steps(text))
    }

    /// The case `name` with these steps.
    pub fn with_steps(name: &str, script: Vec<Step>) -> Fault {
        Fault {
            name: name.to_string(),
            script,
            tls: None,
            config: Box::new(ScriptedServer::config),
            class: None,
            sent: Sent::Unchecked,
            clean: true,
            closed: false,
            within: None,
            not_before: None,
        }
    }

    /// The server does TLS with this configuration.
    pub fn tls(mut self, tls: std::sync::Arc<rustls::ServerConfig>) -> Fault {
        self.tls = Some(tls);
        self
    }

    /// The client's configuration, made from the server.
    pub fn config(mut self, config: impl FnOnce(&ScriptedServer) -> Config + 'static) -> Fault {
        self.config = Box::new(config);
        self
    }

    /// The error's [`class`].
    pub fn fails(mut self, class: &str) -> Fault {
        self.class = Some(class.to_string());
        self
    }

    /// The server read these lines, and then at most a `QUIT`.
    pub fn sends<S: AsRef<str>>(mut self, lines: &[S]) -> Fault {
        self.sent = Sent::Lines(lines.iter().map(|l| l.as_ref().to_string()).collect());
        self
    }

    /// The server read no command (at most a `QUIT`).
    pub fn sends_no_command(mut self) -> Fault {
        self.sent = Sent::Lines(Vec::new());
        self
    }

    /// The client's attempt must end within `limit`.
    pub fn within(mut self, limit: Duration) -> Fault {
        self.within = Some(limit);
        self
    }

    /// The client's attempt must not end before `limit`.
    pub fn not_before(mut self, limit: Duration) -> Fault {
        self.not_before = Some(limit);
        self
    }

    /// The server read exactly these lines.
    pub fn sends_exactly<S: AsRef<str>>(mut self, lines: &[S]) -> Fault {
        self.sent = Sent::Exactly(lines.iter().map(|l| l.as_ref().to_string()).collect());
        self
    }

    /// The server read not one byte.
    pub fn sends_nothing(mut self) -> Fault {
        self.sent = Sent::Nothing;
        self
    }

    /// The client must have closed the connection.
    pub fn closes(mut self) -> Fault {
        self.closed = true;
        self
    }

    /// Errors of the script are allowed (not checked).
    pub fn unclean(mut self) -> Fault {
        self.clean = false;
        self
    }

    /// Runs the case with `Client::connect`, which must fail.
    pub fn connect(self) -> (Error, Capture) {
        self.run(|config| Client::connect(config).expect_err("the connection must fail"))
    }

    /// Runs the case with `attempt` on a connected client; it returns the
    /// error it got. A client still connected afterwards says `QUIT`.
    pub fn session(self, attempt: impl FnOnce(&mut Client) -> Error) -> (Error, Capture) {
        self.run(|config| {
            let mut client = connect(config);
            let err = attempt(&mut client);
            if client.is_connected() {
                client.quit().expect("QUIT after the failure");
            }
            err
        })
    }

    fn run(self, attempt: impl FnOnce(Config) -> Error) -> (Error, Capture) {
        let server = match self.tls {
            Some(tls) => ScriptedServer::start_with_tls(self.script, tls),
            None => ScriptedServer::start(self.script),
        };
        let config = (self.config)(&server);
        let start = Instant::now();
        let err = attempt(config);
        let elapsed = start.elapsed();
        let cap = server.finish();
        let name = &self.name;
        if let Some(limit) = self.within {
            assert!(elapsed < limit, "{name}: took {elapsed:?}, limit {limit:?}");
        }
        if let Some(limit) = self.not_before {
            assert!(
                elapsed >= limit,
                "{name}: gave up after {elapsed:?}, before {limit:?}"
            );
        }
        if let Some(want) = &self.class {
            assert_eq!(&class(&err), want, "{name}: {err:?}");
        }
        if self.clean {
            assert!(
                cap.errors.is_empty(),
                "{name}: scripted server errors: {:#?}\nreceived: {:?}",
                cap.errors,
                cap.received_text()
            );
        }
        if self.closed {
            assert!(cap.client_closed, "{name}: the client must hang up");
        }
        match &self.sent {
            Sent::Unchecked => {}
            Sent::Lines(lines) => {
                assert_eq!(&lines_without_final_quit(&cap), lines, "{name}: {err:?}")
            }
            Sent::Exactly(lines) => assert_eq!(&cap.lines, lines, "{name}: {err:?}"),
            Sent::Nothing => assert!(cap.received.is_empty(), "{name}: {:?}", cap.received_text()),
        }
        (err, cap)
    }
}

/// A session that must work, the counterpart of [`Fault`]: a script,
/// the client configuration, and what the test does with the connected
/// client. [`Session::run`] connects, hands the client over, says `QUIT`
/// and checks that the script ran without error.
///
/// ```no_run
/// use smtp_tests::script::Session;
/// use smtp_tests::support::{envelope, SMALL_MESSAGE};
///
/// let (_, cap) = Session::new("hello; transaction; quit").run(|client| {
///     client.send_bytes(&envelope(), SMALL_MESSAGE).expect("send");
/// });
/// assert_eq!(cap.bodies.len(), 1);
/// ```
pub struct Session {
    script: Vec<Step>,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    config: MakeConfig,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("script", &self.script)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session with the script `text` (see [`steps`]) and the server's
    /// default configuration.
    pub fn new(text: &str) -> Session {
        Session::with_steps(steps(text))
    }

    /// A session with these steps.
    pub fn with_steps(script: Vec<Step>) -> Session {
        Session {
            script,
            tls: None,
            config: Box::new(ScriptedServer::config),
        }
    }

    /// The server does TLS with this configuration.
    pub fn tls(mut self, tls: std::sync::Arc<rustls::ServerConfig>) -> Session {
        self.tls = Some(tls);
        self
    }

    /// The client's configuration, made from the server.
    pub fn config(mut self, config: impl FnOnce(&ScriptedServer) -> Config + 'static) -> Session {
        self.config = Box::new(config);
        self
    }

    /// Connects (which must work), runs `session` on the client, says
    /// `QUIT` (which must work) and checks that the server's script ran
    /// without error. Returns what `session` returned and the capture.
    pub fn run<T>(self, session: impl FnOnce(&mut Client) -> T) -> (T, Capture) {
        let server = match self.tls {
            Some(tls) => ScriptedServer::start_with_tls(self.script, tls),
            None => ScriptedServer::start(self.script),
        };
        let mut client = connect((self.config)(&server));
        let out = session(&mut client);
        client.quit().expect("QUIT");
        let cap = server.finish();
        cap.assert_clean();
        (out, cap)
    }
}

/// One `#[test]` function a row: `fault_tests! { runner; name: case, ... }`
/// expands to `#[test] fn name() { runner("name", case) }`, so that a table
/// of cases stays a list of tests (each with its own name in `--list` and
/// in failures).
#[macro_export]
macro_rules! fault_tests {
    ($runner:path; $($(#[$meta:meta])* $name:ident: $case:expr),* $(,)?) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                $runner(stringify!($name), $case);
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(script: &[Step]) -> Vec<String> {
        script.iter().map(|s| format!("{s:?}")).collect()
    }

    #[test]
    fn the_language() {
        let s = steps(
            r"hello PIPELINING, AUTH PLAIN
              # a comment
              mail; > 550 5.7.1 no | 503 5.5.1 x; < RSET; any
              raw A\r\n\x00\;; sleep 300ms; silence 2s; read 5; close",
        );
        assert_eq!(
            shown(&s),
            [
                "Send(\"220 mx.test ESMTP scripted test server\\r\\n\")",
                "Expect(\"EHLO \")",
                "Send(\"250-mx.test greets client.test\\r\\n250-PIPELINING\\r\\n250 AUTH PLAIN\\r\\n\")",
                "Expect(\"MAIL FROM:<sender@example.test>\")",
                "Send(\"550 5.7.1 no\\r\\n503 5.5.1 x\\r\\n\")",
                "Expect(\"RSET\")",
                "ExpectAny",
                "Send(\"A\\r\\n\\0;\")",
                "Sleep(300ms)",
                "ExpectSilence(2s)",
                "ReadExact(5)",
                "Close",
            ]
        );
    }

    #[test]
    fn transactions() {
        let s = shown(&steps("pipelined a@x.test b@x.test"));
        assert_eq!(s.len(), 7, "{s:?}");
        assert_eq!(s[2], "Expect(\"RCPT TO:<b@x.test>\")");
        assert!(s[4].contains("354"), "{s:?}");
        let s = shown(&steps("transaction"));
        assert_eq!(s.len(), 8, "{s:?}");
        assert_eq!(s[2], format!("Expect({:?})", rcpt_line(TO)));
    }

    #[test]
    #[should_panic(expected = "unknown script step")]
    fn unknown_steps_panic() {
        steps("greeting; dance");
    }
}
