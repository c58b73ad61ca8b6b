//! The lettre 0.11 client under benchmark, used the way its documentation
//! shows: an `SmtpTransport` (plaintext: `builder_dangerous` without a TLS
//! backend is `Tls::None`) whose pool (of one connection) keeps the
//! connection between messages, AUTH PLAIN when credentials are given, and
//! `Transport::send_raw` with the same pre-formatted message as every other
//! client. The pool is warmed (connection and AUTH) before the clock starts.
//! Prints a `RESULT` line like every client.

use std::process::ExitCode;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{PoolConfig, SmtpTransport};
use lettre::Transport;
use smtp_bench::{Settings, Stopwatch};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let s = Settings::from_env()?;
    let from: Address = s.from.parse()?;
    let to = s
        .rcpts
        .iter()
        .map(|r| r.parse::<Address>())
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope::new(Some(from), to)?;
    let message = std::fs::read(&s.message)?;
    let mut builder = SmtpTransport::builder_dangerous(s.host.as_str())
        .port(s.port)
        .hello_name(ClientId::Domain("bench.example.test".into()))
        .timeout(Some(Duration::from_secs(120)))
        .pool_config(PoolConfig::new().max_size(1).min_idle(0));
    if let Some((user, password)) = &s.credentials {
        builder = builder
            .credentials(Credentials::new(user.clone(), password.clone()))
            .authentication(vec![Mechanism::Plain]);
    }
    let transport = builder.build();
    // Connects and authenticates; the connection goes back to the pool.
    if !transport.test_connection()? {
        return Err("the server did not answer NOOP".into());
    }
    let watch = Stopwatch::start();
    for _ in 0..s.count {
        let response = transport.send_raw(&envelope, &message)?;
        if !response.is_positive() {
            return Err(format!("message refused: {response:?}").into());
        }
    }
    let measurement = watch.stop("lettre", s.count, message.len() as u64 * s.count);
    transport.shutdown();
    println!("{}", measurement.to_line());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lettre-client: {e}");
            ExitCode::FAILURE
        }
    }
}
