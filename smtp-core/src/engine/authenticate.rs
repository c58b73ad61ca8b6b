//! Authentication (RFC 4954): choosing the mechanism, the SASL exchange
//! over AUTH, cancelling it, and keeping every response out of the
//! transcript.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::Session;
use crate::auth;
use crate::command::{self, Command};
use crate::config::PlaintextAuthPolicy;
use crate::error::{Error, Phase, Result};
use crate::reply::Reply;
use crate::transcript::Direction;

/// Most `334` challenges answered in one AUTH exchange.
pub const MAX_AUTH_ROUNDS: usize = 8;

impl Session {
    pub(super) async fn authenticate(&mut self) -> Result<()> {
        let Some(credentials) = self.config.credentials.clone() else {
            return Ok(());
        };
        if !self.link.is_tls() {
            let allowed = match self.config.plaintext_auth {
                PlaintextAuthPolicy::InsecureAlways => true,
                // Through a proxy the socket's peer is the proxy, often on
                // loopback, while the mail server is elsewhere: never "local".
                PlaintextAuthPolicy::LoopbackOnly => {
                    self.config.proxy.is_none() && self.peer.is_some_and(is_loopback)
                }
                PlaintextAuthPolicy::Never => false,
            };
            if !allowed {
                self.polite_close("credentials refused without TLS");
                return Err(Error::PlaintextAuthRefused {
                    server: format!("{}:{}", self.config.host, self.config.port()),
                });
            }
        }
        let offered = self.facts.capabilities.auth.clone();
        if offered.is_empty() {
            self.polite_close("no AUTH offered");
            return Err(Error::NoCompatibleAuth {
                offered,
                reason: "the server offers no AUTH; the message was not sent unauthenticated"
                    .into(),
            });
        }
        let mechanism = match auth::select_mechanism(&offered, &credentials, self.config.mechanism)
        {
            Ok(m) => m,
            Err(e) => {
                self.polite_close("no usable AUTH mechanism");
                return Err(Error::NoCompatibleAuth {
                    offered,
                    reason: e.to_string(),
                });
            }
        };
        let auth_error = |reason: String, reply: Option<Reply>| Error::Auth {
            mechanism,
            reply,
            reason,
            source: None,
        };
        let sasl_error = |error: auth::SaslError, reply: Option<Reply>| Error::Auth {
            mechanism,
            reply,
            reason: error.to_string(),
            source: Some(error),
        };
        let mut sasl =
            auth::new_mechanism(mechanism, &credentials).map_err(|e| sasl_error(e, None))?;
        let timeout = self.config.timeouts.command;
        let initial = if mechanism.sends_initial_response() {
            sasl.initial_response()
                .map_err(|e| sasl_error(e, None))?
                .map(|ir| {
                    if ir.is_empty() {
                        // RFC 4954 4: an empty initial response is sent as "=".
                        Zeroizing::new("=".to_string())
                    } else {
                        encode_sasl(&ir)
                    }
                })
        } else {
            None
        };
        if initial
            .as_ref()
            .is_some_and(|ir| ir.len() + 2 > command::MAX_AUTH_LINE)
        {
            // Not even a line of its own can carry it (RFC 4954 4).
            self.polite_close("initial response too long");
            return Err(Error::invalid(
                "authentication data",
                format!(
                    "the {} initial response is longer than the {} octets an AUTH line may carry",
                    mechanism.name(),
                    command::MAX_AUTH_LINE
                ),
            ));
        }
        // An initial response that would make the AUTH line too long is
        // sent after the server's first (empty) challenge instead.
        let fits = |ir: &Zeroizing<String>| {
            ir.len() + mechanism.name().len() + 8 <= command::MAX_AUTH_LINE
        };
        let (inline, mut deferred) = match initial {
            Some(ir) if fits(&ir) => (Some(ir), None),
            other => (None, other),
        };
        self.send_secret_command(&Command::Auth {
            mechanism: mechanism.name(),
            initial_response: inline,
        })?;
        let mut rounds = 0;
        loop {
            let reply = self.read_reply(Phase::Auth, timeout).await?;
            match reply.code() {
                235 => {
                    if let Err(e) = sasl.finish(None) {
                        // The server says yes but could not prove who it
                        // is (SCRAM): do not trust this connection.
                        self.close(format!("AUTH not verified: {e}"));
                        return Err(sasl_error(e, Some(reply)));
                    }
                    self.facts.authenticated = Some(mechanism);
                    return Ok(());
                }
                334 => {
                    rounds += 1;
                    if rounds > MAX_AUTH_ROUNDS {
                        self.cancel_auth().await?;
                        return Err(auth_error(
                            format!("the server sent more than {MAX_AUTH_ROUNDS} challenges"),
                            Some(reply),
                        ));
                    }
                    if let Some(ir) = deferred.take() {
                        self.send_secret_command(&Command::AuthResponse(ir))?;
                        continue;
                    }
                    let challenge = match decode_challenge(reply.first_line()) {
                        Some(c) => c,
                        None => {
                            self.cancel_auth().await?;
                            return Err(auth_error(
                                "the server's challenge is not valid base64".into(),
                                Some(reply),
                            ));
                        }
                    };
                    match sasl.respond(&challenge) {
                        Ok(step) => {
                            if let Some(note) = &step.note {
                                self.transcript.line(Direction::Info, note);
                            }
                            let response = Command::AuthResponse(encode_sasl(&step.response));
                            let mut probe = Zeroizing::new(Vec::new());
                            if let Err(e) = response.to_wire(&mut probe) {
                                self.cancel_auth().await?;
                                return Err(e);
                            }
                            self.send_secret_command(&response)?;
                        }
                        Err(e) => {
                            self.cancel_auth().await?;
                            return Err(sasl_error(e, None));
                        }
                    }
                }
                _ => {
                    let reason = if reply.text().is_empty() {
                        format!("the server answered {}", reply.code())
                    } else {
                        reply.text()
                    };
                    return Err(auth_error(reason, Some(reply)));
                }
            }
        }
    }

