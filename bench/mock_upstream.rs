//! The load benchmark's upstream: the simulated OpenAI-format provider of
//! `llmnode demo`, answering at once (no pacing), on a loopback port. Prints
//! its base URL and serves until killed.

use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let key = std::env::args().nth(1).unwrap_or_else(|| "fake-bench-key-for-tests-0000".into());
    let upstream = llmnode::demo::SimulatedUpstream::start(&key, Duration::ZERO).await.expect("cannot bind loopback");
    println!("{}", upstream.base_url());
    std::future::pending::<()>().await;
}
