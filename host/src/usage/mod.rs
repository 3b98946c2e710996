//! Token usage and its cost. Cost is computed once, when an attempt ends, from
//! the workspace's price overrides or else the serving plugin's price table
//! ([`prices`]); [`log`] makes each attempt a durable usage event,
//! [`report`] reads them back and [`export`] writes them out row by row.

pub mod export;
pub mod log;
pub mod prices;
pub mod report;
pub mod spool;

pub use log::{UsageError, UsageLog, UsageSink};
pub use prices::{PriceBook, Prices};

use crate::error_class::ErrorClass;
use crate::runtime::bindings::types;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Token counts of one attempt. Cache reads and writes are separate from
/// `input` so each is priced once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens at the full input price.
    pub input: u64,
    /// Completion tokens (reasoning included).
    pub output: u64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write: u64,
    /// Hidden reasoning tokens (a subset of `output`).
    pub reasoning: u64,
}

impl TokenUsage {
    /// Merge counts reported so far in a stream: providers repeat or grow them,
    /// so the largest value per field wins (never a sum).
    pub fn merge(&mut self, u: &types::Usage) {
        self.input = self.input.max(u.input_tokens.into());
        self.output = self.output.max(u.output_tokens.into());
        self.cache_read = self.cache_read.max(u.cache_read_tokens.into());
        self.cache_write = self.cache_write.max(u.cache_write_tokens.into());
        self.reasoning = self.reasoning.max(u.reasoning_tokens.into());
    }

    /// Counts from a complete response.
    pub fn from_wire(u: &types::Usage) -> Self {
        let mut t = TokenUsage::default();
        t.merge(u);
        t
    }

    /// Every prompt token, however priced.
    pub fn prompt_total(&self) -> u64 {
        self.input + self.cache_read + self.cache_write
    }
}

/// One attempt of one llm node against one connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub node: String,
    pub connection: String,
    pub provider: String,
    pub model: String,
    /// `None` when the attempt served the node.
    pub error: Option<ErrorClass>,
    pub usage: TokenUsage,
    pub cost_usd: f64,
    #[serde(serialize_with = "as_millis", deserialize_with = "from_millis")]
    pub latency: Duration,
    #[serde(serialize_with = "opt_as_millis", deserialize_with = "opt_from_millis")]
    pub time_to_first_token: Option<Duration>,
    pub streamed: bool,
    /// No price was known for the model: recorded at $0 and flagged in
    /// reports (a budgeted connection refuses such a call instead).
    pub unpriced: bool,
}

fn from_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let ms = f64::deserialize(d)?;
    Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
}

fn opt_from_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<f64>::deserialize(d)?
        .map(|ms| Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom))
        .transpose()
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

fn opt_as_millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => as_millis(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_usage_merges_by_maximum() {
        let mut t = TokenUsage::default();
        let wire = |i, o| types::Usage {
            input_tokens: i,
            output_tokens: o,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
        };
        t.merge(&wire(10, 1));
        t.merge(&wire(0, 7));
        t.merge(&wire(10, 7));
        assert_eq!((t.input, t.output), (10, 7));
    }
}
