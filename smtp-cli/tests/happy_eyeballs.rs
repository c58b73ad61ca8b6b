//! Happy Eyeballs from `smtp-send`: in a dual-stack network namespace
//! (tests/netns/dual-stack.sh: dual.test is ::1, then 127.0.0.1), with
//! ::1 a black hole (a listener whose accept queue is full drops further
//! SYNs) and the scripted server on 127.0.0.1, smtp-send delivers over
//! IPv4 in a fraction of its 6 s connect timeout. Needs root and iproute2;
//! skipped visibly otherwise. The outer test runs the inner one (this
//! binary, `--exact`) inside the namespace.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::fake::{fake_server, run, smtp_send, Script, WAIT};
use smtp_tests::dual_stack;

#[test]
fn smtp_send_gets_through_over_ipv4_while_ipv6_drops_packets() {
    if !dual_stack::inside() {
        dual_stack::run_inner("inside_the_namespace", "happy eyeballs");
    }
}

/// Runs only inside the namespace.
#[test]
fn inside_the_namespace() {
    if !dual_stack::inside() {
        return;
    }
    let (port, session) = fake_server(Script::default());
    let hole = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    hole.set_only_v6(true).unwrap();
    let addr: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    hole.bind(&addr.into()).unwrap();
    hole.listen(0).unwrap();
    let _queued = TcpStream::connect(addr).unwrap();

    let mut command = smtp_send();
    command
        .env(
            "SMTP_URL",
            format!("smtp://dual.test:{port}?security=none&connect_timeout=6&timeout=6"),
        )
        .args(["-f", "sender@example.test", "rcpt@example.test"]);
    let started = Instant::now();
    let out = run(command, b"Subject: happy eyeballs\n\nover IPv4\n");
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    println!(
        "happy eyeballs (smtp-send): delivered through dual.test in {} ms, connect timeout 6000 ms",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let session = session.recv_timeout(WAIT).unwrap();
    assert!(session.data().contains("over IPv4"), "{session:?}");
}
