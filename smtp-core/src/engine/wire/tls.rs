//! The TLS layer inside the engine: records the driver received go
//! through rustls to plaintext, the handshake runs over the engine's
//! buffers, and its failures are named as the caller can act on them.

use std::future::poll_fn;
use std::io::{self, Read};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::{Failure, Link, Waiting};
use crate::error::{Error, Phase, Result, TlsErrorKind};
use crate::TlsInfo;

/// Feeds received TLS records to rustls and moves the plaintext out.
pub(super) fn tls_receive(
    tls: &mut ClientConnection,
    mut bytes: &[u8],
    input: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> std::result::Result<(), Failure> {
    let mut plain = [0u8; 16 * 1024];
    while !bytes.is_empty() {
        match tls.read_tls(&mut bytes) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(Failure::Io(e)),
        }
        if let Err(e) = tls.process_new_packets() {
            // Send our alert before reporting.
            while tls.wants_write() && tls.write_tls(out).is_ok() {}
            return Err(Failure::Tls(e));
        }
        loop {
            match tls.reader().read(&mut plain) {
                Ok(0) => return Err(Failure::Eof),
                Ok(n) => input.extend_from_slice(&plain[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(Failure::Io(e)),
            }
        }
    }
    while tls.wants_write() {
        if tls.write_tls(out).is_err() {
            break;
        }
    }
    Ok(())
}

impl Link {
    /// Runs the TLS handshake (the output is written and the input read
    /// by the driver); on success every later byte goes through TLS.
    pub(crate) async fn handshake(
        &self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        timeout: Duration,
        after_starttls: bool,
    ) -> Result<TlsInfo> {
        let phase = Phase::TlsHandshake;
        {
            let mut w = self.lock();
            let mut tls = ClientConnection::new(config, name).map_err(|e| Error::Tls {
                phase,
                kind: TlsErrorKind::Config,
                message: e.to_string(),
            })?;
            tls.set_buffer_limit(None);
            let now = w.now;
            w.write_deadline = Some((now + timeout, phase, timeout));
            while tls.wants_write() {
                if tls.write_tls(&mut w.out).is_err() {
                    break;
                }
            }
            w.queued_total = w.written_total + w.output().len() as u64;
            w.tls = Some(Box::new(tls));
            w.expect_tls_record = after_starttls;
            w.read_deadline = Some((now + timeout, phase, timeout));
        }
        poll_fn(|_| {
            let mut w = self.lock();
            if let Some(failure) = w.failure.take() {
                w.broken = true;
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Err(handshake_error(failure, timeout)));
            }
            let handshaking = w.tls.as_ref().is_some_and(|t| t.is_handshaking());
            if !handshaking && w.output().is_empty() {
                w.waiting = Waiting::Nothing;
                w.quick_ack = true;
                w.read_deadline = None;
                let tls = w.tls.as_ref().expect("set above");
                return Poll::Ready(Ok(tls_info(tls)));
            }
            let (until, _, _) = w.read_deadline.expect("set above");
            if let Some(e) = w.timed_out(until, phase, timeout) {
                w.broken = true;
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Err(e));
            }
            w.waiting = if handshaking {
                Waiting::Input
            } else {
                Waiting::Flush
            };
            Poll::Pending
        })
        .await
    }
}

fn tls_info(tls: &ClientConnection) -> TlsInfo {
    TlsInfo {
        version: tls
            .protocol_version()
            .map(|v| v.as_str().unwrap_or("TLS").replace('_', "."))
            .unwrap_or_default(),
        cipher_suite: tls
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default(),
        peer_certificates: tls
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
            .unwrap_or_default(),
    }
}

fn handshake_error(failure: Failure, timeout: Duration) -> Error {
    let phase = Phase::TlsHandshake;
    match failure {
        Failure::Tls(e) => {
            let (kind, message) = crate::tls::classify(&e);
            Error::Tls {
                phase,
                kind,
                message,
            }
        }
        Failure::Flood => super::flood(phase),
        Failure::Injected => Error::Tls {
            phase: Phase::StartTls,
            kind: TlsErrorKind::InjectedData,
            message: "the server sent data after its 220 reply to STARTTLS and before the TLS handshake (a response-injection attack or a broken server); connection closed".into(),
        },
        Failure::Eof => Error::Tls {
            phase,
            kind: TlsErrorKind::Handshake,
            message: "the server closed the connection during the TLS handshake".into(),
        },
        Failure::Io(e) => match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
                phase,
                after: timeout,
            },
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Error::Tls {
                phase,
                kind: TlsErrorKind::Handshake,
                message: "the server closed the connection during the TLS handshake".into(),
            },
            _ => Error::Tls {
                phase,
                kind: TlsErrorKind::Handshake,
                message: e.to_string(),
            },
        },
    }
}
