//! Tests of the settings: files, layers, keys, the configuration built.

use super::*;
use crate::exit::Exit;
use smtp_core::{LongLines, Mechanism, Security};
use std::time::Duration;

/// The secret a configuration holds, for checks.
fn secret(config: &Config) -> Option<String> {
    config.credentials().map(|c| match c.secret() {
        smtp_core::Secret::Password(p) | smtp_core::Secret::BearerToken(p) => {
            p.as_str().to_string()
        }
    })
}

#[test]
fn url_is_taken_apart() {
    let mut s = Settings::default();
    s.set(
        "url",
        "smtps://us%40er:p%3Ass@mail.example.org?auth=plain&timeout=7&ca_file=%2Fca.pem",
    )
    .unwrap();
    let c = &s.config;
    assert_eq!(c.host(), "mail.example.org");
    assert_eq!(c.port(), 465);
    assert_eq!(c.security(), Security::Implicit);
    assert_eq!(c.credentials().unwrap().username(), "us@er");
    assert_eq!(secret(c).as_deref(), Some("p:ss"));
    assert_eq!(c.mechanism(), Some(Mechanism::Plain));
    assert_eq!(c.timeouts().greeting, Duration::from_secs(7));
    assert!(format!("{c:?}").contains("/ca.pem"));
    assert!(!format!("{s:?}").contains("p:ss"));

    let mut s = Settings::default();
    s.set("url", "smtp://bob@h.example").unwrap();
    assert_eq!(s.config.port(), 587);
    assert!(!s.config.has_secret());
    assert!(s.set("url", "http://x").is_err());
    assert!(s.set("url", "smtp://h?security=maybe").is_err());
}

#[test]
fn layers_override() {
    let mut merged = Settings::default();
    // The file's layer.
    merged.set("url", "smtps://u1:pw1@one.example").unwrap();
    merged.set("from", "A <a@one.example>").unwrap();
    // The environment's.
    merged.set("url", "smtp://two.example:2525").unwrap();
    merged.set("password", "pw2").unwrap();
    let c = &merged.config;
    assert_eq!(c.host(), "two.example");
    assert_eq!(c.port(), 2525);
    // smtp:// is automatic security: required STARTTLS with credentials.
    assert_eq!(c.security(), Security::StartTls);
    assert_eq!(c.credentials().unwrap().username(), "u1");
    assert_eq!(secret(c).as_deref(), Some("pw2"));
    // The command line's.
    merged.set("password_command", "echo pw3").unwrap();
    assert_eq!(merged.password_command.as_deref(), Some("echo pw3"));
    assert_eq!(merged.from.as_deref(), Some("A <a@one.example>"));
    let c = build_config(&merged, Purpose::Send).unwrap();
    assert_eq!(secret(&c).as_deref(), Some("pw3"));
    // A later password replaces the command.
    merged.set("password", "pw4").unwrap();
    assert_eq!(merged.password_command, None);
}

#[test]
fn file_format() {
    let text = "# comment\n\
        ; another\n\
        default = work\n\
        from = Me <me@example.org>\n\
        \n\
        [account work]\n\
        user = me\n\
        url = smtp://mail.example.org:2525\n\
        password = \"  spaced # not a comment \\\" \"\n\
        [account other]\n\
        url = smtp://other.example\n";
    let file = ConfigFile::parse(text, Path::new("f")).unwrap();
    assert_eq!(file.default.as_deref(), Some("work"));
    assert!(file.has_password);
    let s = file.settings(Some("work")).unwrap();
    assert_eq!(s.config.host(), "mail.example.org");
    assert_eq!(s.config.credentials().unwrap().username(), "me");
    assert_eq!(
        secret(&s.config).as_deref(),
        Some("  spaced # not a comment \" ")
    );
    assert_eq!(s.from.as_deref(), Some("Me <me@example.org>"));
    let s = file.settings(Some("other")).unwrap();
    assert_eq!(s.config.host(), "other.example");
    assert!(s.config.credentials().is_none());
}

