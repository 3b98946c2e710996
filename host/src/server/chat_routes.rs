//! How a model name on the OpenAI-compatible endpoint becomes routing: in
//! this order, a stored route of that name (an llm node's routing fields,
//! validated by the workflow parser itself), then `CONNECTION/MODEL`, then
//! every enabled connection whose default model it is, balanced `least_loaded`.

use super::error::ApiError;
use crate::admin::Admin;
use crate::connections::ConnectionSet;
use crate::error_class::ErrorClass;
use crate::store::definition_rows::{self, Kind};
use crate::store::workspaces;
use crate::workflow::{LoadBalancing, ModelSpec, NodeKind, RouteSpec, Routing, WeightedConnection, Workflow};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// The fields of an llm node a route may set.
pub const ROUTE_FIELDS: &[&str] =
    &["primary_connection", "fallback_connections", "connections", "load_balancing", "failover_on", "model"];

/// Where a request on the OpenAI-compatible endpoint goes: an llm node's routing.
pub type ChatRoute = RouteSpec;

/// Validate a route body with the workflow parser: it becomes the routing of
/// a one-node workflow, so a route accepts exactly what an llm node does.
pub fn parse_route(body: &Value) -> Result<ChatRoute, ApiError> {
    let obj = body.as_object().ok_or_else(|| ApiError::Invalid("a route is a JSON object".into()))?;
    if let Some(other) = obj.keys().find(|k| !ROUTE_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::Invalid(format!(
            "`{other}` is not a routing field (a route may set: {})",
            ROUTE_FIELDS.join(", ")
        )));
    }
    let mut config = obj.clone();
    config.insert("messages".into(), json!([{ "role": "user", "content": "route" }]));
    let workflow = json!({ "name": "route", "nodes": [{ "id": "route", "node_type": "llm", "config": config }] });
    let parsed = Workflow::parse(&workflow.to_string()).map_err(|e| {
        ApiError::Invalid(format!("invalid route: {}", e.to_string().replace("$.nodes[0].config.", "")))
    })?;
    match parsed.nodes.into_iter().next().map(|n| n.kind) {
        Some(NodeKind::Llm(c)) => Ok(c.route),
        _ => Err(ApiError::Internal("a route did not parse as an llm node".into())),
    }
}

/// What the endpoint knows of one connection.
#[derive(Debug, Clone, Default)]
struct Served {
    provider: String,
    default_model: Option<String>,
    /// The models it allows (empty: all).
    models: Vec<String>,
    enabled: bool,
    /// Why it awaits an approval before it may serve, if it does.
    pending: Option<String>,
}

impl Served {
    /// Whether routing may send it requests.
    fn serves(&self) -> bool {
        self.enabled && self.pending.is_none()
    }
}

/// Why no route serves a model name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unserved {
    /// Nothing of that name: no route, connection or default model.
    Unknown,
    /// Only disabled connections would serve it.
    Disabled(Vec<String>),
    /// Only connections awaiting an approval (or disabled ones) would serve
    /// it: why each pending one waits.
    Pending(Vec<String>),
}

/// A workspace's model names, resolved once per engine build.
#[derive(Debug, Default)]
pub struct ChatTable {
    routes: HashMap<String, ChatRoute>,
    /// Every connection, disabled ones included (to say why they do not serve).
    connections: BTreeMap<String, Served>,
    /// Default model → the connections serving it by default (enabled first).
    by_default_model: HashMap<String, Vec<String>>,
}

impl ChatTable {
    /// Read the stored routes of `workspace` beside its connections.
    pub fn load(admin: &Admin, workspace: &str, set: &ConnectionSet) -> Result<Self, ApiError> {
        let db = admin.store.db();
        let ws = workspaces::get(db, workspace)?;
        let mut table = ChatTable::default();
        for row in definition_rows::list(db, ws.id, Kind::Route)? {
            match parse_route(&row.body) {
                Ok(route) => {
                    table.routes.insert(row.name, route);
                }
                // Stored routes were valid when stored; say so if one no longer is.
                Err(e) => tracing::warn!(route = %row.name, error = %e, "stored route skipped"),
            }
        }
        for c in set.iter() {
            let served = Served {
                provider: c.provider.clone(),
                default_model: c.default_model.clone(),
                models: c.models.clone(),
                enabled: c.enabled,
                pending: c.pending.clone(),
            };
            table.insert(&c.name, served);
        }
        Ok(table)
    }

