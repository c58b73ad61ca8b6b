//! The smtp-core client (the Rust API) under benchmark: connects once,
//! authenticates if asked, sends `BENCH_COUNT` copies of the message in
//! `BENCH_MESSAGE` over that one connection, and prints a `RESULT` line.
//! With `BENCH_STREAM=1` each message is streamed from its file
//! (`Client::send` with a `File` as the body), never held in memory.
//! `bench-rust --encoder` measures the DATA encoder alone instead.

use std::fs::File;
use std::process::ExitCode;
use std::time::Duration;

use smtp_bench::{Settings, Stopwatch};
use smtp_core::{Client, Config, Envelope, Security, Timeouts};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let s = Settings::from_env()?;
    let mut config = Config::new(s.host.clone(), s.port)
        .with_security(Security::None)
        .with_client_name("bench.example.test")
        .with_timeouts(Timeouts::uniform(Duration::from_secs(120)))
        .with_pipelining(s.pipelining)
        .with_chunking(s.chunking);
    if let Some((user, password)) = &s.credentials {
        config = config.with_password(user.clone(), password.clone());
    }
    let envelope = Envelope::new(s.from.clone(), s.rcpts.clone())?;
    let size = std::fs::metadata(&s.message)?.len();
    // Loaded before connecting: reading the file is not part of sending.
    let in_memory = if s.stream {
        None
    } else {
        Some(std::fs::read(&s.message)?)
    };
    let mut client = Client::connect(config)?;
    let watch = Stopwatch::start();
    for _ in 0..s.count {
        let report = match &in_memory {
            Some(bytes) => client.send_bytes(&envelope, bytes)?,
            None => {
                let mut file = File::open(&s.message)?;
                client.send(&envelope.clone().with_size(size), &mut file)?
            }
        };
        if !report.all_accepted() {
            return Err(format!("recipients refused: {:?}", report.refused().count()).into());
        }
    }
    let measurement = watch.stop("rust", s.count, size * s.count);
    client.quit()?;
    println!("{}", measurement.to_line());
    Ok(())
}

/// `bench-rust --encoder`: the DATA encoder alone on one core, 64 MiB of
/// ordinary text (CRLF lines of 40 to 90 characters, some starting with a
/// dot) and 64 MiB with no line break, fed in 64 KiB chunks; best of three
/// passes each. Prints `ENCODER {json}` with MB/s (10^6 bytes a second).
fn encoder_throughput() {
    const SIZE: usize = 64 << 20;
    const CHUNK: usize = 64 << 10;
    let mut text = Vec::with_capacity(SIZE + 128);
    let words = [
        "mail ",
        "server ",
        "the ",
        "of ",
        "delivery ",
        "report ",
        "queue ",
        "and ",
    ];
    let mut i = 0usize;
    while text.len() < SIZE {
        let width = 40 + (i * 37) % 51;
        let start = text.len();
        if i % 97 == 0 {
            text.push(b'.');
        }
        while text.len() - start < width {
            text.extend_from_slice(words[(i + text.len()) % words.len()].as_bytes());
        }
        text.extend_from_slice(b"\r\n");
        i += 1;
    }
    text.truncate(SIZE);
    let flat: Vec<u8> = (0..SIZE).map(|i| b'a' + (i % 26) as u8).collect();
    let measure = |input: &[u8]| -> f64 {
        let mut best = f64::INFINITY;
        let mut out = Vec::with_capacity(2 * CHUNK + 64);
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let mut enc = smtp_core::data::DataEncoder::new();
            for chunk in input.chunks(CHUNK) {
                out.clear();
                enc.encode(chunk, &mut out);
                std::hint::black_box(&out);
            }
            out.clear();
            enc.finish(&mut out);
            best = best.min(start.elapsed().as_secs_f64());
        }
        input.len() as f64 / best / 1e6
    };
    let lines = measure(&text);
    let no_breaks = measure(&flat);
    println!("ENCODER {{\"short_lines_mb_s\":{lines:.1},\"no_line_breaks_mb_s\":{no_breaks:.1}}}");
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--encoder") {
        encoder_throughput();
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-rust: {e}");
            ExitCode::FAILURE
        }
    }
}