#[test]
fn file_errors_name_the_line() {
    for (text, needle) in [
        ("[account]\n", "f:1:"),
        ("x\n", "f:1: expected key = value"),
        ("\n\nbogus = 1\n", "f:3: unknown key"),
        ("[account a]\ndefault = a\n", "f:2:"),
        ("[account a]\n[account a]\n", "defined twice"),
        ("[acount a]\n", "unknown section"),
        ("timeout = soon\n", "f:1: invalid timeout"),
        ("password = \"x\n", "unterminated"),
        ("pipelinig = off\n", "f:1: unknown key \"pipelinig\""),
    ] {
        let err = ConfigFile::parse(text, Path::new("f"))
            .and_then(|f| f.settings(None))
            .err()
            .unwrap_or_else(|| panic!("{text:?} accepted"));
        assert_eq!(err.exit, Exit::Config);
        assert!(err.message.contains(needle), "{text:?}: {}", err.message);
    }
}

#[test]
fn url_options_are_honoured_or_refused() {
    let build = |url: &str| {
        let mut s = Settings::default();
        s.set("url", url)?;
        build_config(&s, Purpose::Inspect).map_err(|e| e.message)
    };
    let c = build("smtp://h.example").unwrap();
    assert!(c.pipelining() && c.chunking());
    let c = build("smtp://h.example?pipelining=off").unwrap();
    assert!(!c.pipelining() && c.chunking());
    let c = build("smtp://h.example?chunking=0").unwrap();
    assert!(c.pipelining() && !c.chunking());
    let c = build("smtp://h.example?pipelining=no&chunking=false").unwrap();
    assert!(!c.pipelining() && !c.chunking());
    let c = build("smtp://h.example?pipelining=on&chunking=1").unwrap();
    assert!(c.pipelining() && c.chunking());
    // Unknown keys and bad values: the library's words.
    let err = build("smtp://h.example?pipelinig=off").unwrap_err();
    assert!(
        err.starts_with(
            "invalid option: \"pipelinig\" is not an option; the options are url, host"
        ),
        "{err}"
    );
    let err = build("smtp://h.example?chunking=maybe").unwrap_err();
    assert!(err.starts_with("invalid chunking: "), "{err}");
    // A later layer's URL that says nothing leaves the option alone.
    let mut s = Settings::default();
    s.set("url", "smtp://h.example?chunking=off").unwrap();
    s.set("url", "smtp://other.example").unwrap();
    let c = build_config(&s, Purpose::Inspect).unwrap();
    assert!(!c.chunking() && c.host() == "other.example");
}

#[test]
fn long_lines_from_url_file_and_layers() {
    let build = |s: &Settings| build_config(s, Purpose::Inspect).map_err(|e| e.message);
    let mut s = Settings::default();
    s.set("url", "smtp://h.example").unwrap();
    assert_eq!(build(&s).unwrap().long_lines(), LongLines::Repair);
    // The URL option, as the library parsed it.
    let mut s = Settings::default();
    s.set("url", "smtp://h.example?long_lines=refuse").unwrap();
    assert_eq!(s.config.long_lines(), LongLines::Refuse);
    assert_eq!(build(&s).unwrap().long_lines(), LongLines::Refuse);
    let mut s = Settings::default();
    s.set("url", "smtp://h.example?long_lines=Repair&chunking=off")
        .unwrap();
    assert_eq!(build(&s).unwrap().long_lines(), LongLines::Repair);
    let err = s
        .set("url", "smtp://h.example?long_lines=fold")
        .unwrap_err();
    assert!(err.starts_with("invalid long_lines: "), "{err}");
    // The configuration file key, overriding the section's url.
    let text = "long_lines = refuse\n\
        [account a]\n\
        url = smtp://a.example\n\
        [account b]\n\
        long_lines = repair\n\
        url = smtp://b.example?long_lines=refuse\n";
    let file = ConfigFile::parse(text, Path::new("f")).unwrap();
    let a = file.settings(Some("a")).unwrap();
    assert_eq!(build(&a).unwrap().long_lines(), LongLines::Refuse);
    let b = file.settings(Some("b")).unwrap();
    assert_eq!(build(&b).unwrap().long_lines(), LongLines::Repair);
    let err = ConfigFile::parse("\nlong_lines = fold\n", Path::new("f"))
        .and_then(|f| f.settings(None))
        .unwrap_err();
    assert_eq!(err.exit, Exit::Config);
    assert!(
        err.message
            .contains("f:2: invalid long_lines: must be repair or refuse, not \"fold\""),
        "{}",
        err.message
    );
    // A later layer's URL without the option leaves it alone; a later
    // key overrides.
    let mut merged = a.clone();
    merged.set("url", "smtp://other.example").unwrap();
    assert_eq!(build(&merged).unwrap().long_lines(), LongLines::Refuse);
    merged.set("long_lines", "REPAIR").unwrap();
    assert_eq!(build(&merged).unwrap().long_lines(), LongLines::Repair);
}

