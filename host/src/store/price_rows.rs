//! Per-workspace price overrides: the operator's word on what a model costs,
//! over the plugin's table.

use super::sql::Db;
use super::{StoreError, now_ms};
use crate::args;
use crate::usage::{PriceBook, Prices};
use serde::Serialize;

/// One override.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceOverride {
    pub provider: String,
    pub model: String,
    pub prices: Prices,
    pub updated_ms: i64,
}

/// Set (or replace) the override for `provider`'s `model`.
pub fn set(db: &Db, workspace_id: i64, provider: &str, model: &str, p: &Prices) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO price_overrides (workspace_id, provider, model, input, output, cache_read, cache_write, \
         cache_write_long, reasoning, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (workspace_id, provider, model) DO UPDATE SET input = ?4, output = ?5, cache_read = ?6, \
         cache_write = ?7, cache_write_long = ?8, reasoning = ?9, updated_ms = ?10",
        args![
            workspace_id,
            provider,
            model,
            p.input,
            p.output,
            p.cache_read,
            p.cache_write,
            p.cache_write_long,
            p.reasoning,
            now_ms()
        ],
    )?;
    Ok(())
}

/// Remove an override; `NotFound` if there was none.
pub fn unset(db: &Db, workspace_id: i64, provider: &str, model: &str) -> Result<(), StoreError> {
    let n = db.execute(
        "DELETE FROM price_overrides WHERE workspace_id = ?1 AND provider = ?2 AND model = ?3",
        args![workspace_id, provider, model],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound {
            what: "price override",
            name: format!("{provider}/{model}"),
            scope: String::new(),
        });
    }
    Ok(())
}

/// Every override of a workspace, by provider and model.
pub fn list(db: &Db, workspace_id: i64) -> Result<Vec<PriceOverride>, StoreError> {
    db.query(
        "SELECT provider, model, input, output, cache_read, cache_write, cache_write_long, reasoning, updated_ms \
         FROM price_overrides \
         WHERE workspace_id = ?1 ORDER BY provider, model",
        args![workspace_id],
        |r| {
            Ok(PriceOverride {
                provider: r.get(0)?,
                model: r.get(1)?,
                prices: Prices {
                    input: r.get(2)?,
                    output: r.get(3)?,
                    cache_read: r.get(4)?,
                    cache_write: r.get(5)?,
                    cache_write_long: r.get(6)?,
                    reasoning: r.get(7)?,
                },
                updated_ms: r.get(8)?,
            })
        },
    )
}

/// A workspace's overrides as the engine uses them.
pub fn book(db: &Db, workspace_id: i64) -> Result<PriceBook, StoreError> {
    let mut book = PriceBook::default();
    for o in list(db, workspace_id)? {
        book.set(&o.provider, &o.model, o.prices);
    }
    Ok(book)
}
