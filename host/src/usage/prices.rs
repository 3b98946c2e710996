//! What tokens cost: a plugin's price table, overridden per workspace by the
//! operator (negotiated rates, a model the plugin does not know yet).

use super::TokenUsage;
use crate::runtime::PluginDetails;
use crate::runtime::bindings::types;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    /// Cache reads; falls back to `input` when the provider gives no discount.
    pub cache_read: Option<f64>,
    /// Cache writes; falls back to `input` when not priced differently.
    pub cache_write: Option<f64>,
    /// Cache writes of entries asked to live longer than
    /// [`LONG_CACHE_TTL_SECS`] (Anthropic's 1-hour cache); falls back to
    /// `cache_write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_long: Option<f64>,
    /// Reasoning tokens, where the provider prices them unlike other output
    /// tokens; falls back to `output`. A plugin's table sets it (contract
    /// 0.4.0's `reasoning-price`), and an operator's override may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
}

/// A cache lifetime above this many seconds is a long one: the providers
/// that let a request choose offer five minutes or an hour, and any wish over
/// five minutes gets the hour (the SDK's `CachePlan::wants_hour`).
pub const LONG_CACHE_TTL_SECS: u32 = 300;

impl Prices {
    /// The prices a plugin lists for a model. A long-lived cache write costs
    /// the model's price for the shortest lifetime it lists above
    /// [`LONG_CACHE_TTL_SECS`] (contract 0.4.0), else what the plugin's
    /// details declare.
    pub fn of(model: &types::ModelInfo, details: &PluginDetails) -> Self {
        let long = model
            .cache_write_prices
            .iter()
            .filter(|p| p.ttl_seconds > LONG_CACHE_TTL_SECS)
            .min_by_key(|p| p.ttl_seconds)
            .map(|p| p.price);
        Prices {
            input: model.input_price,
            output: model.output_price,
            cache_read: model.cached_input_price,
            cache_write: model.cache_write_price,
            cache_write_long: long.or_else(|| details.long_cache_write_price(&model.id)),
            reasoning: model.reasoning_price,
        }
    }

    /// The prices of a call whose cache entries are asked to live `ttl_secs`
    /// (the node's cache hint, else the connection's `cache_ttl_secs`): its
    /// cache writes cost the long-lived rate when the lifetime is long.
    pub fn for_cache_ttl(self, ttl_secs: Option<u32>) -> Self {
        match (ttl_secs, self.cache_write_long) {
            (Some(ttl), Some(long)) if ttl > LONG_CACHE_TTL_SECS => Prices { cache_write: Some(long), ..self },
            _ => self,
        }
    }

    /// The dearest rate an input token can be billed at (a cache write may
    /// cost more than a plain input token): what a worst case reserves.
    pub fn dearest_input(&self) -> f64 {
        self.input.max(self.cache_read.unwrap_or(0.0)).max(self.cache_write.unwrap_or(0.0))
    }

    /// The dearest rate an output token can be billed at: what a worst case reserves.
    pub fn dearest_output(&self) -> f64 {
        self.output.max(self.reasoning.unwrap_or(0.0))
    }

    /// The cost of `usage` in USD. Each token is priced once: cache reads and
    /// writes are not part of `usage.input`, and reasoning tokens (part of
    /// `usage.output`) cost the reasoning price where there is one.
    pub fn cost(&self, usage: &TokenUsage) -> f64 {
        let per = |tokens: u64, price: f64| tokens as f64 * price / 1_000_000.0;
        let reasoning = usage.reasoning.min(usage.output);
        per(usage.input, self.input)
            + per(usage.output - reasoning, self.output)
            + per(reasoning, self.reasoning.unwrap_or(self.output))
            + per(usage.cache_read, self.cache_read.unwrap_or(self.input))
            + per(usage.cache_write, self.cache_write.unwrap_or(self.input))
    }
}

/// A workspace's price overrides by provider, then model. Looked up without
/// allocating, once per connection an llm node tries.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    by_provider: HashMap<String, HashMap<String, Prices>>,
}

impl PriceBook {
    /// Price `model` of `provider` at `prices` instead of the plugin's table.
    pub fn set(&mut self, provider: &str, model: &str, prices: Prices) {
        self.by_provider.entry(provider.to_string()).or_default().insert(model.to_string(), prices);
    }

    /// The override for `model` of `provider`, if the operator set one.
    pub fn get(&self, provider: &str, model: &str) -> Option<Prices> {
        self.by_provider.get(provider)?.get(model).copied()
    }

