//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), without channel
//! binding, generic over the hash.
//!
//! Exchange: client-first (initial response) -> server-first challenge ->
//! client-final -> server-final challenge (`v=`, verified here, answered with
//! an empty response) -> 235. Unlike the other mechanisms SCRAM authenticates
//! the server too, so `finish()` fails unless the server signature was
//! received and verified.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine;
use hmac::digest::{Digest, FixedOutput, KeyInit, Update};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{
    escape_saslname, printable_server_text, Credentials, Mechanism, SaslError, SaslMechanism,
    SaslStep, BASE64, BASE64_LENIENT,
};

/// The largest PBKDF2 iteration count accepted from a server; more would let
/// a hostile server burn seconds of CPU per login.
pub const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;

/// Below this, RFC 7677 considers the iteration count weak; worth a note.
const RECOMMENDED_MIN_ITERATIONS: u32 = 4096;

/// Random bytes in a generated client nonce (RFC 5802 asks for enough
/// entropy to be unpredictable; 24 bytes is 192 bits).
const NONCE_RANDOM_BYTES: usize = 24;

mod sealed {
    /// Restricts [`super::ScramHash`] to the hashes this module was written for.
    pub trait Sealed {}
    impl Sealed for sha1::Sha1 {}
    impl Sealed for sha2::Sha256 {}
}

/// A hash function SCRAM can run over (SHA-1 or SHA-256); sealed.
pub trait ScramHash: Digest + sealed::Sealed + Send + 'static {
    /// The SASL mechanism that uses this hash.
    const MECHANISM: Mechanism;
    /// HMAC over this hash.
    type Hmac: Mac + KeyInit + Update + FixedOutput + Clone + Sync;
}

impl ScramHash for Sha1 {
    const MECHANISM: Mechanism = Mechanism::ScramSha1;
    type Hmac = Hmac<Sha1>;
}

impl ScramHash for Sha256 {
    const MECHANISM: Mechanism = Mechanism::ScramSha256;
    type Hmac = Hmac<Sha256>;
}

/// The client side of SCRAM-SHA-1.
pub type ScramSha1Client = ScramClient<Sha1>;

/// The client side of SCRAM-SHA-256.
pub type ScramSha256Client = ScramClient<Sha256>;

/// Progress of a SCRAM exchange.
enum State {
    /// Nothing sent yet.
    Start,
    /// client-first sent; waiting for server-first.
    ClientFirstSent,
    /// client-final sent; what is needed to check the server signature.
    ClientFinalSent {
        server_key: Zeroizing<Vec<u8>>,
        auth_message: String,
    },
    /// The server proved it knows the password.
    Verified,
    /// An error ended the exchange; nothing more is answered.
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Start => "Start",
            State::ClientFirstSent => "ClientFirstSent",
            State::ClientFinalSent { .. } => "ClientFinalSent",
            State::Verified => "Verified",
            State::Failed => "Failed",
        }
    }
}

/// The client side of SCRAM over hash `H`; see [`ScramSha1Client`] and
/// [`ScramSha256Client`].
pub struct ScramClient<H: ScramHash> {
    /// `n,,` or `n,a={authzid},`: no channel binding.
    gs2_header: String,
    /// `n={username},r={client nonce}`.
    client_first_bare: String,
    client_nonce: String,
    password: Zeroizing<String>,
    state: State,
    hash: PhantomData<fn() -> H>,
}

