//! The connection to Redis: one multiplexed connection shared by every call,
//! short timeouts so a dead Redis never stalls a call for long, and the
//! outage's start and end each logged once. Only the background worker
//! (re)connects; a call finding no connection falls back at once.

use super::url::RedisUrl;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, ScriptInvocation, Value};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why a Redis call failed, fit to show (an address is shown scrubbed).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("Redis at {0} is unreachable")]
    Down(String),
    #[error("Redis at {url}: {message}")]
    Failed { url: String, message: String },
}

/// The shared connection and its health.
pub struct Link {
    url: RedisUrl,
    client: redis::Client,
    config: AsyncConnectionConfig,
    conn: Mutex<Option<MultiplexedConnection>>,
    up: AtomicBool,
}

impl Link {
    /// A link to `url` (not connected yet); `timeout` bounds connecting and every reply.
    pub fn new(url: &RedisUrl, timeout: Duration) -> Result<Self, LinkError> {
        let client = redis::Client::open(url.expose())
            .map_err(|e| LinkError::Failed { url: url.to_string(), message: url.scrub(&e.to_string()) })?;
        let config =
            AsyncConnectionConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(Some(timeout));
        Ok(Link { url: url.clone(), client, config, conn: Mutex::new(None), up: AtomicBool::new(true) })
    }

    /// The connection, if Redis is reachable now.
    pub fn conn(&self) -> Option<MultiplexedConnection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Is there a connection now?
    pub fn is_up(&self) -> bool {
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Connect if not connected; true if connected (now or already). Returns
    /// false quietly while an outage already logged goes on.
    pub async fn connect(&self) -> bool {
        if self.is_up() {
            return true;
        }
        match self.client.get_multiplexed_async_connection_with_config(&self.config).await {
            Ok(conn) => {
                *self.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
                if !self.up.swap(true, Ordering::AcqRel) {
                    tracing::info!(redis = %self.url, "shared limits: Redis is reachable again; limits are shared and exact");
                }
                true
            }
            Err(e) => {
                self.down(&e);
                false
            }
        }
    }

    /// Note a failed call: a connection-level failure drops the connection
    /// (the worker reconnects) and starts an outage, logged once.
    pub fn lost(&self, e: &RedisError) {
        let connection_level = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error();
        if connection_level {
            self.down(e);
        }
    }

    /// Drop the connection; log the outage's start, once.
    fn down(&self, e: &RedisError) {
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).take();
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                redis = %self.url,
                error = %self.url.scrub(&e.to_string()),
                "shared limits: Redis is unreachable; budgets refuse calls, RPM/TPM fall back to this daemon's share \
                 until it is back"
            );
        }
    }

    /// Run `script` on `conn`, noting a connection failure.
    pub async fn run(
        &self,
        conn: &mut MultiplexedConnection,
        script: &ScriptInvocation<'_>,
    ) -> Result<Value, LinkError> {
        script.invoke_async::<Value>(conn).await.map_err(|e| self.error(&e))
    }

    /// Run a pipeline (one round trip), noting a connection failure.
    pub async fn pipeline(
        &self,
        conn: &mut MultiplexedConnection,
        p: &redis::Pipeline,
    ) -> Result<Vec<Value>, LinkError> {
        p.query_async::<Vec<Value>>(conn).await.map_err(|e| self.error(&e))
    }

    fn error(&self, e: &RedisError) -> LinkError {
        self.lost(e);
        match self.is_up() {
            true => LinkError::Failed { url: self.url.to_string(), message: self.url.scrub(&e.to_string()) },
            false => LinkError::Down(self.url.to_string()),
        }
    }
}