    /// The prices an attempt is charged at: the override, else the plugin's;
    /// `None` for a model nobody priced (it runs at $0, flagged, and a
    /// budgeted connection refuses it).
    pub fn resolve(&self, provider: &str, model: &str, plugin: &crate::runtime::LoadedPlugin) -> Option<Prices> {
        self.get(provider, model).or_else(|| plugin.model(model).map(|m| Prices::of(m, plugin.details())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_prices_cache_reads_and_writes_once() {
        let prices = Prices { input: 2.5, output: 10.0, cache_read: Some(1.25), ..Default::default() };
        let usage = TokenUsage { input: 1_000, output: 500, cache_read: 2_000, cache_write: 100, reasoning: 0 };
        // 1000×2.5 + 500×10 + 2000×1.25 + 100×2.5, per million
        let expected = (2_500.0 + 5_000.0 + 2_500.0 + 250.0) / 1_000_000.0;
        assert!((prices.cost(&usage) - expected).abs() < 1e-12);
    }

    #[test]
    fn a_long_lived_cache_write_costs_the_long_rate_only_when_asked_for() {
        let sonnet = Prices {
            input: 3.0,
            output: 15.0,
            cache_read: Some(0.3),
            cache_write: Some(3.75),
            cache_write_long: Some(6.0),
            reasoning: None,
        };
        let usage = TokenUsage { cache_write: 1_000_000, ..Default::default() };
        for (ttl, dollars) in [(None, 3.75), (Some(300), 3.75), (Some(301), 6.0), (Some(3600), 6.0)] {
            assert_eq!(sonnet.for_cache_ttl(ttl).cost(&usage), dollars, "ttl {ttl:?}");
        }
        let unpriced_long = Prices { cache_write_long: None, ..sonnet };
        assert_eq!(unpriced_long.for_cache_ttl(Some(3600)).cost(&usage), 3.75);
    }

    #[test]
    fn reasoning_tokens_cost_the_reasoning_price_only_where_one_is_set() {
        let usage = TokenUsage { output: 1_000_000, reasoning: 400_000, ..Default::default() };
        let plain = Prices { input: 1.0, output: 10.0, ..Default::default() };
        assert_eq!(plain.cost(&usage), 10.0);
        let dearer = Prices { reasoning: Some(20.0), ..plain };
        assert_eq!(dearer.cost(&usage), 0.6 * 10.0 + 0.4 * 20.0);
        assert_eq!(dearer.dearest_output(), 20.0);
        // A provider that reports more reasoning than output is not believed past the output.
        let odd = TokenUsage { output: 10, reasoning: 50, ..Default::default() };
        assert_eq!(dearer.cost(&odd), 10.0 * 20.0 / 1_000_000.0);
    }

    #[test]
    fn a_model_s_cache_write_prices_by_lifetime_give_the_long_rate() {
        use crate::runtime::bindings::types::{CacheWritePrice, Capabilities, Modalities, ModelInfo};
        let model = ModelInfo {
            id: "m".into(),
            context_window: 200_000,
            max_output_tokens: Some(8_192),
            input_price: 3.0,
            output_price: 15.0,
            cached_input_price: Some(0.3),
            cache_write_price: Some(3.75),
            capabilities: Capabilities::PROMPT_CACHING,
            input_modalities: Modalities::TEXT,
            output_modalities: Modalities::TEXT,
            reasoning_price: None,
            cache_write_prices: vec![
                CacheWritePrice { ttl_seconds: 86_400, price: 9.0 },
                CacheWritePrice { ttl_seconds: 300, price: 3.75 },
                CacheWritePrice { ttl_seconds: 3_600, price: 6.0 },
            ],
        };
        let prices = Prices::of(&model, &PluginDetails::default());
        assert_eq!((prices.cache_write, prices.cache_write_long), (Some(3.75), Some(6.0)));
    }

    #[test]
    fn an_override_wins_over_the_plugin_table() {
        let mut book = PriceBook::default();
        book.set("openai", "gpt-4o", Prices { input: 1.0, output: 2.0, ..Default::default() });
        assert_eq!(book.get("openai", "gpt-4o").unwrap().input, 1.0);
        assert_eq!(book.get("openai", "gpt-4o-mini"), None);
        assert!(book.get("anthropic", "gpt-4o").is_none());
    }
}
