//! The OAuth 2.0 token provider settings of [`Config`]: where bearer
//! tokens come from and how early a cached one is replaced.

use std::time::Duration;

use super::Config;
use crate::auth::Credentials;

impl Config {
    /// Authenticates as `user` with OAuth 2.0 access tokens from
    /// `provider` (XOAUTH2 / OAUTHBEARER, chosen as for a fixed token):
    /// fetched before `AUTH` when none is cached or the cached one expires
    /// within the refresh margin ([`Config::with_token_refresh_margin`],
    /// default 10 minutes), and once more, connecting again, when the
    /// server refuses the token (`535`, `454`, a `4.7.x`, Exchange's
    /// `501 5.5.127`). Clones of this configuration (a pool's sessions, a
    /// relay list's servers) share one cached token. See
    /// [`TokenProvider`](crate::TokenProvider).
    pub fn with_token_provider(
        self,
        user: impl Into<String>,
        provider: impl crate::auth::TokenProvider + 'static,
    ) -> Config {
        let mut config = self.with_credentials(Credentials::bearer_token(user, ""));
        config.set_token_provider(std::sync::Arc::new(provider));
        config
    }

    /// Takes bearer tokens from `provider` for the user set before or
    /// after (by name, for front ends); as [`Config::with_token_provider`].
    /// Replaces a password or token set before; setting one later
    /// replaces the provider.
    pub fn set_token_provider(&mut self, provider: std::sync::Arc<dyn crate::auth::TokenProvider>) {
        self.token = Some(crate::auth::token::TokenSource::new(provider));
        self.secret_is_token = true;
        self.pending_secret = None;
        if let Some(old) = self.credentials.take() {
            self.credentials = Some(old.with_bearer_token(crate::auth::SecretString::new("")));
            self.secret_given = true;
        }
    }

    /// Whether tokens come from a provider.
    pub fn has_token_provider(&self) -> bool {
        self.token.is_some()
    }

    /// A cached token expiring within `margin` is replaced before use
    /// (default 10 minutes; option `token_refresh_margin`).
    pub fn with_token_refresh_margin(mut self, margin: Duration) -> Config {
        self.token_refresh_margin = margin;
        self
    }

    /// The token refresh margin (see [`Config::with_token_refresh_margin`]).
    pub fn token_refresh_margin(&self) -> Duration {
        self.token_refresh_margin
    }
}
