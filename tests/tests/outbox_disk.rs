//! The outbox on a full disk: a small tmpfs mounted by the test (CI runs
//! as root; elsewhere the test is reported skipped). A message larger
//! than the space left, and any message once the disk is full, is
//! refused with `Error::Spool`; nothing half written is visible in the
//! queue or left in `tmp/`; the messages queued before are intact and
//! delivered once space is back.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use smtp_core::{Envelope, Error, Outbox};
use smtp_tests::catcher::Catcher;
use smtp_tests::outbox_support::{marked_message, marker_of, spool_dir};
use smtp_tests::skip::skipped;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = spool_dir("tmpfs");
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = fs::remove_dir(&self.0);
    }
}

/// Writes zeros into `path` until the disk is full.
fn fill(path: &Path) {
    let mut file = fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

fn ids_and_problems(outbox: &Outbox) -> Vec<(String, Option<String>)> {
    outbox
        .list()
        .unwrap()
        .into_iter()
        .map(|e| (e.id.to_string(), e.problem))
        .collect()
}

#[test]
fn a_full_disk_is_a_spool_error_and_leaves_the_queue_as_it_was() {
    let disk = match Tmpfs::mount("512k") {
        Ok(disk) => disk,
        Err(reason) => return skipped(reason),
    };
    let outbox = Outbox::open(disk.0.join("spool")).unwrap();
    let env = Envelope::new("sender@example.test", ["rcpt@example.test"]).unwrap();
    let earlier: Vec<_> = (0..3)
        .map(|i| {
            let m = marked_message(&format!("disk-{i}"), 10);
            outbox.enqueue(&env, &mut m.as_slice()).unwrap()
        })
        .collect();
    let before = ids_and_problems(&outbox);
    assert_eq!(before.len(), 3);

    // Larger than the disk: refused while streaming.
    let big = marked_message("disk-big", 40_000);
    assert!(big.len() > 1 << 20);
    let err = outbox.enqueue(&env, &mut big.as_slice()).unwrap_err();
    assert!(matches!(err, Error::Spool { .. }), "{err:?}");
    assert_eq!(ids_and_problems(&outbox), before);
    assert_eq!(fs::read_dir(disk.0.join("spool/tmp")).unwrap().count(), 0);

    // A full disk: even a small message is refused.
    fill(&disk.0.join("filler"));
    for i in 0..5 {
        let small = marked_message(&format!("disk-full-{i}"), 10);
        let err = outbox.enqueue(&env, &mut small.as_slice()).unwrap_err();
        assert!(matches!(err, Error::Spool { .. }), "{err:?}");
        assert!(err.to_string().contains("No space left"), "{err}");
    }
    assert_eq!(ids_and_problems(&outbox), before);
    assert_eq!(fs::read_dir(disk.0.join("spool/tmp")).unwrap().count(), 0);

    // Space again: the earlier messages are intact and go out.
    fs::remove_file(disk.0.join("filler")).unwrap();
    let catcher = Catcher::start();
    let report = outbox.flush(&catcher.config()).unwrap();
    assert_eq!(report.done(), 3, "{report:?}");
    let caught = catcher.messages();
    let markers: Vec<String> = caught.iter().filter_map(|m| marker_of(&m.body)).collect();
    assert_eq!(markers, ["disk-0", "disk-1", "disk-2"]);
    for m in &caught {
        let marker = marker_of(&m.body).unwrap();
        assert_eq!(m.body, marked_message(&marker, 10));
    }
    assert_eq!(earlier.len(), 3);
    assert!(outbox.list().unwrap().is_empty());
}
