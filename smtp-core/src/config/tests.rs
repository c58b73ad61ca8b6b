//! Tests of the configuration model: typed setters, options by name,
//! URLs, checks before connecting.

use super::*;

#[test]
fn plaintext_auth_policy_by_method_and_by_name() {
    use PlaintextAuthPolicy::*;
    let base = || Config::new("mail.example.org", 587);
    assert_eq!(base().plaintext_auth_policy(), LoopbackOnly);
    for (policy, name) in [
        (Never, "never"),
        (LoopbackOnly, "loopback_only"),
        (InsecureAlways, "insecure_always"),
    ] {
        assert_eq!(
            base().with_plaintext_auth_policy(policy).plaintext_auth,
            policy
        );
        let mut c = base().with_plaintext_auth_policy(InsecureAlways);
        c.set("plaintext_auth", name).unwrap();
        assert_eq!(c.plaintext_auth, policy, "{name}");
    }
    let mut c = base().with_plaintext_auth_policy(Never);
    assert!(c.set("plaintext_auth", "yes").is_err());
    assert_eq!(c.plaintext_auth, Never, "a bad value changes nothing");
}

#[test]
fn options_by_name() {
    let mut c = Config::default();
    for (key, value) in [
        ("url", "smtp://mail.example.org"),
        ("port", "2525"),
        ("tls", "implicit"),
        ("mechanism", "plain"),
        ("helo", "client.example.org"),
        ("timeout", "7"),
        ("connect_timeout", "1.5"),
        ("total_timeout", "60"),
        ("pipelining", "off"),
        ("chunking", "no"),
        ("long_lines", "refuse"),
        ("recipient_policy", "all_or_nothing"),
        ("system_roots", "0"),
        ("tls_server_name", "mx.example.org"),
        ("ca_file", "/tmp/ca.pem"),
    ] {
        c.set(key, value)
            .unwrap_or_else(|e| panic!("{key}={value}: {e}"));
    }
    assert_eq!((c.host(), c.port()), ("mail.example.org", 2525));
    assert_eq!(c.security(), Security::Implicit);
    assert_eq!(c.mechanism(), Some(Mechanism::Plain));
    assert_eq!(c.client_name.as_deref(), Some("client.example.org"));
    assert_eq!(c.timeouts().data_end, Duration::from_secs(7));
    assert_eq!(c.timeouts().connect, Duration::from_millis(1500));
    assert_eq!(c.timeouts().total, Some(Duration::from_secs(60)));
    assert!(!c.pipelining() && !c.chunking() && !c.tls.system_roots);
    assert_eq!(c.long_lines(), LongLines::Refuse);
    assert_eq!(c.recipient_policy(), RecipientPolicy::AllOrNothing);
    assert_eq!(c.tls_server_name(), "mx.example.org");
    assert_eq!(c.tls.ca_files, [PathBuf::from("/tmp/ca.pem")]);
    c.set("security", "auto").unwrap();
    c.set("auth", "AUTO").unwrap();
    assert_eq!(
        (c.security(), c.mechanism()),
        (Security::StartTlsIfOffered, None)
    );
    // Every name and alias in the table is known to set().
    for option in OPTIONS {
        for name in std::iter::once(&option.name).chain(option.aliases) {
            let err = Config::default().set(name, "\u{1}bad\u{1}");
            if let Err(Error::InvalidInput { field, reason }) = &err {
                assert_ne!(*field, "option", "{name}: {reason}");
            }
        }
    }
}

