//! OAuth 2.0 tokens that refresh themselves, against scripted servers:
//! a token the server refuses as expired (535, Gmail's error JSON then
//! 535, 454 4.7.0, Exchange's 501 5.5.127) is replaced and the connection
//! made again, once; a cached token close to its expiry is replaced before
//! it is used; a provider that fails or gives garbage stops the connection
//! before anything is sent; pools share one cached token; no token ever
//! shows in the transcript. Runs under both drivers (SMTP_TEST_DRIVER).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_core::{AccessToken, Config, Direction, Error, Mechanism, Pool, PoolOptions};
use smtp_tests::driver::async_driver;
use smtp_tests::scripted::ScriptedServer;
use smtp_tests::scripted_sequence::ScriptedSequence;
use smtp_tests::support::{
    b64, connect, connect_err, envelope, steps, Transcript, EHLO, SMALL_MESSAGE, USER,
};

/// The tokens the provider hands out, in order; easy to look for.
const TOKENS: [&str; 3] = [
    "ya29.first-SECRET-token",
    "ya29.second-SECRET-token",
    "ya29.third-SECRET-token",
];

/// A provider handing out [`TOKENS`] in turn, each valid `lifetime`
/// seconds, counting its calls; every call is noted in `log` too.
#[derive(Clone)]
struct Provider {
    calls: Arc<AtomicUsize>,
    lifetime: Option<u64>,
    log: Transcript,
}

