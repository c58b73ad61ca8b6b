//! SASL mechanisms fed arbitrary server challenges.
//!
//! Input: a flags byte, then challenges separated by 0xFF (already
//! base64-decoded, as the session hands them over). Flags:
//!
//! * bit 0: produce the initial response first;
//! * bit 1: give the last field to `finish()` as success data instead;
//! * bit 2: custom credentials: the first field is `user NUL secret
//!   [NUL authzid]` (else fixed credentials, those of the RFC examples);
//! * bit 3 (SCRAM): once the client answers server-first, the harness
//!   computes the genuine server-final itself and feeds it next, which
//!   must verify;
//! * bit 4 (SCRAM, with bit 3): flip one bit of that server-final (bits
//!   5-7 and the iteration count choose which), which must be refused.
//!
//! Always: no panic, at most three answers in all, every answer of bounded
//! size and of the shape the mechanism defines, and no secret in a note or
//! an error message.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::{Digest, KeyInit};
use hmac::{Mac, SimpleHmac};
use smtp_core::auth::{new_mechanism, SaslMechanism, ScramSha1Client, ScramSha256Client};
use smtp_core::{Credentials, Mechanism};

use crate::util::fields;

/// PBKDF2 iteration counts above this are skipped, not fed: the library
/// accepts up to a million, which would make one run take a second.
const MAX_FUZZ_ITERATIONS: u64 = 4096;

const SCRAM_SHA1_NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
const SCRAM_SHA256_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";

