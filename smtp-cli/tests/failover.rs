//! A relay list in `smtp-send`'s URL: the first server refuses the
//! connection, the second (the test bed's Postfix) takes the message,
//! and `-v` shows the failover.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::fake::{run, smtp_send};
use smtp_tests::skip::skipped;
use smtp_tests::testbed::TestBed;

#[test]
fn the_second_server_of_the_url_takes_the_message() {
    let Some(bed) = TestBed::get() else {
        return skipped("SMTP_TESTBED_ENV not set: real-server test");
    };
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let marker = TestBed::unique_marker("clifailover");
    let mut command = smtp_send();
    command
        .env(
            "SMTP_URL",
            format!(
                "smtp://{}@127.0.0.1:{closed},{}:{}?security=none&timeout=20",
                bed.user, bed.host, bed.port_plain
            ),
        )
        .env("SMTP_PASSWORD", &bed.password)
        .args(["-v", "-f", &format!("sender@{}", bed.domain)])
        .arg(format!("failover-cli@{}", bed.domain));
    let message = format!("Subject: {marker}\n\nthe second server\n");
    let out = run(command, message.as_bytes());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{closed} failed"))
            && out.stderr.contains("trying the next server"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(&bed.password));
    let delivered = bed
        .wait_for_message(&marker, Duration::from_secs(30))
        .unwrap();
    assert!(String::from_utf8_lossy(&delivered).contains("the second server"));
}
