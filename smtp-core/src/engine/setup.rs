//! Setting the session up: implicit TLS, the greeting, EHLO (HELO when
//! refused), STARTTLS with its injection check, then AUTH.

use crate::capabilities::Capabilities;
use crate::command::Command;
use crate::error::{Error, Phase, Result, TlsErrorKind};
use crate::tls::Security;
use crate::transcript::Direction;
use crate::TlsInfo;

use super::Session;

impl Session {
    pub(super) async fn connect(&mut self) -> Result<()> {
        let result = self.connect_steps().await;
        if let Err(e) = &result {
            self.close(format!("{e}"));
        }
        result
    }

    async fn connect_steps(&mut self) -> Result<()> {
        let security = self.config.security();
        let tls_config = self.tls_config.clone();
        if let Some(peer) = self.peer {
            let config = &self.config;
            self.transcript
                .line_with(Direction::Info, || match &config.proxy {
                    None => format!("connected to {peer}"),
                    Some(_) => format!(
                        "connected to {} through the proxy at {peer}",
                        crate::route::server_name(&config.host, config.port()),
                    ),
                });
        }
        if security == Security::Implicit {
            let tls_config = tls_config.clone().expect("built for every TLS mode");
            let name = crate::tls::server_name(self.config.tls_server_name())?;
            let timeout = self.config.timeouts.command;
            let info = self
                .link
                .handshake(tls_config, name, timeout, false)
                .await?;
            self.transcript
                .line_with(Direction::Info, || tls_note(Some(&info)));
            self.facts.tls_info = Some(info);
        }
        self.greet().await?;
        self.hello().await?;
        if matches!(security, Security::StartTls | Security::StartTlsIfOffered) {
            let tls_config = tls_config.expect("built for every TLS mode");
            self.start_tls(tls_config, security == Security::StartTls)
                .await?;
        }
        if self.config.credentials.is_some() {
            self.authenticate().await?;
        }
        Ok(())
    }

    async fn greet(&mut self) -> Result<()> {
        let timeout = self.config.timeouts.greeting;
        let reply = self.read_reply(Phase::Greeting, timeout).await?;
        if reply.code() != 220 {
            self.close(format!("greeting refused: {reply}"));
            return Err(Error::Rejected {
                phase: Phase::Greeting,
                reply,
            });
        }
        self.facts.greeting = reply;
        Ok(())
    }

    fn client_name(&self) -> String {
        if let Some(name) = &self.config.client_name {
            return name.clone();
        }
        if let Some(host) = &self.host_name {
            return host.clone();
        }
        match self.local {
            // Through a proxy our socket's address is the one facing the
            // proxy (often internal): not for the mail server to see.
            _ if self.config.proxy.is_some() => "[127.0.0.1]".into(),
            Some(core::net::SocketAddr::V6(a)) => format!("[IPv6:{}]", a.ip()),
            Some(a) => format!("[{}]", a.ip()),
            None => "[127.0.0.1]".into(),
        }
    }

    /// EHLO, falling back to HELO when the server does not know EHLO.
    async fn hello(&mut self) -> Result<()> {
        let name = self.client_name();
        let reply = self.command(&Command::Ehlo(name.clone())).await?;
        if reply.is_positive() {
            self.facts.capabilities = Capabilities::from_ehlo(&reply);
            return Ok(());
        }
        if !matches!(reply.code(), 500 | 502) {
            self.close(format!("EHLO refused: {reply}"));
            return Err(Error::Rejected {
                phase: Phase::Ehlo,
                reply,
            });
        }
        self.transcript
            .line(Direction::Info, "EHLO not supported; falling back to HELO");
        let reply = self.command(&Command::Helo(name)).await?;
        if !reply.is_positive() {
            self.close(format!("HELO refused: {reply}"));
            return Err(Error::Rejected {
                phase: Phase::Helo,
                reply,
            });
        }
        self.facts.capabilities = Capabilities {
            server_name: reply.first_line().split(' ').next().unwrap_or("").into(),
            ..Capabilities::default()
        };
        Ok(())
    }

    async fn start_tls(
        &mut self,
        tls: std::sync::Arc<rustls::ClientConfig>,
        required: bool,
    ) -> Result<()> {
        if !self.facts.capabilities.starttls {
            if required {
                self.polite_close("STARTTLS not offered");
                return Err(Error::Tls {
                    phase: Phase::StartTls,
                    kind: TlsErrorKind::NotOffered,
                    message: "the server does not offer STARTTLS and TLS is required (security \"starttls\"); nothing else was sent".into(),
                });
            }
            self.transcript.line(
                Direction::Info,
                "STARTTLS not offered; continuing without TLS",
            );
            return Ok(());
        }
        let reply = self.command(&Command::StartTls).await?;
        if reply.code() != 220 {
            if required {
                self.polite_close("STARTTLS refused");
                return Err(Error::Tls {
                    phase: Phase::StartTls,
                    kind: TlsErrorKind::StartTlsRefused,
                    message: format!("the server answered STARTTLS with {reply}; TLS is required, nothing else was sent"),
                });
            }
            self.transcript.line_with(Direction::Info, || {
                format!("STARTTLS refused ({reply}); continuing without TLS")
            });
            return Ok(());
        }
        // Anything after the 220 and before the handshake is an injection
        // (CVE-2011-0411 and its kin): what is already buffered here, and
        // any plaintext that arrives where the first TLS record should.
        if self.link.has_unread_input() {
            self.close("data injected after STARTTLS".into());
            return Err(Error::Tls {
                phase: Phase::StartTls,
                kind: TlsErrorKind::InjectedData,
                message: "the server sent data after its 220 reply to STARTTLS and before the TLS handshake (a response-injection attack or a broken server); connection closed".into(),
            });
        }
        let name = crate::tls::server_name(self.config.tls_server_name())?;
        let timeout = self.config.timeouts.command;
        let info = match self.link.handshake(tls, name, timeout, true).await {
            Ok(info) => info,
            Err(e) => {
                self.close(format!("TLS handshake failed: {e}"));
                return Err(e);
            }
        };
        self.transcript
            .line_with(Direction::Info, || tls_note(Some(&info)));
        self.facts.tls_info = Some(info);
        // RFC 3207 4.2: forget everything learned before TLS.
        self.facts.capabilities = Capabilities::default();
        self.hello().await
    }
}

fn tls_note(info: Option<&TlsInfo>) -> String {
    match info {
        Some(i) => format!("TLS established: {} {}", i.version, i.cipher_suite),
        None => "TLS established".into(),
    }
}