impl Provider {
    fn new(lifetime: Option<u64>, log: &Transcript) -> Provider {
        Provider {
            calls: Arc::new(AtomicUsize::new(0)),
            lifetime,
            log: log.clone(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// A configuration for `config`'s server with this provider.
    fn attach(&self, config: Config) -> Config {
        let me = self.clone();
        self.log.attach(config).with_token_provider(USER, move || {
            let n = me.calls.fetch_add(1, Ordering::SeqCst);
            let token = AccessToken::new(TOKENS[n.min(TOKENS.len() - 1)]);
            Ok::<_, String>(match me.lifetime {
                Some(s) => token.with_expires_in(Duration::from_secs(s)),
                None => token,
            })
        })
    }
}

/// The XOAUTH2 initial response carrying `token`.
fn xoauth2(token: &str) -> String {
    b64(format!("user={USER}\x01auth=Bearer {token}\x01\x01"))
}

/// A session that authenticates with XOAUTH2 and takes one message.
const ACCEPTS: &str =
    "hello AUTH XOAUTH2; < AUTH XOAUTH2 ; > 235 2.7.0 Accepted; transaction; quit";

/// Sends one message over a new session with `config`, then QUITs.
fn send_one(config: Config) {
    let mut client = connect(config);
    assert_eq!(client.authenticated_with(), Some(Mechanism::XOAuth2));
    client.send_bytes(&envelope(), SMALL_MESSAGE).unwrap();
    client.quit().unwrap();
}

/// Neither the token nor its XOAUTH2 base64 is in `text`.
#[track_caller]
fn assert_no_token(text: &str) {
    for token in TOKENS {
        assert!(!text.contains(token), "token in: {text}");
        assert!(!text.contains(&xoauth2(token)), "token's base64 in: {text}");
    }
    assert!(!text.contains("SECRET"), "{text}");
}

/// The first connection's AUTH is refused with `refusal` (script steps
/// after the AUTH line); the client fetches a new token and connects
/// again, which works.
fn refused_token_is_replaced_once(refusal: &str) {
    let first = format!("hello AUTH XOAUTH2; < AUTH XOAUTH2 ; {refusal}; hangup");
    let sequence = ScriptedSequence::start(&[&first, ACCEPTS]);
    let transcript = Transcript::default();
    let provider = Provider::new(Some(3600), &transcript);
    send_one(provider.attach(sequence.config()));
    let caps = sequence.finish();
    assert_eq!(provider.calls(), 2, "{refusal}");
    assert_eq!(caps.len(), 2);
    for cap in &caps {
        cap.assert_clean();
    }
    let auth = |token: &str| format!("AUTH XOAUTH2 {}", xoauth2(token));
    assert_eq!(caps[0].lines[..2], [EHLO.to_string(), auth(TOKENS[0])]);
    assert_eq!(
        caps[0].count_lines("MAIL"),
        0,
        "{refusal}: no MAIL on the refused session"
    );
    assert_eq!(caps[1].lines[..2], [EHLO.to_string(), auth(TOKENS[1])]);
    assert_eq!(caps[1].count_lines("MAIL FROM"), 1);
    assert_eq!(caps[1].bodies.len(), 1, "{refusal}: the message sent once");
    let text = transcript.text();
    assert!(
        text.contains("refused the OAuth 2.0 access token"),
        "{refusal}: {text}"
    );
    assert_no_token(&text);
}

#[test]
fn token_refused_with_535_is_replaced() {
    refused_token_is_replaced_once("> 535 5.7.8 Username and Password not accepted");
}

#[test]
fn token_refused_with_gmail_error_json_then_535_is_replaced() {
    let json = r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
    refused_token_is_replaced_once(&format!(
        "> 334 {}; any; > 535 5.7.8 Username and Password not accepted",
        b64(json)
    ));
}

#[test]
fn token_refused_with_454_is_replaced() {
    refused_token_is_replaced_once("> 454 4.7.0 Temporary authentication failure");
}

#[test]
fn token_about_to_expire_refused_by_exchange_is_replaced() {
    refused_token_is_replaced_once("> 501 5.5.127 Token will expire soon");
}

#[test]
fn a_second_refusal_is_the_error() {
    // The new token is refused too: no third attempt, the error is the
    // server's refusal.
    let refused = "hello AUTH XOAUTH2; < AUTH XOAUTH2 ; > 535 5.7.8 no; hangup";
    let sequence = ScriptedSequence::start(&[refused, refused]);
    let transcript = Transcript::default();
    let provider = Provider::new(None, &transcript);
    let error = connect_err(provider.attach(sequence.config()));
    let caps = sequence.finish();
    assert_eq!(provider.calls(), 2);
    match &error {
        Error::Auth {
            reply: Some(reply), ..
        } => assert_eq!(reply.code(), 535),
        other => panic!("{other:?}"),
    }
    assert!(caps.iter().all(|c| c.count_lines("MAIL") == 0));
    assert_no_token(&format!("{error} {error:?} {}", transcript.text()));
}

#[test]
fn other_refusals_are_not_retried() {
    // 534 5.7.9 (Gmail: "log in with your browser") is no token problem.
    let server = ScriptedServer::start(steps(
        "hello AUTH XOAUTH2; < AUTH XOAUTH2 ; > 534 5.7.9 Please log in with your web browser; hangup",
    ));
    let transcript = Transcript::default();
    let provider = Provider::new(None, &transcript);
    let error = connect_err(provider.attach(server.config()));
    server.finish().assert_clean();
    assert_eq!(provider.calls(), 1);
    assert!(matches!(error, Error::Auth { .. }), "{error:?}");
}

#[test]
fn a_token_within_the_margin_is_refreshed_before_use() {
    // The first token lives 300 s, within the default margin of 600 s:
    // the next connection fetches a new one before AUTH and never sends
    // the old one.
    let sequence = ScriptedSequence::start(&[ACCEPTS, ACCEPTS]);
    let transcript = Transcript::default();
    let provider = Provider::new(Some(300), &transcript);
    let config = provider.attach(sequence.config());
    send_one(config.clone());
    assert_eq!(provider.calls(), 1);
    let before = transcript.lines().len();
    send_one(config);
    assert_eq!(provider.calls(), 2);
    let caps = sequence.finish();
    assert!(
        caps[1].lines[1].ends_with(&xoauth2(TOKENS[1])),
        "{:?}",
        caps[1].lines
    );
    assert!(!caps[1].received_text().contains(&xoauth2(TOKENS[0])));
    // The fetch came before the second connection's AUTH.
    let second: Vec<(Direction, String)> = transcript.lines().split_off(before);
    let fetched = second
        .iter()
        .position(|(_, l)| l.contains("fetched a new OAuth 2.0 access token"))
        .expect("a fetch note");
    let auth = second
        .iter()
        .position(|(d, l)| *d == Direction::Sent && l.starts_with("AUTH"))
        .expect("an AUTH line");
    assert!(fetched < auth, "{second:?}");
    assert_no_token(&transcript.text());

    // With a margin of 0 the same token is used again.
    let sequence = ScriptedSequence::start(&[ACCEPTS, ACCEPTS]);
    let provider = Provider::new(Some(300), &transcript);
    let config = provider
        .attach(sequence.config())
        .with_token_refresh_margin(Duration::ZERO);
    send_one(config.clone());
    send_one(config);
    assert_eq!(provider.calls(), 1);
    let caps = sequence.finish();
    assert!(caps[1].lines[1].ends_with(&xoauth2(TOKENS[0])));
}

#[test]
fn a_failed_refresh_ahead_of_expiry_keeps_the_token_that_still_works() {
    // The token lives 300 s (within the 600 s margin): the next connection
    // asks for a new one, the provider is down, the cached token is still
    // valid and is used; the transcript says so.
    let sequence = ScriptedSequence::start(&[ACCEPTS, ACCEPTS]);
    let transcript = Transcript::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let config = transcript
        .attach(sequence.config())
        .with_token_provider(USER, move || match counted.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(AccessToken::new(TOKENS[0]).with_expires_in(Duration::from_secs(300))),
            _ => Err("token endpoint unreachable".to_string()),
        });
    send_one(config.clone());
    send_one(config);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let caps = sequence.finish();
    assert!(
        caps[1].lines[1].ends_with(&xoauth2(TOKENS[0])),
        "{:?}",
        caps[1].lines
    );
    assert!(
        transcript
            .text()
            .contains("token endpoint unreachable); using the cached token"),
        "{}",
        transcript.text()
    );
    assert_no_token(&transcript.text());
}

#[test]
fn failing_or_garbage_providers_send_nothing() {
    type Fetch = Box<dyn Fn() -> Result<AccessToken, String> + Send + Sync>;
    let cases: Vec<(&str, Fetch)> = vec![
        (
            "failed: token endpoint unreachable",
            Box::new(|| Err("token endpoint unreachable".to_string())),
        ),
        ("empty", Box::new(|| Ok(AccessToken::new("")))),
        (
            "line break",
            Box::new(|| Ok(AccessToken::new("ya29.SECRET\r\nMAIL FROM:<evil@x>"))),
        ),
        (
            "control character",
            Box::new(|| Ok(AccessToken::new("ya29.SECRET\u{1}x"))),
        ),
        (
            "white space",
            Box::new(|| Ok(AccessToken::new("ya29.SECRET x"))),
        ),
    ];
    for (expected, fetch) in cases {
        let server = ScriptedServer::start(steps("hello AUTH XOAUTH2; hangup"));
        let transcript = Transcript::default();
        let config = transcript
            .attach(server.config())
            .with_token_provider(USER, fetch);
        let error = connect_err(config);
        let cap = server.finish();
        match &error {
            Error::Auth {
                reply: None,
                reason,
                ..
            } => {
                assert!(reason.contains(expected), "{expected}: {reason}")
            }
            other => panic!("{expected}: {other:?}"),
        }
        assert!(!cap.connected, "{expected}: nothing may be sent");
        assert!(cap.lines.is_empty() && cap.received.is_empty());
        assert_no_token(&format!("{error} {error:?} {}", transcript.text()));
    }
}

#[test]
fn a_pool_shares_the_cached_token() {
    // One message per session: two sessions, one token.
    let sequence = ScriptedSequence::start(&[ACCEPTS, ACCEPTS]);
    let transcript = Transcript::default();
    let provider = Provider::new(Some(3600), &transcript);
    let config = provider.attach(sequence.config());
    let options = PoolOptions {
        max_messages_per_connection: Some(1),
        ..PoolOptions::default()
    };
    let results: Vec<_> = if async_driver() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pool = smtp_core::AsyncPool::new(config, options).unwrap();
            let mut results = Vec::new();
            for _ in 0..2 {
                results.push(pool.send_bytes(&envelope(), SMALL_MESSAGE).await);
            }
            pool.close();
            results
        })
    } else {
        let pool = Pool::new(config, options).unwrap();
        let results = (0..2)
            .map(|_| pool.send_bytes(&envelope(), SMALL_MESSAGE))
            .collect();
        pool.close();
        results
    };
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let caps = sequence.finish();
    assert_eq!(provider.calls(), 1);
    for cap in &caps {
        cap.assert_clean();
        assert_eq!(cap.lines[1], format!("AUTH XOAUTH2 {}", xoauth2(TOKENS[0])));
        assert_eq!(cap.bodies.len(), 1);
    }
    assert_no_token(&transcript.text());
}

#[test]
fn concurrent_connections_fetch_once() {
    // Four threads connect at once with one configuration: the provider is
    // asked once (the others wait for its token).
    let provider_calls = Arc::new(AtomicUsize::new(0));
    let servers: Vec<ScriptedServer> = (0..4)
        .map(|_| ScriptedServer::start(steps(ACCEPTS)))
        .collect();
    let calls = provider_calls.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let base = Config::default().with_token_provider(USER, move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        Ok::<_, String>(AccessToken::new(TOKENS[0]).with_expires_in(Duration::from_secs(3600)))
    });
    std::thread::scope(|scope| {
        for server in &servers {
            let config = server.config();
            let config = base
                .clone()
                .with_host(config.host())
                .with_port(config.port())
                .with_security(config.security())
                .with_client_name("client.test")
                .with_timeouts(*config.timeouts());
            let seen = seen.clone();
            scope.spawn(move || {
                send_one(config);
                seen.lock().unwrap().push(());
            });
        }
    });
    assert_eq!(seen.lock().unwrap().len(), 4);
    for server in servers {
        server.finish().assert_clean();
    }
    assert_eq!(provider_calls.load(Ordering::SeqCst), 1);
}
