//! The fault matrix: every step of a submission (greeting, EHLO,
//! STARTTLS, AUTH, MAIL, each RCPT, DATA, the body, the final dot, QUIT)
//! × every way a server can fail there (4xx, 5xx, 421, garbage, silence,
//! closing the connection), in four transfer modes (lock-step, PIPELINING,
//! CHUNKING, both). One table drives it: for each cell the script of the
//! scripted server is generated, the client runs against it, and the test
//! checks the error variant and phase, the time taken, that nothing
//! panicked, that the server saw exactly the expected commands (RSET in
//! step where a transaction is abandoned, nothing after a fatal reply),
//! and then either that the next transaction on the same client succeeds
//! or that the client says it is not connected and refuses at once.
//!
//! Every session runs STARTTLS and AUTH PLAIN (TLS with a test CA), so the
//! later steps run over TLS as in real submission.
//!
//! `cargo test -p smtp-tests --test fault_matrix -- --nocapture` prints
//! the matrix of each mode.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use smtp_core::{
    Client, Config, Envelope, Error, Mechanism, Phase, Security, Timeouts, TlsErrorKind,
};
use smtp_tests::scripted::{
    ehlo_reply, expect, greeting, raw, reply, tls::TestCa, Capture, ScriptedServer, Step,
};
use smtp_tests::support::{
    envelope, hangup, mail_line, quit_steps, rcpt_line, Lines, FROM, TO, TO2,
};

/// The timeout of the phase under test.
const SHORT: Duration = Duration::from_millis(300);
/// Every other timeout.
const LONG: Duration = Duration::from_secs(5);
/// How much longer than its timeout a failing call may take.
const MARGIN: Duration = Duration::from_millis(1500);
/// How long the server stops reading in the "silence during the body" cell.
const STALL: Duration = Duration::from_millis(2500);
/// What a "garbage" reply is.
const GARBAGE: &[u8] = b"HTTP/1.1 400 Bad Request\r\n";
/// A small body.
const SMALL: usize = 800;
/// BDAT chunk size of the client.
const CHUNK: usize = 1024 * 1024;
/// Cells run at once within one mode.
const WORKERS: usize = 3;

const USER: &str = "matrix@example.test";
const PASSWORD: &str = "matrix-Pa55word";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    Mail,
    Rcpt1,
    Rcpt2,
    Data,
    Body,
    Dot,
    Quit,
}

