//! The Lua scripts, each run atomically by Redis with the server's clock
//! (`TIME`). They run by EVALSHA (loaded on first use after a restart): the
//! SHA-1 names the exact text, so daemons of two versions during a rolling
//! deploy each run their own code, never a mix; the key layout's version
//! (`v1`) changes whenever the data's meaning does.

use redis::{Script, Value};
use std::sync::LazyLock;

/// Every script, compiled once.
pub struct Scripts {
    pub admit: Script,
    pub settle: Script,
    pub refresh: Script,
    pub beat: Script,
    pub breaker: Script,
    pub merge: Script,
}

macro_rules! script {
    ($file:literal) => {
        Script::new(concat!(include_str!("lua/common.lua"), include_str!($file)))
    };
}

/// The scripts.
pub static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    admit: script!("lua/admit.lua"),
    settle: script!("lua/settle.lua"),
    refresh: script!("lua/refresh.lua"),
    beat: script!("lua/beat.lua"),
    breaker: script!("lua/breaker.lua"),
    merge: script!("lua/merge.lua"),
});

/// A script's reply was not what the script returns (a bug, or a foreign key).
#[derive(Debug, thiserror::Error)]
#[error("unexpected reply from a limits script: {0}")]
pub struct BadReply(pub String);

/// What the admission script decided.
#[derive(Debug)]
pub enum AdmitReply {
    Admitted(Seen),
    /// Refused, with the windows' live buckets to say why and until when.
    Refused {
        seen: Seen,
        rpm: Vec<(i64, u64)>,
        tpm: Vec<(i64, u64)>,
    },
    /// Today's spend is missing: call again with the store's spend for `day`.
    NeedSeed {
        day: i64,
    },
}

/// The state the script saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub admitted: bool,
    /// The server's clock, in milliseconds.
    pub now_ms: i64,
    pub spent: i64,
    pub held: i64,
    /// This call seeded today's spend from the store.
    pub seeded: bool,
    /// Holds of dead owners released by this call.
    pub reaped: i64,
    /// Use after this call (admitted replies only).
    pub rpm_used: u64,
    pub tpm_used: u64,
}

/// What the settle script did.
#[derive(Debug)]
pub enum SettleReply {
    /// Settled (now or before); whether this call seeded today's spend.
    Done {
        seeded: bool,
    },
    NeedSeed {
        day: i64,
    },
}

fn int(v: &Value) -> Result<i64, BadReply> {
    match v {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()),
        _ => None,
    }
    .ok_or_else(|| BadReply(format!("{v:?} is not an integer")))
}

fn array(v: &Value) -> Result<&[Value], BadReply> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(BadReply(format!("{v:?} is not an array"))),
    }
}

fn buckets(v: &Value) -> Result<Vec<(i64, u64)>, BadReply> {
    let flat = array(v)?;
    flat.chunks_exact(2).map(|p| Ok((int(&p[0])?, int(&p[1])?.max(0) as u64))).collect()
}

impl AdmitReply {
    /// Read the admission script's reply.
    pub fn parse(v: &Value) -> Result<Self, BadReply> {
        let items = array(v)?;
        let at = |i: usize| items.get(i).ok_or_else(|| BadReply(format!("{} items", items.len())));
        let code = int(at(0)?)?;
        if code == 2 {
            return Ok(AdmitReply::NeedSeed { day: int(at(1)?)? });
        }
        let mut seen = Seen {
            now_ms: int(at(1)?)?,
            spent: int(at(2)?)?,
            held: int(at(3)?)?,
            seeded: int(at(4)?)? == 1,
            reaped: int(at(5)?)?,
            ..Seen::default()
        };
        match code {
            1 => {
                seen.admitted = true;
                seen.rpm_used = int(at(6)?)?.max(0) as u64;
                seen.tpm_used = int(at(7)?)?.max(0) as u64;
                Ok(AdmitReply::Admitted(seen))
            }
            0 => Ok(AdmitReply::Refused { rpm: buckets(at(6)?)?, tpm: buckets(at(7)?)?, seen }),
            n => Err(BadReply(format!("code {n}"))),
        }
    }
}

impl SettleReply {
    /// Read the settle script's reply.
    pub fn parse(v: &Value) -> Result<Self, BadReply> {
        let items = array(v)?;
        match items {
            [code, x] if int(code)? == 1 => Ok(SettleReply::Done { seeded: int(x)? == 1 }),
            [code, day] if int(code)? == 2 => Ok(SettleReply::NeedSeed { day: int(day)? }),
            _ => Err(BadReply(format!("{v:?}"))),
        }
    }
}
