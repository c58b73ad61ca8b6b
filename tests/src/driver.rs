//! The client the tests drive: the blocking `smtp_core::Client`, or, when
//! `SMTP_TEST_DRIVER=async`, the tokio `AsyncClient` behind the same
//! blocking methods. Every scripted, fault-matrix and real-server test
//! runs through this type, so CI runs them once per driver of the one
//! engine.

use std::io::Read;

use smtp_core::{
    AsyncClient, Capabilities, Config, Envelope, Mechanism, Message, Reply, Result, SendReport,
    TlsInfo,
};

/// Which driver this test run uses.
pub fn async_driver() -> bool {
    std::env::var("SMTP_TEST_DRIVER").is_ok_and(|v| v == "async")
}

/// A session through the driver chosen for this run.
#[derive(Debug)]
pub enum Client {
    /// The blocking client.
    Blocking(Box<smtp_core::Client>),
    /// The async client on its own single-threaded runtime, and whether
    /// its configuration signs (DKIM).
    Async(Box<(tokio::runtime::Runtime, AsyncClient, bool)>),
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

impl Client {
    /// Connects with the driver of this run.
    pub fn connect(config: Config) -> Result<Client> {
        if async_driver() {
            let rt = runtime();
            let signs = config.dkim().is_some();
            let client = rt.block_on(AsyncClient::connect(config))?;
            Ok(Client::Async(Box::new((rt, client, signs))))
        } else {
            smtp_core::Client::connect(config).map(|c| Client::Blocking(Box::new(c)))
        }
    }

    /// See `smtp_core::Client::send` (`AsyncClient::send_reader` on the
    /// async driver).
    pub fn send(&mut self, envelope: &Envelope, body: &mut dyn Read) -> Result<SendReport> {
        match self {
            Client::Blocking(c) => c.send(envelope, body),
            Client::Async(b) => {
                let (rt, c, _) = &mut **b;
                rt.block_on(c.send_reader(envelope, body))
            }
        }
    }

    /// See `smtp_core::Client::send_bytes`.
    pub fn send_bytes(&mut self, envelope: &Envelope, message: &[u8]) -> Result<SendReport> {
        match self {
            Client::Blocking(c) => c.send_bytes(envelope, message),
            Client::Async(b) => {
                let (rt, c, _) = &mut **b;
                rt.block_on(c.send_bytes(envelope, message))
            }
        }
    }

    /// See `smtp_core::Client::send_message`.
    pub fn send_message(&mut self, message: &Message) -> Result<SendReport> {
        match self {
            Client::Blocking(c) => c.send_message(message),
            Client::Async(b) => {
                let (rt, c, _) = &mut **b;
                rt.block_on(c.send_message(message))
            }
        }
    }

    /// See `smtp_core::Client::send_raw`.
    pub fn send_raw(
        &mut self,
        envelope: Option<&Envelope>,
        raw: &mut dyn Read,
    ) -> Result<SendReport> {
        match self {
            Client::Blocking(c) => c.send_raw(envelope, raw),
            Client::Async(b) => {
                let (rt, c, signs) = &mut **b;
                match envelope {
                    // Streamed, as the blocking client does without DKIM.
                    Some(envelope) if !*signs => rt.block_on(c.send_reader(envelope, raw)),
                    _ => {
                        let mut bytes = Vec::new();
                        raw.read_to_end(&mut bytes)
                            .map_err(smtp_core::Error::BodyRead)?;
                        rt.block_on(c.send_raw(envelope, &bytes))
                    }
                }
            }
        }
    }

    /// See `smtp_core::Client::send_many`.
    pub fn send_many<R: Read>(&mut self, messages: Vec<(Envelope, R)>) -> Vec<Result<SendReport>> {
        match self {
            Client::Blocking(c) => c.send_many(messages),
            Client::Async(b) => {
                let (rt, c, _) = &mut **b;
                rt.block_on(c.send_many(messages))
            }
        }
    }

    /// See `smtp_core::Client::send_many_bytes`.
    pub fn send_many_bytes<B: AsRef<[u8]>>(
        &mut self,
        messages: &[(Envelope, B)],
    ) -> Vec<Result<SendReport>> {
        match self {
            Client::Blocking(c) => c.send_many_bytes(messages),
            Client::Async(b) => {
                let (rt, c, _) = &mut **b;
                rt.block_on(c.send_many_bytes(messages))
            }
        }
    }

    /// See `smtp_core::Client::send_many_messages`.
    pub fn send_many_messages(&mut self, messages: &[Message]) -> Vec<Result<SendReport>> {
        match self {
            Client::Blocking(c) => c.send_many_messages(messages),
            Client::Async(b) => {
                let (rt, c, _) = &mut **b;
                rt.block_on(c.send_many_messages(messages))
            }
        }
    }

    /// See `smtp_core::Client::noop`.
    pub fn noop(&mut self) -> Result<Reply> {
        match self {
            Client::Blocking(c) => c.noop(),
            Client::Async(b) => {
                let (rt, c, _) = &mut **b;
                rt.block_on(c.noop())
            }
        }
    }

    /// See `smtp_core::Client::reset`.
    pub fn reset(&mut self) -> Result<()> {
        match self {
            Client::Blocking(c) => c.reset(),
            Client::Async(b) => {
                let (rt, c, _) = &mut **b;
                rt.block_on(c.reset())
            }
        }
    }

    /// See `smtp_core::Client::quit`.
    pub fn quit(&mut self) -> Result<()> {
        match self {
            Client::Blocking(c) => c.quit(),
            Client::Async(b) => {
                let (rt, c, _) = &mut **b;
                rt.block_on(c.quit())
            }
        }
    }

    /// See `smtp_core::Client::greeting`.
    pub fn greeting(&self) -> &Reply {
        match self {
            Client::Blocking(c) => c.greeting(),
            Client::Async(b) => b.1.greeting(),
        }
    }

    /// See `smtp_core::Client::capabilities`.
    pub fn capabilities(&self) -> &Capabilities {
        match self {
            Client::Blocking(c) => c.capabilities(),
            Client::Async(b) => b.1.capabilities(),
        }
    }

    /// See `smtp_core::Client::server`.
    pub fn server(&self) -> &str {
        match self {
            Client::Blocking(c) => c.server(),
            Client::Async(b) => b.1.server(),
        }
    }

    /// See `smtp_core::Client::is_encrypted`.
    pub fn is_encrypted(&self) -> bool {
        match self {
            Client::Blocking(c) => c.is_encrypted(),
            Client::Async(b) => b.1.is_encrypted(),
        }
    }

    /// See `smtp_core::Client::tls_info`.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        match self {
            Client::Blocking(c) => c.tls_info(),
            Client::Async(b) => b.1.tls_info(),
        }
    }

    /// See `smtp_core::Client::authenticated_with`.
    pub fn authenticated_with(&self) -> Option<Mechanism> {
        match self {
            Client::Blocking(c) => c.authenticated_with(),
            Client::Async(b) => b.1.authenticated_with(),
        }
    }

    /// See `smtp_core::Client::is_connected`.
    pub fn is_connected(&self) -> bool {
        match self {
            Client::Blocking(c) => c.is_connected(),
            Client::Async(b) => b.1.is_connected(),
        }
    }
}