    fn insert(&mut self, name: &str, served: Served) {
        if let Some(m) = &served.default_model {
            self.by_default_model.entry(m.clone()).or_default().push(name.to_string());
        }
        self.connections.insert(name.to_string(), served);
    }

    /// The route serving `model`, or why there is none.
    pub fn resolve(&self, model: &str) -> Result<ChatRoute, Unserved> {
        if let Some(route) = self.routes.get(model) {
            return Ok(route.clone());
        }
        if let Some((connection, model)) = model.split_once('/')
            && let Some(served) = self.connections.get(connection)
            && !model.is_empty()
        {
            if let Some(why) = served.pending.as_ref().filter(|_| served.enabled) {
                return Err(Unserved::Pending(vec![why.clone()]));
            }
            if !served.enabled {
                return Err(Unserved::Disabled(vec![connection.to_string()]));
            }
            return Ok(ChatRoute {
                routing: Routing::Primary(connection.to_string()),
                fallbacks: Vec::new(),
                failover_on: ErrorClass::DEFAULT_FAILOVER.to_vec(),
                model: Some(ModelSpec::Single(model.to_string())),
            });
        }
        let all = self.by_default_model.get(model).ok_or(Unserved::Unknown)?;
        let serves = |name: &&String| self.connections.get(*name).is_some_and(Served::serves);
        let serving: Vec<&String> = all.iter().filter(serves).collect();
        if serving.is_empty() {
            let pending: Vec<String> = all
                .iter()
                .filter_map(|n| self.connections.get(n).filter(|c| c.enabled).and_then(|c| c.pending.clone()))
                .collect();
            return Err(if pending.is_empty() { Unserved::Disabled(all.clone()) } else { Unserved::Pending(pending) });
        }
        Ok(ChatRoute {
            routing: Routing::Balanced {
                connections: serving
                    .iter()
                    .map(|name| WeightedConnection { name: (*name).clone(), weight: 1 })
                    .collect(),
                policy: LoadBalancing::LeastLoaded,
            },
            fallbacks: Vec::new(),
            failover_on: ErrorClass::DEFAULT_FAILOVER.to_vec(),
            model: Some(ModelSpec::Single(model.to_string())),
        })
    }

    /// Every model id a client may ask for, with who serves it: routes,
    /// `CONNECTION/MODEL` for each model a serving connection (enabled, not
    /// awaiting approval) allows (or its default model), and default models.
    pub fn model_ids(&self) -> Vec<ModelId> {
        let mut ids: Vec<ModelId> = self
            .routes
            .keys()
            .map(|r| ModelId { id: r.clone(), owner: "llmnode-route".into(), served_by: None })
            .collect();
        for (name, c) in self.connections.iter().filter(|(_, c)| c.serves()) {
            for m in c.models.iter().chain(c.default_model.iter()) {
                let served_by = Some((name.clone(), m.clone()));
                ids.push(ModelId { id: format!("{name}/{m}"), owner: c.provider.clone(), served_by });
            }
        }
        for (model, serving) in &self.by_default_model {
            let owner =
                serving.iter().filter_map(|n| self.connections.get(n).map(|c| (n, c))).find(|(_, c)| c.serves());
            if let (false, Some((name, owner))) = (self.routes.contains_key(model), owner) {
                let served_by = Some((name.clone(), model.clone()));
                ids.push(ModelId { id: model.clone(), owner: owner.provider.clone(), served_by });
            }
        }
        ids.sort_by(|a, b| a.id.cmp(&b.id));
        ids.dedup_by(|a, b| a.id == b.id);
        ids
    }
}

