//! The panic boundary: every entry point runs its body through one of
//! these, so a Rust panic never unwinds into C (which would be undefined
//! behaviour) and never aborts the caller's process.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::last;
use crate::result::{smtp_result, Failure};

/// Runs the body of a function that returns `smtp_result`: clears the
/// thread's last message, runs `body`, records a failure's text, and turns
/// a panic into `SMTP_ERR_PANIC`.
pub(crate) fn result(body: impl FnOnce() -> Result<(), Failure>) -> smtp_result {
    last::clear();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => smtp_result::SMTP_OK,
        Ok(Err(failure)) => {
            last::set_failure(&failure);
            failure.code()
        }
        Err(payload) => {
            last::set_message(&format!(
                "internal error in libsmtp (a bug, please report it): {}",
                panic_text(payload.as_ref())
            ));
            drop_payload(payload);
            smtp_result::SMTP_ERR_PANIC
        }
    }
}

/// Runs the body of a function that returns a value (a pointer, a count, a
/// flag, or nothing): a panic yields `fallback`. The last message is left
/// alone.
pub(crate) fn value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            drop_payload(payload);
            fallback
        }
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "panic"
    }
}

/// Drops a panic payload; a payload whose destructor panics in turn is
/// leaked rather than allowed to unwind further.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_message() -> String {
        // SAFETY: smtp_last_message never returns NULL and the string is
        // valid until the next call returning smtp_result on this thread.
        unsafe { CStr::from_ptr(crate::last::smtp_last_message()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn panics_become_a_result_code() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = result(|| panic!("boom {}", 42));
        let v = value(7, || -> i32 { panic!("again") });
        std::panic::set_hook(prev);
        assert_eq!(r, smtp_result::SMTP_ERR_PANIC);
        assert!(last_message().contains("boom 42"), "{}", last_message());
        assert_eq!(v, 7);
    }

    #[test]
    fn failures_set_the_message_and_success_clears_it() {
        assert_eq!(
            result(|| Err(Failure::Null("server"))),
            smtp_result::SMTP_ERR_NULL_PARAMETER
        );
        assert_eq!(last_message(), "NULL pointer passed for `server`");
        assert_eq!(result(|| Ok(())), smtp_result::SMTP_OK);
        assert_eq!(last_message(), "");
    }
}