impl<H: ScramHash> ScramClient<H> {
    /// Builds a SCRAM client with a fresh random nonce; needs password
    /// credentials.
    pub fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        // Check the credentials before spending randomness on them.
        credentials.password_for(H::MECHANISM)?;
        credentials.validate()?;
        let nonce = random_nonce(H::MECHANISM)?;
        Self::with_nonce(credentials, &nonce)
    }

    /// Builds a SCRAM client with a fixed client nonce, for test vectors.
    /// Never use a fixed nonce against a real server: it allows replay.
    ///
    /// The nonce must be non-empty printable ASCII without ','.
    pub fn with_nonce(credentials: &Credentials, nonce: &str) -> Result<Self, SaslError> {
        let password = credentials.password_for(H::MECHANISM)?;
        credentials.validate()?;
        check_nonce(nonce)?;
        let gs2_header = match credentials.authzid() {
            Some(authzid) => format!("n,a={},", escape_saslname(authzid)),
            None => "n,,".to_owned(),
        };
        Ok(ScramClient {
            gs2_header,
            client_first_bare: format!("n={},r={}", escape_saslname(credentials.username()), nonce),
            client_nonce: nonce.to_owned(),
            password: password.clone(),
            state: State::Start,
            hash: PhantomData,
        })
    }

    fn client_first(&self) -> Zeroizing<Vec<u8>> {
        let mut message = Zeroizing::new(Vec::with_capacity(
            self.gs2_header.len() + self.client_first_bare.len(),
        ));
        message.extend_from_slice(self.gs2_header.as_bytes());
        message.extend_from_slice(self.client_first_bare.as_bytes());
        message
    }

    /// One step of the exchange; the caller marks the state failed on error.
    fn step(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        match &self.state {
            // No initial response was sent: this is the server's "go ahead".
            State::Start if challenge.is_empty() => {
                self.state = State::ClientFirstSent;
                Ok(SaslStep::new(self.client_first()))
            }
            State::Start => Err(malformed(
                H::MECHANISM,
                "expected an empty challenge before the client-first message",
            )),
            State::ClientFirstSent => self.answer_server_first(challenge),
            State::ClientFinalSent {
                server_key,
                auth_message,
            } => {
                verify_server_final::<H>(server_key, auth_message, challenge)?;
                self.state = State::Verified;
                Ok(SaslStep::empty()
                    .with_note(format!("{} server signature verified", H::MECHANISM)))
            }
            State::Verified | State::Failed => Err(SaslError::UnexpectedChallenge {
                mechanism: H::MECHANISM,
            }),
        }
    }

    /// Checks server-first, derives the keys and builds client-final.
    fn answer_server_first(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        let mechanism = H::MECHANISM;
        let server_first = std::str::from_utf8(challenge)
            .map_err(|_| malformed(mechanism, "the server-first message is not UTF-8"))?;
        let parsed = parse_server_first(mechanism, server_first, &self.client_nonce)?;

        let mut salted_password = Zeroizing::new(vec![0u8; <H as Digest>::output_size()]);
        pbkdf2::pbkdf2::<H::Hmac>(
            self.password.as_bytes(),
            &parsed.salt,
            parsed.iterations,
            &mut salted_password,
        )
        .map_err(|_| internal(mechanism, "PBKDF2 rejected the output length"))?;
        let client_key = hmac::<H>(&salted_password, b"Client Key")?;
        let stored_key = Zeroizing::new(<H as Digest>::digest(client_key.as_slice()).to_vec());
        let server_key = hmac::<H>(&salted_password, b"Server Key")?;

        let client_final_without_proof = format!(
            "c={},r={}",
            BASE64.encode(self.gs2_header.as_bytes()),
            parsed.nonce
        );
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, server_first, client_final_without_proof
        );
        let client_signature = hmac::<H>(&stored_key, auth_message.as_bytes())?;
        let proof = Zeroizing::new(
            client_key
                .iter()
                .zip(client_signature.iter())
                .map(|(key_byte, signature_byte)| key_byte ^ signature_byte)
                .collect::<Vec<u8>>(),
        );
        let proof_b64 = Zeroizing::new(BASE64.encode(proof.as_slice()));

        let mut response = Zeroizing::new(Vec::with_capacity(
            client_final_without_proof.len() + 3 + proof_b64.len(),
        ));
        response.extend_from_slice(client_final_without_proof.as_bytes());
        response.extend_from_slice(b",p=");
        response.extend_from_slice(proof_b64.as_bytes());

        let step = SaslStep::new(response);
        let step = if parsed.iterations < RECOMMENDED_MIN_ITERATIONS {
            step.with_note(format!(
                "the server asked for only {} PBKDF2 iterations; RFC 7677 recommends at least {}",
                parsed.iterations, RECOMMENDED_MIN_ITERATIONS
            ))
        } else {
            step
        };
        self.state = State::ClientFinalSent {
            server_key,
            auth_message,
        };
        Ok(step)
    }
}

