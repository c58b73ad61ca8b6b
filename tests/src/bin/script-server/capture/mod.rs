//! `script-server capture [OPTIONS]`: the capturing mode, for the
//! hardening tests of the PHP binding (smuggling, wire injection, STARTTLS
//! attacks, secrets). Instead of following a script it answers like a
//! permissive MTA, serves connections one after the other on the same
//! port, and records every byte each client sent, so that a test can prove
//! what went on the wire and, above all, what did not.
//!
//! It prints `port N` and flushes, then serves until its standard input is
//! closed (the test is done; a client still connected gets one more
//! second), `--connections` were served, or `--lifetime` seconds passed.
//! Then it prints one line, `capture ` and a JSON report, and exits 0:
//!
//! ```text
//! {"connections": [{
//!     "lines":  [{"tls": false, "raw": B64}, ...],  every command line, CRLF included
//!     "auth":   [B64, ...],        the AUTH line and the lines read during AUTH
//!     "bodies": [{"kind": "data"|"bdat", "wire": B64, "chunks": [sizes],
//!                 "unfinished": bool}, ...],
//!     "afterStartTls": B64|null,   what the client sent after the 220 to
//!                                  STARTTLS (attack modes, failed handshakes)
//!     "tls": bool,                 a handshake succeeded
//!     "tlsError": "...",           why a handshake failed
//!     "errors": ["..."],           deviations: a command line without CRLF,
//!                                  a bare CR, LF or NUL in one, a bad BDAT
//!     "raw": B64,                  every byte received in clear
//!     "tail": B64                  what came after the session ended
//! }, ...], "errors": ["..."]}
//! ```
//!
//! B64 is the standard base64 of the bytes. Options:
//!
//! ```text
//! --ehlo EXT        an extension line of the EHLO reply, repeatable
//!                   (default 8BITMIME and SMTPUTF8)
//! --ehlo-tls EXT    the same after STARTTLS, repeatable (default: the
//!                   --ehlo lines without STARTTLS)
//! --starttls MODE   what STARTTLS gets: ok (220, then a real handshake with
//!                   --cert and --key), inject (220 and a second reply in
//!                   the same write), 454, garbage (220, then text instead
//!                   of TLS); without it, 502
//! --cert FILE       the certificate chain (PEM) for --starttls ok
//! --key FILE        its private key (PEM)
//! --auth ok|fail    AUTH gets 235 (default), or 535 after an error
//!                   challenge for XOAUTH2 and OAUTHBEARER
//! --connections N   at most this many connections (default 50)
//! --lifetime S      at most this many seconds in all (default 30)
//! ```
//!
//! Every wait is bounded: each read, each body (16 MiB), the lifetime.

mod conn;
mod session;

use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use smtp_tests::scripted::tls;

use conn::ConnCapture;

/// What STARTTLS gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// `502`: not offered.
    Refused,
    /// `220`, then a real handshake.
    Ok,
    /// `220` and a reply nobody asked for in the same write (CVE-2011-0411
    /// style); the connection ends there.
    Inject,
    /// `454`: TLS not available.
    Unavailable,
    /// `220`, then text instead of TLS; the connection ends there.
    Garbage,
}

/// The capturing server's settings (see the module documentation).
pub struct Options {
    /// The extension lines of the EHLO reply in clear.
    pub ehlo: Vec<String>,
    /// The extension lines of the EHLO reply after STARTTLS.
    pub ehlo_tls: Vec<String>,
    /// What STARTTLS gets.
    pub starttls: StartTls,
    /// The TLS configuration for [`StartTls::Ok`].
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// True when AUTH succeeds.
    pub auth_ok: bool,
    /// At most this many connections.
    pub connections: usize,
    /// The end of the server's life.
    pub deadline: Instant,
}

impl Options {
    /// Parses the command line after `capture`.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut ehlo = Vec::new();
        let mut ehlo_tls = None::<Vec<String>>;
        let (mut starttls, mut cert, mut key) = (StartTls::Refused, None, None);
        let (mut auth_ok, mut connections, mut lifetime) = (true, 50, 30.0);
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--ehlo" => ehlo.push(value.clone()),
                "--ehlo-tls" => ehlo_tls.get_or_insert_with(Vec::new).push(value.clone()),
                "--starttls" => {
                    starttls = match value.as_str() {
                        "ok" => StartTls::Ok,
                        "inject" => StartTls::Inject,
                        "454" => StartTls::Unavailable,
                        "garbage" => StartTls::Garbage,
                        _ => return Err(format!("unknown --starttls mode {value:?}")),
                    }
                }
                "--cert" => cert = Some(value.clone()),
                "--key" => key = Some(value.clone()),
                "--auth" => {
                    auth_ok = match value.as_str() {
                        "ok" => true,
                        "fail" => false,
                        _ => return Err(format!("unknown --auth outcome {value:?}")),
                    }
                }
                "--connections" => {
                    connections = value.parse().map_err(|e| format!("{flag}: {e}"))?
                }
                "--lifetime" => lifetime = value.parse().map_err(|e| format!("{flag}: {e}"))?,
                _ => return Err(format!("unknown option {flag:?}")),
            }
        }
        if ehlo.is_empty() {
            ehlo = vec!["8BITMIME".into(), "SMTPUTF8".into()];
        }
        let ehlo_tls = ehlo_tls.unwrap_or_else(|| {
            ehlo.iter()
                .filter(|e| !e.eq_ignore_ascii_case("STARTTLS"))
                .cloned()
                .collect()
        });
        let tls = match (starttls, cert, key) {
            (StartTls::Ok, Some(cert), Some(key)) => Some(server_config(&cert, &key)?),
            (StartTls::Ok, _, _) => return Err("--starttls ok needs --cert and --key".into()),
            _ => None,
        };
        if !(0.0..=600.0).contains(&lifetime) {
            return Err(format!("--lifetime {lifetime}: 0 to 600 seconds"));
        }
        Ok(Options {
            ehlo,
            ehlo_tls,
            starttls,
            tls,
            auth_ok,
            connections,
            deadline: Instant::now() + Duration::from_secs_f64(lifetime),
        })
    }
}

/// A rustls server configuration from PEM files.
fn server_config(cert: &str, key: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    Ok(tls::server_config(chain, key))
}

/// Runs the capturing server with these options; prints the port, then
/// the report.
pub fn run(options: &Options) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let mut out = io::stdout().lock();
    writeln!(out, "port {}", listener.local_addr()?.port())?;
    out.flush()?;

    let done = Arc::new(AtomicBool::new(false));
    {
        let done = done.clone();
        thread::spawn(move || {
            // Standard input ends when the test is done with the server.
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            done.store(true, Ordering::SeqCst);
        });
    }

    let mut connections = Vec::new();
    let mut errors = Vec::new();
    while connections.len() < options.connections && Instant::now() < options.deadline {
        if done.load(Ordering::SeqCst) {
            break;
        }
        match listener.accept() {
            Ok((tcp, _)) => match session::serve(tcp, options, &done) {
                Ok(capture) => connections.push(capture),
                Err(e) => errors.push(format!("connection {}: {e}", connections.len())),
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                errors.push(format!("accept: {e}"));
                break;
            }
        }
    }
    let report = json!({
        "connections": connections.iter().map(ConnCapture::to_json).collect::<Vec<_>>(),
        "errors": errors,
    });
    writeln!(out, "capture {report}")?;
    out.flush()
}

/// Bytes as base64 in the report.
fn b64(bytes: &[u8]) -> Value {
    Value::String(B64.encode(bytes))
}
