//! DKIM signing under benchmark: composes and sends `BENCH_COUNT`
//! messages over one connection with `Client::send_message`, signed as
//! `BENCH_DKIM` says (`none`, `ed25519`, `rsa`, or `both`; the keys are
//! `rsa.pem` and `ed.pem` in `BENCH_DKIM_KEYS`). Without `BENCH_ATTACH`
//! each message is a 1 KB text; with it, the file is attached (streamed:
//! read once to hash it, once to send it). Prints the usual `RESULT` line
//! with `read_bytes`: what the process read (`rchar` of /proc/self/io)
//! during the send loop, so the harness can tell how often the file was
//! read.

use std::process::ExitCode;
use std::time::Duration;

use smtp_bench::{Settings, Stopwatch};
use smtp_core::{Client, Config, DkimKey, DkimSigner, Message, Security, Timeouts};

type BoxError = Box<dyn std::error::Error>;

/// Bytes this process has read so far (`rchar`: files and sockets).
fn read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("rchar: ").map(|v| v.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}

fn signer(mode: &str, keys: &str) -> Result<Option<DkimSigner>, BoxError> {
    let key = |name: &str, selector: &str| {
        DkimKey::from_file("example.test", selector, format!("{keys}/{name}.pem"))
    };
    Ok(match mode {
        "none" => None,
        "ed25519" => Some(DkimSigner::new(key("ed", "ed")?)),
        "rsa" => Some(DkimSigner::new(key("rsa", "rsa")?)),
        "both" => Some(DkimSigner::new(key("rsa", "rsa")?).with_key(key("ed", "ed")?)),
        other => {
            return Err(format!("BENCH_DKIM: none, ed25519, rsa or both, not {other:?}").into())
        }
    })
}

fn run() -> Result<(), BoxError> {
    let s = Settings::from_env()?;
    let mode = std::env::var("BENCH_DKIM").unwrap_or_else(|_| "none".into());
    let keys = std::env::var("BENCH_DKIM_KEYS").unwrap_or_default();
    let attach = std::env::var("BENCH_ATTACH").ok().filter(|p| !p.is_empty());
    let mut config = Config::new(s.host.clone(), s.port)
        .with_security(Security::None)
        .with_client_name("bench.example.test")
        .with_timeouts(Timeouts::uniform(Duration::from_secs(300)))
        .with_pipelining(s.pipelining)
        .with_chunking(s.chunking);
    if let Some((user, password)) = &s.credentials {
        config = config.with_password(user.clone(), password.clone());
    }
    if let Some(signer) = signer(&mode, &keys)? {
        config = config.with_dkim(signer);
    }
    let mut message = Message::new();
    message
        .from(&s.from)?
        .to(&s.rcpts.join(", "))?
        .subject("DKIM benchmark")?;
    let size = match &attach {
        Some(path) => {
            message.text("The attachment follows.\n");
            message.attach_file(path)?;
            std::fs::metadata(path)?.len()
        }
        None => {
            let line = "A line of text of the benchmark message, sixty-four bytes long.\n";
            message.text(&line.repeat(15));
            1024
        }
    };
    let mut client = Client::connect(config)?;
    let before = read_bytes();
    let watch = Stopwatch::start();
    for _ in 0..s.count {
        let report = client.send_message(&message)?;
        if !report.all_accepted() {
            return Err("a recipient was refused".into());
        }
    }
    let measurement = watch.stop(&format!("dkim-{mode}"), s.count, size * s.count);
    let read = read_bytes().saturating_sub(before);
    client.quit()?;
    let line = measurement.to_line();
    let line = line.strip_suffix('}').unwrap_or(&line);
    println!("{line},\"read_bytes\":{read}}}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-dkim: {e}");
            ExitCode::FAILURE
        }
    }
}
