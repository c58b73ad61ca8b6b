//! Freeing the files of delivered messages off the delivery path. A
//! retired message is already out of the queue (renamed into `tmp/`);
//! unlinking it frees its blocks, which on some file systems (ext4 with
//! `discard`) takes longer than delivering it. One background thread per
//! open outbox does that work; it finishes when the last handle of the
//! outbox is dropped.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// The freeing thread of one outbox, started when first needed.
#[derive(Default)]
pub(crate) struct Freer {
    running: Mutex<Option<(Sender<PathBuf>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Freer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Freer")
    }
}

impl Freer {
    /// Removes `path` in the background (at once, here, when no thread
    /// can be started).
    pub(crate) fn free(&self, path: PathBuf) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.is_none() {
            let (tx, rx) = channel::<PathBuf>();
            let spawned = std::thread::Builder::new()
                .name("outbox-free".into())
                .spawn(move || {
                    for path in rx {
                        let _ = std::fs::remove_file(path);
                    }
                });
            match spawned {
                Ok(thread) => *running = Some((tx, thread)),
                Err(_) => {
                    let _ = std::fs::remove_file(path);
                    return;
                }
            }
        }
        let (tx, _) = running.as_ref().expect("started above");
        if let Err(failed) = tx.send(path) {
            let _ = std::fs::remove_file(failed.0);
        }
    }
}

impl Drop for Freer {
    fn drop(&mut self) {
        let running = self.running.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some((tx, thread)) = running.take() {
            // The thread ends once the files sent so far are gone.
            drop(tx);
            let _ = thread.join();
        }
    }
}
