//! Reading an `embedding` node's `config`: the routing fields an `llm` node
//! has, `input` (a text or a list of texts, each a template) and `dimensions`.

use super::embedding_config::{EmbeddingConfig, EmbeddingInput, MAX_EMBEDDING_INPUTS};
use super::path::Loc;
use super::route_parse::{self, raw_config_with_route, take_route};
use super::shape::{Expect, StrOrSeq};
use super::validate::Checker;
use serde::Deserialize;

raw_config_with_route! {
    /// The `config` of an `embedding` node as written.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct RawEmbeddingConfig {
        input: Option<StrOrSeq<RawTexts>>,
        dimensions: Option<u64>,
    }
}

#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct RawTexts(Vec<String>);

impl Expect for RawTexts {
    const EXPECT: &'static str = "a text or an array of texts";
}

/// Checks a raw config and builds the typed one; `None` when anything was reported.
pub(crate) fn convert(raw: RawEmbeddingConfig, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<EmbeddingConfig> {
    let before = cx.issue_count();
    let route = route_parse::convert(take_route!(raw), loc, cx);
    let input_loc = loc.key("input");
    let input = match raw.input {
        None => {
            cx.issue(loc, "missing field `input` (the text, or list of texts, to embed)");
            None
        }
        Some(StrOrSeq::Str(text)) => cx.template(&input_loc, text).map(EmbeddingInput::One),
        Some(StrOrSeq::Seq(RawTexts(texts))) => {
            if texts.is_empty() {
                cx.issue(&input_loc, "must list at least one text");
            } else if texts.len() > MAX_EMBEDDING_INPUTS {
                cx.issue(&input_loc, format!("at most {MAX_EMBEDDING_INPUTS} texts are allowed, got {}", texts.len()));
            }
            let templates: Vec<_> =
                texts.into_iter().enumerate().map(|(i, t)| cx.template(&input_loc.index(i), t)).collect();
            templates.into_iter().collect::<Option<Vec<_>>>().map(EmbeddingInput::Many)
        }
    };
    let dimensions = match raw.dimensions.map(u32::try_from) {
        None => None,
        Some(Ok(n)) if n >= 1 => Some(n),
        Some(_) => {
            cx.issue(&loc.key("dimensions"), "must be an integer from 1 to 4294967295");
            None
        }
    };
    let config = EmbeddingConfig { route: route?, input: input?, dimensions };
    (cx.issue_count() == before).then_some(config)
}
