//! smtp-core's batch sending under benchmark: connects once, authenticates
//! if asked, and sends `BENCH_COUNT` copies of the message in
//! `BENCH_MESSAGE` with a single `Client::send_many_bytes` call (the
//! engine pipelines them: with CHUNKING in windows of up to 1000 messages
//! or 4 MiB, with PIPELINING alone the next envelope rides with the
//! previous final dot). Prints a `RESULT` line whose clock covers that one
//! call; every message must be accepted by every recipient, or the program
//! fails. `BENCH_CHUNKING=0` turns CHUNKING off as usual.

use std::process::ExitCode;

use smtp_bench::{Settings, Stopwatch};
use smtp_core::{Client, Envelope};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let s = Settings::from_env()?;
    let envelope = Envelope::new(s.from.clone(), s.rcpts.clone())?;
    // Loaded and listed before connecting: preparing the batch is the
    // caller's work, not sending.
    let bytes = std::fs::read(&s.message)?;
    let batch: Vec<(Envelope, &[u8])> = (0..s.count)
        .map(|_| (envelope.clone(), bytes.as_slice()))
        .collect();
    let mut client = Client::connect(s.config())?;
    let watch = Stopwatch::start();
    let results = client.send_many_bytes(&batch);
    let measurement = watch.stop("rust-batch", s.count, bytes.len() as u64 * s.count);
    if results.len() as u64 != s.count {
        return Err(format!("{} results for {} messages", results.len(), s.count).into());
    }
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(report) if report.all_accepted() => {}
            Ok(report) => {
                let refused = report.refused().count();
                return Err(format!("message {i}: {refused} recipient(s) refused").into());
            }
            Err(e) => return Err(format!("message {i}: {e}").into()),
        }
    }
    client.quit()?;
    println!("{}", measurement.to_line());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-batch: {e}");
            ExitCode::FAILURE
        }
    }
}
