//! The OAuth 2.0 scenarios of the bindings' token tests (test_token.c,
//! OAuthTest.php): sequences of connections to one port, for a client
//! whose first token is refused and who connects again with a new one,
//! and for a pool whose sessions share one token. Each connection runs
//! the script at its position; the report lists them in order.

/// These scenarios by name, with what each is for.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "token-refresh",
        "two connections: AUTH XOAUTH2 answered 535 5.7.8; then AUTH XOAUTH2 accepted, one message, QUIT",
    ),
    (
        "token-twice",
        "two connections, each: AUTH XOAUTH2 accepted, one message, QUIT",
    ),
];

/// A session that accepts XOAUTH2 and one message.
const ACCEPTS: &str = "hello AUTH XOAUTH2; < AUTH XOAUTH2 ; > 235 2.7.0 Accepted; transaction";

/// The scripts of scenario `name`, one per connection (in the language
/// of `smtp_tests::script`).
pub fn sequence(name: &str) -> Option<Vec<String>> {
    Some(match name {
        "token-refresh" => vec![
            "hello AUTH XOAUTH2; < AUTH XOAUTH2 ; > 535 5.7.8 Username and Password not accepted; hangup".to_string(),
            format!("{ACCEPTS}; quit"),
        ],
        "token-twice" => vec![format!("{ACCEPTS}; quit"), format!("{ACCEPTS}; quit")],
        _ => return None,
    })
}
