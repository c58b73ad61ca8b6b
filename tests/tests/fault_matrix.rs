//! The fault matrix: every step of a submission (greeting, EHLO,
//! STARTTLS, AUTH, MAIL, each RCPT, DATA, the body, the final dot, QUIT)
//! × every way a server can fail there (4xx, 5xx, 421, garbage, silence,
//! closing the connection), in four transfer modes (lock-step, PIPELINING,
//! CHUNKING, both). One table drives it (`fault_matrix/cells.rs`): for
//! each cell the script of the scripted server is written in the script
//! language of `smtp_tests::script`, the client runs against it, and the
//! test checks the error's `script::class` and phase, the time taken, that
//! nothing panicked, that the server saw exactly the expected commands
//! (RSET in step where a transaction is abandoned, nothing after a fatal
//! reply), and then either that the next transaction on the same client
//! succeeds or that the client says it is not connected and refuses at
//! once.
//!
//! Every session runs STARTTLS and AUTH PLAIN (TLS with a test CA), so the
//! later steps run over TLS as in real submission.
//!
//! `cargo test -p smtp-tests --test fault_matrix -- --nocapture` prints
//! the matrix of each mode.

#[path = "fault_matrix/cells.rs"]
mod cells;

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use smtp_core::{Config, Envelope, Error, Mechanism, Phase, Security};
use smtp_tests::driver::Client;
use smtp_tests::scripted::{tls::TestCa, Capture, ScriptedServer, Step};
use smtp_tests::support::{class, envelope, Lines, FROM, TO, TO2};

use cells::{
    body_len, cell_script, cell_text, cells, chunk_sizes, expected, sent_class, timeouts_for, At,
    Fault, Mode, CHUNK, FAULTS, MODES, PASSWORD, SHORT, SMALL, STALL, STEPS, USER,
};

/// How much longer than its timeout a failing call may take.
const MARGIN: Duration = Duration::from_millis(1500);
/// Cells run at once within one mode.
const WORKERS: usize = 3;

// ----- the client's side ----------------------------------------------------------

fn tls_server() -> &'static (String, Arc<rustls::ServerConfig>) {
    static TLS: OnceLock<(String, Arc<rustls::ServerConfig>)> = OnceLock::new();
    TLS.get_or_init(|| {
        let ca = TestCa::new();
        let cert = ca.issue(&["127.0.0.1"]);
        (ca.ca_pem(), cert.server_config())
    })
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

/// What a call ended with: the error's [`class`] and phase, or what
/// stands in for them when it succeeded.
fn outcome(result: Result<String, Error>) -> (String, Option<Phase>) {
    match result {
        Ok(what) => (what, None),
        Err(e) => (class(&e), e.phase()),
    }
}

/// One cell's result: the label for the table, or what went wrong.
struct CellResult {
    label: String,
    failures: Vec<String>,
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
            Ok(client) => (outcome(Ok("connected".into())), Some(client)),
            Err(e) => (outcome(Err(e)), None),
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
            outcome(quit.map(|()| "QUIT ok".into()))
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
            outcome(sent.map(|report| sent_class(report.refused().count())))
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
        format!("got {}, expected {}", got.0, want.class),
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
            let next = client.send(&envelope(), &mut Lines::new(SMALL));
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
            let again = client.send(&envelope(), &mut Lines::new(SMALL));
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
        label: format!("{} {mark}", got.0),
        failures,
    }
}

/// The message of a panic caught in a cell.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("?")
}

fn run_mode(mode: Mode) {
    let cells: Vec<(At, Fault)> = cells().collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                while let Some(&(at, fault)) = cells.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let result = catch_unwind(AssertUnwindSafe(|| run_cell(mode, at, fault)))
                        .unwrap_or_else(|panic| CellResult {
                            label: "PANIC".into(),
                            failures: vec![format!("panicked: {}", panic_message(&*panic))],
                        });
                    results.lock().unwrap().push((at, fault, result));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    print_matrix(mode, &results, started.elapsed());
    let failures: Vec<String> = results
        .iter()
        .flat_map(|(at, fault, r)| {
            r.failures.iter().map(move |f| {
                let script = cell_text(mode, *at, *fault).replace('\n', "; ");
                format!(
                    "{mode:?} {} × {}: {f}\n  script: {script}",
                    at.name(),
                    fault.name()
                )
            })
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
    let label = |at: At, f: Fault| {
        results
            .iter()
            .find(|(a, b, _)| *a == at && *b == f)
            .map(|(_, _, r)| match r.failures.is_empty() {
                true => r.label.clone(),
                false => format!("FAIL {}", r.label),
            })
            .unwrap_or_default()
    };
    let width = |f: Fault| {
        STEPS
            .iter()
            .map(|&at| label(at, f).len())
            .max()
            .unwrap_or(0)
    };
    let mut out = format!(
        "\nfault matrix, {mode:?} ({} cells, {:.1} s; + = next transaction on the same client succeeded, x = session closed, further calls NotConnected)\n",
        results.len(),
        took.as_secs_f64()
    );
    out.push_str(&format!("{:<10}", "step"));
    for f in FAULTS {
        out.push_str(&format!("| {:<w$} ", f.name(), w = width(f)));
    }
    out.push('\n');
    for at in STEPS {
        out.push_str(&format!("{:<10}", at.name()));
        for f in FAULTS {
            out.push_str(&format!("| {:<w$} ", label(at, f), w = width(f)));
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
    for mode in MODES {
        for (at, fault) in cells() {
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
            let want = usize::from(fault.is_refusal() && !at.during_connect() || at == At::Quit);
            assert_eq!(quits, want, "{mode:?} {at:?} {fault:?}: {script:?}");
        }
    }
    assert_eq!(cells().count(), 66);
    // The generated bodies are what the chunk plan says.
    assert_eq!(chunk_sizes(SMALL), [SMALL]);
    assert_eq!(chunk_sizes(CHUNK + 1), [CHUNK, 1]);
    let mut v = Vec::new();
    Lines::new(SMALL).read_to_end(&mut v).unwrap();
    assert_eq!(v.len(), SMALL);
}