/// Lenient base64, as smtp-core reads the SCRAM salt.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One target per mechanism; `mechanism` picks it.
pub fn check(mechanism: Mechanism, data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut challenges = fields(rest);
    let custom = flags & 4 != 0;
    let credentials = if custom {
        let Some(spec) = challenges.first().copied() else {
            return;
        };
        challenges.remove(0);
        let Ok(spec) = std::str::from_utf8(spec) else {
            return;
        };
        let mut parts = spec.split('\0');
        let user = parts.next().unwrap_or("");
        let secret = parts.next().unwrap_or("");
        let c = if mechanism.uses_bearer_token() {
            Credentials::bearer_token(user, secret)
        } else {
            Credentials::password(user, secret)
        };
        match parts.next() {
            Some(authzid) => c.with_authzid(authzid),
            None => c,
        }
    } else {
        fixed_credentials(mechanism)
    };
    let success_data = if flags & 2 != 0 {
        challenges.pop()
    } else {
        None
    };

    let client: Result<Box<dyn SaslMechanism>, _> = match mechanism {
        Mechanism::ScramSha1 => {
            ScramSha1Client::with_nonce(&credentials, SCRAM_SHA1_NONCE).map(|c| Box::new(c) as _)
        }
        Mechanism::ScramSha256 => ScramSha256Client::with_nonce(&credentials, SCRAM_SHA256_NONCE)
            .map(|c| Box::new(c) as _),
        _ => new_mechanism(mechanism, &credentials),
    };
    let mut client = match client {
        Ok(client) => client,
        Err(error) => {
            // Only custom credentials may be refused.
            assert!(custom, "fixed credentials refused: {error}");
            return;
        }
    };
    assert_eq!(client.mechanism(), mechanism);

    let secret = match credentials.secret() {
        smtp_core::Secret::Password(s) | smtp_core::Secret::BearerToken(s) => s.as_str().to_owned(),
    };
    // Leak checks only make sense for a secret that cannot occur by chance,
    // and not when the server itself sent it (its text is quoted back).
    let distinctive = !custom && !rest.windows(secret.len()).any(|w| w == secret.as_bytes());
    let max_response = 1024
        + 3 * (credentials.username().len() + secret.len())
        + 3 * credentials.authzid().map_or(0, str::len);
    let no_leak = |text: &str| {
        if distinctive {
            assert!(!text.contains(&secret), "secret leaked: {text}");
        }
    };

    let mut answers = 0usize;
    let mut responses: Vec<Vec<u8>> = Vec::new();
    if flags & 1 != 0 {
        match client.initial_response() {
            Ok(Some(ir)) => {
                assert!(ir.len() <= max_response);
                answers += 1;
                responses.push(ir.to_vec());
            }
            Ok(None) => {}
            Err(error) => no_leak(&format!("{error} {error:?}")),
        }
    }

    let scram = matches!(mechanism, Mechanism::ScramSha1 | Mechanism::ScramSha256);
    // The next challenge is the server-final the harness computed. A flag,
    // not a comparison of bytes: libFuzzer copies compared bytes into its
    // inputs, so the same bytes can also come later from the input itself.
    let mut injected_next = false;
    let mut queue: std::collections::VecDeque<Vec<u8>> =
        challenges.iter().map(|c| c.to_vec()).collect();
    let mut server_first_seen: Option<Vec<u8>> = None;
    let mut verified_by_harness = false;
    // Each round takes one challenge; at most one is ever added.
    let mut rounds = 0;
    while let Some(challenge) = queue.pop_front() {
        rounds += 1;
        assert!(rounds <= challenges.len() + 1);
        let is_injected = std::mem::take(&mut injected_next);
        if scram && too_many_iterations(&challenge) {
            continue;
        }
        match client.respond(&challenge) {
            Ok(step) => {
                answers += 1;
                assert!(answers <= 3, "{mechanism} answered {answers} times");
                // SCRAM's client-final echoes the server's nonce: bounded
                // by what the server sent.
                assert!(step.response.len() <= max_response + challenge.len());
                if let Some(note) = &step.note {
                    no_leak(note);
                }
                check_shape(mechanism, &credentials, &step.response, &challenge);
                if scram && step.response.starts_with(b"c=") {
                    server_first_seen = Some(challenge.clone());
                    if flags & 8 != 0 {
                        let client_first = responses.first().expect("client-first came first");
                        let mut genuine = server_final(
                            mechanism,
                            &credentials,
                            client_first,
                            &challenge,
                            &step.response,
                        );
                        if flags & 16 != 0 {
                            let bit = usize::from(flags >> 5) + challenge.len();
                            let i = 2 + bit / 8 % (genuine.len() - 2);
                            genuine[i] ^= 1 << (bit % 8);
                        }
                        injected_next = true;
                        queue.push_front(genuine);
                    }
                }
                if is_injected {
                    assert!(flags & 16 == 0, "a corrupted server signature verified");
                    assert!(step.response.is_empty());
                    verified_by_harness = true;
                }
                responses.push(step.response.to_vec());
            }
            Err(error) => {
                no_leak(&format!("{error} {error:?}"));
                // Anything refused after the server proved itself ends the
                // exchange too (fail closed).
                verified_by_harness = false;
                if is_injected && flags & 16 == 0 {
                    // Only a corrupted signature may be refused; the
                    // genuine one is computed from what the client saw.
                    let text = String::from_utf8_lossy(&challenge);
                    panic!("the genuine server-final {text:?} was refused: {error}");
                }
            }
        }
    }
    let finished = client.finish(success_data);
    if let Err(error) = &finished {
        no_leak(&format!("{error} {error:?}"));
    }
    if scram {
        // SCRAM succeeds only once the server proved itself.
        if verified_by_harness {
            assert!(finished.is_ok(), "verified, yet finish() fails");
        }
        if finished.is_ok() {
            assert!(
                server_first_seen.is_some(),
                "SCRAM finished without server-first"
            );
        }
    }
}

fn fixed_credentials(mechanism: Mechanism) -> Credentials {
    match mechanism {
        Mechanism::XOAuth2 | Mechanism::OAuthBearer => Credentials::bearer_token(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        ),
        Mechanism::ScramSha1 | Mechanism::ScramSha256 => Credentials::password("user", "pencil"),
        _ => Credentials::password("tim", "tanstaaftanstaaf"),
    }
}

/// True when a SCRAM challenge asks for more PBKDF2 rounds than a fuzz run
/// can afford (any `i=` attribute, however the library would read it).
fn too_many_iterations(challenge: &[u8]) -> bool {
    challenge.split(|&b| b == b',').any(|attr| {
        attr.strip_prefix(b"i=").is_some_and(|digits| {
            let mut n: u64 = 0;
            for &d in digits {
                if !d.is_ascii_digit() {
                    return false;
                }
                n = n.saturating_mul(10).saturating_add(u64::from(d - b'0'));
            }
            n > MAX_FUZZ_ITERATIONS
        })
    })
}

