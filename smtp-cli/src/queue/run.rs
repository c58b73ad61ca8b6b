//! Delivering the queue: `smtp-send -q` (what is due), `-qf`/`--flush`
//! (everything not held) and `--queue-runner`, which stays in the
//! foreground and delivers what becomes due until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use smtp_core::outbox::{DeliveryReport, Outcome};
use smtp_core::Outbox;

use crate::exit::{Exit, Failure};
use crate::settings::{self, Purpose, Settings};

/// How often the runner looks at the queue even when nothing changed.
const POLL: Duration = Duration::from_secs(2);

/// How often the runner checks for a new file or a signal.
const TICK: Duration = Duration::from_millis(100);

/// Set by SIGTERM and SIGINT.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// A spool error while delivering: exit 75.
fn spool(error: &smtp_core::Error) -> Failure {
    Failure::new(Exit::TempFail, format!("queue: {error}"))
}

/// Whether something in the queue may be delivered now (due, or with
/// `all` any message not held), so that the password command runs and a
/// connection opens only then.
fn has_work(outbox: &Outbox, all: bool) -> Result<bool, Failure> {
    let now = SystemTime::now();
    Ok(outbox
        .list()
        .map_err(|e| spool(&e))?
        .iter()
        .any(|e| e.problem.is_none() && !e.held && (all || e.next_attempt <= now)))
}

/// One delivery pass; `None` when there was nothing to do.
fn pass(
    outbox: &Outbox,
    settings: &Settings,
    verbose: bool,
    all: bool,
) -> Result<Option<DeliveryReport>, Failure> {
    if !has_work(outbox, all)? {
        return Ok(None);
    }
    let mut config = settings::build_config(settings, Purpose::Send)?;
    if verbose {
        config = crate::with_transcript(config);
    }
    let report = if all {
        outbox.flush(&config)
    } else {
        outbox.deliver_due(&config)
    };
    report.map(Some).map_err(|e| spool(&e))
}

/// The summary of a pass, one line per message and a total.
fn summary(report: &DeliveryReport) -> String {
    let mut out = String::new();
    for m in &report.messages {
        let what = match &m.outcome {
            Outcome::Delivered => "delivered".to_string(),
            Outcome::Bounced => "failed for some recipients, bounced to the sender".to_string(),
            Outcome::Deferred { next } => {
                let wait = next
                    .duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .as_secs();
                format!("deferred, next attempt in {wait}s")
            }
            Outcome::Busy => "busy (another runner has it)".to_string(),
            Outcome::Broken(why) => format!("left in the queue: {why}"),
            _ => "unknown outcome".to_string(),
        };
        out.push_str(&format!("smtp-send: {} {what}", m.id));
        if let Some(error) = &m.error {
            out.push_str(&format!(" ({error})"));
        }
        if m.possible_duplicate {
            out.push_str(" [possible duplicate]");
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "smtp-send: queue run: {} delivered, {} deferred, {} tried\n",
        report.done(),
        report.deferred(),
        report.messages.len()
    ));
    out
}

/// `-q` / `-qf`: one pass, a summary on stderr in verbose mode. Exit 0
/// unless the spool itself (or the configuration) failed: messages that
/// could not be delivered stay queued.
pub fn run_queue(
    settings: &Settings,
    dir: &Result<PathBuf, Failure>,
    verbose: bool,
    all: bool,
) -> Result<(), Failure> {
    let outbox = super::open(dir, settings)?;
    match pass(&outbox, settings, verbose, all)? {
        Some(report) if verbose => eprint!("{}", summary(&report)),
        None if verbose => eprintln!(
            "smtp-send: nothing to deliver in {}",
            outbox.dir().display()
        ),
        _ => {}
    }
    Ok(())
}

/// `--queue-runner`: delivers what is due at once, then whenever the
/// queue directory changes (a new message) and at least every [`POLL`],
/// until SIGTERM or SIGINT, which end it after the pass under way (exit
/// 0). Errors of a pass (a full disk, a failing password command) are
/// printed and tried again at the next one.
pub fn runner(
    settings: &Settings,
    dir: &Result<PathBuf, Failure>,
    verbose: bool,
) -> Result<(), Failure> {
    if !settings.has_server() {
        return Err(Failure::config(settings::NO_SERVER));
    }
    let outbox = super::open(dir, settings)?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let queue = outbox.dir().join("queue");
    let changed = || std::fs::metadata(&queue).and_then(|m| m.modified()).ok();
    if verbose {
        eprintln!("smtp-send: queue runner on {}", outbox.dir().display());
    }
    let mut seen = None;
    let mut last: Option<Instant> = None;
    while !STOP.load(Ordering::SeqCst) {
        let now = changed();
        if last.is_none_or(|t| t.elapsed() >= POLL) || now != seen {
            seen = now;
            last = Some(Instant::now());
            match pass(&outbox, settings, verbose, false) {
                Ok(Some(report)) if verbose => eprint!("{}", summary(&report)),
                Ok(_) => {}
                Err(failure) => eprintln!("smtp-send: {failure}"),
            }
            continue;
        }
        std::thread::sleep(TICK);
    }
    if verbose {
        eprintln!("smtp-send: queue runner stopped");
    }
    Ok(())
}
