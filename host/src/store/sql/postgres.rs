//! The PostgreSQL side of [`super::Db`]: `tokio-postgres` connections whose
//! I/O runs on one background runtime thread, waited on synchronously by
//! the caller. The store keeps one blocking API for both backends (callers
//! already run it off the hot path or on the usage writer's thread), and the
//! driver's futures need no runtime of the caller's.
//!
//! Connections are pooled per URL: a [`PgConn`] goes back to its pool when
//! its store is dropped, unless it broke or was left inside a transaction.

use super::super::StoreError;
use super::value::Arg;
use std::cell::{Cell, RefCell, RefMut};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

/// Idle connections kept per URL; more are opened under load and closed after.
const POOL_KEEP: usize = 16;
/// No statement may hold a connection (and a daemon's thread) longer than this.
const STATEMENT_TIMEOUT: &str = "30s";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The runtime every PostgreSQL connection's I/O runs on.
fn io() -> &'static tokio::runtime::Handle {
    static IO: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    IO.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("llmnode-pg")
            .build()
            .expect("the PostgreSQL I/O runtime starts");
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("llmnode-pg".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .expect("the PostgreSQL I/O thread starts");
        handle
    })
}

/// Wait for a driver future on the calling thread (its I/O happens on [`io`]).
fn wait<F: Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

/// Run `f` on the I/O runtime (connecting needs its sockets and timers).
pub(crate) fn on_io<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    io().spawn(async move {
        let _ = tx.send(f.await);
    });
    wait(rx).expect("the PostgreSQL I/O runtime outlives its callers")
}

/// The URL as it may be shown: without its password.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(an unparsable PostgreSQL URL)".into(),
    }
}

fn pg_error(url: &str, e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(format!("{} ({})", describe(&e), redacted(url)))
}

/// The server's own message where there is one (it names the table or
/// constraint), else the driver's.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{}: {}", db.code().code(), db.message()),
        // "error connecting to server: Connection refused (os error 111)".
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

/// Open a fresh connection to `url`.
pub(crate) fn connect(url: &str) -> Result<Client, StoreError> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e: tokio_postgres::Error| StoreError::Postgres(format!("{e} ({})", redacted(url))))?;
    // A server gone silent (no reset) is noticed by TCP keepalives, not
    // after the kernel's two hours.
    config.connect_timeout(CONNECT_TIMEOUT).keepalives_idle(Duration::from_secs(30)).application_name("llmnode");
    let owned = url.to_string();
    let client = on_io(async move {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %describe(&e), "PostgreSQL connection closed");
            }
        });
        Ok::<_, tokio_postgres::Error>(client)
    })
    .map_err(|e| pg_error(&owned, e))?;
    wait(client.batch_execute(&format!("SET statement_timeout = '{STATEMENT_TIMEOUT}'")))
        .map_err(|e| pg_error(url, e))?;
    Ok(client)
}

