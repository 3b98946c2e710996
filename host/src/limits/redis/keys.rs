//! Key names: nothing but a workspace id and a connection name, never a
//! secret. Every key of one connection shares the hash tag `{ws:connection}`
//! so one script may touch them all (and they stay in one slot on a cluster).
//! `v1` is the layout's version: a daemon with a different layout never reads
//! these.

use super::super::LimitKey;

/// Prefix of every key.
const PREFIX: &str = "llmnode:v1:";

/// One connection's keys, built once per connection and reused.
#[derive(Debug)]
pub struct Keys {
    /// RPM window: hash of second -> requests.
    pub rpm: String,
    /// TPM window: hash of second -> tokens.
    pub tpm: String,
    /// Booked spend: hash of UTC day -> nano-dollars.
    pub spent: String,
    /// Budget held by calls in flight: hash of hold id -> nano-dollars.
    pub holds: String,
    /// When each hold expires unless its owner refreshes it: sorted set.
    pub expiry: String,
    /// Holds settled lately, so a repeated settle books nothing: sorted set.
    pub settled: String,
    /// The shared circuit breaker: hash `f` (failures), `u` (open until, ms).
    pub breaker: String,
}

impl Keys {
    /// The keys of `key`.
    pub fn of(key: &LimitKey) -> Self {
        let tag = format!("{PREFIX}{{{}:{}}}:", key.scope, key.connection);
        let k = |kind: &str| format!("{tag}{kind}");
        Keys {
            rpm: k("rpm"),
            tpm: k("tpm"),
            spent: k("spent"),
            holds: k("holds"),
            expiry: k("expiry"),
            settled: k("settled"),
            breaker: k("breaker"),
        }
    }
}

/// The sorted set of live daemons: member = daemon id, score = when its
/// entry expires unless it beats again.
pub const DAEMONS: &str = "llmnode:v1:daemons";
