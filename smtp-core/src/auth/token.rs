//! OAuth 2.0 access tokens that refresh themselves: the [`TokenProvider`]
//! a program gives, the [`AccessToken`] it returns, the cache every clone
//! of a `Config` shares, and the one retry of a connection with a fresh
//! token when the server refused the old one as expired or invalid.
//!
//! The provider is called by the clients' `connect` (never by the I/O-free
//! engine), before the connection is opened, on the thread that connects;
//! a token is only ever sent with `AUTH`, so a long-lived or pooled
//! session needs no new token until it connects again.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Mechanism, SecretString};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::transcript::Direction;

/// Where OAuth 2.0 access tokens come from: a token endpoint, a helper
/// program, a secrets store. Called before `AUTH` whenever the cached token
/// is missing or within the refresh margin of its expiry
/// ([`Config::with_token_refresh_margin`]), and once more when the server
/// refused a token; never more than twice per connection attempt.
///
/// It may be called from any thread that connects (pool sessions are
/// opened by the thread that needs one), so it must be `Send + Sync`; the
/// async client calls it synchronously on the runtime's thread, so it
/// should not take long. Any closure `Fn() -> Result<AccessToken, E>`
/// (with `E` a `String`, `&str`, `std::io::Error` or [`TokenError`]) is a
/// provider:
///
/// ```
/// use std::time::Duration;
/// use smtp_core::{AccessToken, Config};
///
/// let config = Config::for_host("smtp.gmail.com").with_token_provider("me@gmail.com", || {
///     // ... ask the token endpoint ...
///     Ok::<_, String>(AccessToken::new("ya29.a0...").with_expires_in(Duration::from_secs(3599)))
/// });
/// assert!(config.has_token_provider());
/// ```
pub trait TokenProvider: Send + Sync {
    /// A current access token, or why there is none. The error's text ends
    /// up in the connect error; it must not contain a secret.
    fn fetch(&self) -> Result<AccessToken, TokenError>;
}

impl<F, E> TokenProvider for F
where
    F: Fn() -> Result<AccessToken, E> + Send + Sync,
    E: Into<TokenError>,
{
    fn fetch(&self) -> Result<AccessToken, TokenError> {
        self().map_err(Into::into)
    }
}

/// An OAuth 2.0 access token and how long it stays valid. The token is
/// wiped from memory when dropped and never shown by `Debug`.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    expires_in: Option<Duration>,
}

impl AccessToken {
    /// A token of unknown lifetime: used until a server refuses it.
    pub fn new(token: impl Into<String>) -> AccessToken {
        AccessToken {
            secret: SecretString::new(token),
            expires_in: None,
        }
    }

    /// The token expires this long after it was fetched (a token
    /// endpoint's `expires_in`).
    pub fn with_expires_in(mut self, lifetime: Duration) -> AccessToken {
        self.expires_in = Some(lifetime);
        self
    }

    /// How long the token stays valid from when it was fetched, if known.
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_in
    }

    /// The token itself.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &self.secret)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Why a [`TokenProvider`] has no token. Its text goes into the connect
/// error, so it must not contain a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError(String);

