//! # smtp-core
//!
//! A blocking SMTP submission client (RFC 5321, RFC 6409) for sending
//! authenticated mail, with safe defaults: TLS required when credentials
//! are set, certificates verified, credentials never sent in clear to a
//! remote server, never written to a transcript.
//!
//! ```no_run
//! use smtp_core::{Client, Config, Envelope};
//!
//! # fn main() -> Result<(), smtp_core::Error> {
//! let config = Config::from_url("smtp://user:secret@mail.example.org:587")?;
//! let mut client = Client::connect(config)?;          // STARTTLS + AUTH
//! let envelope = Envelope::new("me@example.org", ["you@example.net"])?;
//! let message = b"From: me@example.org\r\nTo: you@example.net\r\n\
//!                 Subject: Hello\r\n\r\nHello from Rust.\r\n";
//! let report = client.send_bytes(&envelope, message)?;
//! println!("accepted: {}", report.reply);
//! client.quit()?;
//! # Ok(())
//! # }
//! ```
//!
//! Settings come from code or from one URL; the defaults are the safe ones:
//!
//! ```
//! use smtp_core::{Config, Security};
//!
//! let config = Config::from_url("smtp://me%40example.org:p%40ss@mail.example.org").unwrap();
//! assert_eq!(config.port(), 587);
//! assert_eq!(config.security(), Security::StartTls); // credentials => TLS required
//! assert_eq!(config.credentials().unwrap().username(), "me@example.org");
//! assert!(!format!("{config:?}").contains("p@ss")); // secrets never in Debug output
//!
//! let implicit = Config::from_url("smtps://mail.example.org").unwrap();
//! assert_eq!((implicit.port(), implicit.security()), (465, Security::Implicit));
//! ```
//!
//! What a program uses: [`Config`] (or [`Config::from_url`]) says where
//! and how to connect, [`Client`] runs the protocol, [`Message`] composes
//! a message (see the [`message`] module) or [`Client::send_bytes`] takes
//! one ready-made, and every failure is an [`Error`] that names its
//! [`Phase`] and carries the server's [`Reply`].
//!
//! Inside, one module per concern: `reply` parses server replies with
//! hard limits, `command` formats every command and refuses CR, LF and
//! NUL in arguments, `capabilities` reads EHLO, `auth` has one file per
//! SASL mechanism and `data` encodes message bodies for DATA as a stream.
//! Those modules stay public, hidden from this documentation, for the
//! fuzz targets and benchmarks; they are not a stable API.

#[cfg(feature = "tokio")]
mod async_client;
#[doc(hidden)]
pub mod auth;
#[doc(hidden)]
pub mod capabilities;
mod client;
#[doc(hidden)]
pub mod command;
mod config;
#[doc(hidden)]
pub mod data;
#[doc(hidden)]
pub mod der;
pub mod dkim;
mod dsn;
pub mod engine;
mod envelope;
mod error;
pub mod message;
mod net;
pub mod outbox;
mod pool;
#[doc(hidden)]
pub mod proxy;
#[doc(hidden)]
pub mod reply;
mod report;
mod route;
mod tls;
mod transcript;

#[cfg(feature = "tokio")]
pub use async_client::AsyncClient;
pub use auth::{
    AccessToken, Credentials, Mechanism, SaslError, Secret, SecretString, TokenError, TokenProvider,
};
pub use capabilities::Capabilities;
pub use client::{Client, Envelope, MAX_AUTH_ROUNDS};
pub use config::{
    split_host_port, Config, ConfigOption, PlaintextAuthPolicy, RecipientPolicy, Timeouts, OPTIONS,
};
pub use dkim::{Canonicalization, DkimAlgorithm, DkimKey, DkimSigner};
pub use dsn::{DsnReturn, Notify, RecipientParams};
pub use error::{Error, Phase, Result, TlsErrorKind};
pub use message::{
    envelope_from_headers, Attachment, EncodeOptions, LongLineError, LongLines, Mailbox, Message,
    MessageReader, RawMessage, RawOptions,
};
pub use net::TlsInfo;
pub use outbox::{Outbox, QueueId, RetryPolicy};
#[cfg(feature = "tokio")]
pub use pool::{AsyncPool, AsyncPooledClient};
pub use pool::{Pool, PoolOptions, PooledClient, POOL_OPTIONS};
pub use reply::{EnhancedCode, Reply};
pub use report::{RecipientResult, SendReport};
pub use tls::Security;
pub use transcript::{Direction, TranscriptFn, HIDDEN};

/// This crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
