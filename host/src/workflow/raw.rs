//! The workflow file as written, before any check that needs more than one field.
//!
//! It is read in one of two modes. The fast mode (`DEFER = false`) reads every
//! node's `config` straight into [`RawLlmConfig`], which also has the
//! `template` field so one shape fits both node types whatever the key order,
//! and a valid file is parsed in a single pass without path tracking. If that
//! pass meets a shape error, the file is read again with `DEFER = true`: every
//! `config` is kept as a JSON value and decoded per node, against its
//! `node_type` and with path tracking, so one bad node does not hide the
//! problems of the others and every message is precise.

use super::inputs::RawInputs;
use super::llm_parse::RawLlmConfig;
use super::shape::{Obj, StrictValue};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The top-level object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkflow<const DEFER: bool> {
    pub name: String,
    pub description: Option<String>,
    pub inputs: Option<RawInputs>,
    pub nodes: Vec<NodeIn<DEFER>>,
    pub output: Option<StrictValue>,
}

/// A node as written; `body` holds its `config`.
#[derive(Debug)]
pub(crate) struct RawNode {
    pub id: String,
    pub node_type: RawNodeType,
    pub depends_on: Option<Vec<String>>,
    pub body: RawBody,
}

impl RawNode {
    /// Whether the fast pass's union-shaped config suits the node type; if not,
    /// the file is re-read in deferred mode for a precise message.
    pub(crate) fn fits_node_type(&self) -> bool {
        match (&self.body, self.node_type) {
            (RawBody::Config(config), RawNodeType::Template) => config.is_template_only(),
            // The fast pass's shape is the llm node's: an embedding node is
            // always read again against its own.
            (RawBody::Config(_), RawNodeType::Embedding) => false,
            _ => true,
        }
    }
}

/// A node's `config`, decoded now or kept for decoding once the type is known.
#[derive(Debug)]
pub(crate) enum RawBody {
    /// Fast mode: the union of both node types' fields.
    Config(Box<RawLlmConfig>),
    /// Deferred mode: decoded later, against `node_type`, with the error collected per node.
    Deferred(Value),
}

/// The known node types; serde lists them when another is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawNodeType {
    Llm,
    Embedding,
    Template,
}

/// A `template` node's `config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTemplateConfig {
    pub template: String,
}

/// [`RawNode`] read in mode `DEFER`.
#[derive(Debug)]
pub(crate) struct NodeIn<const DEFER: bool>(pub RawNode);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum NodeField {
    Id,
    NodeType,
    DependsOn,
    Config,
}

impl<'de, const DEFER: bool> Deserialize<'de> for NodeIn<DEFER> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(NodeVisitor::<DEFER>)
    }
}

struct NodeVisitor<const DEFER: bool>;

impl<'de, const DEFER: bool> Visitor<'de> for NodeVisitor<DEFER> {
    type Value = NodeIn<DEFER>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id = None;
        let mut node_type = None;
        let mut depends_on = None;
        let mut body = None;
        while let Some(field) = map.next_key::<NodeField>()? {
            match field {
                NodeField::Id => set(&mut id, "id", map.next_value()?)?,
                NodeField::NodeType => set(&mut node_type, "node_type", map.next_value()?)?,
                NodeField::DependsOn => set(&mut depends_on, "depends_on", map.next_value()?)?,
                NodeField::Config => {
                    let value = if DEFER {
                        RawBody::Deferred(map.next_value::<StrictValue>()?.0)
                    } else {
                        RawBody::Config(Box::new(map.next_value::<Obj<RawLlmConfig>>()?.0))
                    };
                    set(&mut body, "config", value)?;
                }
            }
        }
        Ok(NodeIn(RawNode {
            id: id.ok_or_else(|| de::Error::missing_field("id"))?,
            node_type: node_type.ok_or_else(|| de::Error::missing_field("node_type"))?,
            depends_on: depends_on.unwrap_or_default(),
            body: body.ok_or_else(|| de::Error::missing_field("config"))?,
        }))
    }
}

/// Stores a field's value, rejecting a second occurrence like serde's derive does.
fn set<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}