#[test]
fn config_building() {
    let mut s = Settings::default();
    assert_eq!(
        build_config(&s, Purpose::Send).unwrap_err().exit,
        Exit::Config
    );
    s.set("url", "smtp://u@h.example:25").unwrap();
    let err = build_config(&s, Purpose::Send).unwrap_err();
    assert!(err.message.contains("no password"), "{}", err.message);
    // Inspecting needs no password, and keeps the TLS mode of sending.
    let c = build_config(&s, Purpose::Inspect).unwrap();
    assert!(c.credentials().is_none());
    assert_eq!(c.security(), Security::StartTls);
    s.set("password_command", "printf 'sec ret\\r\\nsecond'")
        .unwrap();
    let c = build_config(&s, Purpose::Send).unwrap();
    assert_eq!(secret(&c).as_deref(), Some("sec ret"));
    s.set("password_command", "exit 3").unwrap();
    let err = build_config(&s, Purpose::Send).unwrap_err();
    assert_eq!(err.exit, Exit::Config);
    assert!(err.message.contains("password_command failed"));
    // A password without a user.
    let mut s = Settings::default();
    s.set("url", "smtp://h.example").unwrap();
    s.set("password", "pw").unwrap();
    let err = build_config(&s, Purpose::Send).unwrap_err();
    assert!(err.message.contains("invalid user"), "{}", err.message);
}

