//! The answer of one llm call, whether it arrived whole or as a stream of deltas.

use super::grounding::Grounding;
use crate::runtime::bindings::types::{self, FinishReason};
use crate::usage::TokenUsage;
use serde::Serialize;

/// A tool call the model made.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ToolCallOut {
    pub id: String,
    pub name: String,
    /// JSON text exactly as the model produced it.
    pub arguments: String,
}

/// What a provider answered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Answer {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCallOut>,
    pub finish_reason: Option<&'static str>,
    pub usage: TokenUsage,
    /// The provider's response id.
    pub id: Option<String>,
    /// The model that actually served the request.
    pub served_model: Option<String>,
    /// What web-search grounding did, when asked for and reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grounding: Option<Grounding>,
}

/// The snake_case name of a finish reason.
pub fn finish_name(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::Other => "other",
    }
}

impl Answer {
    /// From a complete (non-streamed) response.
    pub fn from_response(r: types::ChatResponse) -> Self {
        Answer {
            text: r.text,
            reasoning: r.reasoning.filter(|s| !s.is_empty()),
            tool_calls: r
                .tool_calls
                .into_iter()
                .map(|t| ToolCallOut { id: t.id, name: t.name, arguments: t.arguments })
                .collect(),
            finish_reason: r.finish_reason.map(finish_name),
            usage: r.usage.as_ref().map(TokenUsage::from_wire).unwrap_or_default(),
            id: r.id,
            served_model: r.model,
            grounding: r.grounding.map(Grounding::from),
        }
    }
}

/// Builds an [`Answer`] from stream deltas: concatenates text, assembles tool
/// calls by index, and keeps the largest usage counts seen.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    answer: Answer,
    reasoning: String,
    /// (stream index, call) in first-seen order.
    calls: Vec<(u32, ToolCallOut)>,
    /// The provider said the stream is complete.
    pub done: bool,
}

impl StreamAccumulator {
    /// Apply one delta.
    pub fn apply(&mut self, d: types::StreamDelta) {
        self.answer.text.push_str(&d.text);
        self.reasoning.push_str(&d.reasoning);
        for t in d.tool_calls {
            let pos = match self.calls.iter().position(|(i, _)| *i == t.index) {
                Some(p) => p,
                None => {
                    self.calls.push((
                        t.index,
                        ToolCallOut { id: String::new(), name: String::new(), arguments: String::new() },
                    ));
                    self.calls.len() - 1
                }
            };
            let call = &mut self.calls[pos].1;
            if let Some(id) = t.id.filter(|s| !s.is_empty()) {
                call.id = id;
            }
            if let Some(name) = t.name.filter(|s| !s.is_empty()) {
                call.name.push_str(&name);
            }
            call.arguments.push_str(&t.arguments);
        }
        if let Some(u) = &d.usage {
            self.answer.usage.merge(u);
        }
        if let Some(f) = d.finish_reason {
            self.answer.finish_reason = Some(finish_name(f));
        }
        if d.id.is_some() {
            self.answer.id = d.id;
        }
        if d.model.is_some() {
            self.answer.served_model = d.model;
        }
        if let Some(g) = d.grounding {
            self.answer.grounding = Some(g.into());
        }
        self.done |= d.done;
    }

    /// True once the provider signalled the end or a finish reason.
    pub fn is_complete(&self) -> bool {
        self.done || self.answer.finish_reason.is_some()
    }

    /// The assembled answer.
    pub fn finish(mut self) -> Answer {
        if !self.reasoning.is_empty() {
            self.answer.reasoning = Some(self.reasoning);
        }
        self.answer.tool_calls = self.calls.into_iter().map(|(_, c)| c).collect();
        self.answer
    }
}