/// Wake `notify` whenever `channel` is notified on `url`'s server, from a
/// connection of its own that reconnects by itself (and wakes once after
/// each reconnect, since a notification may have been missed meanwhile).
pub fn listen(url: &str, channel: &'static str) -> Result<Arc<tokio::sync::Notify>, StoreError> {
    let config: tokio_postgres::Config =
        url.parse().map_err(|e: tokio_postgres::Error| StoreError::Postgres(format!("{e} ({})", redacted(url))))?;
    let notify = Arc::new(tokio::sync::Notify::new());
    let wake = notify.clone();
    let shown = redacted(url);
    io().spawn(async move {
        loop {
            if let Err(e) = listen_once(&config, channel, &wake).await {
                tracing::warn!(error = %describe(&e), store = %shown, "listening for configuration changes; retrying");
            }
            wake.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(notify)
}

async fn listen_once(
    config: &tokio_postgres::Config,
    channel: &str,
    wake: &tokio::sync::Notify,
) -> Result<(), tokio_postgres::Error> {
    use futures_util::StreamExt;
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {channel}");
    let listening = client.batch_execute(&statement);
    tokio::pin!(listening);
    // Drive the connection while LISTEN is answered, then for as long as it lives.
    let mut listened = false;
    loop {
        tokio::select! {
            done = &mut listening, if !listened => {
                done?;
                listened = true;
                wake.notify_one();
            }
            message = messages.next() => match message {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => wake.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
        }
    }
}

/// A connected client and the statements prepared on it.
struct Live {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// One connection with its prepared statements. A connection the server
/// dropped (a restart, a failover) is replaced on next use, so long-lived
/// holders (the usage writer, the limits service) recover by themselves; a
/// transaction it was in is lost, and says so.
pub struct PgConn {
    /// `None` once dropped into the pool or found closed.
    live: RefCell<Option<Live>>,
    url: Arc<str>,
    in_transaction: Cell<bool>,
    pool: Arc<Pool>,
}

/// Idle connections of one URL.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<Live>>,
    /// True once this process brought the schema up to date.
    pub(crate) migrated: Mutex<bool>,
}

/// The pool of `url`, created on first use.
pub(crate) fn pool(url: &str) -> Arc<Pool> {
    static POOLS: OnceLock<Mutex<HashMap<String, Arc<Pool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    pools.entry(url.to_string()).or_default().clone()
}

impl PgConn {
    /// A connection of `url`'s pool, or a new one.
    pub(crate) fn checkout(url: &str) -> Result<PgConn, StoreError> {
        let pool = pool(url);
        let idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let live = match idle {
            Some(live) if !live.client.is_closed() => live,
            _ => Live { client: connect(url)?, statements: HashMap::new() },
        };
        Ok(PgConn { live: RefCell::new(Some(live)), url: url.into(), in_transaction: Cell::new(false), pool })
    }

    /// The pool this connection returns to.
    pub(crate) fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// The connected client, reconnecting if the server dropped it.
    fn live(&self) -> Result<RefMut<'_, Live>, StoreError> {
        let mut slot = self.live.borrow_mut();
        if slot.as_ref().is_none_or(|l| l.client.is_closed()) {
            *slot = None;
            if self.in_transaction.replace(false) {
                return Err(StoreError::Postgres(format!(
                    "the connection to {} was lost in the middle of a transaction; nothing of it was written",
                    redacted(&self.url)
                )));
            }
            *slot = Some(Live { client: connect(&self.url)?, statements: HashMap::new() });
        }
        Ok(RefMut::map(slot, |s| s.as_mut().expect("connected above")))
    }

    fn error(&self, e: tokio_postgres::Error) -> StoreError {
        pg_error(&self.url, e)
    }

    /// The statement for `sql` (written with SQLite's `?N` placeholders),
    /// prepared once per connection.
    fn statement(&self, live: &mut Live, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = live.statements.get(sql) {
            return Ok(s.clone());
        }
        let prepared = wait(live.client.prepare(&dollar_placeholders(sql))).map_err(|e| self.error(e))?;
        live.statements.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }

    fn params<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
        args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
    }

    /// Run a statement; the rows it changed.
    pub(crate) fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let mut live = self.live()?;
        let statement = self.statement(&mut live, sql)?;
        wait(live.client.execute(&statement, &Self::params(args))).map_err(|e| self.error(e))
    }

    /// Run a query; its rows.
    pub(crate) fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let mut live = self.live()?;
        let statement = self.statement(&mut live, sql)?;
        wait(live.client.query(&statement, &Self::params(args))).map_err(|e| self.error(e))
    }

    /// Run several statements with no arguments (schema changes, and
    /// transaction control: SQLite's `BEGIN IMMEDIATE` is a plain `BEGIN` here).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        let sql = match sql.trim() {
            "BEGIN" | "BEGIN IMMEDIATE" => {
                let live = self.live()?;
                self.in_transaction.set(true);
                return wait(live.client.batch_execute("BEGIN")).map_err(|e| self.error(e));
            }
            "COMMIT" | "ROLLBACK" => {
                self.in_transaction.set(false);
                match self.live.borrow().as_ref() {
                    Some(live) if !live.client.is_closed() => {
                        return wait(live.client.batch_execute(sql)).map_err(|e| self.error(e));
                    }
                    _ => return Err(StoreError::Postgres(format!("{sql}: the connection was lost"))),
                }
            }
            other => other,
        };
        let live = self.live()?;
        wait(live.client.batch_execute(sql)).map_err(|e| self.error(e))
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        let Some(live) = self.live.get_mut().take() else { return };
        if self.in_transaction.get() || live.client.is_closed() {
            return;
        }
        let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < POOL_KEEP {
            // Prepared statements belong to the connection: they go back with it.
            idle.push(live);
        }
    }
}

/// SQLite's `?N` (and bare `?`) placeholders as PostgreSQL's `$N`, outside
/// quoted literals.
pub(crate) fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 0u32;
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                out.push('$');
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        out.push(d);
                    }
                } else {
                    next += 1;
                    out.push_str(&next.to_string());
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_literals() {
        assert_eq!(dollar_placeholders("a = ?1 AND b = ?12"), "a = $1 AND b = $12");
        assert_eq!(dollar_placeholders("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(dollar_placeholders("x = '?1' AND y = ?2"), "x = '?1' AND y = $2");
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(redacted("postgres://u:hunter2@db:5432/x"), "postgres://u:REDACTED@db:5432/x");
        assert!(!redacted("postgres://u:hunter2@db/x?sslmode=disable").contains("hunter2"));
    }
}
