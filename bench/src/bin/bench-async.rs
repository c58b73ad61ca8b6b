//! The async client under benchmark, and its blocking peer for concurrent
//! sending. Settings from the `BENCH_*` variables plus:
//!
//! * `BENCH_CONNECTIONS` (default 1): how many connections share the
//!   `BENCH_COUNT` messages (the first ones take one more when the count
//!   does not divide);
//! * `BENCH_RUNTIME` (`current`, the default, or `multi`): the tokio
//!   runtime, current-thread or multi-thread (one worker per core).
//!
//! `bench-async` opens the connections with `AsyncClient::connect`, then
//! runs one task per connection sending its share one by one with
//! `AsyncClient::send_bytes`. `bench-async --threads` does the same with
//! one OS thread per connection, each with a blocking `Client` (no tokio).
//! The clock starts once every connection is open (and authenticated) and
//! stops when the last message is accepted; `QUIT` is outside it. CPU is
//! the whole process's (every thread). Prints one `RESULT` line.

use std::process::ExitCode;
use std::sync::{Arc, Barrier};

use smtp_bench::{Measurement, Settings, Stopwatch};
use smtp_core::{AsyncClient, Client, Envelope, SendReport};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Most connections the program opens.
const MAX_CONNECTIONS: usize = 64;

struct Job {
    settings: Settings,
    envelope: Envelope,
    message: Arc<[u8]>,
    connections: usize,
}

impl Job {
    fn from_env() -> Result<Job, BoxError> {
        let settings = Settings::from_env()?;
        let connections: usize = match std::env::var("BENCH_CONNECTIONS") {
            Ok(v) if !v.is_empty() => v.parse().map_err(|e| format!("BENCH_CONNECTIONS: {e}"))?,
            _ => 1,
        };
        if !(1..=MAX_CONNECTIONS).contains(&connections) {
            return Err(format!("BENCH_CONNECTIONS must be 1 to {MAX_CONNECTIONS}").into());
        }
        let envelope = Envelope::new(settings.from.clone(), settings.rcpts.clone())?;
        let message: Arc<[u8]> = std::fs::read(&settings.message)?.into();
        Ok(Job {
            settings,
            envelope,
            message,
            connections,
        })
    }

    /// Messages connection `i` sends.
    fn share(&self, i: usize) -> u64 {
        let n = self.connections as u64;
        self.settings.count / n + u64::from((i as u64) < self.settings.count % n)
    }

    fn measurement(&self, client: &str, watch: Stopwatch) -> Measurement {
        let count = self.settings.count;
        watch.stop(client, count, self.message.len() as u64 * count)
    }
}

fn accepted(report: SendReport) -> Result<(), BoxError> {
    if report.all_accepted() {
        Ok(())
    } else {
        Err(format!("{} recipient(s) refused", report.refused().count()).into())
    }
}

/// One task per connection on a tokio runtime.
fn run_async(job: Job, multi_thread: bool) -> Result<Measurement, BoxError> {
    let runtime = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    let name = if multi_thread {
        "rust-async-multi"
    } else {
        "rust-async"
    };
    runtime.block_on(async {
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..job.connections {
            opening.spawn(AsyncClient::connect(job.settings.config()));
        }
        let mut clients = Vec::with_capacity(job.connections);
        while let Some(joined) = opening.join_next().await {
            clients.push(joined??);
        }
        let watch = Stopwatch::start();
        let mut sending = tokio::task::JoinSet::new();
        for (i, mut client) in clients.into_iter().enumerate() {
            let (count, envelope, message) =
                (job.share(i), job.envelope.clone(), job.message.clone());
            sending.spawn(async move {
                for _ in 0..count {
                    accepted(client.send_bytes(&envelope, &message).await?)?;
                }
                Ok::<_, BoxError>(client)
            });
        }
        let mut done = Vec::with_capacity(job.connections);
        while let Some(joined) = sending.join_next().await {
            done.push(joined??);
        }
        let measurement = job.measurement(name, watch);
        for client in &mut done {
            client.quit().await?;
        }
        Ok(measurement)
    })
}

/// One OS thread per connection, each with a blocking `Client`.
fn run_threads(job: Job) -> Result<Measurement, BoxError> {
    let job = Arc::new(job);
    // Every thread connects, then all start sending together with the clock.
    let ready = Arc::new(Barrier::new(job.connections + 1));
    let threads: Vec<_> = (0..job.connections)
        .map(|i| {
            let (job, ready) = (job.clone(), ready.clone());
            std::thread::spawn(move || -> Result<Client, BoxError> {
                let connected = Client::connect(job.settings.config());
                ready.wait();
                let mut client = connected?;
                for _ in 0..job.share(i) {
                    accepted(client.send_bytes(&job.envelope, &job.message)?)?;
                }
                Ok(client)
            })
        })
        .collect();
    ready.wait();
    let watch = Stopwatch::start();
    let mut done = Vec::with_capacity(job.connections);
    let mut failure = None;
    for thread in threads {
        match thread.join() {
            Ok(Ok(client)) => done.push(client),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some("a sending thread panicked".into())),
        }
    }
    let measurement = job.measurement("rust-threads", watch);
    if let Some(e) = failure {
        return Err(e);
    }
    for client in &mut done {
        client.quit()?;
    }
    Ok(measurement)
}

fn run() -> Result<Measurement, BoxError> {
    let job = Job::from_env()?;
    if std::env::args().nth(1).as_deref() == Some("--threads") {
        return run_threads(job);
    }
    match std::env::var("BENCH_RUNTIME").as_deref() {
        Ok("multi") => run_async(job, true),
        Ok("current") | Ok("") | Err(_) => run_async(job, false),
        Ok(other) => Err(format!("BENCH_RUNTIME={other}: want current or multi").into()),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(measurement) => {
            println!("{}", measurement.to_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-async: {e}");
            ExitCode::FAILURE
        }
    }
}
