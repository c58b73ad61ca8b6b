//! The cells of the fault matrix as data: the steps, faults and modes,
//! what each cell must give (the error's [`class`](smtp_tests::script::class),
//! its phase, whether the session survives, whether the client resets),
//! and each cell's server script, written in the script language of
//! `smtp_tests::script` and parsed by [`steps`].

use std::time::Duration;

use smtp_core::{Phase, Timeouts};
use smtp_tests::scripted::Step;
use smtp_tests::support::{b64, steps, TO, TO2};

/// The timeout of the phase under test.
pub const SHORT: Duration = Duration::from_millis(300);
/// Every other timeout.
pub const LONG: Duration = Duration::from_secs(5);
/// How long the server stops reading in the "silence during the body" cell.
pub const STALL: Duration = Duration::from_millis(2500);
/// A small body.
pub const SMALL: usize = 800;
/// BDAT chunk size of the client.
pub const CHUNK: usize = 1024 * 1024;

/// The user the matrix logs in as.
pub const USER: &str = "matrix@example.test";
/// The password the matrix logs in with.
pub const PASSWORD: &str = "matrix-Pa55word";

/// Where in the submission the fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The server's greeting.
    Greeting,
    /// The reply to the first EHLO.
    Ehlo,
    /// The reply to STARTTLS.
    StartTls,
    /// The reply to AUTH PLAIN (over TLS).
    Auth,
    /// The reply to MAIL FROM.
    Mail,
    /// The reply to the first RCPT TO.
    Rcpt1,
    /// The reply to the second RCPT TO.
    Rcpt2,
    /// The reply to DATA, or to the first of several BDAT chunks.
    Data,
    /// While the body is sent (a BDAT chunk before the last).
    Body,
    /// The reply to the final dot, or to `BDAT LAST`.
    Dot,
    /// The reply to QUIT.
    Quit,
}

/// The rows of the matrix.
pub const STEPS: [At; 11] = [
    At::Greeting,
    At::Ehlo,
    At::StartTls,
    At::Auth,
    At::Mail,
    At::Rcpt1,
    At::Rcpt2,
    At::Data,
    At::Body,
    At::Dot,
    At::Quit,
];

impl At {
    /// The row's name.
    pub fn name(self) -> &'static str {
        match self {
            At::Greeting => "greeting",
            At::Ehlo => "EHLO",
            At::StartTls => "STARTTLS",
            At::Auth => "AUTH",
            At::Mail => "MAIL",
            At::Rcpt1 => "RCPT 1",
            At::Rcpt2 => "RCPT 2",
            At::Data => "DATA",
            At::Body => "body",
            At::Dot => "final dot",
            At::Quit => "QUIT",
        }
    }

    /// Failures here happen inside `Client::connect`.
    pub fn during_connect(self) -> bool {
        matches!(self, At::Greeting | At::Ehlo | At::StartTls | At::Auth)
    }
}

/// How the server fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A 4xx reply.
    Temp,
    /// A 5xx reply.
    Perm,
    /// `421`, then the server waits for the client to hang up.
    Closing,
    /// A line that is no SMTP reply.
    Garbage,
    /// No reply at all.
    Silence,
    /// The server closes the connection.
    Close,
}

/// The columns of the matrix.
pub const FAULTS: [Fault; 6] = [
    Fault::Temp,
    Fault::Perm,
    Fault::Closing,
    Fault::Garbage,
    Fault::Silence,
    Fault::Close,
];

impl Fault {
    /// The column's name.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Temp => "4xx",
            Fault::Perm => "5xx",
            Fault::Closing => "421",
            Fault::Garbage => "garbage",
            Fault::Silence => "silence",
            Fault::Close => "close",
        }
    }

    /// A 4xx or 5xx reply other than 421: the session goes on.
    pub fn is_refusal(self) -> bool {
        matches!(self, Fault::Temp | Fault::Perm)
    }
}

