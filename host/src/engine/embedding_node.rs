//! One embedding node: its texts rendered, sent through the node's route
//! (see `routed`: the same failover, balancing, limits, budgets and usage as
//! an llm node), and the vectors kept as a typed output. They become JSON only
//! at an edge that asks for it (a template reading them, a report, the HTTP
//! answer), never on the way.

use super::Inner;
use super::attempt::AttemptError;
use super::events::{EventSink, Fragment};
use super::prompt_size::PromptSize;
use super::report::Skip;
use super::route::ResolvedConnection;
use super::routed::{self, Call};
use crate::limits::{Hold, Used};
use crate::principal::Principal;
use crate::runtime::bindings::types::{self, Capabilities};
use crate::telemetry::genai;
use crate::transport::Transport;
use crate::usage::{AttemptRecord, TokenUsage};
use crate::workflow::{EmbeddingConfig, Lookup, TemplateError};
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

/// What an embedding node produced: one vector per input, in input order.
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddingOutput {
    pub vectors: Vec<Vec<f32>>,
    /// The model that served (as the provider named it, else as asked).
    pub model: String,
    /// The connection that served.
    pub connection: String,
    pub usage: TokenUsage,
    pub cost_usd: f64,
}

/// The node's texts, rendered.
pub fn inputs(config: &EmbeddingConfig, ctx: &dyn Lookup) -> Result<Vec<String>, TemplateError> {
    config.input.templates().iter().map(|t| t.render(ctx)).collect()
}

/// An embeddings request on its way through a route.
struct EmbedCall {
    request: types::EmbeddingRequest,
    size: PromptSize,
    /// Bytes of the longest input: each input must fit the model's window.
    longest: u64,
}

impl Call for EmbedCall {
    type Out = types::EmbeddingResponse;

    const OPERATION: &'static str = genai::EMBEDDINGS;

    fn response_model(out: &Self::Out) -> Option<&str> {
        out.model.as_deref()
    }

    fn unsuitable(&self, route: &ResolvedConnection) -> Option<String> {
        let (name, provider) = (&route.connection.name, &route.connection.provider);
        if !route.plugin.info().capabilities.contains(Capabilities::EMBEDDINGS) {
            return Some(format!("connection `{name}`: its plugin ({provider}) does not embed text"));
        }
        None
    }

    fn target(&mut self, model: &str, route: &ResolvedConnection) {
        let _ = route;
        self.request.model.clear();
        self.request.model.push_str(model);
    }

    fn size(&self) -> PromptSize {
        self.size
    }

    fn min_tokens(&self) -> u64 {
        PromptSize::min_tokens_of(self.longest)
    }

    fn max_tokens(&self) -> Option<u32> {
        // Embeddings bill input tokens only.
        Some(0)
    }

    fn attempt<'a>(
        &'a self,
        route: &'a ResolvedConnection,
        transport: &'a Transport,
        _on_text: &'a mut (dyn FnMut(Fragment<'_>) + Send),
    ) -> impl Future<Output = Result<Self::Out, AttemptError>> + Send + 'a {
        route.embed(transport, &self.request)
    }

    /// A provider that counts no tokens (the Gemini API's embeddings) is
    /// booked at the upper bound its hold reserved: spend is never understated.
    fn usage(&self, out: &Self::Out) -> TokenUsage {
        match &out.usage {
            Some(u) => TokenUsage::from_wire(u),
            None => TokenUsage { input: self.size.max_tokens(), ..TokenUsage::default() },
        }
    }
}

/// Run an embedding node whose texts are rendered. Holds and attempts are
/// left for the caller as an llm node leaves them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    inner: &Inner,
    by: &Principal,
    node: &Arc<str>,
    config: &EmbeddingConfig,
    inputs: Vec<String>,
    sink: &dyn EventSink,
    attempts: &mut Vec<AttemptRecord>,
    skipped: &mut Vec<Skip>,
    holds: &mut Vec<(Hold, Used)>,
) -> Result<(EmbeddingOutput, String), String> {
    let size = PromptSize::of_texts(&inputs);
    let longest = inputs.iter().map(|t| t.len() as u64).max().unwrap_or(0);
    let request = types::EmbeddingRequest { model: String::new(), inputs, dimensions: config.dimensions };
    let mut call = EmbedCall { request, size, longest };
    let served = routed::run(inner, by, node, &config.route, &mut call, sink, attempts, skipped, holds)
        .await
        .map_err(|e| e.message)?;
    let usage = call.usage(&served.out);
    let output = EmbeddingOutput {
        vectors: served.out.vectors,
        model: served.out.model.unwrap_or(served.model),
        connection: served.connection.clone(),
        usage,
        cost_usd: served.cost,
    };
    Ok((output, served.connection))
}