#[test]
fn unknown_or_bad_options_name_themselves() {
    let mut c = Config::new("h", 25);
    match c.set("pipelinig", "off") {
        Err(Error::InvalidInput { field, reason }) => {
            assert_eq!(field, "option");
            assert!(reason.contains("\"pipelinig\""), "{reason}");
            assert!(reason.contains("pipelining, chunking"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    for (key, value) in [
        ("port", "0"),
        ("port", "65536"),
        ("timeout", "0"),
        ("timeout", "-1"),
        ("timeout", "soon"),
        ("chunking", "maybe"),
        ("auth", "kerberos"),
        ("user", ""),
        ("client_name", "a b"),
        ("tls_server_name", "not a name"),
        ("url", "smtp://h?url=smtp://x"),
    ] {
        match c.set(key, value) {
            Err(Error::InvalidInput { field, .. }) => assert_ne!(field, "option", "{key}"),
            other => panic!("{key}={value}: {other:?}"),
        }
    }
    // A bad URL leaves the settings as they were.
    assert!(c.set("url", "smtp://other:99999").is_err());
    assert_eq!((c.host(), c.port()), ("h", 25));
    assert!(Config::from_url("smtp://h?pipelinig=off").is_err());
}

#[test]
fn credentials_by_name_in_any_order() {
    let mut a = Config::new("h", 587);
    a.set("user", "u").unwrap();
    a.set("password", "p").unwrap();
    let mut b = Config::new("h", 587);
    b.set("password", "p").unwrap();
    assert!(b.validate().is_err(), "a password without a user");
    b.set("user", "u").unwrap();
    for c in [&a, &b] {
        let creds = c.credentials().unwrap();
        assert_eq!((creds.username(), creds.secret_text()), ("u", "p"));
        assert!(!creds.is_bearer_token());
        assert!(c.validate().is_ok());
    }
    // A later layer changes one part and keeps the other.
    a.set("user", "v").unwrap();
    a.set("token", "1").unwrap();
    let creds = a.credentials().unwrap();
    assert_eq!((creds.username(), creds.secret_text()), ("v", "p"));
    assert!(creds.is_bearer_token());
    // A user alone: an error when connecting, naming what is missing.
    let c = Config::from_url("smtp://u@h").unwrap();
    assert_eq!(c.security(), Security::StartTls);
    match c.validate() {
        Err(Error::InvalidInput { field, reason }) => {
            assert_eq!(field, "password");
            assert!(reason.contains("no password"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.without_credentials().validate().is_ok());
}

#[test]
fn ports_follow_security_until_set() {
    let c = Config::for_host("h");
    assert_eq!((c.port(), c.security()), (587, Security::StartTls));
    let c = Config::for_host("h").with_security(Security::Implicit);
    assert_eq!(c.port(), 465);
    let c = Config::from_url("smtp://h?security=implicit").unwrap();
    assert_eq!(c.port(), 465);
    let c = Config::from_url("smtps://u:p@h:2465")
        .unwrap()
        .with_port(26);
    assert_eq!((c.port(), c.security()), (26, Security::Implicit));
    assert_eq!(c.credentials().unwrap().username(), "u");
    assert_eq!(c.with_default_port().port(), 465);
    let c = Config::for_server("[::1]:2525").unwrap();
    assert_eq!((c.host(), c.port()), ("::1", 2525));
    let c = Config::for_server("::1").unwrap();
    assert_eq!((c.host(), c.port()), ("::1", 587));
    let c = Config::for_server(" mail.example.org:25 ").unwrap();
    assert_eq!((c.host(), c.port()), ("mail.example.org", 25));
    for bad in ["", "h:x", "[::1", "[]:25", ":25"] {
        assert!(Config::for_server(bad).is_err(), "{bad:?}");
    }
    assert!(Config::default().validate().is_err(), "no host");
}

#[test]
fn url_with_credentials() {
    let c = Config::from_url("smtp://us%40er:p%3Ass%20w@mail.example.org:2525").unwrap();
    assert_eq!(c.host(), "mail.example.org");
    assert_eq!(c.port(), 2525);
    let creds = c.credentials().unwrap();
    assert_eq!(creds.username(), "us@er");
    assert_eq!(creds.secret_text(), "p:ss w");
    assert!(!creds.is_bearer_token());
    assert_eq!(c.security(), Security::StartTls);
}

#[test]
fn url_defaults() {
    let c = Config::from_url("smtps://mail.example.org").unwrap();
    assert_eq!((c.port(), c.security()), (465, Security::Implicit));
    let c = Config::from_url("smtp://mail.example.org").unwrap();
    assert_eq!((c.port(), c.security()), (587, Security::StartTls));
    let c = Config::from_url("smtp://mail.example.org:25/").unwrap();
    assert_eq!(c.security(), Security::StartTlsIfOffered);
    let c = Config::from_url("smtp://[::1]:2525?security=none&auth=cram-md5&timeout=5").unwrap();
    assert_eq!(c.host(), "::1");
    assert_eq!(c.security(), Security::None);
    assert_eq!(c.mechanism, Some(Mechanism::CramMd5));
    assert_eq!(c.timeouts().greeting, Duration::from_secs(5));
    let c = Config::from_url("smtp://h?pipelining=off&chunking=0").unwrap();
    assert!(!c.pipelining && !c.chunking);
    assert!(Config::from_url("smtp://h?chunking=maybe").is_err());
    assert_eq!(Config::new("h", 25).long_lines(), LongLines::Repair);
    let c = Config::from_url("smtp://h?long_lines=refuse").unwrap();
    assert_eq!(c.long_lines(), LongLines::Refuse);
    let c = Config::from_url("smtp://h?long_lines=Repair").unwrap();
    assert_eq!(c.long_lines(), LongLines::Repair);
    assert!(Config::from_url("smtp://h?long_lines=fold").is_err());
    let c = Config::from_url("smtp://u:tok@h?token=1").unwrap();
    assert!(c.credentials().unwrap().is_bearer_token());
}

#[test]
fn bad_urls() {
    for bad in [
        "http://x",
        "x",
        "smtp://",
        "smtp://h:notaport",
        "smtp://h:99999",
        "smtp://h/path",
        "smtp://h?bogus=1",
        "smtp://h?security=maybe",
        "smtp://h\r\n:25",
        "smtp://[::1",
        "smtp://u:%ff@h",
    ] {
        assert!(Config::from_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn password_never_in_debug() {
    let c = Config::from_url("smtp://user:hunter2@h").unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn opportunistic_with_credentials_needs_opt_in() {
    let c = Config::new("h", 25)
        .with_password("u", "p")
        .with_security(Security::StartTlsIfOffered);
    assert!(matches!(
        c.validate(),
        Err(Error::InvalidInput {
            field: "security",
            ..
        })
    ));
    assert!(c
        .insecure_opportunistic_tls_with_credentials(true)
        .validate()
        .is_ok());
}

#[test]
fn validation() {
    assert!(Config::new("", 25).validate().is_err());
    assert!(Config::new("h", 0).validate().is_err());
    assert!(Config::new("h", 25)
        .with_client_name("a\r\nb")
        .validate()
        .is_err());
    assert!(Config::new("h", 25)
        .with_security(Security::StartTls)
        .with_password("u\0", "p")
        .validate()
        .is_err());
}

#[test]
fn token_provider_settings() {
    use crate::auth::AccessToken;
    let provider = || Ok::<_, String>(AccessToken::new("t"));
    // A provider with a user is complete; the credentials hold no token.
    let c = Config::new("mail.example.org", 587).with_token_provider("me", provider);
    c.check().unwrap();
    assert!(c.has_token_provider() && c.has_secret());
    assert_eq!(c.credentials().unwrap().secret().as_str(), "");
    assert!(c.credentials().unwrap().is_bearer_token());
    assert_eq!(c.security(), Security::StartTls);
    let debug = format!("{c:?}");
    assert!(debug.contains("token_provider: true"), "{debug}");

    // Set by a front end: the user may come before or after the provider.
    let mut c = Config::new("mail.example.org", 587);
    c.set_token_provider(std::sync::Arc::new(provider));
    let error = c.check().unwrap_err();
    assert!(error.to_string().contains("user"), "{error}");
    c.set("user", "me").unwrap();
    c.check().unwrap();
    assert_eq!(c.credentials().unwrap().username(), "me");
    let mut c = Config::new("mail.example.org", 587);
    c.set("user", "me").unwrap();
    c.set_token_provider(std::sync::Arc::new(provider));
    c.check().unwrap();
    assert!(c.credentials().unwrap().is_bearer_token());

    // A user name that cannot be sent is still refused before connecting.
    let c = Config::new("h", 587).with_token_provider("me\r\n", provider);
    assert!(c.check().is_err());

    // A password (by name or by method) replaces the provider.
    let mut c = Config::new("h", 587).with_token_provider("me", provider);
    c.set("password", "pw").unwrap();
    assert!(!c.has_token_provider());
    // ... and is a password, not a bearer token.
    assert!(!c.credentials().unwrap().is_bearer_token());
    let c = Config::new("h", 587)
        .with_token_provider("me", provider)
        .with_password("me", "pw");
    assert!(!c.has_token_provider());
    let c = Config::new("h", 587)
        .with_token_provider("me", provider)
        .without_credentials();
    assert!(!c.has_token_provider() && !c.has_secret());
    // token=0 leaves a user without a password: an error until one is set.
    let mut c = Config::new("h", 587).with_token_provider("me", provider);
    c.set("token", "0").unwrap();
    assert!(!c.has_token_provider());
    assert!(c.check().is_err());

    // The refresh margin.
    let mut c = Config::default();
    assert_eq!(c.token_refresh_margin(), Duration::from_secs(600));
    c.set("token_refresh_margin", "90").unwrap();
    assert_eq!(c.token_refresh_margin(), Duration::from_secs(90));
    c.set("token_refresh_margin", "0").unwrap();
    assert_eq!(c.token_refresh_margin(), Duration::ZERO);
    assert!(c.set("token_refresh_margin", "-1").is_err());
    assert!(c.set("token_refresh_margin", "soon").is_err());
    assert_eq!(c.token_refresh_margin(), Duration::ZERO);
    let c = Config::from_url("smtp://h?token_refresh_margin=120").unwrap();
    assert_eq!(c.token_refresh_margin(), Duration::from_secs(120));
}
