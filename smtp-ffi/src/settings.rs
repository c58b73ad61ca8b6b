//! What the C API adds to [`smtp_core::Config`]: a server argument that
//! may be a URL or `host[:port]`, the C transcript callback, and timeouts
//! in milliseconds. The configuration itself is the core's, set in place
//! by the `smtp_client_set_*` functions.

use std::ffi::{c_char, c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use smtp_core::{Config, Direction, Timeouts};

use crate::last::c_string;
use crate::result::Failure;
use crate::types::smtp_direction;

/// The configuration for a server given to the C API: a URL (it has
/// `://`), else `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6
/// address; a non-zero `port` wins over the one in `server`, and 0 lets
/// the port follow the security mode (465 for implicit TLS, else 587).
pub(crate) fn config_for(server: &str, port: u16) -> Result<Config, Failure> {
    let config = if server.contains("://") {
        Config::from_url(server)?
    } else {
        Config::for_server(server)?
    };
    Ok(if port == 0 {
        config
    } else {
        config.with_port(port)
    })
}

/// A C transcript callback and its user pointer.
pub(crate) struct CTranscript {
    pub(crate) callback: unsafe extern "C" fn(*mut c_void, c_int, *const c_char),
    pub(crate) userdata: *mut c_void,
}

// SAFETY: the callback is only ever invoked synchronously on the thread
// that called into the library (smtp-core calls transcript sinks inline);
// the C API documents that the user pointer is handed back on that
// thread. smtp-core requires Send + Sync only because its sink type is
// shared through an Arc.
unsafe impl Send for CTranscript {}
// SAFETY: see above.
unsafe impl Sync for CTranscript {}

impl CTranscript {
    fn line(&self, direction: Direction, line: &str) {
        // A Rust panic here (it would take an allocation failure) must not
        // cross the C frames of the caller's callback: catch it and drop
        // the line.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let text: CString = c_string(line);
            let direction = smtp_direction::from(direction) as c_int;
            // SAFETY: the caller registered this function with this user
            // pointer; the line is NUL-terminated and lives for the call.
            unsafe { (self.callback)(self.userdata, direction, text.as_ptr()) };
        }));
    }
}

impl CTranscript {
    /// The configuration with this callback as its transcript sink.
    pub(crate) fn install(self: Arc<CTranscript>, config: Config) -> Config {
        config.with_transcript(move |direction, line| self.line(direction, line))
    }
}

/// Timeouts from milliseconds, 0 meaning the library default.
pub(crate) fn timeouts_from_ms(connect_ms: u32, io_ms: u32, total_ms: u32) -> Timeouts {
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    let mut t = if io_ms == 0 {
        Timeouts::default()
    } else {
        Timeouts::uniform(ms(io_ms))
    };
    t.connect = if connect_ms == 0 {
        Timeouts::default().connect
    } else {
        ms(connect_ms)
    };
    t.total = (total_ms != 0).then(|| ms(total_ms));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_core::Security;

    #[test]
    fn ports_in_urls_are_replaced() {
        let cases = [
            ("smtp://h", "h", None),
            ("smtp://h:25", "h", None),
            ("smtps://u:p%40ss@h:465/?ca_file=/x", "h", Some("u")),
            ("smtp://u@x:p@[::1]:25?auth=plain", "::1", Some("u@x")),
            ("smtp://[::1]", "::1", None),
        ];
        for (url, host, user) in cases {
            let c = config_for(url, 2525).unwrap();
            assert_eq!((c.host(), c.port()), (host, 2525), "{url}");
            assert_eq!(c.credentials().map(|c| c.username()), user, "{url}");
        }
        assert!(config_for("smtp://h/path", 2525).is_err());
    }

    #[test]
    fn servers_parse() {
        let server = |s: &str, p: u16| {
            let c = config_for(s, p).unwrap();
            (c.host().to_string(), c.port())
        };
        assert_eq!(
            server("mail.example.org", 0),
            ("mail.example.org".into(), 587)
        );
        assert_eq!(
            server("mail.example.org:25", 0),
            ("mail.example.org".into(), 25)
        );
        assert_eq!(
            server("mail.example.org:25", 2525),
            ("mail.example.org".into(), 2525)
        );
        assert_eq!(server("[::1]:25", 0), ("::1".into(), 25));
        assert_eq!(server("::1", 26), ("::1".into(), 26));
        assert!(config_for("", 0).is_err());
        assert!(config_for("h:x", 0).is_err());
        assert!(config_for("[::1", 0).is_err());
        assert_eq!(server("smtp://u:pw@h:26", 2525), ("h".into(), 2525));
        assert_eq!(server("smtps://u:pw@h", 0), ("h".into(), 465));
        let c = config_for("smtps://u:p%40ss@h:465/?ca_file=/x", 2525).unwrap();
        assert_eq!(c.credentials().unwrap().username(), "u");
    }

    #[test]
    fn default_ports_follow_security() {
        let c = |security: Option<Security>| {
            let c = config_for("h", 0).unwrap();
            match security {
                Some(s) => c.with_security(s),
                None => c,
            }
        };
        assert_eq!(c(None).port(), 587);
        assert_eq!(c(Some(Security::Implicit)).port(), 465);
        assert_eq!(c(Some(Security::Implicit)).security(), Security::Implicit);
        assert_eq!(c(Some(Security::None)).port(), 587);
    }

    #[test]
    fn timeouts() {
        let t = timeouts_from_ms(0, 0, 0);
        assert_eq!(t, Timeouts::default());
        let t = timeouts_from_ms(1500, 2000, 9000);
        assert_eq!(t.connect, Duration::from_millis(1500));
        assert_eq!(t.data_end, Duration::from_secs(2));
        assert_eq!(t.total, Some(Duration::from_secs(9)));
    }
}
