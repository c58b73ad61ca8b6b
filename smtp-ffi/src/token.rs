//! A C token callback (`smtp_token_callback`) as smtp-core's
//! `TokenProvider`: the buffer it writes the token into, the checks of
//! what it wrote, and the wiping of that buffer.

use std::ffi::{c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

use smtp_core::{AccessToken, TokenError, TokenProvider};
use zeroize::Zeroizing;

use crate::types::smtp_token_callback;

/// The size of the buffer a token callback writes into, NUL included:
/// larger than any access token Google or Microsoft issue (JWTs of a few
/// KiB), small enough for an AUTH line.
pub(crate) const TOKEN_BUFFER_SIZE: usize = 16 * 1024;

/// A C token callback and its user pointer.
pub(crate) struct CTokenProvider {
    callback: unsafe extern "C" fn(*mut c_void, *mut std::ffi::c_char, usize, *mut i64) -> c_int,
    userdata: *mut c_void,
}

// SAFETY: the C API documents that the callback may be called from any
// thread that connects (a pool's sending threads), possibly from several
// at once, and must be thread-safe with its user pointer; the library
// never dereferences the pointer itself.
unsafe impl Send for CTokenProvider {}
// SAFETY: see above.
unsafe impl Sync for CTokenProvider {}

impl CTokenProvider {
    /// The provider for `callback`, or `None` for a NULL callback.
    pub(crate) fn of(
        callback: smtp_token_callback,
        userdata: *mut c_void,
    ) -> Option<Arc<dyn TokenProvider>> {
        callback.map(|callback| {
            Arc::new(CTokenProvider { callback, userdata }) as Arc<dyn TokenProvider>
        })
    }
}

impl TokenProvider for CTokenProvider {
    fn fetch(&self) -> Result<AccessToken, TokenError> {
        // Wiped when dropped, whatever the callback wrote.
        let mut buf = Zeroizing::new(vec![0u8; TOKEN_BUFFER_SIZE]);
        let mut expires_in: i64 = -1;
        // SAFETY: the caller registered this function with this user
        // pointer; `buf` is writable for TOKEN_BUFFER_SIZE bytes and
        // `expires_in` is a valid i64, both for the duration of the call.
        let rc = unsafe {
            (self.callback)(
                self.userdata,
                buf.as_mut_ptr().cast(),
                TOKEN_BUFFER_SIZE,
                &mut expires_in,
            )
        };
        if rc != 0 {
            return Err(TokenError::new(format!("the token callback returned {rc}")));
        }
        let Some(len) = buf.iter().position(|&b| b == 0) else {
            return Err(TokenError::new(format!(
                "the token callback wrote no NUL-terminated token into its {TOKEN_BUFFER_SIZE}-byte buffer"
            )));
        };
        let token = std::str::from_utf8(&buf[..len])
            .map_err(|_| TokenError::new("the token callback wrote a token that is not UTF-8"))?;
        // The core refuses an empty or unprintable token, before anything is sent.
        let token = AccessToken::new(token);
        Ok(match u64::try_from(expires_in) {
            Ok(seconds) => token.with_expires_in(Duration::from_secs(seconds)),
            Err(_) => token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::c_char;

    unsafe extern "C" fn writes(
        userdata: *mut c_void,
        buf: *mut c_char,
        cap: usize,
        expires_in: *mut i64,
    ) -> c_int {
        // SAFETY: the test passes a NUL-terminated string as userdata.
        let text = unsafe { std::ffi::CStr::from_ptr(userdata as *const c_char) }.to_bytes();
        let n = text.len().min(cap);
        // SAFETY: buf has cap bytes; expires_in is valid.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast(), n);
            if text.starts_with(b"ya29") {
                *buf.add(n) = 0;
                *expires_in = 3599;
            }
        }
        0
    }

    unsafe extern "C" fn fails(_: *mut c_void, _: *mut c_char, _: usize, _: *mut i64) -> c_int {
        7
    }

    #[test]
    fn tokens_and_failures() {
        let token = c"ya29.token".as_ptr() as *mut c_void;
        let p = CTokenProvider::of(Some(writes), token).unwrap();
        let t = p.fetch().unwrap();
        assert_eq!(t.secret().as_str(), "ya29.token");
        assert_eq!(t.expires_in(), Some(Duration::from_secs(3599)));
        // Not starting with ya29: no NUL written (the buffer starts zeroed,
        // so a short write still ends; a full one does not).
        let p = CTokenProvider::of(Some(writes), c"abc".as_ptr() as *mut c_void).unwrap();
        let t = p.fetch().unwrap();
        assert_eq!((t.secret().as_str(), t.expires_in()), ("abc", None));
        let p = CTokenProvider::of(Some(fails), std::ptr::null_mut()).unwrap();
        assert_eq!(
            p.fetch().unwrap_err().reason(),
            "the token callback returned 7"
        );
        assert!(CTokenProvider::of(None, std::ptr::null_mut()).is_none());
    }
}
