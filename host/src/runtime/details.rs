//! The optional declarations a plugin may export beside its contract
//! (`wit/details`): the rate limits its provider documents and the price of
//! long-lived cache writes. Read once at load, like `info`; a plugin that
//! exports nothing declares nothing and runs the same.

use super::sandbox::Sandbox;
use std::collections::HashMap;

wasmtime::component::bindgen!({
    path: "../wit/details/v0.1",
    world: "details-only",
});

use self::exports::llmnode::provider_details::details as wire;

/// The interface a plugin exports to make these declarations.
pub const EXPORT: &str = "llmnode:provider-details/details@0.1.0";

/// What a plugin declared.
#[derive(Debug, Clone, Default)]
pub struct PluginDetails {
    /// Requests per minute its provider documents, for connections that set none.
    pub default_rpm: Option<u32>,
    /// Tokens per minute its provider documents, for connections that set none.
    pub default_tpm: Option<u32>,
    /// USD per million cache-write tokens of a long-lived (over five minutes) entry, by model.
    long_cache_write: HashMap<String, f64>,
}

impl PluginDetails {
    /// The price of a long-lived cache write for `model`, if the plugin declared one.
    pub fn long_cache_write_price(&self, model: &str) -> Option<f64> {
        self.long_cache_write.get(model).copied()
    }

    /// Every model with a declared long-lived cache-write price.
    pub fn long_cache_write_prices(&self) -> impl Iterator<Item = (&str, f64)> {
        self.long_cache_write.iter().map(|(m, p)| (m.as_str(), *p))
    }

    /// Check and convert what the plugin returned; a price that is not a
    /// finite, non-negative number is refused with the model named.
    fn from_wire(d: wire::PluginDetails) -> Result<Self, String> {
        let mut long_cache_write = HashMap::with_capacity(d.models.len());
        for m in d.models {
            if let Some(price) = m.long_cache_write_price {
                if !price.is_finite() || price < 0.0 {
                    return Err(format!("model {:?} has a negative or non-finite long cache-write price", m.id));
                }
                long_cache_write.insert(m.id, price);
            }
        }
        Ok(PluginDetails {
            default_rpm: d.default_limits.requests_per_minute,
            default_tpm: d.default_limits.tokens_per_minute,
            long_cache_write,
        })
    }
}

/// Call the plugin's `describe` in `store`.
pub(crate) fn describe(
    pre: &wasmtime::component::InstancePre<Sandbox>,
    store: &mut wasmtime::Store<Sandbox>,
) -> wasmtime::Result<Result<PluginDetails, String>> {
    let bindings = DetailsOnlyPre::new(pre.clone())?.instantiate(&mut *store)?;
    let raw = bindings.llmnode_provider_details_details().call_describe(&mut *store)?;
    Ok(PluginDetails::from_wire(raw))
}
