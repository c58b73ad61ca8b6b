//! The process the crash trials kill (tests/tests/outbox_crash.rs):
//!
//! ```text
//! outbox-worker enqueue DIR PREFIX COUNT LINES [REJECT_EVERY]
//! outbox-worker deliver DIR PORT
//! ```
//!
//! `enqueue` queues COUNT messages made by
//! `smtp_tests::outbox_support::marked_message` (markers `PREFIX-0`,
//! `PREFIX-1`...) from `sender@example.test` to `rcpt@example.test` (and,
//! for every REJECT_EVERY-th message, also to `reject-N@example.test`,
//! which the catcher refuses with 550), and prints `QUEUED ID MARKER` on
//! standard output, flushed, after each `enqueue` returned: a message
//! printed is one the outbox promised to keep. `deliver` runs
//! `Outbox::flush` against 127.0.0.1:PORT and prints `DONE N`.
//! Exit status 2 for bad usage, 1 when the outbox fails.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use smtp_core::{Config, Envelope, Outbox, Security, Timeouts};
use smtp_tests::outbox_support::marked_message;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["enqueue", dir, prefix, count, lines, rest @ ..] if rest.len() <= 1 => {
            let every = rest.first().map_or(Ok(0), |r| r.parse::<usize>());
            match (count.parse(), lines.parse(), every) {
                (Ok(count), Ok(lines), Ok(every)) => enqueue(dir, prefix, count, lines, every),
                _ => return usage(),
            }
        }
        ["deliver", dir, port] => match port.parse() {
            Ok(port) => deliver(dir, port),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outbox-worker: {e}");
            ExitCode::from(1)
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: outbox-worker enqueue DIR PREFIX COUNT LINES [REJECT_EVERY] | deliver DIR PORT"
    );
    ExitCode::from(2)
}

fn enqueue(
    dir: &str,
    prefix: &str,
    count: usize,
    lines: usize,
    reject_every: usize,
) -> smtp_core::Result<()> {
    let outbox = Outbox::open(dir)?;
    let mut out = std::io::stdout().lock();
    for i in 0..count {
        let marker = format!("{prefix}-{i}");
        let mut to = vec!["rcpt@example.test".to_string()];
        if reject_every > 0 && i.is_multiple_of(reject_every) {
            to.push(format!("reject-{i}@example.test"));
        }
        let envelope = Envelope::new("sender@example.test", to)?;
        let id = outbox.enqueue(&envelope, &mut marked_message(&marker, lines).as_slice())?;
        let _ = writeln!(out, "QUEUED {id} {marker}");
        let _ = out.flush();
    }
    Ok(())
}

fn deliver(dir: &str, port: u16) -> smtp_core::Result<()> {
    let config = Config::new("127.0.0.1", port)
        .with_security(Security::None)
        .with_client_name("client.test")
        .with_timeouts(Timeouts::uniform(Duration::from_secs(5)));
    let report = Outbox::open(dir)?.flush(&config)?;
    println!("DONE {}", report.done());
    Ok(())
}