/// How the client transfers the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One command, one reply.
    Lockstep,
    /// PIPELINING.
    Pipelining,
    /// CHUNKING (BDAT), not pipelined.
    Chunking,
    /// PIPELINING and CHUNKING.
    PipelinedChunking,
}

/// Every mode, one `#[test]` each.
pub const MODES: [Mode; 4] = [
    Mode::Lockstep,
    Mode::Pipelining,
    Mode::Chunking,
    Mode::PipelinedChunking,
];

impl Mode {
    /// PIPELINING offered and used.
    pub fn pipelining(self) -> bool {
        matches!(self, Mode::Pipelining | Mode::PipelinedChunking)
    }

    /// CHUNKING offered and used.
    pub fn chunking(self) -> bool {
        matches!(self, Mode::Chunking | Mode::PipelinedChunking)
    }

    /// The EHLO keywords over TLS, as a script lists them.
    fn extensions(self) -> String {
        let mut exts = Vec::new();
        if self.pipelining() {
            exts.push("PIPELINING");
        }
        if self.chunking() {
            exts.push("CHUNKING");
        }
        exts.push("AUTH PLAIN");
        exts.join(", ")
    }
}

/// Every cell: `(at, fault)` row by row.
pub fn cells() -> impl Iterator<Item = (At, Fault)> {
    STEPS
        .into_iter()
        .flat_map(|at| FAULTS.into_iter().map(move |f| (at, f)))
}

/// The reply code of a 4xx or 5xx fault at `at`.
fn refusal_code(at: At, fault: Fault) -> u16 {
    let temp = fault == Fault::Temp;
    match at {
        At::StartTls | At::Auth if temp => 454,
        At::Auth => 535,
        At::Rcpt1 | At::Rcpt2 if temp => 450,
        At::Rcpt1 | At::Rcpt2 | At::Mail if !temp => 550,
        _ if temp => 451,
        _ => 554,
    }
}

/// The body of the faulted transaction: large enough that the fault
/// happens while it is being sent when that is the point, several BDAT
/// chunks where the DATA and body rows need them.
pub fn body_len(mode: Mode, at: At, fault: Fault) -> usize {
    match (mode.chunking(), at) {
        (true, At::Data) => CHUNK + CHUNK / 2,
        (true, At::Body) => 2 * CHUNK + CHUNK / 2,
        (false, At::Body) if matches!(fault, Fault::Silence | Fault::Close) => 256 * CHUNK,
        (false, At::Body) => CHUNK,
        _ => SMALL,
    }
}

/// The sizes of the BDAT chunks of a body of `len` octets.
pub fn chunk_sizes(len: usize) -> Vec<usize> {
    let mut sizes = vec![CHUNK; len / CHUNK];
    let rest = len - sizes.len() * CHUNK;
    if rest > 0 || sizes.is_empty() {
        sizes.push(rest);
    }
    sizes
}

/// The client's timeouts: [`SHORT`] for the phase under test.
pub fn timeouts_for(mode: Mode, at: At) -> Timeouts {
    let mut t = Timeouts::uniform(LONG);
    let short = match at {
        At::Greeting => &mut t.greeting,
        At::Ehlo | At::StartTls | At::Auth | At::Quit => &mut t.command,
        At::Mail => &mut t.mail,
        At::Rcpt1 | At::Rcpt2 => &mut t.rcpt,
        At::Data if mode.chunking() => &mut t.data_block,
        At::Data => &mut t.data_init,
        At::Body => &mut t.data_block,
        At::Dot => &mut t.data_end,
    };
    *short = SHORT;
    t
}

// ----- what each cell must give ------------------------------------------------

/// What a send that went out with refused recipients gives, in the place
/// of an error's class.
pub fn sent_class(refused: usize) -> String {
    format!("sent, {refused} refused")
}

/// The expected result of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The error's [`class`](smtp_tests::script::class), or [`sent_class`].
    pub class: String,
    /// The error's phase (`None` for a message that went out).
    pub phase: Option<Phase>,
    /// The session survives and the next transaction must succeed.
    pub reusable: bool,
    /// The client must send RSET after the failure.
    pub rset: bool,
}