const STEPS: [At; 11] = [
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
    fn name(self) -> &'static str {
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
    fn during_connect(self) -> bool {
        matches!(self, At::Greeting | At::Ehlo | At::StartTls | At::Auth)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Temp,
    Perm,
    Closing,
    Garbage,
    Silence,
    Close,
}

const FAULTS: [Fault; 6] = [
    Fault::Temp,
    Fault::Perm,
    Fault::Closing,
    Fault::Garbage,
    Fault::Silence,
    Fault::Close,
];

impl Fault {
    fn name(self) -> &'static str {
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
    fn is_refusal(self) -> bool {
        matches!(self, Fault::Temp | Fault::Perm)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Lockstep,
    Pipelining,
    Chunking,
    PipelinedChunking,
}

impl Mode {
    fn pipelining(self) -> bool {
        matches!(self, Mode::Pipelining | Mode::PipelinedChunking)
    }

    fn chunking(self) -> bool {
        matches!(self, Mode::Chunking | Mode::PipelinedChunking)
    }

    fn extensions(self) -> Vec<&'static str> {
        let mut exts = Vec::new();
        if self.pipelining() {
            exts.push("PIPELINING");
        }
        if self.chunking() {
            exts.push("CHUNKING");
        }
        exts.push("AUTH PLAIN");
        exts
    }
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
fn body_len(mode: Mode, at: At, fault: Fault) -> usize {
    match (mode.chunking(), at) {
        (true, At::Data) => CHUNK + CHUNK / 2,
        (true, At::Body) => 2 * CHUNK + CHUNK / 2,
        (false, At::Body) if matches!(fault, Fault::Silence | Fault::Close) => 256 * CHUNK,
        (false, At::Body) => CHUNK,
        _ => SMALL,
    }
}

// ----- what each cell must give ------------------------------------------------

/// What a call ended with, compactly.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    /// The message went out; this many recipients were refused.
    Sent(usize),
    Rejected(u16),
    TlsRefused,
    Auth(u16),
    Protocol,
    Timeout,
    Io,
    /// `Error::DeliveryUnknown` with this cause.
    Unknown(Box<Class>),
    Other(String),
}

impl Class {
    fn label(&self) -> String {
        match self {
            Class::Sent(n) => format!("sent,{n} refused"),
            Class::Rejected(code) => format!("Rejected {code}"),
            Class::TlsRefused => "Tls refused".into(),
            Class::Auth(code) => format!("Auth {code}"),
            Class::Protocol => "Protocol".into(),
            Class::Timeout => "Timeout".into(),
            Class::Io => "Io".into(),
            Class::Unknown(cause) => format!("Unknown({})", cause.label()),
            Class::Other(s) => s.clone(),
        }
    }
}

fn classify(err: &Error) -> (Class, Option<Phase>) {
    let class = match err {
        Error::Rejected { reply, .. } => Class::Rejected(reply.code()),
        Error::Tls {
            kind: TlsErrorKind::StartTlsRefused,
            ..
        } => Class::TlsRefused,
        Error::Auth { reply, .. } => Class::Auth(reply.as_ref().map_or(0, |r| r.code())),
        Error::Protocol { .. } => Class::Protocol,
        Error::Timeout { after, .. } if *after == SHORT => Class::Timeout,
        Error::Io { .. } => Class::Io,
        Error::DeliveryUnknown { cause, .. } => Class::Unknown(Box::new(classify(cause).0)),
        other => Class::Other(format!("{other:?}")),
    };
    (class, err.phase())
}

fn outcome(result: &Result<smtp_core::SendReport, Error>) -> (Class, Option<Phase>) {
    match result {
        Ok(report) => (Class::Sent(report.refused().count()), None),
        Err(e) => classify(e),
    }
}

/// The expected result of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    class: Class,
    phase: Option<Phase>,
    /// The session survives and the next transaction must succeed.
    reusable: bool,
    /// The client must send RSET after the failure.
    rset: bool,
}

