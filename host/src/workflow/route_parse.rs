//! Reading the routing fields of a node's `config` (`primary_connection`,
//! `connections` + `load_balancing`, `fallback_connections`, `failover_on`,
//! `model`) into a [`RouteSpec`]: the same rules for every node type that
//! calls a provider.

use super::path::Loc;
use super::route_spec::{LoadBalancing, ModelSpec, RouteSpec, Routing, WeightedConnection};
use super::shape::{Expect, StrOrMap};
use super::validate::Checker;
use crate::error_class::ErrorClass;
use crate::names::{self, NameKind};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

/// The routing fields of a config as written (each node type's raw config
/// declares them itself, so unknown fields are still reported precisely;
/// [`take_route!`] moves them out of it).
#[derive(Debug)]
pub(crate) struct RawRoute {
    pub primary_connection: Option<String>,
    pub fallback_connections: Option<Vec<String>>,
    pub connections: Option<Vec<StrOrMap<RawWeighted>>>,
    pub load_balancing: Option<LoadBalancing>,
    pub failover_on: Option<Vec<ErrorClass>>,
    pub model: Option<StrOrMap<RawModelMap>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeighted {
    name: String,
    weight: Option<u64>,
}

impl Expect for RawWeighted {
    const EXPECT: &'static str = "a connection name or {\"name\": …, \"weight\": …}";
}

#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(crate) struct RawModelMap(BTreeMap<String, String>);

impl Expect for RawModelMap {
    const EXPECT: &'static str = "a model name or an object mapping connection names to model names";
}

/// Where in a node's config a connection is named, for precise error paths.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConnectionSite {
    Primary,
    Pool(usize),
    Fallback(usize),
}

impl ConnectionSite {
    /// The JSON path of this site below the node's `config`.
    pub(crate) fn path(self, config: &Loc<'_>) -> String {
        match self {
            ConnectionSite::Primary => config.key("primary_connection").to_string(),
            ConnectionSite::Pool(i) => config.key("connections").index(i).to_string(),
            ConnectionSite::Fallback(i) => config.key("fallback_connections").index(i).to_string(),
        }
    }
}

/// Every connection a config names, with where it is named, in routing order.
pub(crate) fn connection_sites(config: &RouteSpec) -> impl Iterator<Item = (&str, ConnectionSite)> {
    let (primary, pool) = match &config.routing {
        Routing::Primary(name) => (Some(name.as_str()), &[][..]),
        Routing::Balanced { connections, .. } => (None, connections.as_slice()),
    };
    let primary = primary.map(|name| (name, ConnectionSite::Primary));
    let pool = pool.iter().enumerate().map(|(i, c)| (c.name.as_str(), ConnectionSite::Pool(i)));
    let fallbacks = config.fallbacks.iter().enumerate().map(|(i, name)| (name.as_str(), ConnectionSite::Fallback(i)));
    primary.into_iter().chain(pool).chain(fallbacks)
}

/// Declare a raw node config with the routing fields first, then `$body`'s
/// own (serde's `flatten` would lose `deny_unknown_fields`, so the fields are
/// written into each struct).
macro_rules! raw_config_with_route {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        $vis struct $name {
            primary_connection: Option<String>,
            fallback_connections: Option<Vec<String>>,
            connections: Option<Vec<$crate::workflow::shape::StrOrMap<$crate::workflow::route_parse::RawWeighted>>>,
            load_balancing: Option<$crate::workflow::LoadBalancing>,
            failover_on: Option<Vec<$crate::error_class::ErrorClass>>,
            model: Option<$crate::workflow::shape::StrOrMap<$crate::workflow::route_parse::RawModelMap>>,
            $($body)*
        }
    };
}
pub(crate) use raw_config_with_route;

/// Move the routing fields out of a raw node config into a [`RawRoute`].
macro_rules! take_route {
    ($raw:ident) => {
        $crate::workflow::route_parse::RawRoute {
            primary_connection: $raw.primary_connection,
            fallback_connections: $raw.fallback_connections,
            connections: $raw.connections,
            load_balancing: $raw.load_balancing,
            failover_on: $raw.failover_on,
            model: $raw.model,
        }
    };
}
pub(crate) use take_route;