/// What the cell `(mode, at, fault)` must give.
pub fn expected(mode: Mode, at: At, fault: Fault) -> Expected {
    // Once the end of the message may have reached the server, a failure
    // leaves the delivery state unknown. A failure on a BDAT chunk that is
    // not the last is certain: without LAST the server delivers nothing
    // (the DATA and body rows in the CHUNKING modes). With PIPELINING and
    // CHUNKING a small message goes out whole (envelope and `BDAT n LAST`)
    // in one flight, so a failure while reading the envelope replies is
    // unknown too.
    let one_flight =
        mode == Mode::PipelinedChunking && chunk_sizes(body_len(mode, at, fault)).len() == 1;
    let body_started = match at {
        // In the CHUNKING modes the body fault hits a chunk before LAST.
        // With DATA, a close or a stall makes writing the body fail, so the
        // final dot never left: nothing can have been delivered. Garbage
        // is read after the dot, as its reply.
        At::Body => !mode.chunking() && !matches!(fault, Fault::Close | Fault::Silence),
        At::Dot => true,
        At::Mail | At::Rcpt1 | At::Rcpt2 => one_flight,
        _ => false,
    };
    // Without CHUNKING, a reply that arrives during the body is read after
    // the final dot, as the reply to it.
    let early_reply_after_dot = !mode.chunking()
        && at == At::Body
        && matches!(
            fault,
            Fault::Temp | Fault::Perm | Fault::Closing | Fault::Garbage
        );
    let rcpt_refused = fault.is_refusal() && matches!(at, At::Rcpt1 | At::Rcpt2);
    let phase = match at {
        _ if rcpt_refused => None,
        At::Greeting => Some(Phase::Greeting),
        At::Ehlo => Some(Phase::Ehlo),
        At::StartTls => Some(Phase::StartTls),
        At::Auth => Some(Phase::Auth),
        At::Mail => Some(Phase::MailFrom),
        At::Rcpt1 | At::Rcpt2 => Some(Phase::RcptTo),
        At::Data if mode.chunking() => Some(Phase::Body),
        At::Data => Some(Phase::Data),
        At::Body if early_reply_after_dot => Some(Phase::EndOfData),
        At::Body => Some(Phase::Body),
        At::Dot => Some(Phase::EndOfData),
        At::Quit => Some(Phase::Quit),
    };
    let p = phase.unwrap_or(Phase::RcptTo);
    let wrap = |cause: String| {
        if body_started {
            format!("DeliveryUnknown {p:?} ({cause})")
        } else {
            cause
        }
    };
    let code = refusal_code(at, fault);
    let class = match fault {
        _ if rcpt_refused => sent_class(1),
        Fault::Temp | Fault::Perm => match at {
            At::StartTls => "Tls StartTls StartTlsRefused".into(),
            At::Auth => format!("Auth Plain {code}"),
            _ => format!("Rejected {p:?} {code}"),
        },
        Fault::Closing => format!("Rejected {p:?} 421"),
        Fault::Garbage => wrap(format!("Protocol {p:?}")),
        Fault::Silence => wrap(format!("Timeout {p:?} {SHORT:?}")),
        Fault::Close => wrap(format!("Io {p:?}")),
    };
    let in_transaction = matches!(
        at,
        At::Mail | At::Rcpt1 | At::Rcpt2 | At::Data | At::Body | At::Dot
    );
    let rset = fault.is_refusal()
        && match at {
            At::Mail | At::Data => true,
            At::Body => mode.chunking(),
            _ => false,
        };
    Expected {
        class,
        phase,
        reusable: in_transaction && fault.is_refusal(),
        rset,
    }
}

// ----- the server's script --------------------------------------------------------

/// A script being written, one step a line.
#[derive(Default)]
struct Script(String);

impl Script {
    fn add(&mut self, step: impl AsRef<str>) {
        self.0.push_str(step.as_ref());
        self.0.push('\n');
    }