fn expected(mode: Mode, at: At, fault: Fault) -> Expected {
    // Once the end of the message may have reached the server, a failure
    // leaves the delivery state unknown. A failure on a BDAT chunk that is
    // not the last is certain: without LAST the server delivers nothing
    // (the DATA and body rows in the CHUNKING modes). With PIPELINING and
    // CHUNKING a small message
    // goes out whole (envelope and `BDAT n LAST`) in one flight, so a
    // failure while reading the envelope replies is unknown too.
    let one_flight =
        mode == Mode::PipelinedChunking && chunk_sizes(body_len(mode, at, fault)).len() == 1;
    let body_started = match at {
        // In the CHUNKING modes the body fault hits a chunk before LAST.
        // With DATA, a close or a stall makes writing the body fail, so the
        // final dot never left: nothing can have been delivered. Garbage
        // is read after the dot, as its reply.
        At::Body => {
            !matches!(mode, Mode::Chunking | Mode::PipelinedChunking)
                && !matches!(fault, Fault::Close | Fault::Silence)
        }
        At::Dot => true,
        At::Mail | At::Rcpt1 | At::Rcpt2 => one_flight,
        _ => false,
    };
    let wrap = |c: Class| {
        if body_started {
            Class::Unknown(Box::new(c))
        } else {
            c
        }
    };
    let class = match fault {
        Fault::Temp | Fault::Perm => {
            let code = refusal_code(at, fault);
            match at {
                At::StartTls => Class::TlsRefused,
                At::Auth => Class::Auth(code),
                At::Rcpt1 | At::Rcpt2 => Class::Sent(1),
                _ => Class::Rejected(code),
            }
        }
        Fault::Closing => Class::Rejected(421),
        Fault::Garbage => wrap(Class::Protocol),
        Fault::Silence => wrap(Class::Timeout),
        Fault::Close => wrap(Class::Io),
    };
    // Without CHUNKING, a reply that arrives during the body is read after
    // the final dot, as the reply to it.
    let early_reply_after_dot = !mode.chunking()
        && at == At::Body
        && matches!(
            fault,
            Fault::Temp | Fault::Perm | Fault::Closing | Fault::Garbage
        );
    let phase = match at {
        _ if class == Class::Sent(1) => None,
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
    let in_transaction = matches!(
        at,
        At::Mail | At::Rcpt1 | At::Rcpt2 | At::Data | At::Body | At::Dot
    );
    let reusable = in_transaction && fault.is_refusal();
    let rset = fault.is_refusal()
        && match at {
            At::Mail | At::Data => true,
            At::Body => mode.chunking(),
            _ => false,
        };
    Expected {
        class,
        phase,
        reusable,
        rset,
    }
}

// ----- the server's script --------------------------------------------------------

/// The reply line of a 4xx/5xx fault.
fn refusal(at: At, fault: Fault) -> Step {
    let code = refusal_code(at, fault);
    reply(&format!(
        "{code} {}.0.0 fault injected at {}",
        code / 100,
        at.name()
    ))
}

/// What the server does at a fault other than a refusal; the script ends
/// with it.
fn fatal(fault: Fault) -> Vec<Step> {
    match fault {
        Fault::Closing => vec![reply("421 4.3.2 closing the connection"), hangup()],
        Fault::Garbage => vec![raw(GARBAGE), hangup()],
        Fault::Silence => vec![hangup()],
        Fault::Close => vec![Step::Close],
        Fault::Temp | Fault::Perm => unreachable!("a refusal is not fatal"),
    }
}

/// Server steps for one reply: the normal one, or the fault when `at` is
/// where it strikes. Returns false when the script ends here.
fn answer(steps: &mut Vec<Step>, here: At, fault: Option<(At, Fault)>, normal: &str) -> bool {
    match fault {
        Some((at, f)) if at == here => {
            if f.is_refusal() {
                steps.push(refusal(at, f));
                true
            } else {
                steps.extend(fatal(f));
                false
            }
        }
        _ => {
            steps.push(reply(normal));
            true
        }
    }
}

fn rset() -> Vec<Step> {
    vec![expect("RSET"), reply("250 2.0.0 Ok")]
}

/// Greeting, EHLO, STARTTLS, EHLO, AUTH PLAIN; false when the fault ended
/// the script.
fn connect_steps(steps: &mut Vec<Step>, mode: Mode, fault: Option<(At, Fault)>) -> bool {
    match fault {
        Some((At::Greeting, f)) if f.is_refusal() => {
            steps.extend([refusal(At::Greeting, f), hangup()]);
            return false;
        }
        Some((At::Greeting, f)) => {
            steps.extend(fatal(f));
            return false;
        }
        _ => steps.push(greeting()),
    }
    steps.push(expect("EHLO "));
    if matches!(fault, Some((At::Ehlo, _))) {
        answer(steps, At::Ehlo, fault, "");
        if fault.is_some_and(|(_, f)| f.is_refusal()) {
            steps.push(hangup());
        }
        return false;
    }
    steps.push(ehlo_reply(&["STARTTLS", "PIPELINING"]));
    steps.push(expect("STARTTLS"));
    if !answer(steps, At::StartTls, fault, "220 2.0.0 Ready to start TLS") {
        return false;
    }
    if matches!(fault, Some((At::StartTls, _))) {
        steps.push(hangup());
        return false;
    }
    steps.extend([Step::StartTls, expect("EHLO ")]);
    steps.push(ehlo_reply(&mode.extensions()));
    steps.push(expect("AUTH PLAIN "));
    if !answer(
        steps,
        At::Auth,
        fault,
        "235 2.7.0 Authentication successful",
    ) {
        return false;
    }
    if matches!(fault, Some((At::Auth, _))) {
        steps.push(hangup());
        return false;
    }
    true
}

/// The sizes of the BDAT chunks of a body of `len` octets.
fn chunk_sizes(len: usize) -> Vec<usize> {
    let mut sizes = vec![CHUNK; len / CHUNK];
    let rest = len - sizes.len() * CHUNK;
    if rest > 0 || sizes.is_empty() {
        sizes.push(rest);
    }
    sizes
}

/// One transaction to [TO, TO2] (or `to`) with a body of `len` octets,
/// with the fault where it strikes. Returns false when the script ended.
fn transaction_steps(
    steps: &mut Vec<Step>,
    mode: Mode,
    to: &[&str],
    len: usize,
    fault: Option<(At, Fault)>,
) -> bool {
    let rcpt_at = [At::Rcpt1, At::Rcpt2];
    let chunks = chunk_sizes(len);
    let mail_refused = matches!(fault, Some((At::Mail, f)) if f.is_refusal());
    // The step whose reply the last envelope reply is: the first BDAT
    // chunk is the DATA row unless it is the last one.
    let first_chunk_at = if chunks.len() == 1 { At::Dot } else { At::Data };

    if mode.pipelining() {
        steps.push(expect(&mail_line(FROM)));
        steps.extend(to.iter().map(|t| expect(&rcpt_line(t))));
        steps.push(if mode.chunking() {
            Step::ReadBdat
        } else {
            expect("DATA")
        });
        if !answer(steps, At::Mail, fault, "250 2.1.0 Ok") {
            return false;
        }
        for (i, _) in to.iter().enumerate() {
            if mail_refused {
                steps.push(reply("503 5.5.1 Error: need MAIL command"));
            } else if !answer(steps, rcpt_at[i], fault, "250 2.1.5 Ok") {
                return false;
            }
        }
        let (data_at, normal) = match mode.chunking() {
            true if chunks.len() == 1 => (first_chunk_at, "250 2.0.0 Ok: queued as 1"),
            true => (first_chunk_at, "250 2.0.0 Ok: chunk"),
            false => (At::Data, "354 End data with <CR><LF>.<CR><LF>"),
        };
        if mail_refused {
            steps.push(reply("554 5.5.1 Error: no valid recipients"));
            steps.extend(rset());
            return true;
        }
        if !answer(steps, data_at, fault, normal) {
            return false;
        }
        if matches!(fault, Some((at, f)) if at == data_at && f.is_refusal()) {
            // A refused DATA, or a refused first chunk, is reset; a refused
            // BDAT LAST ends the transaction by itself.
            if data_at == At::Data {
                steps.extend(rset());
            }
            return true;
        }
    } else {
        steps.push(expect(&mail_line(FROM)));
        if !answer(steps, At::Mail, fault, "250 2.1.0 Ok") {
            return false;
        }
        if mail_refused {
            steps.extend(rset());
            return true;
        }
        for (i, t) in to.iter().enumerate() {
            steps.push(expect(&rcpt_line(t)));
            if !answer(steps, rcpt_at[i], fault, "250 2.1.5 Ok") {
                return false;
            }
        }
        if !mode.chunking() {
            steps.push(expect("DATA"));
            if !answer(
                steps,
                At::Data,
                fault,
                "354 End data with <CR><LF>.<CR><LF>",
            ) {
                return false;
            }
            if matches!(fault, Some((At::Data, f)) if f.is_refusal()) {
                steps.extend(rset());
                return true;
            }
        }
    }

    if mode.chunking() {
        // The chunks still to go (the first went with the envelope when
        // pipelined).
        let first = usize::from(mode.pipelining());
        for k in first..chunks.len() {
            let last = k + 1 == chunks.len();
            let here = match k {
                _ if last => At::Dot,
                0 => At::Data,
                _ => At::Body,
            };
            steps.push(Step::ReadBdat);
            let normal = if last {
                "250 2.0.0 Ok: queued as 1"
            } else {
                "250 2.0.0 Ok: chunk"
            };
            if !answer(steps, here, fault, normal) {
                return false;
            }
            if matches!(fault, Some((at, f)) if at == here && f.is_refusal()) {
                if !last {
                    steps.extend(rset());
                }
                return true;
            }
        }
        return true;
    }

    match fault {
        Some((At::Body, f)) => {
            steps.push(Step::ReadExact(4096));
            match f {
                Fault::Silence => {
                    steps.extend([Step::Sleep(STALL), Step::Close]);
                    return false;
                }
                Fault::Close => {
                    steps.push(Step::Close);
                    return false;
                }
                _ => {}
            }
            // A reply in the middle of the body, then the rest of it.
            let refused = f.is_refusal();
            if refused {
                steps.push(refusal(At::Body, f));
            } else {
                steps.push(fatal(f).remove(0));
            }
            steps.push(Step::ReadData);
            if !refused {
                steps.push(hangup());
            }
            refused
        }
        _ => {
            steps.push(Step::ReadData);
            answer(steps, At::Dot, fault, "250 2.0.0 Ok: queued as 1")
        }
    }
}

fn cell_script(mode: Mode, at: At, fault: Fault) -> Vec<Step> {
    let f = Some((at, fault));
    let mut steps = Vec::new();
    if !connect_steps(&mut steps, mode, f) {
        return steps;
    }
    if !transaction_steps(&mut steps, mode, &[TO, TO2], body_len(mode, at, fault), f) {
        return steps;
    }
    if at != At::Quit {
        let again = transaction_steps(&mut steps, mode, &[TO], SMALL, None);
        assert!(again, "the second transaction has no fault");
        steps.extend(quit_steps());
        return steps;
    }
    steps.push(expect("QUIT"));
    if fault.is_refusal() {
        steps.extend([refusal(At::Quit, fault), hangup()]);
    } else {
        steps.extend(fatal(fault));
    }
    steps
}

// ----- the client's side ----------------------------------------------------------

fn tls_server() -> &'static (String, Arc<rustls::ServerConfig>) {
    static TLS: OnceLock<(String, Arc<rustls::ServerConfig>)> = OnceLock::new();
    TLS.get_or_init(|| {
        let ca = TestCa::new();
        let cert = ca.issue(&["127.0.0.1"]);
        (ca.ca_pem(), cert.server_config())
    })
}

