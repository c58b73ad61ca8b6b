//! The protocol engine has no I/O of its own: no sockets, no clock, no
//! threads, no files (the drivers have them). A check on its source, so
//! that a change bringing one in fails here and says where.

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "std::net",
    "TcpStream",
    "Instant::now",
    "SystemTime::now",
    "std::thread",
    "thread::",
    "std::fs",
    "libc::",
    "tokio",
];

#[test]
fn the_engine_names_no_socket_clock_thread_or_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut checked = 0;
    let mut files = Vec::new();
    let mut dirs = vec![dir];
    // Bounded: the engine is a few directories deep at most.
    while let Some(dir) = dirs.pop() {
        assert!(files.len() < 1000, "runaway walk");
        for entry in std::fs::read_dir(&dir).expect("an engine directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for path in files {
        // tests.rs is the engine's test module (`#[cfg(test)] mod tests`):
        // a test may read the clock to start an engine.
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source");
        // Tests may use the clock to make an engine; the engine may not.
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for word in FORBIDDEN {
                assert!(
                    !line.contains(word),
                    "{}:{}: the engine uses {word}: {line}",
                    path.display(),
                    n + 1
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} engine files found");
}
