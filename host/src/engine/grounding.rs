//! What web-search grounding did for an answer, as the node output and the
//! HTTP API show it: the searches run, the sources used and which spans of
//! the answer each source supports (contract 0.4.0's `grounding-metadata`).

use crate::runtime::bindings::types;
use serde::Serialize;

/// An answer's grounding.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Grounding {
    /// The search queries the model ran.
    pub web_search_queries: Vec<String>,
    /// The sources, in the provider's order (supports point into it).
    pub sources: Vec<Source>,
    /// Spans of the answer and the sources supporting each.
    pub supports: Vec<Support>,
    /// Search-suggestion markup the provider asks to display with the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_entry_point: Option<String>,
}

/// A source the answer cites.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A span of the answer (`start_index..end_index` in the provider's units:
/// bytes of UTF-8 for Gemini) and the indexes into `sources` supporting it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Support {
    pub start_index: u32,
    pub end_index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub source_indices: Vec<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub confidence_scores: Vec<f32>,
}

impl From<types::GroundingMetadata> for Grounding {
    fn from(g: types::GroundingMetadata) -> Self {
        Grounding {
            web_search_queries: g.web_search_queries,
            sources: g.sources.into_iter().map(|s| Source { uri: s.uri, title: s.title }).collect(),
            supports: g
                .supports
                .into_iter()
                .map(|s| Support {
                    start_index: s.start_index,
                    end_index: s.end_index,
                    text: s.text,
                    source_indices: s.source_indices,
                    confidence_scores: s.confidence_scores,
                })
                .collect(),
            search_entry_point: g.search_entry_point,
        }
    }
}
