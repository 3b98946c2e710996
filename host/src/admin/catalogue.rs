//! The model catalogue: per connection, the models it serves with their
//! context window, maximum output, modalities, capabilities and prices as a
//! call is charged (an operator's override applied), for `llmnode models`
//! and `GET /v1/models`. One definition for both.

use super::{Admin, AdminError};
use crate::escape::Escaped;
use crate::runtime::flag_names::{capability_names, modality_names};
use crate::runtime::{LoadedPlugin, PluginRegistry};
use crate::store::{connection_rows, price_rows, workspaces};
use crate::usage::{PriceBook, Prices};
use serde::Serialize;

/// Where a model's prices come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// The operator's override for the workspace.
    Override,
    /// The plugin's table.
    Plugin,
    /// Nobody priced it: calls run at $0, flagged, and a budgeted connection refuses them.
    Unpriced,
}

/// One model one connection serves.
#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    pub connection: String,
    pub provider: String,
    pub model: String,
    /// Tokens of input and output together; `None`: the plugin does not know the model.
    pub context_window: Option<u32>,
    pub max_output_tokens: Option<u32>,
    pub input_modalities: Vec<&'static str>,
    pub output_modalities: Vec<&'static str>,
    pub capabilities: Vec<&'static str>,
    /// USD per million tokens, as calls are charged.
    pub prices: Option<Prices>,
    pub price_source: PriceSource,
}

/// `model` on connection `connection` of `provider`, served by `plugin`
/// (`None`: not installed) and priced through `book`.
pub fn entry(
    connection: &str,
    provider: &str,
    model: &str,
    plugin: Option<&LoadedPlugin>,
    book: &PriceBook,
) -> ModelEntry {
    let info = plugin.and_then(|p| p.model(model));
    let overridden = book.get(provider, model);
    let listed = info.zip(plugin).map(|(m, p)| Prices::of(m, p.details()));
    let price_source = match (overridden, listed) {
        (Some(_), _) => PriceSource::Override,
        (None, Some(_)) => PriceSource::Plugin,
        (None, None) => PriceSource::Unpriced,
    };
    ModelEntry {
        connection: connection.to_string(),
        provider: provider.to_string(),
        model: model.to_string(),
        context_window: info.map(|m| m.context_window).filter(|w| *w > 0),
        max_output_tokens: info.and_then(|m| m.max_output_tokens),
        input_modalities: info.map(|m| modality_names(m.input_modalities)).unwrap_or_default(),
        output_modalities: info.map(|m| modality_names(m.output_modalities)).unwrap_or_default(),
        capabilities: info.map(|m| capability_names(m.capabilities)).unwrap_or_default(),
        prices: overridden.or(listed),
        price_source,
    }
}

/// The models a connection serves: those it allows (with its default model),
/// or, when it allows any, every model its plugin lists (the default model
/// first if the plugin does not list it).
fn served_models(allowed: &[String], default_model: Option<&str>, plugin: Option<&LoadedPlugin>) -> Vec<String> {
    let mut models: Vec<String> = if allowed.is_empty() {
        plugin.map(|p| p.info().models.iter().map(|m| m.id.clone()).collect()).unwrap_or_default()
    } else {
        allowed.to_vec()
    };
    if let Some(default) = default_model.filter(|d| !models.iter().any(|m| m == d)) {
        models.insert(0, default.to_string());
    }
    models
}

impl Admin {
    /// The catalogue of `workspace`'s connections (only `connection`, if
    /// named), with their plugins from `plugins`.
    pub fn model_catalogue(
        &self,
        workspace: &str,
        plugins: &PluginRegistry,
        connection: Option<&str>,
    ) -> Result<Vec<ModelEntry>, AdminError> {
        let db = self.store.db();
        let ws = workspaces::get(db, workspace)?;
        let book = price_rows::book(db, ws.id)?;
        let rows = connection_rows::list(db, ws.id)?;
        if let Some(name) = connection.filter(|n| !rows.iter().any(|r| r.name == *n)) {
            return Err(AdminError::Invalid(format!(
                "workspace `{}` has no connection `{}`",
                Escaped(workspace),
                Escaped(name)
            )));
        }
        let mut entries = Vec::new();
        for row in rows.iter().filter(|r| connection.is_none_or(|n| r.name == n)) {
            let plugin = plugins.get(&row.provider).map(AsRef::as_ref);
            let s = &row.settings;
            for model in served_models(&s.models, s.default_model.as_deref(), plugin) {
                entries.push(entry(&row.name, &row.provider, &model, plugin, &book));
            }
        }
        Ok(entries)
    }
}