impl<H: ScramHash> SaslMechanism for ScramClient<H> {
    fn mechanism(&self) -> Mechanism {
        H::MECHANISM
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        if !matches!(self.state, State::Start) {
            return Err(SaslError::OutOfOrder {
                mechanism: H::MECHANISM,
                reason: "initial_response() called after the client-first message was produced",
            });
        }
        self.state = State::ClientFirstSent;
        Ok(Some(self.client_first()))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        let result = self.step(challenge);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn finish(&mut self, success_data: Option<&[u8]>) -> Result<(), SaslError> {
        // Some SASL profiles carry server-final with the success reply.
        if let Some(data) = success_data.filter(|data| !data.is_empty()) {
            if let State::ClientFinalSent {
                server_key,
                auth_message,
            } = &self.state
            {
                match verify_server_final::<H>(server_key, auth_message, data) {
                    Ok(()) => self.state = State::Verified,
                    Err(error) => {
                        self.state = State::Failed;
                        return Err(error);
                    }
                }
            }
        }
        match self.state {
            State::Verified => Ok(()),
            _ => Err(SaslError::ServerNotVerified {
                mechanism: H::MECHANISM,
            }),
        }
    }
}

impl<H: ScramHash> fmt::Debug for ScramClient<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &H::MECHANISM)
            .field("gs2_header", &self.gs2_header)
            .field("client_first_bare", &self.client_first_bare)
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

/// The fields of server-first this client uses.
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

/// Parses `[m=...,]r=...,s=...,i=...[,ext...]`; attribute order is not
/// enforced because the message enters AuthMessage verbatim anyway.
fn parse_server_first<'a>(
    mechanism: Mechanism,
    server_first: &'a str,
    client_nonce: &str,
) -> Result<ServerFirst<'a>, SaslError> {
    if let Some(error) = server_first.strip_prefix("e=") {
        return Err(server_error(mechanism, error));
    }
    let mut nonce = None;
    let mut salt = None;
    let mut iterations = None;
    for attribute in server_first.split(',') {
        let Some((name, value)) = attribute.split_once('=') else {
            return Err(malformed(
                mechanism,
                "an attribute has no '=' (expected r=..., s=..., i=...)",
            ));
        };
        let slot = match name {
            "r" => &mut nonce,
            "s" => &mut salt,
            "i" => &mut iterations,
            "e" => return Err(server_error(mechanism, value)),
            "m" => {
                return Err(malformed(
                    mechanism,
                    "the server requires a mandatory extension (m=) this client does not support",
                ))
            }
            // Optional extensions are single letters; unknown ones are ignored.
            _ if name.len() == 1 && name.bytes().all(|byte| byte.is_ascii_alphabetic()) => continue,
            _ => {
                return Err(malformed(
                    mechanism,
                    "an attribute name is not a single letter",
                ))
            }
        };
        if slot.replace(value).is_some() {
            return Err(malformed(
                mechanism,
                format!("the {name}= attribute appears twice"),
            ));
        }
    }

    let nonce = nonce.ok_or_else(|| malformed(mechanism, "the nonce (r=) is missing"))?;
    if !nonce.starts_with(client_nonce) || nonce.len() <= client_nonce.len() {
        return Err(malformed(
            mechanism,
            "the server nonce does not extend the client nonce (replayed or tampered exchange)",
        ));
    }
    if !nonce.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(malformed(
            mechanism,
            "the server nonce contains non-printable characters",
        ));
    }

    let salt = salt.ok_or_else(|| malformed(mechanism, "the salt (s=) is missing"))?;
    let salt = BASE64_LENIENT
        .decode(salt)
        .map_err(|_| malformed(mechanism, "the salt (s=) is not valid base64"))?;
    if salt.is_empty() {
        return Err(malformed(mechanism, "the salt (s=) is empty"));
    }

    let iterations =
        iterations.ok_or_else(|| malformed(mechanism, "the iteration count (i=) is missing"))?;
    let iterations = parse_iterations(mechanism, iterations)?;

    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

fn parse_iterations(mechanism: Mechanism, value: &str) -> Result<u32, SaslError> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(malformed(
            mechanism,
            "the iteration count (i=) is not a decimal number",
        ));
    }
    let too_many = || {
        malformed(
            mechanism,
            format!(
                "the iteration count {} is above the limit of {MAX_SCRAM_ITERATIONS} \
                 (a bound on the CPU a server can make the client spend)",
                printable_server_text(value, 20)
            ),
        )
    };
    let iterations: u32 = value.parse().map_err(|_| too_many())?;
    if iterations == 0 {
        return Err(malformed(mechanism, "the iteration count (i=) is 0"));
    }
    if iterations > MAX_SCRAM_ITERATIONS {
        return Err(too_many());
    }
    Ok(iterations)
}

