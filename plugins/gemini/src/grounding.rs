//! Grounding with Google Search: the request's tool and the answer's
//! `groundingMetadata`.
//!
//! Gemini 2 and later take the `google_search` tool (Vertex AI documents it as
//! `googleSearch`); Gemini 1.5 takes `google_search_retrieval`
//! (`googleSearchRetrieval`), optionally with a dynamic-retrieval threshold.
//! References: https://ai.google.dev/gemini-api/docs/google-search,
//! https://cloud.google.com/vertex-ai/generative-ai/docs/grounding/grounding-with-google-search,
//! https://ai.google.dev/api/generate-content#GroundingMetadata

use llmnode_sdk::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

/// The tool entry asking for grounding, if the request asks for it;
/// `vertex`: spell it as Vertex AI documents it.
pub fn tool(req: &ChatRequest, vertex: bool) -> Result<Option<Value>, ProviderError> {
    let Some(grounding) = req.grounding.as_ref().filter(|g| g.web_search) else { return Ok(None) };
    let legacy = req.model.strip_prefix("models/").unwrap_or(&req.model).starts_with("gemini-1.");
    if !legacy {
        if let Some(threshold) = grounding.dynamic_threshold {
            return Err(ProviderError::invalid(format!(
                "grounding.dynamic_threshold ({threshold}) applies to Gemini 1.5 models only; {} decides by itself when to search",
                req.model
            )));
        }
        return Ok(Some(if vertex { json!({ "googleSearch": {} }) } else { json!({ "google_search": {} }) }));
    }
    let config = match grounding.dynamic_threshold {
        Some(t) if !(0.0..=1.0).contains(&t) => {
            return Err(ProviderError::invalid(format!("grounding.dynamic_threshold must be within 0 and 1, not {t}")));
        }
        Some(t) if vertex => {
            json!({ "dynamicRetrievalConfig": { "mode": "MODE_DYNAMIC", "dynamicThreshold": json::decimal(t) } })
        }
        Some(t) => {
            json!({ "dynamic_retrieval_config": { "mode": "MODE_DYNAMIC", "dynamic_threshold": json::decimal(t) } })
        }
        None => json!({}),
    };
    Ok(Some(if vertex {
        json!({ "googleSearchRetrieval": config })
    } else {
        json!({ "google_search_retrieval": config })
    }))
}

/// A candidate's `groundingMetadata`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Wire {
    #[serde(default)]
    web_search_queries: Vec<String>,
    search_entry_point: Option<SearchEntryPoint>,
    #[serde(default)]
    grounding_chunks: Vec<Chunk>,
    #[serde(default)]
    grounding_supports: Vec<Support>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchEntryPoint {
    rendered_content: Option<String>,
}

#[derive(Deserialize)]
struct Chunk {
    /// A web page; other kinds (retrieved context, maps) are not web sources.
    web: Option<Web>,
}

#[derive(Deserialize)]
struct Web {
    #[serde(default)]
    uri: String,
    title: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Support {
    #[serde(default)]
    segment: Segment,
    #[serde(default)]
    grounding_chunk_indices: Vec<u32>,
    #[serde(default)]
    confidence_scores: Vec<f32>,
}

/// Proto3 JSON leaves out zero values: a segment at the start of the answer
/// has no `startIndex`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Segment {
    #[serde(default)]
    start_index: u32,
    #[serde(default)]
    end_index: u32,
    text: Option<String>,
}

impl Wire {
    /// The contract's metadata. Chunks that are not web pages keep their
    /// place (with an empty address) so the supports' indices stay right.
    pub fn into_metadata(self) -> GroundingMetadata {
        GroundingMetadata {
            web_search_queries: self.web_search_queries,
            sources: self
                .grounding_chunks
                .into_iter()
                .map(|c| match c.web {
                    Some(web) => GroundingSource { uri: web.uri, title: web.title },
                    None => GroundingSource { uri: String::new(), title: None },
                })
                .collect(),
            supports: self
                .grounding_supports
                .into_iter()
                .map(|s| GroundingSupport {
                    start_index: s.segment.start_index,
                    end_index: s.segment.end_index,
                    text: s.segment.text,
                    source_indices: s.grounding_chunk_indices,
                    confidence_scores: s.confidence_scores,
                })
                .collect(),
            search_entry_point: self.search_entry_point.and_then(|e| e.rendered_content),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmnode_sdk::Grounding;

    fn asking(model: &str, threshold: Option<f32>) -> ChatRequest {
        ChatRequest {
            model: model.into(),
            grounding: Some(Grounding { web_search: true, dynamic_threshold: threshold }),
            ..Default::default()
        }
    }

    #[test]
    fn each_generation_and_endpoint_gets_its_documented_tool() {
        assert_eq!(tool(&asking("gemini-2.5-flash", None), false).unwrap(), Some(json!({ "google_search": {} })));
        assert_eq!(tool(&asking("gemini-2.5-flash", None), true).unwrap(), Some(json!({ "googleSearch": {} })));
        assert_eq!(
            tool(&asking("gemini-1.5-pro", Some(0.3)), false).unwrap(),
            Some(
                json!({ "google_search_retrieval": { "dynamic_retrieval_config": { "mode": "MODE_DYNAMIC", "dynamic_threshold": 0.3 } } })
            )
        );
        assert_eq!(
            tool(&asking("gemini-1.5-flash", None), true).unwrap(),
            Some(json!({ "googleSearchRetrieval": {} }))
        );
        assert_eq!(tool(&ChatRequest::default(), false).unwrap(), None);
        let err = tool(&asking("gemini-2.5-pro", Some(0.5)), false).unwrap_err();
        assert!(err.message.contains("Gemini 1.5 models only"), "{}", err.message);
        assert_eq!(tool(&asking("gemini-1.5-pro", Some(1.5)), false).unwrap_err().kind, ErrorKind::InvalidRequest);
    }
}