impl TokenError {
    /// An error saying `reason`.
    pub fn new(reason: impl Into<String>) -> TokenError {
        TokenError(reason.into())
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenError {}

impl From<String> for TokenError {
    fn from(reason: String) -> TokenError {
        TokenError(reason)
    }
}

impl From<&str> for TokenError {
    fn from(reason: &str) -> TokenError {
        TokenError(reason.to_owned())
    }
}

impl From<std::io::Error> for TokenError {
    fn from(error: std::io::Error) -> TokenError {
        TokenError(error.to_string())
    }
}

/// The default refresh margin: a token expiring within 10 minutes is
/// replaced before use (Exchange refuses tokens close to expiry).
pub const DEFAULT_TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(600);

/// A provider and the token cache shared by every clone of the `Config`
/// it was set on (pool sessions, the servers of a relay list).
#[derive(Clone)]
pub(crate) struct TokenSource {
    provider: Arc<dyn TokenProvider>,
    cache: Arc<Mutex<Cache>>,
}

/// The cached token; `generation` counts fetches, so that a connection
/// whose token was refused can tell whether another one already fetched
/// a newer token.
#[derive(Default)]
struct Cache {
    token: Option<Cached>,
    generation: u64,
}

struct Cached {
    secret: SecretString,
    expires_at: Option<Instant>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSource(<provider>)")
    }
}

impl TokenSource {
    pub(crate) fn new(provider: Arc<dyn TokenProvider>) -> TokenSource {
        TokenSource {
            provider,
            cache: Arc::new(Mutex::new(Cache::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The token to use now and its generation: the cached one unless it
    /// is missing or expires within `margin`, else a new one. With
    /// `refused`, the token of that generation was refused: a newer cached
    /// one is used, else a new one is fetched whatever its expiry.
    ///
    /// The lock is held while the provider runs, so concurrent connections
    /// wait for one fetch instead of each making their own.
    fn token(
        &self,
        config: &Config,
        refused: Option<u64>,
    ) -> Result<(SecretString, Option<Duration>, u64)> {
        let mut cache = self.lock();
        let now = Instant::now();
        let generation = cache.generation;
        if let Some(cached) = &cache.token {
            let fresh = match refused {
                Some(old) => old != generation,
                None => cached
                    .expires_at
                    .is_none_or(|at| now + config.token_refresh_margin < at),
            };
            if fresh {
                let left = cached
                    .expires_at
                    .map(|at| at.saturating_duration_since(now));
                return Ok((cached.secret.clone(), left, generation));
            }
        }
        let previous = cache.token.take();
        let token = match fetch(self.provider.as_ref(), config) {
            Ok(token) => token,
            // A refresh ahead of expiry that fails keeps a token that still
            // works: the provider may be back before it expires. A refused
            // token is never used again.
            Err(e) => {
                let still_valid = previous
                    .filter(|old| refused.is_none() && old.expires_at.is_some_and(|at| now < at));
                let Some(old) = still_valid else {
                    return Err(e);
                };
                let left = old.expires_at.map(|at| at.saturating_duration_since(now));
                note(
                    config,
                    &format!(
                        "the OAuth 2.0 token provider failed ({e}); using the cached token, which expires in {} s",
                        left.unwrap_or_default().as_secs()
                    ),
                );
                let secret = old.secret.clone();
                cache.token = Some(old);
                return Ok((secret, left, generation));
            }
        };
        cache.generation += 1;
        cache.token = Some(Cached {
            secret: token.secret.clone(),
            expires_at: token.expires_in.and_then(|d| now.checked_add(d)),
        });
        note(
            config,
            &match token.expires_in {
                Some(d) => format!(
                    "fetched a new OAuth 2.0 access token (expires in {} s)",
                    d.as_secs()
                ),
                None => "fetched a new OAuth 2.0 access token (expiry not given)".to_string(),
            },
        );
        Ok((token.secret, token.expires_in, cache.generation))
    }
}

/// Asks the provider, turning a failure, a panic or an unusable token into
/// an [`Error::Auth`] that says why (and never contains the token).
fn fetch(provider: &dyn TokenProvider, config: &Config) -> Result<AccessToken> {
    let outcome = catch_unwind(AssertUnwindSafe(|| provider.fetch()));
    let token = match outcome {
        Ok(Ok(token)) => token,
        Ok(Err(e)) => {
            return Err(provider_error(
                config,
                format!("the OAuth 2.0 token provider failed: {e}"),
            ))
        }
        Err(_) => {
            return Err(provider_error(
                config,
                "the OAuth 2.0 token provider panicked".into(),
            ))
        }
    };
    if let Some(why) = unusable(token.secret.as_str()) {
        return Err(provider_error(
            config,
            format!("the OAuth 2.0 token provider returned an unusable token: {why}"),
        ));
    }
    Ok(token)
}

/// Why `token` cannot be sent as a bearer token (RFC 6750 2.1: visible
/// ASCII, no spaces), if it cannot; never quotes the token.
pub(crate) fn unusable(token: &str) -> Option<&'static str> {
    if token.is_empty() {
        Some("it is empty")
    } else if token.contains(['\r', '\n']) {
        Some("it contains a line break (CR or LF)")
    } else if token.bytes().any(|b| b.is_ascii_whitespace()) {
        Some("it contains white space")
    } else if token.bytes().any(|b| b.is_ascii_control()) {
        Some("it contains a control character")
    } else if !token.is_ascii() {
        Some("it contains a non-ASCII character")
    } else {
        None
    }
}

/// An authentication error before anything was sent: the mechanism is
/// the forced one, else XOAUTH2 (the server's choice is not known yet).
fn provider_error(config: &Config, reason: String) -> Error {
    let mechanism = config
        .mechanism
        .filter(|m| m.uses_bearer_token())
        .unwrap_or(Mechanism::XOAuth2);
    Error::Auth {
        mechanism,
        reply: None,
        reason,
        source: None,
    }
}

fn note(config: &Config, line: &str) {
    if let Some(sink) = &config.transcript {
        sink(Direction::Info, line);
    }
}

/// True when `error` says the server refused the bearer token in a way a
/// fresh token may cure: a `535`, a `454`, any `4.7.x`, or Exchange's
/// `501 5.5.127` ("token will expire soon"); Gmail's XOAUTH2 error JSON
/// ends in such a reply too.
pub fn is_token_refusal(error: &Error) -> bool {
    let Error::Auth {
        mechanism,
        reply: Some(reply),
        ..
    } = error
    else {
        return false;
    };
    if !mechanism.uses_bearer_token() {
        return false;
    }
    let enhanced = reply.enhanced();
    match reply.code() {
        535 | 454 => true,
        501 => {
            enhanced.is_some_and(|e| (e.class, e.subject, e.detail) == (5, 5, 127))
                || reply.text().contains("5.5.127")
        }
        _ => enhanced.is_some_and(|e| e.class == 4 && e.subject == 7),
    }
}

/// One connection attempt to one server with a token from the provider
/// (when the configuration has one): the configuration to connect with,
/// and, after a refusal, the one to connect with again, once.
pub(crate) struct TokenAttempt {
    /// The configuration as given (credentials without the token), and
    /// the source; `None` when there is no provider.
    source: Option<(Config, TokenSource)>,
    /// The generation of the token of the first connection.
    generation: u64,
    /// Whether the one retry was used.
    retried: bool,
}

impl TokenAttempt {
    /// Prepares the first connection: `config` with the current token in
    /// its credentials (fetched now if needed). A provider that fails gives
    /// the error, before anything was sent.
    pub(crate) fn begin(config: Config) -> Result<(TokenAttempt, Config)> {
        let Some(source) = config.token.clone() else {
            let attempt = TokenAttempt {
                source: None,
                generation: 0,
                retried: false,
            };
            return Ok((attempt, config));
        };
        let (secret, _, generation) = source.token(&config, None)?;
        let ready = with_token(&config, secret);
        let attempt = TokenAttempt {
            source: Some((config, source)),
            generation,
            retried: false,
        };
        Ok((attempt, ready))
    }

    /// After the first connection failed with `error`: the configuration
    /// to connect with once more when the server refused the token (a new
    /// token fetched, unless another connection already did), else `None`.
    pub(crate) fn again(&mut self, error: &Error) -> Option<Result<Config>> {
        let (config, source) = self.source.as_ref()?;
        if self.retried || !is_token_refusal(error) {
            return None;
        }
        self.retried = true;
        let what = error.reply().map(ToString::to_string).unwrap_or_default();
        note(
            config,
            &format!(
                "the server refused the OAuth 2.0 access token ({what}); connecting again with a new one"
            ),
        );
        Some(
            source
                .token(config, Some(self.generation))
                .map(|(secret, _, _)| with_token(config, secret)),
        )
    }
}

/// `config` with `token` as its credentials' bearer token.
fn with_token(config: &Config, token: SecretString) -> Config {
    let mut ready = config.clone();
    ready.credentials = ready
        .credentials
        .as_ref()
        .map(|c| c.with_bearer_token(token));
    ready
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{EnhancedCode, Reply};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn auth(
        mechanism: Mechanism,
        code: u16,
        enhanced: Option<(u8, u16, u16)>,
        text: &str,
    ) -> Error {
        Error::Auth {
            mechanism,
            reply: Some(Reply::new(
                code,
                enhanced.map(|(class, subject, detail)| EnhancedCode {
                    class,
                    subject,
                    detail,
                }),
                vec![text.into()],
            )),
            reason: text.into(),
            source: None,
        }
    }

    #[test]
    fn refusals_that_a_new_token_may_cure() {
        let x = Mechanism::XOAuth2;
        assert!(is_token_refusal(&auth(x, 535, Some((5, 7, 8)), "bad")));
        assert!(is_token_refusal(&auth(x, 535, None, "bad")));
        assert!(is_token_refusal(&auth(x, 454, Some((4, 7, 0)), "later")));
        assert!(is_token_refusal(&auth(x, 451, Some((4, 7, 1)), "x")));
        assert!(is_token_refusal(&auth(
            Mechanism::OAuthBearer,
            501,
            Some((5, 5, 127)),
            "Token will expire soon"
        )));
        assert!(is_token_refusal(&auth(x, 501, None, "5.5.127 soon")));
        assert!(!is_token_refusal(&auth(x, 501, Some((5, 5, 4)), "syntax")));
        assert!(!is_token_refusal(&auth(
            x,
            534,
            Some((5, 7, 9)),
            "web login"
        )));
        assert!(!is_token_refusal(&auth(x, 421, Some((4, 3, 2)), "closing")));
        assert!(!is_token_refusal(&auth(
            Mechanism::Plain,
            535,
            Some((5, 7, 8)),
            "bad"
        )));
        assert!(!is_token_refusal(&Error::Auth {
            mechanism: x,
            reply: None,
            reason: "x".into(),
            source: None
        }));
        assert!(!is_token_refusal(&Error::invalid("token", "x")));
    }

    #[test]
    fn unusable_tokens_are_named_not_quoted() {
        assert_eq!(unusable("ya29.A-b_c~d+e/f="), None);
        for bad in [
            "", "a\rb", "a\nb", "a b", "a\tb", "a\x01b", "a\u{7f}b", "aé",
        ] {
            let why = unusable(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(!why.contains(bad) || bad.is_empty(), "{why}");
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let token = AccessToken::new("ya29.SECRET").with_expires_in(Duration::from_secs(5));
        let debug = format!("{token:?}");
        assert!(!debug.contains("SECRET") && debug.contains("5s"), "{debug}");
        assert_eq!(token.secret().as_str(), "ya29.SECRET");
        assert_eq!(token.expires_in(), Some(Duration::from_secs(5)));
    }

    fn counting(lifetime: Option<u64>) -> (Arc<AtomicUsize>, impl TokenProvider + Clone + 'static) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let provider = move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let token = AccessToken::new(format!("token-{n}"));
            Ok::<_, String>(match lifetime {
                Some(s) => token.with_expires_in(Duration::from_secs(s)),
                None => token,
            })
        };
        (calls, provider)
    }

    fn token_of(config: &Config) -> String {
        config
            .credentials()
            .map(|c| c.secret().as_str().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn the_cache_is_shared_by_clones_and_refreshed_within_the_margin() {
        let (calls, provider) = counting(Some(3600));
        let config = Config::for_host("h").with_token_provider("u", provider);
        let (_, first) = TokenAttempt::begin(config.clone()).unwrap();
        let (_, second) = TokenAttempt::begin(config.clone()).unwrap();
        assert_eq!(
            (token_of(&first), token_of(&second)),
            ("token-1".into(), "token-1".into())
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // 3600 s left is within a margin of 3700 s: fetched again, each time.
        let (calls, provider) = counting(Some(3600));
        let config = Config::for_host("h")
            .with_token_provider("u", provider)
            .with_token_refresh_margin(Duration::from_secs(3700));
        let (_, first) = TokenAttempt::begin(config.clone()).unwrap();
        let (_, second) = TokenAttempt::begin(config).unwrap();
        assert_eq!(
            (token_of(&first), token_of(&second)),
            ("token-1".into(), "token-2".into())
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_refused_token_is_replaced_once_and_a_newer_one_reused() {
        let (calls, provider) = counting(None);
        let config = Config::for_host("h").with_token_provider("u", provider);
        let (mut a, _) = TokenAttempt::begin(config.clone()).unwrap();
        let (mut b, _) = TokenAttempt::begin(config.clone()).unwrap();
        let refused = auth(Mechanism::XOAuth2, 535, Some((5, 7, 8)), "no");
        let again = a.again(&refused).unwrap().unwrap();
        assert_eq!(token_of(&again), "token-2");
        assert!(a.again(&refused).is_none(), "only one retry");
        // b's token was refused too, but a already fetched a newer one.
        let again = b.again(&refused).unwrap().unwrap();
        assert_eq!(token_of(&again), "token-2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let other = auth(Mechanism::XOAuth2, 534, Some((5, 7, 9)), "no");
        let (mut c, _) = TokenAttempt::begin(config).unwrap();
        assert!(c.again(&other).is_none());
    }

    #[test]
    fn failing_and_garbage_providers_are_auth_errors() {
        let secret = "ya29.SECRET\r\nMAIL FROM:<x>";
        let cases: Vec<(Config, &str)> = vec![
            (
                Config::for_host("h").with_token_provider("u", || Err::<AccessToken, _>("offline")),
                "failed: offline",
            ),
            (
                Config::for_host("h")
                    .with_token_provider("u", move || Ok::<_, String>(AccessToken::new(secret))),
                "line break",
            ),
            (
                Config::for_host("h")
                    .with_token_provider("u", || Ok::<_, String>(AccessToken::new(""))),
                "empty",
            ),
            (
                Config::for_host("h")
                    .with_token_provider("u", || -> Result<AccessToken, String> {
                        panic!("provider bug")
                    }),
                "panicked",
            ),
        ];
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        for (config, expected) in cases {
            let error = TokenAttempt::begin(config).err().unwrap();
            assert!(
                matches!(error, Error::Auth { reply: None, .. }),
                "{error:?}"
            );
            let text = format!("{error} {error:?}");
            assert!(text.contains(expected), "{text}");
            assert!(!text.contains("SECRET"), "{text}");
        }
        std::panic::set_hook(hook);
    }

    #[test]
    fn without_a_provider_nothing_changes() {
        let config = Config::for_host("h").with_bearer_token("u", "static");
        let (mut attempt, ready) = TokenAttempt::begin(config).unwrap();
        assert_eq!(token_of(&ready), "static");
        assert!(attempt
            .again(&auth(Mechanism::XOAuth2, 535, None, "no"))
            .is_none());
    }
}
