//! What only the async client has: its futures are `Send` (spawnable on
//! a multi-thread runtime), and cancelling one mid-request closes that
//! connection instead of leaving it out of step with the server.

use std::time::Duration;

use smtp_core::{AsyncClient, Envelope, Error};
use smtp_tests::script::steps;
use smtp_tests::scripted::ScriptedServer;
use smtp_tests::support::{FROM, TO};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn the_futures_are_send() {
    // Built, never polled: the check is the compiler's.
    let config = smtp_core::Config::new("127.0.0.1", 1);
    let connect = AsyncClient::connect(config);
    assert_send(&connect);
    drop(connect);
    let envelope = Envelope::new(FROM, [TO]).unwrap();
    let rt = runtime();
    let server = ScriptedServer::start(steps("hello; quit"));
    rt.block_on(async {
        let mut client = AsyncClient::connect(server.config()).await.unwrap();
        {
            let send = client.send_bytes(&envelope, b"Subject: x\r\n\r\nx\r\n");
            assert_send(&send);
        }
        {
            let messages = [(envelope.clone(), b"x\r\n".as_slice())];
            let many = client.send_many_bytes(&messages);
            assert_send(&many);
        }
        client.quit().await.unwrap();
    });
    server.finish().assert_clean();
}

#[test]
fn a_send_cancelled_mid_transaction_closes_its_connection() {
    // The server takes MAIL and never answers: the caller gives up after
    // 200 ms (the future is dropped). The session's state is unknown, so
    // the next call must not send on it.
    let server = ScriptedServer::start(steps("hello; mail; read-to-close"));
    let rt = runtime();
    rt.block_on(async {
        let mut client = AsyncClient::connect(server.config()).await.unwrap();
        let envelope = Envelope::new(FROM, [TO]).unwrap();
        let sent = tokio::time::timeout(
            Duration::from_millis(200),
            client.send_bytes(&envelope, b"Subject: x\r\n\r\nx\r\n"),
        )
        .await;
        assert!(sent.is_err(), "the send should still have been waiting");
        match client.noop().await {
            Err(Error::NotConnected(why)) => assert!(why.contains("cancelled"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(!client.is_connected());
    });
    let cap = server.finish();
    assert!(cap.client_closed, "the connection was closed");
    // Nothing was sent after the cancelled MAIL: no NOOP, no body.
    assert!(!cap.has_line("NOOP"), "{:?}", cap.lines);
    assert!(cap
        .bodies
        .iter()
        .all(|b| !b.windows(7).any(|w| w == b"Subject")));
}
