//! `llmnode serve`: the daemon, until SIGTERM or Ctrl-C; then it stops taking
//! connections, finishes what is in flight and writes every queued usage event.

use super::{Env, Failure};
use clap::Args;
use llmnode::limits::RedisUrl;
use llmnode::secret::Secret;
use llmnode::server::{AppState, Capacity, METRICS_TOKEN_ENV, ServerConfig};
use llmnode::vault::{MASTER_KEY_ENV, NEXT_MASTER_KEY_ENV};
use std::net::SocketAddr;

/// The shortest operator metrics token accepted.
const MIN_METRICS_TOKEN: usize = 16;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the first line of
    /// stdout says which).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    bind: SocketAddr,
    /// How long a request head may take: from a new connection, or from the
    /// first byte of a later request on a kept-alive one (e.g. `10s`, `500ms`).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration,
        default_value_t = Capacity::default().header_read_timeout.into())]
    header_read_timeout: humantime::Duration,
    /// How long a kept-alive connection with no request in flight stays open.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration,
        default_value_t = Capacity::default().idle_timeout.into())]
    idle_timeout: humantime::Duration,
    /// How long a request body may take to arrive whole, from its head.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration,
        default_value_t = Capacity::default().body_read_timeout.into())]
    body_read_timeout: humantime::Duration,
    /// How long an answer may wait on a client that reads none of it; then
    /// the connection is closed.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration,
        default_value_t = Capacity::default().send_timeout.into())]
    send_timeout: humantime::Duration,
    /// Client connections served at once; past it a new connection gets a
    /// 503 (`/healthz` still answers).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000),
        default_value_t = Capacity::default().max_connections)]
    max_connections: u32,
    /// Requests answered at once (a stream counts until it ends); past it a
    /// request gets a 503 (`/healthz` still answers).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000),
        default_value_t = Capacity::default().max_in_flight)]
    max_in_flight: u32,
    /// Share RPM/TPM windows, budgets and breakers with every daemon of a
    /// fleet through Redis: `redis://[:PASSWORD@]HOST:PORT[/DB]` (a password
    /// is better given in the environment variable than in `ps`). Without it,
    /// limits are shared through the store.
    #[arg(long, env = "LLMNODE_LIMITS_URL", value_name = "URL", hide_env_values = true)]
    limits: Option<RedisUrl>,
}

/// A duration such as `10s` or `500ms`, more than zero.
fn positive_duration(text: &str) -> Result<humantime::Duration, String> {
    let d: humantime::Duration = text.parse().map_err(|e| format!("{e} (write e.g. `10s` or `500ms`)"))?;
    match d.is_zero() {
        true => Err("must be more than zero".into()),
        false => Ok(d),
    }
}

pub async fn run(env: &Env, args: ServeArgs) -> Result<(), Failure> {
    let metrics_token = metrics_token()?;
    let data_dir = env.require_data_dir()?;
    let location = env.store_location()?;
    let runtime = env.runtime()?;
    let config = ServerConfig {
        data_dir,
        location,
        plugins_dir: env.plugins_dir.clone(),
        master_key_env: std::env::var(MASTER_KEY_ENV).ok().map(Secret::new),
        next_master_key_env: std::env::var(NEXT_MASTER_KEY_ENV).ok().map(Secret::new),
        metrics_token,
        capacity: Capacity {
            header_read_timeout: args.header_read_timeout.into(),
            idle_timeout: args.idle_timeout.into(),
            body_read_timeout: args.body_read_timeout.into(),
            send_timeout: args.send_timeout.into(),
            max_connections: args.max_connections,
            max_in_flight: args.max_in_flight,
        },
        limits: args.limits,
    };
    let state = AppState::open(config, runtime).map_err(Failure::input)?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| Failure::input(format!("cannot listen on {}: {e}", args.bind)))?;
    let addr = listener.local_addr().map_err(|e| Failure::run(e.to_string()))?;
    println!("llmnode listening on http://{addr}");
    eprintln!("dashboard: http://{addr}/dashboard/   OpenAI-compatible: http://{addr}/v1   API: http://{addr}/api/v1");
    llmnode::server::serve(listener, state, shutdown_signal()).await;
    eprintln!("llmnode stopped: requests in flight finished, usage written");
    Ok(())
}

/// The operator's `/metrics` token, from the environment only (an argument
/// would show in `ps`); a short one is refused.
fn metrics_token() -> Result<Option<Secret>, Failure> {
    let Ok(raw) = std::env::var(METRICS_TOKEN_ENV) else { return Ok(None) };
    let raw = Secret::new(raw);
    // Clients' bearer tokens are read trimmed.
    let token = Secret::new(raw.expose().trim());
    match token.expose().len() >= MIN_METRICS_TOKEN {
        true => Ok(Some(token)),
        false => Err(Failure::input(format!(
            "{METRICS_TOKEN_ENV} must be at least {MIN_METRICS_TOKEN} characters (or unset)"
        ))),
    }
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
