//! Reading arguments from C: NULL checks, UTF-8 checks, byte buffers and
//! handles. Every entry point goes through these before using a pointer.

use std::ffi::{c_char, c_int, CStr};

use smtp_core::{LongLines, RecipientPolicy, Security};

use crate::result::Failure;
use crate::types::{smtp_long_lines, smtp_recipient_policy, smtp_security};

/// A required NUL-terminated UTF-8 string.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::Null(name));
    }
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|_| Failure::Utf8(name))
}

/// An optional string: NULL gives `None`.
///
/// # Safety
/// As for [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded caller guarantee.
        unsafe { str_arg(ptr, name) }.map(Some)
    }
}

/// A byte buffer given as pointer and length: NULL is allowed with length 0.
///
/// # Safety
/// When `len > 0`, `ptr` is NULL or points to `len` readable bytes valid for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    name: &'static str,
) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::Null(name));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(name, "length is too large"));
    }
    // SAFETY: non-NULL, length checked, caller guarantees readability.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A required handle for reading.
///
/// # Safety
/// `ptr` is NULL or a live handle from this library not used mutably elsewhere.
pub(crate) unsafe fn handle_ref<'a, T>(
    ptr: *const T,
    name: &'static str,
) -> Result<&'a T, Failure> {
    // SAFETY: forwarded caller guarantee.
    unsafe { ptr.as_ref() }.ok_or(Failure::Null(name))
}

/// A required handle for writing.
///
/// # Safety
/// `ptr` is NULL or a live handle from this library not used elsewhere
/// during the call.
pub(crate) unsafe fn handle_mut<'a, T>(
    ptr: *mut T,
    name: &'static str,
) -> Result<&'a mut T, Failure> {
    // SAFETY: forwarded caller guarantee.
    unsafe { ptr.as_mut() }.ok_or(Failure::Null(name))
}

/// A required output pointer (checked before any work, written on success).
pub(crate) fn out_arg<T>(ptr: *mut T, name: &'static str) -> Result<*mut T, Failure> {
    if ptr.is_null() {
        Err(Failure::Null(name))
    } else {
        Ok(ptr)
    }
}

/// A `smtp_security` value passed as `int`: `None` for `SMTP_SECURITY_DEFAULT`.
pub(crate) fn security_arg(value: c_int) -> Result<Option<Security>, Failure> {
    use smtp_security::*;
    let all = [
        SMTP_SECURITY_DEFAULT,
        SMTP_SECURITY_STARTTLS,
        SMTP_SECURITY_IMPLICIT,
        SMTP_SECURITY_STARTTLS_IF_OFFERED,
        SMTP_SECURITY_NONE,
    ];
    match all.into_iter().find(|s| *s as c_int == value) {
        Some(SMTP_SECURITY_DEFAULT) => Ok(None),
        Some(SMTP_SECURITY_STARTTLS) => Ok(Some(Security::StartTls)),
        Some(SMTP_SECURITY_IMPLICIT) => Ok(Some(Security::Implicit)),
        Some(SMTP_SECURITY_STARTTLS_IF_OFFERED) => Ok(Some(Security::StartTlsIfOffered)),
        Some(SMTP_SECURITY_NONE) => Ok(Some(Security::None)),
        None => Err(Failure::invalid(
            "security",
            format!("{value} is not a smtp_security value"),
        )),
    }
}

/// A `smtp_recipient_policy` value passed as `int`.
pub(crate) fn recipient_policy_arg(value: c_int) -> Result<RecipientPolicy, Failure> {
    use smtp_recipient_policy::*;
    if value == SMTP_RECIPIENTS_DELIVER_TO_ACCEPTED as c_int {
        Ok(RecipientPolicy::DeliverToAccepted)
    } else if value == SMTP_RECIPIENTS_ALL_OR_NOTHING as c_int {
        Ok(RecipientPolicy::AllOrNothing)
    } else {
        Err(Failure::invalid(
            "recipient policy",
            format!("{value} is not a smtp_recipient_policy value"),
        ))
    }
}

/// A `smtp_long_lines` value passed as `int`.
pub(crate) fn long_lines_arg(value: c_int) -> Result<LongLines, Failure> {
    use smtp_long_lines::*;
    if value == SMTP_LONG_LINES_REPAIR as c_int {
        Ok(LongLines::Repair)
    } else if value == SMTP_LONG_LINES_REFUSE as c_int {
        Ok(LongLines::Refuse)
    } else {
        Err(Failure::invalid(
            "long lines",
            format!("{value} is not a smtp_long_lines value"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_values_are_checked() {
        assert_eq!(long_lines_arg(0).unwrap(), LongLines::Repair);
        assert_eq!(long_lines_arg(1).unwrap(), LongLines::Refuse);
        for bad in [-1, 2, c_int::MAX, c_int::MIN] {
            let failure = long_lines_arg(bad).unwrap_err();
            assert_eq!(
                failure.code(),
                crate::result::smtp_result::SMTP_ERR_INVALID_INPUT
            );
        }
    }
}