fn timeouts_for(mode: Mode, at: At) -> Timeouts {
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

fn client_config(server: &ScriptedServer, mode: Mode, at: At) -> Config {
    let (ca_pem, _) = tls_server();
    server
        .config()
        .with_security(Security::StartTls)
        .with_system_roots(false)
        .with_ca_pem(ca_pem.as_bytes().to_vec())
        .with_password(USER, PASSWORD)
        .with_mechanism(Mechanism::Plain)
        .with_pipelining(mode.pipelining())
        .with_chunking(mode.chunking())
        .with_timeouts(timeouts_for(mode, at))
}

/// One cell's result: the label for the table, or what went wrong.
struct CellResult {
    label: String,
    failures: Vec<String>,
}

fn small_envelope() -> Envelope {
    envelope()
}

fn run_cell(mode: Mode, at: At, fault: Fault) -> CellResult {
    let want = expected(mode, at, fault);
    let (_, tls) = tls_server();
    let server = ScriptedServer::start_with_tls(cell_script(mode, at, fault), tls.clone());
    let config = client_config(&server, mode, at);
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };

    let limit = match (at, fault) {
        (At::Body, Fault::Silence) if !mode.chunking() => STALL,
        (_, Fault::Silence) => SHORT + MARGIN,
        _ => MARGIN,
    };
    let start = Instant::now();
    let (got, client) = if at.during_connect() {
        match Client::connect(config) {
            Ok(client) => ((Class::Other("connected".into()), None), Some(client)),
            Err(e) => (classify(&e), None),
        }
    } else {
        let mut client = Client::connect(config).expect("connect before the fault");
        let start = Instant::now();
        let big = Envelope::new(FROM, [TO, TO2]).expect("envelope");
        let mut body = Lines::new(body_len(mode, at, fault));
        let sent = client.send(&big, &mut body);
        let got = if at == At::Quit {
            check(
                sent.is_ok(),
                format!("the send before QUIT failed: {sent:?}"),
            );
            let start = Instant::now();
            let quit = client.quit();
            check(
                start.elapsed() < limit,
                format!("QUIT took {:?}", start.elapsed()),
            );
            match quit {
                Ok(()) => (Class::Other("QUIT ok".into()), None),
                Err(e) => classify(&e),
            }
        } else {
            check(
                start.elapsed() < limit,
                format!("send took {:?} (limit {limit:?})", start.elapsed()),
            );
            if at == At::Body && !mode.chunking() {
                // Streamed: only a little more than the socket buffers.
                check(
                    body.left() > 0 || !matches!(fault, Fault::Silence | Fault::Close),
                    "the whole 256 MiB body was read".into(),
                );
            }
            outcome(&sent)
        };
        (got, Some(client))
    };
    if at.during_connect() {
        check(
            start.elapsed() < limit,
            format!("connect took {:?} (limit {limit:?})", start.elapsed()),
        );
    }
    if fault == Fault::Silence {
        check(
            start.elapsed() >= SHORT - Duration::from_millis(50),
            format!("gave up after {:?}, before the timeout", start.elapsed()),
        );
    }
    check(
        got.0 == want.class,
        format!("got {}, expected {}", got.0.label(), want.class.label()),
    );
    check(
        got.1 == want.phase,
        format!("phase {:?}, expected {:?}", got.1, want.phase),
    );

    if let Some(mut client) = client {
        if want.reusable {
            check(
                client.is_connected(),
                "not connected after a refusal".into(),
            );
            let next = client.send(&small_envelope(), &mut Lines::new(SMALL));
            check(
                next.is_ok(),
                format!("the next transaction failed: {next:?}"),
            );
            let quit = client.quit();
            check(quit.is_ok(), format!("QUIT failed: {quit:?}"));
        } else {
            check(
                !client.is_connected(),
                "still connected after a fatal fault".into(),
            );
            let start = Instant::now();
            let again = client.send(&small_envelope(), &mut Lines::new(SMALL));
            check(
                matches!(again, Err(Error::NotConnected(_))),
                format!("a send after the failure gave {again:?}"),
            );
            check(
                start.elapsed() < Duration::from_millis(100),
                format!("the refused send took {:?}", start.elapsed()),
            );
        }
    }
    let cap: Capture = server.finish();
    if !cap.errors.is_empty() {
        failures.push(format!("server: {:?}", cap.errors));
    }
    let rsets = cap.count_lines("RSET");
    if rsets != usize::from(want.rset) {
        failures.push(format!(
            "{rsets} RSET, expected {}: {:?}",
            usize::from(want.rset),
            cap.lines
        ));
    }
    let mark = if want.reusable { "+" } else { "x" };
    CellResult {
        label: format!("{} {mark}", got.0.label()),
        failures,
    }
}