/// What an accepted answer must look like.
fn check_shape(mechanism: Mechanism, credentials: &Credentials, response: &[u8], challenge: &[u8]) {
    let user = credentials.username().as_bytes();
    match mechanism {
        Mechanism::CramMd5 => {
            assert!(!challenge.is_empty());
            let hex = response
                .strip_prefix(user)
                .and_then(|r| r.strip_prefix(b" "))
                .expect("CRAM-MD5 answers `user SP digest`");
            assert_eq!(hex.len(), 32);
            assert!(hex
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)));
        }
        Mechanism::Login => {
            let secret = match credentials.secret() {
                smtp_core::Secret::Password(p) => p.as_str().as_bytes(),
                smtp_core::Secret::BearerToken(_) => unreachable!(),
            };
            assert!(response == user || response == secret);
        }
        Mechanism::Plain => {
            assert!(challenge.is_empty());
            assert_eq!(response.iter().filter(|&&b| b == 0).count(), 2);
        }
        Mechanism::XOAuth2 | Mechanism::OAuthBearer => {
            // The message (on an empty go-ahead) or the error acknowledgement.
            assert!(
                response.is_empty() || response == b"\x01" || response.ends_with(b"\x01\x01"),
                "unexpected {mechanism} answer"
            );
        }
        Mechanism::ScramSha1 | Mechanism::ScramSha256 => {
            assert!(
                response.is_empty() || response.starts_with(b"n,") || response.starts_with(b"c="),
                "unexpected SCRAM answer"
            );
            assert!(!response.contains(&b'\n') && !response.contains(&b'\r'));
        }
    }
}

/// The server-final a genuine server would send after `server_first`,
/// computed independently of smtp-core (RFC 5802 section 3).
fn server_final(
    mechanism: Mechanism,
    credentials: &Credentials,
    client_first: &[u8],
    server_first: &[u8],
    client_final: &[u8],
) -> Vec<u8> {
    let password = match credentials.secret() {
        smtp_core::Secret::Password(p) => p.as_str().as_bytes().to_vec(),
        smtp_core::Secret::BearerToken(_) => unreachable!(),
    };
    let server_first = std::str::from_utf8(server_first).expect("accepted server-first is UTF-8");
    let mut salt = None;
    let mut iterations = None;
    for attr in server_first.split(',') {
        if let Some(v) = attr.strip_prefix("s=") {
            salt = Some(BASE64_LENIENT.decode(v).expect("accepted salt decodes"));
        } else if let Some(v) = attr.strip_prefix("i=") {
            iterations = Some(v.parse::<u32>().expect("accepted count parses"));
        }
    }
    let (salt, iterations) = (salt.expect("salt"), iterations.expect("count"));
    // client-first-bare: client-first without its GS2 header (`n,,` or
    // `n,a=NAME,`, where NAME has its commas escaped).
    let client_first = std::str::from_utf8(client_first).expect("client-first is UTF-8");
    let bare = client_first
        .splitn(3, ',')
        .nth(2)
        .expect("client-first has a GS2 header");
    let client_final = std::str::from_utf8(client_final).expect("client-final is UTF-8");
    let without_proof = client_final
        .rsplit_once(",p=")
        .map(|(w, _)| w)
        .expect("client-final has a proof");
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = match mechanism {
        Mechanism::ScramSha1 => {
            signature::<sha1::Sha1>(&password, &salt, iterations, auth_message.as_bytes())
        }
        _ => signature::<sha2::Sha256>(&password, &salt, iterations, auth_message.as_bytes()),
    };
    format!("v={}", STANDARD.encode(signature)).into_bytes()
}

/// ServerSignature = HMAC(HMAC(PBKDF2(password), "Server Key"), AuthMessage).
fn signature<D>(password: &[u8], salt: &[u8], iterations: u32, auth_message: &[u8]) -> Vec<u8>
where
    D: Digest + BlockSizeUser + Clone + Sync,
{
    let mut salted = vec![0u8; <D as Digest>::output_size()];
    pbkdf2::pbkdf2::<SimpleHmac<D>>(password, salt, iterations, &mut salted).expect("pbkdf2");
    let mut mac = <SimpleHmac<D> as KeyInit>::new_from_slice(&salted).expect("key");
    Mac::update(&mut mac, b"Server Key");
    let server_key = mac.finalize().into_bytes();
    let mut mac = <SimpleHmac<D> as KeyInit>::new_from_slice(&server_key).expect("key");
    Mac::update(&mut mac, auth_message);
    mac.finalize().into_bytes().to_vec()
}
