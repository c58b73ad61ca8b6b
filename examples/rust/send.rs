//! Sends one message and prints the SMTP transcript (credentials hidden).
//!
//! ```text
//! SMTP_URL='smtp://user:password@mail.example.org:587' \
//!   cargo run -p smtp-core --example send -- FROM TO SUBJECT BODY
//! ```
//! `SMTP_CA_FILE` adds a trusted CA (PEM) for a server with a private CA.

use std::process::ExitCode;

use smtp_core::{Client, Config, Message};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [from, to, subject, body] = args.as_slice() else {
        eprintln!("usage: SMTP_URL=smtp://user:pass@host:587 send FROM TO SUBJECT BODY");
        return ExitCode::from(64);
    };
    match run(from, to, subject, body) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(from: &str, to: &str, subject: &str, body: &str) -> Result<(), smtp_core::Error> {
    let url = std::env::var("SMTP_URL").unwrap_or_else(|_| "smtp://localhost:587".into());
    let mut config = Config::from_url(&url)?.with_transcript(|dir, line| println!("{dir} {line}"));
    if let Ok(ca) = std::env::var("SMTP_CA_FILE") {
        config = config.with_ca_file(ca);
    }
    let mut client = Client::connect(config)?;
    let mut message = Message::new();
    message.from(from)?.to(to)?.subject(subject)?;
    message.text(body);
    let report = client.send_message(&message)?;
    client.quit()?;
    println!("sent: {}", report.reply);
    Ok(())
}