/// A model id the OpenAI-compatible endpoint lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelId {
    pub id: String,
    /// The provider serving it, or `llmnode-route` for a stored route.
    pub owner: String,
    /// The connection and model serving it (the first enabled one, for a
    /// default model); `None` for a route, which may span several.
    pub served_by: Option<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ChatTable {
        let mut t = ChatTable::default();
        t.routes.insert("gpt-4o-mini".into(), parse_route(&json!({ "primary_connection": "b" })).unwrap());
        for (name, model, enabled, pending) in [
            ("a", "gpt-4o-mini", true, None),
            ("b", "gpt-4o-mini", true, None),
            ("c", "claude", true, None),
            ("d", "llama", false, None),
            ("e", "claude", true, Some("connection `e` is pending approval #1")),
            ("f", "mistral", true, Some("connection `f` is pending approval #2")),
        ] {
            let served = Served {
                provider: "openai".into(),
                default_model: Some(model.into()),
                models: Vec::new(),
                enabled,
                pending: pending.map(String::from),
            };
            t.insert(name, served);
        }
        t
    }

    #[test]
    fn a_stored_route_wins_then_connection_slash_model_then_default_models() {
        let t = table();
        assert_eq!(t.resolve("gpt-4o-mini").unwrap().routing, Routing::Primary("b".into()));
        let direct = t.resolve("a/some-model").unwrap();
        assert_eq!(direct.routing, Routing::Primary("a".into()));
        assert_eq!(direct.model, Some(ModelSpec::Single("some-model".into())));
        match t.resolve("claude").unwrap().routing {
            Routing::Balanced { connections, policy } => {
                assert_eq!(policy, LoadBalancing::LeastLoaded);
                assert_eq!(connections.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["c"]);
            }
            other => panic!("{other:?}"),
        }
        for unknown in ["nope/x", "unknown", "a/"] {
            assert_eq!(t.resolve(unknown).unwrap_err(), Unserved::Unknown);
        }
        assert_eq!(t.resolve("d/llama").unwrap_err(), Unserved::Disabled(vec!["d".into()]));
        assert_eq!(t.resolve("llama").unwrap_err(), Unserved::Disabled(vec!["d".into()]));
        assert!(!t.model_ids().iter().any(|m| m.id.contains("llama")));
        let ids = t.model_ids();
        let by_default = ids.iter().find(|m| m.id == "claude").unwrap();
        assert_eq!(by_default.served_by, Some(("c".into(), "claude".into())));
        assert_eq!(ids.iter().find(|m| m.id == "gpt-4o-mini").unwrap().served_by, None, "a route spans connections");
    }

    #[test]
    fn a_connection_awaiting_approval_is_passed_over_like_a_disabled_one_and_named() {
        let t = table();
        // `claude` is the default model of `c` and of pending `e`: only `c` serves it.
        match t.resolve("claude").unwrap().routing {
            Routing::Balanced { connections, .. } => {
                assert_eq!(connections.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["c"]);
            }
            other => panic!("{other:?}"),
        }
        let why = vec!["connection `f` is pending approval #2".to_string()];
        assert_eq!(t.resolve("mistral").unwrap_err(), Unserved::Pending(why.clone()));
        assert_eq!(t.resolve("f/mistral").unwrap_err(), Unserved::Pending(why));
        assert!(!t.model_ids().iter().any(|m| m.id.starts_with("e/") || m.id.contains("mistral")));
    }

    #[test]
    fn routes_accept_only_routing_fields_and_name_the_problem() {
        let e = parse_route(&json!({ "primary_connection": "a", "messages": [] })).unwrap_err().to_string();
        assert!(e.contains("`messages` is not a routing field"), "{e}");
        let e = parse_route(&json!({ "primary_connection": "a", "load_balancing": "round_robin" }));
        assert!(e.is_err());
        let e = parse_route(&json!({ "connections": ["a"], "failover_on": ["nonsense"] })).unwrap_err().to_string();
        assert!(e.contains("failover_on") && !e.contains("$.nodes"), "{e}");
        let ok = parse_route(
            &json!({ "connections": ["a", "b"], "load_balancing": "weighted", "fallback_connections": ["c"] }),
        );
        assert_eq!(ok.unwrap().connection_names().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
