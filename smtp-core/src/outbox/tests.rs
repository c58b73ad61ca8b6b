//! Tests of the outbox without a server: enqueue, listing, control calls,
//! the state file format, broken files, locks.

use std::fs;
use std::io::Read;
use std::time::{Duration, UNIX_EPOCH};

use super::*;

/// A fresh directory under the system's temporary one.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "smtp-outbox-{name}-{}-{}",
        std::process::id(),
        crate::message::new_id_local()
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn envelope() -> Envelope {
    Envelope::new("me@example.org", ["a@example.net", "b@example.net"]).unwrap()
}

#[test]
fn enqueue_then_list_then_remove() {
    let dir = temp_dir("basic");
    let outbox = Outbox::open(&dir).unwrap();
    let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let body = b"Subject: hi\r\n\r\nhello\r\n";
    let id = outbox.enqueue(&envelope(), &mut &body[..]).unwrap();
    let entries = outbox.list().unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.id, id);
    assert_eq!(
        (e.sender.as_str(), e.size, e.attempts),
        ("me@example.org", body.len() as u64, 0)
    );
    assert_eq!(e.problem, None);
    assert!(!e.held && !e.possible_duplicate);
    let addresses: Vec<&str> = e.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(addresses, ["a@example.net", "b@example.net"]);
    assert!(e
        .recipients
        .iter()
        .all(|r| r.status == RecipientStatus::Pending));
    let stored = fs::read(outbox.message_path(&id)).unwrap();
    assert!(stored.starts_with(b"smtp-outbox-state 1\n"));
    assert!(stored.ends_with(body));
    // Nothing left behind in tmp/.
    assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    // Control calls.
    outbox.hold(&id).unwrap();
    assert!(outbox.entry(&id).unwrap().unwrap().held);
    outbox.release(&id).unwrap();
    assert!(!outbox.entry(&id).unwrap().unwrap().held);
    outbox.requeue(&id).unwrap();
    outbox.remove(&id).unwrap();
    assert!(outbox.list().unwrap().is_empty());
    assert!(matches!(
        outbox.remove(&id),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(outbox.hold(&id), Err(Error::InvalidInput { .. })));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn state_files_round_trip_and_refuse_damage() {
    let state = State {
        created: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        sender: "".into(),
        size: 12,
        eight_bit: true,
        attempts: 3,
        next_attempt: UNIX_EPOCH + Duration::from_secs(1_700_000_600),
        held: true,
        possible_duplicate: true,
        warned: false,
        last_error: Some("connection refused\r\nsecond line".into()),
        recipients: vec![
            RecipientState {
                address: "a@example.net".into(),
                status: RecipientStatus::Delivered,
                reply: Some("250 2.0.0 Ok: queued as X".into()),
            },
            RecipientState {
                address: "b@example.net".into(),
                status: RecipientStatus::Deferred,
                reply: None,
            },
        ],
        extensions: crate::Envelope::new("x@example.net", ["a@example.net", "b@example.net"])
            .unwrap()
            .with_dsn_return(crate::DsnReturn::Full)
            .with_envelope_id("id+1 =")
            .unwrap()
            .with_recipient_notify("b@example.net", crate::Notify::DELAY)
            .unwrap()
            .with_original_recipient("b@example.net", "用户@example.net")
            .unwrap()
            .with_require_tls(true)
            .with_dsn_if_offered(true)
            .with_priority(-9)
            .unwrap()
            .ext,
    };
    let text = state.format();
    assert!(
        text.starts_with("smtp-outbox-state 2\n"),
        "extensions: version 2"
    );
    let back = State::parse(&text).unwrap();
    assert_eq!(
        back.last_error.as_deref(),
        Some("connection refused  second line")
    );
    assert_eq!(
        State {
            last_error: state.last_error.clone(),
            ..back
        },
        state
    );
    // Truncated anywhere: refused, never half-read.
    for cut in 0..text.len() {
        if let Ok(parsed) = State::parse(&text[..cut]) {
            panic!("a state cut at {cut} parsed: {parsed:?}");
        }
    }
    for bad in [
        "",
        "smtp-outbox-state 9\nend\n",
        "smtp-outbox-state 1\nsender: a@b\nrcpt: lost\ta@b\t\nend\n",
        "smtp-outbox-state 1\nsender: a@b\nend\n",
        "smtp-outbox-state 1\nrcpt: pending\ta@b\t\nend\n",
        "smtp-outbox-state 1\nsender: a@b\nattempts: x\nrcpt: pending\ta@b\t\nend\n",
        "smtp-outbox-state 1\nsender: a@b\nrcpt: pending\ta@b\t\nend\nmore\n",
        "smtp-outbox-state 1\nsender: a@b\nrcpt: pending\ta@b\t\nrcpt_dsn: 1\tNEVER\t\nend\n",
        "smtp-outbox-state 1\nsender: a@b\nrcpt: pending\ta@b\t\nrcpt_dsn: 0\tSOMETIMES\t\nend\n",
        "smtp-outbox-state 1\nsender: a@b\nrcpt: pending\ta@b\t\npriority: 10\nend\n",
        "smtp-outbox-state 1\nsender: a@b\nrcpt: pending\ta@b\t\nret: ALL\nend\n",
        "smtp-outbox-state 2\nsender: a@b\nrcpt: pending\ta@b\t\nenvid: a b\nend\n",
        "smtp-outbox-state 2\nsender: a@b\nrcpt: pending\ta@b\t\nrcpt_dsn: 0\t\trfc822;a NOTIFY=x\nend\n",
        "smtp-outbox-state 3\nsender: a@b\nrcpt: pending\ta@b\t\nend\n",
    ] {
        assert!(State::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn broken_files_are_listed_not_dropped() {
    let dir = temp_dir("broken");
    let outbox = Outbox::open(&dir).unwrap();
    let good = outbox.enqueue(&envelope(), &mut &b"x\r\n"[..]).unwrap();
    let corrupt = outbox.enqueue(&envelope(), &mut &b"y\r\n"[..]).unwrap();
    // A state file cut short, after a control call wrote one.
    outbox.hold(&corrupt).unwrap();
    let path = dir.join("queue").join(format!("{corrupt}.state"));
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, &text[..text.len() / 2]).unwrap();
    // A message file that is not one.
    fs::write(dir.join("queue").join("0orphan.msg"), b"z").unwrap();
    // A state file left without its message: not a message.
    fs::write(dir.join("queue").join("0gone.state"), b"x").unwrap();
    let entries = outbox.list().unwrap();
    assert_eq!(entries.len(), 3);
    let problem = |id: &str| {
        entries
            .iter()
            .find(|e| e.id.as_str() == id)
            .and_then(|e| e.problem.clone())
    };
    assert_eq!(problem(good.as_str()), None);
    assert!(problem(corrupt.as_str())
        .unwrap()
        .contains("corrupt state file: truncated"));
    assert!(problem("0orphan").unwrap().contains("corrupt message file"));
    // Removing them is a deliberate act.
    outbox.remove(&corrupt).unwrap();
    outbox.remove(&QueueId::parse("0orphan").unwrap()).unwrap();
    assert_eq!(outbox.list().unwrap().len(), 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ids_from_callers_cannot_leave_the_queue() {
    for bad in ["", "../x", "a/b", ".hidden", "a b", "x\0", &"a".repeat(65)] {
        assert!(QueueId::parse(bad).is_err(), "{bad:?}");
    }
    assert!(QueueId::parse("DNE1TGRM3GK4.yrfL75KkQarL6GCYW3HF").is_ok());
}

#[test]
fn a_locked_message_is_left_to_its_holder() {
    let dir = temp_dir("lock");
    let outbox = Outbox::open(&dir).unwrap();
    let id = outbox.enqueue(&envelope(), &mut &b"x\r\n"[..]).unwrap();
    let Lock::Held(lock) = outbox.try_lock(&id).unwrap() else {
        panic!("free")
    };
    // flock locks belong to the open file: a second open is refused.
    assert!(matches!(outbox.try_lock(&id).unwrap(), Lock::Busy));
    assert!(matches!(outbox.hold(&id), Err(Error::Spool { .. })));
    drop(lock);
    assert!(matches!(outbox.try_lock(&id).unwrap(), Lock::Held(_)));
    // A message delivered and removed by the holder is gone for the next.
    let Lock::Held(lock) = outbox.try_lock(&id).unwrap() else {
        panic!("free")
    };
    let late = QueueId::parse(id.as_str()).unwrap();
    outbox.remove_files(&id, false).unwrap();
    drop(lock);
    assert!(matches!(outbox.try_lock(&late).unwrap(), Lock::Gone));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_body_queues_nothing() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("the source broke"))
        }
    }
    let dir = temp_dir("body");
    let outbox = Outbox::open(&dir).unwrap();
    assert!(matches!(
        outbox.enqueue(&envelope(), &mut Broken),
        Err(Error::BodyRead(_))
    ));
    assert!(outbox.list().unwrap().is_empty());
    assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unwritable_spool_is_a_spool_error() {
    if unsafe { libc::geteuid() } == 0 {
        // root writes anywhere; the disk-full case is tested with a tmpfs.
        return;
    }
    let dir = temp_dir("ro");
    let outbox = Outbox::open(&dir).unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o500)).unwrap();
    let err = outbox.enqueue(&envelope(), &mut &b"x"[..]).unwrap_err();
    assert!(matches!(err, Error::Spool { .. }), "{err:?}");
    assert!(err.is_transient());
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o700)).unwrap();
    assert!(outbox.list().unwrap().is_empty());
    fs::remove_dir_all(&dir).unwrap();
}
