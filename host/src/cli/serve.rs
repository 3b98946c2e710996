//! `llmnode serve`: the daemon, until SIGTERM or Ctrl-C; then it stops taking
//! connections, finishes what is in flight and writes every queued usage event.

use super::{Env, Failure};
use clap::Args;
use llmnode::secret::Secret;
use llmnode::server::{AppState, ServerConfig};
use llmnode::vault::MASTER_KEY_ENV;
use std::net::SocketAddr;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the first line of
    /// stdout says which).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    bind: SocketAddr,
}

pub async fn run(env: &Env, args: ServeArgs) -> Result<(), Failure> {
    let data_dir = env.require_data_dir()?;
    env.store_path()?;
    let runtime = env.runtime()?;
    let config = ServerConfig {
        data_dir,
        plugins_dir: env.plugins_dir.clone(),
        master_key_env: std::env::var(MASTER_KEY_ENV).ok().map(Secret::new),
    };
    let state = AppState::open(config, runtime).map_err(Failure::input)?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| Failure::input(format!("cannot listen on {}: {e}", args.bind)))?;
    let addr = listener.local_addr().map_err(|e| Failure::run(e.to_string()))?;
    println!("llmnode listening on http://{addr}");
    eprintln!("dashboard: http://{addr}/dashboard/   OpenAI-compatible: http://{addr}/v1   API: http://{addr}/api/v1");
    llmnode::server::serve(listener, state, shutdown_signal()).await.map_err(|e| Failure::run(e.to_string()))?;
    eprintln!("llmnode stopped: requests in flight finished, usage written");
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