    /// The server's answer at `here`: `normal`, or the fault when it
    /// strikes here (a refusal, or the fatal fault that ends the script).
    /// False when the script ended.
    fn answer(&mut self, here: At, fault: Option<(At, Fault)>, normal: &str) -> bool {
        match fault {
            Some((at, f)) if at == here && f.is_refusal() => self.add(refusal(at, f)),
            Some((at, f)) if at == here => {
                self.add(fatal(f));
                return false;
            }
            _ => self.add(normal),
        }
        true
    }

    /// [`Script::answer`] where any fault ends the session (setting it up,
    /// QUIT): after a refusal the client hangs up.
    fn answer_or_end(&mut self, here: At, fault: Option<(At, Fault)>, normal: &str) -> bool {
        if !self.answer(here, fault, normal) {
            return false;
        }
        if fault.is_some_and(|(at, _)| at == here) {
            self.add("hangup");
            return false;
        }
        true
    }
}

/// The reply line of a 4xx/5xx fault.
fn refusal(at: At, fault: Fault) -> String {
    let code = refusal_code(at, fault);
    format!(
        "> {code} {}.0.0 fault injected at {}",
        code / 100,
        at.name()
    )
}

/// The reply of a 421 or garbage fault.
fn fatal_reply(fault: Fault) -> &'static str {
    match fault {
        Fault::Closing => "> 421 4.3.2 closing the connection",
        Fault::Garbage => r"raw HTTP/1.1 400 Bad Request\r\n",
        _ => unreachable!("{fault:?} sends no reply"),
    }
}

/// What the server does at a fault other than a refusal; the script ends
/// with it.
fn fatal(fault: Fault) -> String {
    match fault {
        Fault::Closing | Fault::Garbage => format!("{}; hangup", fatal_reply(fault)),
        Fault::Silence => "hangup".into(),
        Fault::Close => "close".into(),
        Fault::Temp | Fault::Perm => unreachable!("a refusal is not fatal"),
    }
}

/// Greeting, EHLO, STARTTLS, EHLO, AUTH PLAIN; false when the fault ended
/// the script.
fn connect_steps(s: &mut Script, mode: Mode, fault: Option<(At, Fault)>) -> bool {
    if !s.answer_or_end(At::Greeting, fault, "greeting") {
        return false;
    }
    s.add("ehlo");
    if !s.answer_or_end(At::Ehlo, fault, "ehlo-reply STARTTLS, PIPELINING") {
        return false;
    }
    s.add("< STARTTLS");
    if !s.answer_or_end(At::StartTls, fault, "> 220 2.0.0 Ready to start TLS") {
        return false;
    }
    s.add("starttls; ehlo");
    s.add(format!("ehlo-reply {}", mode.extensions()));
    s.add(format!(
        "< AUTH PLAIN {}",
        b64(format!("\0{USER}\0{PASSWORD}"))
    ));
    s.answer_or_end(At::Auth, fault, "> 235 2.7.0 Authentication successful")
}

