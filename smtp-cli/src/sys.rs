//! Facts about the machine and the user: the default sender `user@host`.

use std::fs;
use std::os::unix::fs::MetadataExt;

/// The login name of the user running the command: from `/etc/passwd` for
/// the process's user id, else `$LOGNAME` or `$USER`, else `nobody`.
pub fn user_name() -> String {
    let from_passwd = fs::metadata("/proc/self").ok().and_then(|meta| {
        let uid = meta.uid().to_string();
        let passwd = fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let mut parts = line.split(':');
            let name = parts.next()?;
            let _password = parts.next()?;
            (parts.next()? == uid).then(|| name.to_string())
        })
    });
    from_passwd
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(|| std::env::var("USER").ok())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b'@'))
        .unwrap_or_else(|| "nobody".to_string())
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else
/// `/etc/hostname`, else `localhost`).
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        })
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether the process runs as root: the owner of `/proc/self` is its
/// effective user id.
pub fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// `user@host`, the sender sendmail uses when nothing else says.
pub fn default_address() -> String {
    format!("{}@{}", user_name(), host_name())
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_address_is_an_address() {
        let a = super::default_address();
        let (user, host) = a.split_once('@').unwrap();
        assert!(!user.is_empty() && !host.is_empty());
    }
}
