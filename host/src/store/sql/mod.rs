//! One SQL surface over two backends: an embedded SQLite file (the default)
//! and a PostgreSQL server (for several daemons). The store's modules write
//! each statement once, with SQLite's `?N` placeholders and the SQL both
//! databases share (`ON CONFLICT`, `RETURNING`, `COALESCE`); the few places
//! where the dialects part ask [`Db::backend`].

pub mod postgres;
mod value;

pub use value::{Arg, Col, ToArg};

use super::StoreError;
use postgres::PgConn;

/// Which database a [`Db`] speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An open connection to either backend. Not `Sync`: one thread uses it.
pub struct Db(Inner);

enum Inner {
    Lite(rusqlite::Connection),
    Pg(PgConn),
}

/// One row of a result, read column by column with [`Row::get`].
pub struct Row<'a>(RowRef<'a>);

enum RowRef<'a> {
    Lite(&'a rusqlite::Row<'a>),
    Pg(&'a tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `i` (from 0) as `T`.
    pub fn get<T: Col>(&self, i: usize) -> Result<T, StoreError> {
        match &self.0 {
            RowRef::Lite(r) => Ok(T::lite(r, i)?),
            RowRef::Pg(r) => T::pg(r, i).map_err(|e| StoreError::Postgres(postgres::describe(&e))),
        }
    }
}

impl Db {
    pub(crate) fn sqlite(db: rusqlite::Connection) -> Self {
        Db(Inner::Lite(db))
    }

    pub(crate) fn postgres(conn: PgConn) -> Self {
        Db(Inner::Pg(conn))
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.0 {
            Inner::Lite(_) => Backend::Sqlite,
            Inner::Pg(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas).
    pub(crate) fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.0 {
            Inner::Lite(db) => Some(db),
            Inner::Pg(_) => None,
        }
    }

    /// Run one statement; how many rows it changed.
    pub fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize, StoreError> {
        match &self.0 {
            Inner::Lite(db) => Ok(db.prepare_cached(sql)?.execute(rusqlite::params_from_iter(args))?),
            Inner::Pg(conn) => Ok(conn.execute(sql, args)? as usize),
        }
    }

    /// Hand each row of a query to `f`, at most `limit` of them.
    fn visit(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        limit: usize,
        mut f: impl FnMut(&Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match &self.0 {
            Inner::Lite(db) => {
                let mut stmt = db.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
                for _ in 0..limit {
                    let Some(r) = rows.next()? else { break };
                    f(&Row(RowRef::Lite(r)))?;
                }
                Ok(())
            }
            Inner::Pg(conn) => conn.query(sql, args)?.iter().take(limit).try_for_each(|r| f(&Row(RowRef::Pg(r)))),
        }
    }

    /// Every row of a query, each turned into a `T` by `f`.
    pub fn query<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        mut f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.visit(sql, args, usize::MAX, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row of a query, if any.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let (mut f, mut out) = (Some(f), None);
        self.visit(sql, args, 1, |r| {
            out = f.take().map(|f| f(r)).transpose()?;
            Ok(())
        })?;
        Ok(out)
    }

    /// The one row a query always returns (an aggregate, a `RETURNING`).
    pub fn query_one<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, args, f)?.ok_or_else(|| StoreError::Malformed {
            what: "query result",
            detail: "no row where one was expected".into(),
        })
    }

    /// Run statements without arguments (schema changes, transaction control).
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match &self.0 {
            Inner::Lite(db) => Ok(db.execute_batch(sql)?),
            Inner::Pg(conn) => conn.batch(sql),
        }
    }

    /// Serialise this transaction with every other one that takes the same
    /// `key` (on PostgreSQL, a transaction-scoped advisory lock; SQLite's
    /// transactions already hold the one write lock from their start).
    pub fn lock(&self, key: i64) -> Result<(), StoreError> {
        match &self.0 {
            Inner::Lite(_) => Ok(()),
            Inner::Pg(conn) => conn.execute("SELECT pg_advisory_xact_lock(?1)", &[Arg::Int(key)]).map(drop),
        }
    }
}

/// A stable 64-bit key for [`Db::lock`], from names (FNV-1a: the same in
/// every process and every build).
pub fn lock_key(parts: &[&[u8]]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    h as i64
}