/// Checks server-final (`v=...` or `e=...`) against the expected signature,
/// in constant time.
fn verify_server_final<H: ScramHash>(
    server_key: &[u8],
    auth_message: &str,
    server_final: &[u8],
) -> Result<(), SaslError> {
    let mechanism = H::MECHANISM;
    let text = std::str::from_utf8(server_final)
        .map_err(|_| malformed(mechanism, "the server-final message is not UTF-8"))?;
    if let Some(error) = text.strip_prefix("e=") {
        return Err(server_error(mechanism, error));
    }
    // Extensions may follow the verifier; they are ignored.
    let verifier = text.split(',').next().unwrap_or_default();
    let Some(signature_b64) = verifier.strip_prefix("v=") else {
        return Err(malformed(
            mechanism,
            "expected the server signature (v=...) in the server-final message",
        ));
    };
    let signature = BASE64_LENIENT
        .decode(signature_b64)
        .map_err(|_| malformed(mechanism, "the server signature (v=) is not valid base64"))?;
    let mut mac = new_hmac::<H>(server_key)?;
    Mac::update(&mut mac, auth_message.as_bytes());
    // verify_slice compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| SaslError::ServerSignatureMismatch)
}

fn new_hmac<H: ScramHash>(key: &[u8]) -> Result<H::Hmac, SaslError> {
    <H::Hmac as KeyInit>::new_from_slice(key)
        .map_err(|_| internal(H::MECHANISM, "HMAC rejected the key length"))
}