/// One transaction to `to` with a body of `len` octets, with the fault
/// where it strikes. Returns false when the script ended.
fn transaction_steps(
    s: &mut Script,
    mode: Mode,
    to: &[&str],
    len: usize,
    fault: Option<(At, Fault)>,
) -> bool {
    let rcpt_at = [At::Rcpt1, At::Rcpt2];
    let chunks = chunk_sizes(len);
    let mail_refused = matches!(fault, Some((At::Mail, f)) if f.is_refusal());
    let refused_at = |here: At| matches!(fault, Some((at, f)) if at == here && f.is_refusal());

    if mode.pipelining() {
        s.add("mail");
        for t in to {
            s.add(format!("rcpt {t}"));
        }
        s.add(if mode.chunking() { "bdat" } else { "< DATA" });
        if !s.answer(At::Mail, fault, "> 250 2.1.0 Ok") {
            return false;
        }
        for at in &rcpt_at[..to.len()] {
            if mail_refused {
                s.add("> 503 5.5.1 Error: need MAIL command");
            } else if !s.answer(*at, fault, "> 250 2.1.5 Ok") {
                return false;
            }
        }
        if mail_refused {
            s.add("> 554 5.5.1 Error: no valid recipients; rset");
            return true;
        }
        // The reply to DATA, or to the first BDAT chunk: the DATA row
        // unless that chunk is the last one.
        let (data_at, normal) = match mode.chunking() {
            true if chunks.len() == 1 => (At::Dot, "> 250 2.0.0 Ok: queued as 1"),
            true => (At::Data, "> 250 2.0.0 Ok: chunk"),
            false => (At::Data, "> 354 End data with <CR><LF>.<CR><LF>"),
        };
        if !s.answer(data_at, fault, normal) {
            return false;
        }
        if refused_at(data_at) {
            // A refused DATA, or a refused first chunk, is reset; a refused
            // BDAT LAST ends the transaction by itself.
            if data_at == At::Data {
                s.add("rset");
            }
            return true;
        }
    } else {
        s.add("mail");
        if !s.answer(At::Mail, fault, "> 250 2.1.0 Ok") {
            return false;
        }
        if mail_refused {
            s.add("rset");
            return true;
        }
        for (t, at) in to.iter().zip(rcpt_at) {
            s.add(format!("rcpt {t}"));
            if !s.answer(at, fault, "> 250 2.1.5 Ok") {
                return false;
            }
        }
        if !mode.chunking() {
            s.add("< DATA");
            if !s.answer(At::Data, fault, "> 354 End data with <CR><LF>.<CR><LF>") {
                return false;
            }
            if refused_at(At::Data) {
                s.add("rset");
                return true;
            }
        }
    }

    if mode.chunking() {
        // The chunks still to go (the first went with the envelope when
        // pipelined).
        for k in usize::from(mode.pipelining())..chunks.len() {
            let last = k + 1 == chunks.len();
            let here = match k {
                _ if last => At::Dot,
                0 => At::Data,
                _ => At::Body,
            };
            s.add("bdat");
            let normal = if last {
                "> 250 2.0.0 Ok: queued as 1"
            } else {
                "> 250 2.0.0 Ok: chunk"
            };
            if !s.answer(here, fault, normal) {
                return false;
            }
            if refused_at(here) {
                if !last {
                    s.add("rset");
                }
                return true;
            }
        }
        return true;
    }

    let Some((At::Body, f)) = fault else {
        s.add("body");
        return s.answer(At::Dot, fault, "> 250 2.0.0 Ok: queued as 1");
    };
    s.add("read 4096");
    match f {
        Fault::Silence => {
            s.add(format!("sleep {}ms; close", STALL.as_millis()));
            false
        }
        Fault::Close => {
            s.add("close");
            false
        }
        // A reply in the middle of the body, then the rest of it.
        _ if f.is_refusal() => {
            s.add(refusal(At::Body, f));
            s.add("body");
            true
        }
        _ => {
            s.add(fatal_reply(f));
            s.add("body; hangup");
            false
        }
    }
}

/// The server's script of a cell in the script language: the faulted
/// transaction to [`TO`] and [`TO2`], then (unless the fault ended the
/// session) a second one to [`TO`] and QUIT.
pub fn cell_text(mode: Mode, at: At, fault: Fault) -> String {
    let f = Some((at, fault));
    let mut s = Script::default();
    if connect_steps(&mut s, mode, f)
        && transaction_steps(&mut s, mode, &[TO, TO2], body_len(mode, at, fault), f)
    {
        if at == At::Quit {
            s.add("< QUIT");
            s.answer_or_end(At::Quit, f, "> 221 2.0.0 Bye");
        } else {
            let again = transaction_steps(&mut s, mode, &[TO], SMALL, None);
            assert!(again, "the second transaction has no fault");
            s.add("quit");
        }
    }
    s.0
}

/// The server's script of a cell.
pub fn cell_script(mode: Mode, at: At, fault: Fault) -> Vec<Step> {
    steps(&cell_text(mode, at, fault))
}