/// Checks the routing fields and builds the route; `None` when anything was reported.
pub(crate) fn convert(raw: RawRoute, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<RouteSpec> {
    let before = cx.issue_count();
    let routing = routing(raw.primary_connection, raw.connections, raw.load_balancing, loc, cx)?;
    let route = RouteSpec {
        routing,
        failover_on: raw.failover_on.unwrap_or_else(|| ErrorClass::DEFAULT_FAILOVER.to_vec()),
        fallbacks: raw.fallback_connections.unwrap_or_default(),
        model: raw.model.map(|model| match model {
            StrOrMap::Str(name) => ModelSpec::Single(name),
            StrOrMap::Map(RawModelMap(map)) => ModelSpec::PerConnection(map),
        }),
    };
    check_connections(&route, loc, cx);
    (cx.issue_count() == before).then_some(route)
}

fn routing(
    primary: Option<String>,
    pool: Option<Vec<StrOrMap<RawWeighted>>>,
    policy: Option<LoadBalancing>,
    loc: &Loc<'_>,
    cx: &mut Checker<'_, '_>,
) -> Option<Routing> {
    match (primary, pool) {
        (Some(name), None) => {
            if policy.is_some() {
                cx.issue(
                    &loc.key("load_balancing"),
                    "load_balancing only applies to `connections`, not `primary_connection`",
                );
            }
            Some(Routing::Primary(name))
        }
        (None, Some(pool)) => {
            let pool_loc = loc.key("connections");
            if pool.is_empty() {
                cx.issue(&pool_loc, "must list at least one connection");
            }
            let mut connections = Vec::with_capacity(pool.len());
            for (i, item) in pool.into_iter().enumerate() {
                let (name, weight) = match item {
                    StrOrMap::Str(name) => (name, 1),
                    StrOrMap::Map(RawWeighted { name, weight }) => {
                        let weight_loc = pool_loc.index(i);
                        let weight_loc = weight_loc.key("weight");
                        let weight = match weight.map(u32::try_from) {
                            None => 1,
                            Some(Ok(w)) if w > 0 => w,
                            Some(_) => {
                                cx.issue(&weight_loc, "must be an integer from 1 to 4294967295");
                                1
                            }
                        };
                        (name, weight)
                    }
                };
                connections.push(WeightedConnection { name, weight });
            }
            Some(Routing::Balanced { connections, policy: policy.unwrap_or_default() })
        }
        (Some(_), Some(_)) => {
            cx.issue(loc, "give either `primary_connection` or `connections`, not both");
            None
        }
        (None, None) => {
            cx.issue(loc, "no connection: give `primary_connection` or `connections`");
            None
        }
    }
}

/// Names must be non-empty and used once per node; a model map may only name used connections.
fn check_connections(config: &RouteSpec, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) {
    let mut seen = HashSet::new();
    for (name, site) in connection_sites(config) {
        if let Some(problem) = names::problem(NameKind::Connection, name) {
            cx.issue_at(site.path(loc), format!("a connection name {problem}"));
        } else if !seen.insert(name) {
            cx.issue_at(site.path(loc), format!("connection \"{name}\" is named more than once in this node"));
        }
    }
    let model_loc = loc.key("model");
    match &config.model {
        Some(ModelSpec::Single(model)) if model.is_empty() => {
            cx.issue(&model_loc, "must not be empty");
        }
        Some(ModelSpec::PerConnection(models)) => {
            for (connection, model) in models {
                let here = model_loc.key(connection);
                if !seen.contains(connection.as_str()) {
                    let used: Vec<&str> = config.connection_names().collect();
                    cx.issue(
                        &here,
                        format!("connection \"{connection}\" is not used by this node (it uses {})", used.join(", ")),
                    );
                } else if model.is_empty() {
                    cx.issue(&here, "must not be empty");
                }
            }
        }
        _ => {}
    }
}