fn hmac<H: ScramHash>(key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
    let mut mac = new_hmac::<H>(key)?;
    Mac::update(&mut mac, data);
    Ok(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
}

fn random_nonce(mechanism: Mechanism) -> Result<String, SaslError> {
    let mut bytes = [0u8; NONCE_RANDOM_BYTES];
    getrandom::getrandom(&mut bytes).map_err(|error| {
        internal(
            mechanism,
            format!("the operating system random generator failed: {error}"),
        )
    })?;
    // Standard base64 is printable ASCII without ',', as the nonce requires.
    Ok(BASE64.encode(bytes))
}

fn check_nonce(nonce: &str) -> Result<(), SaslError> {
    let reason = if nonce.is_empty() {
        "is empty"
    } else if !nonce
        .bytes()
        .all(|byte| byte.is_ascii_graphic() && byte != b',')
    {
        "must be printable ASCII without spaces or ','"
    } else {
        return Ok(());
    };
    Err(SaslError::InvalidInput {
        field: "nonce",
        reason: reason.to_owned(),
    })
}

fn malformed(mechanism: Mechanism, reason: impl Into<String>) -> SaslError {
    SaslError::MalformedChallenge {
        mechanism,
        reason: reason.into(),
    }
}

fn internal(mechanism: Mechanism, reason: impl Into<String>) -> SaslError {
    SaslError::Internal {
        mechanism,
        reason: reason.into(),
    }
}

/// A SCRAM `e=` error, with a hint for the values RFC 5802 defines.
fn server_error(mechanism: Mechanism, value: &str) -> SaslError {
    let value = printable_server_text(value, 200);
    let hint = match value.as_str() {
        "invalid-proof" => Some("the password or username is wrong"),
        "unknown-user" => Some("the server does not know this username"),
        "invalid-encoding" | "invalid-username-encoding" => {
            Some("the server could not parse the username or a message")
        }
        "extensions-not-supported" => Some("the server does not support an extension used"),
        "server-does-support-channel-binding" | "channel-bindings-dont-match" => Some(
            "the server wants channel binding (SCRAM-...-PLUS), which this client does not use",
        ),
        "channel-binding-not-supported" | "unsupported-channel-binding-type" => {
            Some("channel binding problem")
        }
        "no-resources" => Some("the server is out of resources; try again later"),
        _ => None,
    };
    let message = match hint {
        Some(hint) => format!("{value} ({hint})"),
        None if value.is_empty() => "(no reason given)".to_owned(),
        None => value,
    };
    SaslError::ServerError { mechanism, message }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::auth::sasl_vectors;

    /// Runs one vector from testdata/sasl.json through `ScramClient<H>`.
    fn run_vector<H: ScramHash>(case: &serde_json::Value) {
        let credentials = Credentials::password(
            case["user"].as_str().unwrap(),
            case["password"].as_str().unwrap(),
        );
        let mut client =
            ScramClient::<H>::with_nonce(&credentials, case["client_nonce"].as_str().unwrap())
                .unwrap();
        assert_eq!(
            client.mechanism().name(),
            case["mechanism"].as_str().unwrap()
        );
        let client_first = client.initial_response().unwrap().unwrap();
        assert_eq!(
            client_first.as_slice(),
            case["client_first"].as_str().unwrap().as_bytes()
        );
        let step = client
            .respond(case["server_first"].as_str().unwrap().as_bytes())
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&step.response).unwrap(),
            case["client_final"].as_str().unwrap()
        );
        assert!(step.note.is_none(), "{:?}", step.note);
        let step = client
            .respond(case["server_final"].as_str().unwrap().as_bytes())
            .unwrap();
        assert!(step.response.is_empty());
        client.finish(None).unwrap();
    }

    fn vector(mechanism: &str) -> serde_json::Value {
        sasl_vectors()["scram"]
            .as_array()
            .unwrap()
            .iter()
            .find(|case| case["mechanism"] == mechanism)
            .unwrap()
            .clone()
    }

    #[test]
    fn vector_scram_sha_1() {
        run_vector::<Sha1>(&vector("SCRAM-SHA-1"));
    }

    #[test]
    fn vector_scram_sha_256() {
        run_vector::<Sha256>(&vector("SCRAM-SHA-256"));
    }

    /// A SCRAM-SHA-256 client that has sent client-final for the RFC 7677 vector.
    fn client_after_client_final() -> (ScramSha256Client, serde_json::Value) {
        let case = vector("SCRAM-SHA-256");
        let credentials = Credentials::password("user", "pencil");
        let mut client =
            ScramSha256Client::with_nonce(&credentials, case["client_nonce"].as_str().unwrap())
                .unwrap();
        client.initial_response().unwrap();
        client
            .respond(case["server_first"].as_str().unwrap().as_bytes())
            .unwrap();
        (client, case)
    }

    fn fresh_client() -> ScramSha256Client {
        let mut client =
            ScramSha256Client::with_nonce(&Credentials::password("user", "pencil"), "abc").unwrap();
        client.initial_response().unwrap();
        client
    }

    #[test]
    fn tampered_server_signature_is_rejected() {
        let (mut client, case) = client_after_client_final();
        let good = case["server_final"].as_str().unwrap();
        // Flip one character of the base64 signature.
        let tampered = good.replace("6rri", "6rrj");
        assert_ne!(tampered, good);
        assert!(matches!(
            client.respond(tampered.as_bytes()),
            Err(SaslError::ServerSignatureMismatch)
        ));
        assert!(matches!(
            client.finish(None),
            Err(SaslError::ServerNotVerified { .. })
        ));

        for bad in ["v=AAAA", "v=", "v=!!!", "x=abc", ""] {
            let (mut client, _) = client_after_client_final();
            assert!(client.respond(bad.as_bytes()).is_err(), "{bad}");
            assert!(client.finish(None).is_err());
        }
    }

    #[test]
    fn success_without_server_final_is_not_verified() {
        let (mut client, _) = client_after_client_final();
        assert!(matches!(
            client.finish(None),
            Err(SaslError::ServerNotVerified {
                mechanism: Mechanism::ScramSha256
            })
        ));
        let mut client = fresh_client();
        assert!(matches!(
            client.finish(None),
            Err(SaslError::ServerNotVerified { .. })
        ));
        let (mut client, _) = client_after_client_final();
        assert!(matches!(
            client.finish(Some(b"")),
            Err(SaslError::ServerNotVerified { .. })
        ));
    }

    #[test]
    fn server_final_in_success_data_is_accepted() {
        let (mut client, case) = client_after_client_final();
        client
            .finish(Some(case["server_final"].as_str().unwrap().as_bytes()))
            .unwrap();
        let (mut client, _) = client_after_client_final();
        assert!(matches!(
            client.finish(Some(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
            Err(SaslError::ServerSignatureMismatch)
        ));
    }

    #[test]
    fn challenge_after_verification_is_unexpected() {
        let (mut client, case) = client_after_client_final();
        client
            .respond(case["server_final"].as_str().unwrap().as_bytes())
            .unwrap();
        assert!(matches!(
            client.respond(b""),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
    }

    #[test]
    fn server_nonce_must_extend_ours() {
        for server_first in [
            "r=xyzabc123,s=QSXCR+Q6sek8bf92,i=4096",
            "r=abc,s=QSXCR+Q6sek8bf92,i=4096",
            "r=ab,s=QSXCR+Q6sek8bf92,i=4096",
            "s=QSXCR+Q6sek8bf92,i=4096",
            "r=abc\u{7f}x,s=QSXCR+Q6sek8bf92,i=4096",
        ] {
            let mut client = fresh_client();
            assert!(
                matches!(
                    client.respond(server_first.as_bytes()),
                    Err(SaslError::MalformedChallenge { .. })
                ),
                "{server_first}"
            );
            // After an error nothing more is answered.
            assert!(matches!(
                client.respond(b"v=AAAA"),
                Err(SaslError::UnexpectedChallenge { .. })
            ));
        }
    }

    #[test]
    fn iteration_count_is_bounded() {
        for count in [
            "0",
            "1000001",
            "4294967296",
            "99999999999999999999",
            "",
            "-1",
            "+5",
            "4k",
        ] {
            let mut client = fresh_client();
            let server_first = format!("r=abcdef,s=QSXCR+Q6sek8bf92,i={count}");
            let error = client.respond(server_first.as_bytes()).unwrap_err();
            assert!(
                matches!(error, SaslError::MalformedChallenge { .. }),
                "{count}: {error:?}"
            );
        }
        let mut client = fresh_client();
        let message = client
            .respond(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=5000000")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("5000000") && message.contains("1000000"),
            "{message}"
        );
    }

    #[test]
    fn low_iteration_count_gets_a_note() {
        let mut client = fresh_client();
        let step = client.respond(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=1").unwrap();
        assert!(step.note.unwrap().contains("only 1 PBKDF2 iterations"));
    }

    #[test]
    fn server_errors_are_reported() {
        let (mut client, _) = client_after_client_final();
        let error = client.respond(b"e=invalid-proof").unwrap_err();
        match &error {
            SaslError::ServerError { mechanism, message } => {
                assert_eq!(*mechanism, Mechanism::ScramSha256);
                assert!(message.starts_with("invalid-proof"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(error.to_string().contains("password or username is wrong"));
        assert!(matches!(
            client.finish(None),
            Err(SaslError::ServerNotVerified { .. })
        ));

        let mut client = fresh_client();
        assert!(matches!(
            client.respond(b"e=unknown-user"),
            Err(SaslError::ServerError { .. })
        ));
        let mut client = fresh_client();
        let error = client.respond(b"e=\x01weird\xff").unwrap_err();
        assert!(matches!(error, SaslError::MalformedChallenge { .. }));
        let mut client = fresh_client();
        let error = client.respond(b"e=\x01weird").unwrap_err();
        assert!(
            matches!(&error, SaslError::ServerError { message, .. } if message == "?weird"),
            "{error:?}"
        );
    }

    #[test]
    fn malformed_server_first_is_rejected() {
        for server_first in [
            &b"m=ext,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"[..],
            b"r=abcdef,r=abcdeg,s=QSXCR+Q6sek8bf92,i=4096",
            b"r=abcdef,s=***,i=4096",
            b"r=abcdef,s=,i=4096",
            b"r=abcdef,i=4096",
            b"r=abcdef,s=QSXCR+Q6sek8bf92",
            b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,noequals",
            b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,long=x",
            b"r=abcdef\xff,s=QSXCR+Q6sek8bf92,i=4096",
            b"",
        ] {
            let mut client = fresh_client();
            assert!(
                matches!(
                    client.respond(server_first),
                    Err(SaslError::MalformedChallenge { .. })
                ),
                "{}",
                String::from_utf8_lossy(server_first)
            );
        }
    }

    #[test]
    fn unknown_extensions_are_ignored() {
        let mut client = fresh_client();
        let step = client
            .respond(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,x=future,y=")
            .unwrap();
        assert!(step.response.starts_with(b"c=biws,r=abcdef,p="));
    }

    #[test]
    fn username_and_authzid_are_escaped() {
        let credentials = Credentials::password("us,er=1", "pencil").with_authzid("ad=m,in");
        let mut client = ScramSha1Client::with_nonce(&credentials, "nonce").unwrap();
        let first = client.initial_response().unwrap().unwrap();
        assert_eq!(first.as_slice(), b"n,a=ad=3Dm=2Cin,n=us=2Cer=3D1,r=nonce");
        let step = client
            .respond(b"r=nonceXYZ,s=QSXCR+Q6sek8bf92,i=4096")
            .unwrap();
        let expected_c = format!("c={},", BASE64.encode("n,a=ad=3Dm=2Cin,"));
        assert!(step.response.starts_with(expected_c.as_bytes()));
    }

    #[test]
    fn random_nonces_are_printable_and_unique() {
        let credentials = Credentials::password("user", "pencil");
        let mut first = ScramSha256Client::new(&credentials).unwrap();
        let mut second = ScramSha256Client::new(&credentials).unwrap();
        assert!(first.client_nonce.len() >= 24);
        assert!(first
            .client_nonce
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && byte != b','));
        assert_ne!(first.client_nonce, second.client_nonce);
        let first_message = first.initial_response().unwrap().unwrap();
        let second_message = second.initial_response().unwrap().unwrap();
        assert!(first_message.starts_with(b"n,,n=user,r="));
        assert_ne!(first_message, second_message);
    }

    #[test]
    fn fixed_nonce_is_checked() {
        let credentials = Credentials::password("user", "pencil");
        for nonce in ["", "a,b", "a b", "caf\u{e9}"] {
            assert!(
                matches!(
                    ScramSha1Client::with_nonce(&credentials, nonce),
                    Err(SaslError::InvalidInput { field: "nonce", .. })
                ),
                "{nonce:?}"
            );
        }
    }

    #[test]
    fn client_first_on_empty_challenge_when_no_initial_response() {
        let mut client =
            ScramSha1Client::with_nonce(&Credentials::password("user", "pencil"), "abc").unwrap();
        let step = client.respond(b"").unwrap();
        assert_eq!(step.response.as_slice(), b"n,,n=user,r=abc");
        assert!(client.initial_response().is_err());
    }

    #[test]
    fn token_is_wrong_secret_kind() {
        let credentials = Credentials::bearer_token("user", "tok");
        assert!(matches!(
            ScramSha256Client::new(&credentials),
            Err(SaslError::WrongSecretKind {
                mechanism: Mechanism::ScramSha256,
                ..
            })
        ));
        assert!(matches!(
            ScramSha1Client::with_nonce(&credentials, "abc"),
            Err(SaslError::WrongSecretKind {
                mechanism: Mechanism::ScramSha1,
                ..
            })
        ));
    }

    #[test]
    fn debug_and_errors_hide_password() {
        let (client, _) = client_after_client_final();
        let debug = format!("{client:?}");
        assert!(!debug.contains("pencil"), "{debug}");
        assert!(debug.contains("ClientFinalSent"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Plausible server-first messages (our nonce, valid salt, small
        /// count, random extras) followed by arbitrary server-final bytes
        /// never panic, and a wrong server-final never verifies.
        #[test]
        fn structured_challenges_never_panic(
            nonce_suffix in "[!-+--~]{0,12}",
            salt in prop::collection::vec(any::<u8>(), 0..24),
            iterations in 0u32..40,
            extra in "\\PC{0,20}",
            server_final in prop::collection::vec(any::<u8>(), 0..60),
        ) {
            let mut client = fresh_client();
            let server_first = format!(
                "r=abc{nonce_suffix},s={},i={iterations}{extra}",
                BASE64.encode(&salt)
            );
            if let Ok(step) = client.respond(server_first.as_bytes()) {
                prop_assert!(step.response.starts_with(b"c=biws,r=abc"));
                prop_assert!(client.respond(&server_final).is_err());
                prop_assert!(client.finish(None).is_err());
            }
        }
    }
}