    /// Sends `*` to abandon an AUTH exchange and reads the server's answer,
    /// so the session stays in step.
    async fn cancel_auth(&mut self) -> Result<()> {
        let cancel = Command::AuthResponse(Zeroizing::new("*".into()));
        self.send_secret_command(&cancel)?;
        let reply = self
            .read_reply(Phase::Auth, self.config.timeouts.command)
            .await?;
        if reply.code() == 235 {
            // A server that takes the cancel as success is not one to trust.
            self.close("server accepted a cancelled AUTH".into());
        }
        Ok(())
    }

    /// Writes a command that carries credentials: the transcript shows it
    /// hidden and the buffer is wiped afterwards.
    fn send_secret_command(&mut self, cmd: &Command) -> Result<()> {
        let mut line = Zeroizing::new(Vec::new());
        cmd.to_wire(&mut line)?;
        self.transcript
            .line_with(Direction::Sent, || cmd.to_transcript());
        self.link
            .write_secret(&line, Phase::Auth, self.config.timeouts.command);
        Ok(())
    }
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses.
fn is_loopback(peer: core::net::SocketAddr) -> bool {
    match peer.ip() {
        core::net::IpAddr::V4(v4) => v4.is_loopback(),
        core::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn encode_sasl(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(BASE64.encode(bytes))
}

fn decode_challenge(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    BASE64.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_decoding() {
        assert_eq!(decode_challenge(""), Some(vec![]));
        assert_eq!(
            decode_challenge("VXNlcm5hbWU6"),
            Some(b"Username:".to_vec())
        );
        assert_eq!(decode_challenge("not base64!"), None);
    }

    #[test]
    fn empty_sasl_response_is_empty_line() {
        assert_eq!(encode_sasl(b"").as_str(), "");
        assert_eq!(encode_sasl(b"abc").as_str(), "YWJj");
    }
}
