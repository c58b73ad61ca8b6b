//! Sending from many tokio tasks through one `AsyncPool` (what an axum or
//! tonic handler does): `cargo run --example async_pool --features tokio`.
//!
//! The server comes from `SMTP_URL` (for example
//! `smtp://user:secret@mail.example.org:587`), the addresses from
//! `SMTP_FROM` and `SMTP_TO`.

use smtp_core::{AsyncPool, Config, Envelope, PoolOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SMTP_URL").map_err(|_| "set SMTP_URL")?;
    let from = std::env::var("SMTP_FROM").map_err(|_| "set SMTP_FROM")?;
    let to = std::env::var("SMTP_TO").map_err(|_| "set SMTP_TO")?;
    let mut options = PoolOptions::default();
    options.set("max_connections", "4")?;
    let pool = AsyncPool::new(Config::from_url(&url)?, options)?;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (pool, from, to) = (pool.clone(), from.clone(), to.clone());
        // The pool's futures are Send: tasks may run on any worker thread.
        tasks.push(tokio::spawn(async move {
            let envelope = Envelope::new(from.clone(), [to.clone()])?;
            let message = format!(
                "From: {from}\r\nTo: {to}\r\nSubject: task {i}\r\n\r\nHello from task {i}.\r\n"
            );
            pool.send_bytes(&envelope, message.as_bytes()).await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await? {
            Ok(report) => println!("task {i}: {}", report.reply),
            Err(e) => eprintln!("task {i}: {e}"),
        }
    }
    pool.close();
    Ok(())
}