fn run_mode(mode: Mode) {
    let cells: Vec<(At, Fault)> = STEPS
        .iter()
        .flat_map(|&at| FAULTS.iter().map(move |&f| (at, f)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&(at, fault)) = cells.get(i) else {
                    break;
                };
                let result = catch_unwind(AssertUnwindSafe(|| run_cell(mode, at, fault)))
                    .unwrap_or_else(|panic| CellResult {
                        label: "PANIC".into(),
                        failures: vec![format!(
                            "panicked: {}",
                            panic
                                .downcast_ref::<String>()
                                .map(String::as_str)
                                .or_else(|| panic.downcast_ref::<&str>().copied())
                                .unwrap_or("?")
                        )],
                    });
                results.lock().unwrap().push((at, fault, result));
            });
        }
    });
    let results = results.into_inner().unwrap();
    print_matrix(mode, &results, started.elapsed());
    let failures: Vec<String> = results
        .iter()
        .flat_map(|(at, fault, r)| {
            r.failures
                .iter()
                .map(move |f| format!("{mode:?} {} × {}: {f}", at.name(), fault.name()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing cells:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(results.len(), STEPS.len() * FAULTS.len());
}

fn print_matrix(mode: Mode, results: &[(At, Fault, CellResult)], took: Duration) {
    const W: usize = 22;
    let mut out = format!(
        "\nfault matrix, {mode:?} ({} cells, {:.1} s; + = next transaction on the same client succeeded, x = session closed, further calls NotConnected)\n",
        results.len(),
        took.as_secs_f64()
    );
    out.push_str(&format!("{:<10}", "step"));
    for f in FAULTS {
        out.push_str(&format!("| {:<W$}", f.name()));
    }
    out.push('\n');
    for at in STEPS {
        out.push_str(&format!("{:<10}", at.name()));
        for f in FAULTS {
            let label = results
                .iter()
                .find(|(a, b, _)| *a == at && *b == f)
                .map(|(_, _, r)| {
                    if r.failures.is_empty() {
                        r.label.clone()
                    } else {
                        format!("FAIL {}", r.label)
                    }
                })
                .unwrap_or_default();
            out.push_str(&format!("| {label:<W$}"));
        }
        out.push('\n');
    }
    println!("{out}");
}

#[test]
fn fault_matrix_lockstep() {
    run_mode(Mode::Lockstep);
}

#[test]
fn fault_matrix_pipelining() {
    run_mode(Mode::Pipelining);
}

#[test]
fn fault_matrix_chunking() {
    run_mode(Mode::Chunking);
}

#[test]
fn fault_matrix_pipelining_and_chunking() {
    run_mode(Mode::PipelinedChunking);
}

/// The scripts themselves: every cell's script reads each command it
/// expects and never expects one after a fatal fault (a self-check of the
/// generator, independent of the client).
#[test]
fn fault_matrix_scripts_end_after_fatal_faults() {
    for mode in [
        Mode::Lockstep,
        Mode::Pipelining,
        Mode::Chunking,
        Mode::PipelinedChunking,
    ] {
        for at in STEPS {
            for fault in FAULTS {
                let script = cell_script(mode, at, fault);
                let last = script.last().expect("a script");
                assert!(
                    matches!(last, Step::ExpectClose(_) | Step::Close),
                    "{mode:?} {at:?} {fault:?} ends with {last:?}"
                );
                let quits = script
                    .iter()
                    .filter(|s| matches!(s, Step::Expect(p) if p == "QUIT"))
                    .count();
                let want =
                    usize::from(fault.is_refusal() && !at.during_connect() || at == At::Quit);
                assert_eq!(quits, want, "{mode:?} {at:?} {fault:?}: {script:?}");
            }
        }
    }
    // The generated bodies are what the chunk plan says.
    assert_eq!(chunk_sizes(SMALL), [SMALL]);
    assert_eq!(chunk_sizes(CHUNK + 1), [CHUNK, 1]);
    let mut v = Vec::new();
    Lines::new(SMALL).read_to_end(&mut v).unwrap();
    assert_eq!(v.len(), SMALL);
}
