//! DKIM signing (RFC 6376; RFC 8463 for `ed25519-sha256`), streaming.
//!
//! A [`DkimKey`] is a private key (RSA of at least 2048 bits, or Ed25519)
//! with its domain and selector; a [`DkimSigner`] holds one or more keys
//! and the choices (canonicalization, signed headers, expiry). Put it in
//! the [`Config`](crate::Config) with
//! [`Config::with_dkim`](crate::Config::with_dkim) (or the `dkim_*`
//! options) and the client signs every composed and raw message it sends:
//!
//! ```no_run
//! use smtp_core::{Client, Config, DkimKey, DkimSigner, Message};
//!
//! # fn main() -> Result<(), smtp_core::Error> {
//! let rsa = DkimKey::from_file("example.org", "rsa2026", "/etc/dkim/rsa.pem")?;
//! let ed = DkimKey::from_file("example.org", "ed2026", "/etc/dkim/ed25519.pem")?;
//! let config = Config::from_url("smtp://user:secret@mail.example.org:587")?
//!     .with_dkim(DkimSigner::new(rsa).with_key(ed));
//! let mut client = Client::connect(config)?;
//! let mut message = Message::new();
//! message.from("me@example.org")?.to("you@example.net")?.subject("Signed")?;
//! message.text("Hello.\n");
//! client.send_message(&message)?; // two DKIM-Signature fields, RSA's first
//! # Ok(())
//! # }
//! ```
//!
//! How each kind of message is signed, in constant memory:
//!
//! * a composed [`Message`](crate::Message) is encoded twice: once to
//!   hash it, once to send it (file attachments are read twice; a file
//!   that changes in between makes a signature that does not verify);
//! * a raw message is hashed while it is kept in memory (up to
//!   [`SPOOL_MEMORY`]) or in a private temporary file, then sent from
//!   there;
//! * messages in the [`Outbox`](crate::Outbox) are signed when they are
//!   delivered (the queued file read twice);
//! * `send_raw` with an envelope and the pools' `send_raw` sign the
//!   caller's bytes (kept the same way), signature first;
//! * bytes given to [`Client::send`](crate::Client::send), `send_bytes`
//!   and `send_many` are sent as they are, unsigned.
//!
//! [`BodyHasher`] and [`DkimSigner::stream`] are the streaming parts for
//! other uses.

mod canon;
mod key;
mod sign;
mod signed;
mod spool;

#[cfg(test)]
mod tests;

pub use canon::{BodyHasher, Canonicalization};
pub use key::{DkimAlgorithm, DkimKey, MIN_RSA_BITS};
pub(crate) use sign::header_names;
pub use sign::{DkimSigner, DkimStream, DEFAULT_SIGNED_HEADERS};
pub use signed::{SignedReader, KEPT_MESSAGE};
pub use spool::{Spool, SPOOL_MEMORY};
