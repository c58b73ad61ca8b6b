//! The outbox under benchmark (issue 17), three modes, settings from the
//! `BENCH_*` variables plus `BENCH_SPOOL` (the queue's directory):
//!
//! * `bench-outbox enqueue`: `BENCH_COUNT` enqueues of the message in
//!   `BENCH_MESSAGE`, interleaved with as many bare durable writes of the
//!   same bytes (create, write, fsync, rename into a directory, fsync of
//!   the directory) in the same file system; prints `OUTBOX_ENQUEUE
//!   {json}` with the microseconds of each per message.
//! * `bench-outbox fill`: queues `BENCH_COUNT` copies (not timed).
//! * `bench-outbox drain`: delivers the whole queue with `Outbox::flush`
//!   over one connection to `BENCH_HOST:BENCH_PORT` and prints a `RESULT`
//!   line (its peak RSS is the drain's: the process does nothing else).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use smtp_bench::{Settings, Stopwatch};
use smtp_core::{Config, Envelope, Outbox, Security, Timeouts};

fn spool() -> Result<PathBuf, String> {
    std::env::var_os("BENCH_SPOOL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| "BENCH_SPOOL is not set".into())
}

/// The bare durable write of `bytes` as `dir/name`.
fn bare_write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

fn enqueue_vs_bare(s: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let root = spool()?;
    let outbox = Outbox::open(root.join("queue-enqueue"))?;
    let bare = root.join("bare");
    fs::create_dir_all(&bare)?;
    let bytes = fs::read(&s.message)?;
    let envelope = Envelope::new(s.from.clone(), s.rcpts.clone())?;
    let (mut queued, mut plain) = (Duration::ZERO, Duration::ZERO);
    for i in 0..s.count {
        // Alternated, so that both see the same disk and cache state.
        let t = Instant::now();
        outbox.enqueue(&envelope, &mut bytes.as_slice())?;
        queued += t.elapsed();
        let t = Instant::now();
        bare_write(&bare, &format!("m{i}"), &bytes)?;
        plain += t.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / s.count.max(1) as f64;
    println!(
        "OUTBOX_ENQUEUE {{\"count\":{},\"enqueue_us\":{:.1},\"bare_us\":{:.1}}}",
        s.count,
        per(queued),
        per(plain)
    );
    fs::remove_dir_all(root.join("queue-enqueue"))?;
    fs::remove_dir_all(&bare)?;
    Ok(())
}

fn fill(s: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let outbox = Outbox::open(spool()?.join("queue-drain"))?;
    let bytes = fs::read(&s.message)?;
    let envelope = Envelope::new(s.from.clone(), s.rcpts.clone())?;
    for _ in 0..s.count {
        outbox.enqueue(&envelope, &mut bytes.as_slice())?;
    }
    Ok(())
}

fn drain(s: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::new(s.host.clone(), s.port)
        .with_security(Security::None)
        .with_client_name("bench.example.test")
        .with_timeouts(Timeouts::uniform(Duration::from_secs(120)))
        .with_pipelining(s.pipelining)
        .with_chunking(s.chunking);
    if let Some((user, password)) = &s.credentials {
        config = config.with_password(user.clone(), password.clone());
    }
    let outbox = Outbox::open(spool()?.join("queue-drain"))?;
    let size = fs::metadata(&s.message)?.len();
    let watch = Stopwatch::start();
    let report = outbox.flush(&config)?;
    let done = report.done() as u64;
    let measurement = watch.stop("outbox-drain", done, size * done);
    if let Some(m) = report.messages.iter().find(|m| m.error.is_some()) {
        eprintln!("bench-outbox: {:?}", m.error);
    }
    println!("{}", measurement.to_line());
    Ok(())
}

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let result = Settings::from_env()
        .map_err(|e| e.into())
        .and_then(|s| match mode.as_str() {
            "enqueue" => enqueue_vs_bare(&s),
            "fill" => fill(&s),
            "drain" => drain(&s),
            _ => Err("usage: bench-outbox enqueue|fill|drain (settings in BENCH_*)".into()),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-outbox: {e}");
            ExitCode::FAILURE
        }
    }
}
