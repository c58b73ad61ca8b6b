//! smtp-send through a proxy: `SMTP_PROXY` and the `proxy` configuration
//! key, against the test bed's dante (SOCKS5 with user/password) and
//! tinyproxy (HTTP CONNECT) in front of its Postfix, STARTTLS end to end;
//! a wrong proxy password exits 75 naming the proxy's step, never the
//! password; a malformed SMTP_PROXY is a configuration error; a config
//! file holding a proxy password gets the permission warning.

mod common;

use common::fake::{submission, WAIT};
use common::{Out, TempDir};
use smtp_tests::testbed::{Proxies, TestBed};

/// The bed and its proxies, or return (reported skipped) without them.
macro_rules! bed_and_proxies {
    () => {{
        let Some(bed) = TestBed::get() else { return };
        let Some(proxies) = bed.proxies() else { return };
        (bed, proxies)
    }};
}

/// A message from `sender@` to `rcpt@` the bed's domain, `marker` in its
/// Subject.
fn message(bed: &TestBed, marker: &str) -> String {
    format!(
        "From: <sender@{d}>\nTo: <rcpt@{d}>\nSubject: {marker}\n\nThrough a proxy, by smtp-send.\n",
        d = bed.domain
    )
}

/// Runs smtp-send (configured by `configure`) with a message carrying a
/// new marker; returns the run and the marker.
fn send(
    bed: &TestBed,
    tag: &str,
    configure: impl FnOnce(&mut std::process::Command),
) -> (Out, String) {
    let marker = TestBed::unique_marker(tag);
    let mut c = submission(bed);
    configure(&mut c);
    c.args(["-t", "-i"]);
    let out = common::fake::run(c, message(bed, &marker).as_bytes());
    (out, marker)
}

/// The message with `marker` arrived, over TLS and authenticated.
fn assert_delivered(bed: &TestBed, marker: &str) {
    let raw = bed
        .wait_for_message(marker, WAIT)
        .unwrap_or_else(|e| panic!("{marker} not delivered: {e}"));
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("with ESMTPSA"), "{text}");
}

fn socks_url(bed: &TestBed, p: &Proxies, password: &str) -> String {
    p.socks5_url_with("socks5h", &bed.host, password)
}

#[test]
fn smtp_proxy_socks5_and_http_deliver_with_starttls() {
    let (bed, p) = bed_and_proxies!();
    for (tag, url) in [
        ("cli-socks", socks_url(bed, p, &p.socks5_password)),
        ("cli-socks-noauth", p.socks5_noauth_url(&bed.host)),
        ("cli-http", p.http_url(&bed.host)),
    ] {
        let (out, marker) = send(bed, tag, |c| {
            c.env("SMTP_PROXY", &url);
        });
        out.expect(0);
        assert_delivered(bed, &marker);
        for secret in [&p.socks5_password, &p.http_password] {
            assert!(!out.stderr.contains(secret.as_str()), "{}", out.stderr);
        }
    }
}

#[test]
fn a_wrong_proxy_password_exits_75_naming_the_step() {
    let (bed, p) = bed_and_proxies!();
    let wrong = format!("wrong-{}", TestBed::unique_marker("pw"));
    let (out, marker) = send(bed, "cli-socks-wrong", |c| {
        c.env("SMTP_PROXY", socks_url(bed, p, &wrong));
    });
    out.expect(75);
    assert!(
        out.stderr
            .contains(&format!("proxy {}:{}", bed.host, p.socks5_port))
            && out.stderr.contains("SOCKS5 authentication"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(&wrong), "{}", out.stderr);
    assert!(!out.stderr.contains(&p.socks5_password), "{}", out.stderr);
    assert!(bed
        .wait_for_message(&marker, std::time::Duration::from_millis(500))
        .is_err());

    let (out, _) = send(bed, "cli-http-wrong", |c| {
        c.env("SMTP_PROXY", p.http_url_with(&bed.host, &wrong));
    });
    out.expect(75);
    assert!(out.stderr.contains("HTTP CONNECT"), "{}", out.stderr);
    assert!(!out.stderr.contains(&wrong), "{}", out.stderr);
}

#[test]
fn a_malformed_smtp_proxy_is_a_configuration_error() {
    let Some(bed) = TestBed::get() else { return };
    for bad in [
        "ftp://user:cli-s3cret@proxy.example.test",
        "socks5://user:cli-s3cret@",
        "proxy.example.test:1080",
    ] {
        let (out, _) = send(bed, "cli-bad-proxy", |c| {
            c.env("SMTP_PROXY", bad);
        });
        out.expect(78);
        assert!(out.stderr.contains("SMTP_PROXY"), "{}", out.stderr);
        assert!(!out.stderr.contains("cli-s3cret"), "{}", out.stderr);
    }
}

#[test]
fn the_proxy_key_of_a_config_file() {
    let (bed, p) = bed_and_proxies!();
    let dir = TempDir::new("proxy");
    // tinyproxy by the file; readable by others: a warning, as for any
    // password.
    let config = dir.file(
        "config",
        &format!("proxy = {}\n", p.http_url(&bed.host)),
        0o644,
    );
    let (out, marker) = send(bed, "cli-file-http", |c| {
        c.env("SMTP_SEND_CONFIG", &config);
    });
    out.expect(0);
    assert_delivered(bed, &marker);
    assert!(
        out.stderr.contains("contains a password"),
        "no permission warning: {}",
        out.stderr
    );
    assert!(!out.stderr.contains(&p.http_password), "{}", out.stderr);

    // The environment overrides the file: a wrong password in the file,
    // the right proxy in SMTP_PROXY.
    let config = dir.file(
        "config-wrong",
        &format!("proxy = {}\n", socks_url(bed, p, "not-the-password")),
        0o600,
    );
    let (out, marker) = send(bed, "cli-file-env", |c| {
        c.env("SMTP_SEND_CONFIG", &config)
            .env("SMTP_PROXY", socks_url(bed, p, &p.socks5_password));
    });
    out.expect(0);
    assert_delivered(bed, &marker);
    assert!(
        !out.stderr.contains("contains a password"),
        "{}",
        out.stderr
    );

    // ...and SMTP_PROXY=off turns the file's proxy off (the file names a
    // proxy that would refuse).
    let (out, marker) = send(bed, "cli-file-off", |c| {
        c.env("SMTP_SEND_CONFIG", &config).env("SMTP_PROXY", "off");
    });
    out.expect(0);
    assert_delivered(bed, &marker);
}