#[test]
fn system_then_user_then_environment_then_command_line() {
    let dir = std::env::temp_dir().join(format!("smtp-send-load-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str, mode: u32| {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    };
    let system = write(
        "system.conf",
        "default = a\nfrom = sys@x.example\n[account a]\nurl = smtp://sys.example\npassword = syspw\nuser = sysuser\n[account b]\nurl = smtp://b.example\n",
        0o640,
    );
    let user = write("user.conf", "[account a]\nuser = me\ntimeout = 9\n", 0o644);
    let env = Environment {
        system_config: Some(system.display().to_string()),
        config: Some(user.display().to_string()),
        password: Some("envpw".into()),
        ..Environment::default()
    };
    let mut cli = Layer::default();
    cli.set("timeout", "3").unwrap();
    let loaded = load(&env, None, None, &cli).unwrap();
    assert_eq!(loaded.account.as_deref(), Some("a"));
    let s = &loaded.settings;
    assert_eq!(s.config.host(), "sys.example");
    assert_eq!(s.config.credentials().unwrap().username(), "me");
    assert_eq!(secret(&s.config).as_deref(), Some("envpw"));
    assert_eq!(s.from.as_deref(), Some("sys@x.example"));
    assert_eq!(s.config.timeouts().greeting, Duration::from_secs(3));
    // Group-readable is fine for the system file; the user file holds no password.
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    let loaded = load(&env, None, Some("b"), &Layer::default()).unwrap();
    assert_eq!(loaded.settings.config.host(), "b.example");
    // Only the environment's password: no user to go with it.
    assert!(loaded.settings.config.credentials().is_none());
    assert!(loaded.settings.config.has_secret());
    assert!(load(&env, None, Some("c"), &Layer::default()).is_err());

    fs::set_permissions(&system, fs::Permissions::from_mode(0o644)).unwrap();
    let loaded = load(&env, None, None, &Layer::default()).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("system.conf"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_library_option_is_a_file_key() {
    for option in smtp_core::OPTIONS {
        assert!(is_key(option.name), "{}", option.name);
        for alias in option.aliases {
            assert!(is_key(alias), "{alias}");
        }
    }
    for key in KEYS {
        assert!(is_key(key));
    }
    assert!(!is_key("pipelinig"));
    let text = "url = smtp://h.example\npipelining = off\nchunking = 0\nport = 2526\n";
    let s = ConfigFile::parse(text, Path::new("f"))
        .unwrap()
        .settings(None)
        .unwrap();
    assert!(!s.config.pipelining() && !s.config.chunking());
    assert_eq!(s.config.port(), 2526);
}

#[test]
fn queue_mode_and_directory() {
    let mut s = Settings::default();
    assert_eq!(s.queue, QueueMode::OnFailure);
    s.set("queue", "Always").unwrap();
    assert_eq!(s.queue, QueueMode::Always);
    s.set("queue", "never").unwrap();
    assert_eq!(s.queue, QueueMode::Never);
    let err = s.set("queue", "later").unwrap_err();
    assert!(err.contains("never, on-failure or always"), "{err}");
    assert!(s.set("queue_dir", "").is_err());
    let env = |xdg: Option<&str>, home: Option<&str>, root: bool| Environment {
        xdg_state_home: xdg.map(String::from),
        home: home.map(String::from),
        root,
        ..Environment::default()
    };
    let dir = |s: &Settings, e: &Environment| queue_dir(s, e).map_err(|f| f.exit);
    let s = Settings::default();
    assert_eq!(
        dir(&s, &env(Some("/st"), Some("/h"), false)).unwrap(),
        Path::new("/st/smtp-send/queue")
    );
    assert_eq!(
        dir(&s, &env(None, Some("/h"), false)).unwrap(),
        Path::new("/h/.local/state/smtp-send/queue")
    );
    assert_eq!(
        dir(&s, &env(Some("/st"), Some("/h"), true)).unwrap(),
        Path::new(SYSTEM_QUEUE_DIR)
    );
    assert_eq!(dir(&s, &env(None, None, false)).unwrap_err(), Exit::Config);
    let mut s = Settings::default();
    s.set("queue_dir", "/srv/q").unwrap();
    assert_eq!(
        dir(&s, &env(None, None, true)).unwrap(),
        Path::new("/srv/q")
    );
}

#[test]
fn the_outbox_schedule_from_the_file() {
    let text = "queue_first_retry = 30s\nqueue_lifetime = 2d\nqueue_warn_after = 4h\nqueue_factor = 3\nqueue_max_retry = 30m\n";
    let s = ConfigFile::parse(text, Path::new("f"))
        .unwrap()
        .settings(None)
        .unwrap();
    assert_eq!(s.retry.first_retry, Duration::from_secs(30));
    assert_eq!(s.retry.lifetime, Duration::from_secs(2 * 86_400));
    assert_eq!(s.retry.warn_after, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(
        (s.retry.factor, s.retry.max_retry),
        (3, Duration::from_secs(1800))
    );
    let err = ConfigFile::parse("\nqueue_lifetime = forever\n", Path::new("f"))
        .and_then(|f| f.settings(None))
        .unwrap_err();
    assert!(
        err.message
            .contains("f:2: queue_lifetime: invalid lifetime"),
        "{}",
        err.message
    );
    assert!(ConfigFile::parse("queue_retries = 3\n", Path::new("f")).is_err());
}

#[test]
fn aliases_and_default_domain_per_account_and_from_the_environment() {
    let text = "aliases = /etc/aliases\n\
        default_domain = example.org\n\
        [account work]\n\
        url = smtp://mail.example.org\n\
        aliases = /srv/work/aliases\n\
        default_domain = @work.example\n\
        [account other]\n\
        url = smtp://other.example\n";
    let file = ConfigFile::parse(text, Path::new("f")).unwrap();
    let s = file.settings(Some("work")).unwrap();
    assert_eq!(s.aliases.as_deref(), Some(Path::new("/srv/work/aliases")));
    assert_eq!(s.default_domain.as_deref(), Some("work.example"));
    let s = file.settings(Some("other")).unwrap();
    assert_eq!(s.aliases.as_deref(), Some(Path::new("/etc/aliases")));
    assert_eq!(s.default_domain.as_deref(), Some("example.org"));

    let mut s = Settings::default();
    for bad in [
        "",
        "not a domain",
        "a@b.example",
        "x..example",
        "<x.example>",
    ] {
        assert!(s.set("default_domain", bad).is_err(), "{bad:?}");
    }
    assert!(s.set("aliases", "").is_err());
    let env = Environment {
        aliases: Some("/env/aliases".into()),
        default_domain: Some("env.example".into()),
        ..Environment::default()
    };
    env.apply(&mut s).unwrap();
    assert_eq!(s.aliases.as_deref(), Some(Path::new("/env/aliases")));
    assert_eq!(s.default_domain.as_deref(), Some("env.example"));
    let env = Environment {
        default_domain: Some("bad domain".into()),
        ..Environment::default()
    };
    let e = env.apply(&mut s).unwrap_err();
    assert!(
        e.message.starts_with("SMTP_DEFAULT_DOMAIN: "),
        "{}",
        e.message
    );
}

#[test]
fn smtp_proxy_and_the_proxy_key() {
    let mut s = Settings::default();
    let env = Environment {
        proxy: Some("socks5://ann:env-secret@127.0.0.1:1080".into()),
        ..Environment::default()
    };
    env.apply(&mut s).unwrap();
    let shown = format!("{:?}", s.config);
    assert!(shown.contains("127.0.0.1"), "{shown}");
    assert!(!shown.contains("env-secret"), "{shown}");
    let env = Environment {
        proxy: Some("ftp://ann:env-secret@proxy.example".into()),
        ..Environment::default()
    };
    let e = env.apply(&mut s).unwrap_err();
    assert!(e.message.starts_with("SMTP_PROXY: "), "{}", e.message);
    assert!(!e.message.contains("env-secret"), "{}", e.message);

    // A file with a proxy password counts as holding a password.
    let path = Path::new("/test/config");
    let file = ConfigFile::parse("proxy = http://ann:file-secret@127.0.0.1:3128\n", path).unwrap();
    assert!(file.has_password);
    let file = ConfigFile::parse("proxy = socks5://127.0.0.1:1080\n", path).unwrap();
    assert!(!file.has_password);
}

#[test]
fn token_command_replaces_and_is_replaced_by_the_other_secrets() {
    let mut s = Settings::default();
    s.set("url", "smtp://u@mail.example.org").unwrap();
    s.set("password_command", "echo pw").unwrap();
    s.set("token_command", "echo tok").unwrap();
    assert_eq!(s.password_command, None);
    assert_eq!(s.token_command.as_deref(), Some("echo tok"));
    // The command runs when connecting, not here.
    let c = build_config(&s, Purpose::Send).unwrap();
    assert!(c.has_token_provider());
    assert!(c.credentials().unwrap().is_bearer_token());
    let c = build_config(&s, Purpose::Inspect).unwrap();
    assert!(!c.has_token_provider() && c.credentials().is_none());
    s.set("password_command", "echo pw").unwrap();
    assert_eq!(s.token_command, None);
    s.set("token_command", "echo tok").unwrap();
    s.set("password", "pw").unwrap();
    assert_eq!(s.token_command, None);
    assert!(s.set("token_command", " ").is_err());
}
