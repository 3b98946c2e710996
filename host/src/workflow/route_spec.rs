//! Where a call goes: the routing fields every node that calls a provider
//! shares (`llm` and `embedding` nodes, and the OpenAI-compatible endpoint's
//! routes): a primary connection or a balanced pool, fallbacks, the error
//! classes that fail over, and the model per connection.

use crate::error_class::ErrorClass;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A call's connections, failover policy and model.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSpec {
    /// Which connection(s) serve the request first.
    pub routing: Routing,
    /// The error classes that move on to the next connection.
    pub failover_on: Vec<ErrorClass>,
    /// Connections tried, in order, after the primary or pool fails.
    pub fallbacks: Vec<String>,
    /// The model, for all connections or per connection; `None` uses each connection's default.
    pub model: Option<ModelSpec>,
}

impl RouteSpec {
    /// Every connection name in routing order: primary or pool, then fallbacks.
    pub fn connection_names(&self) -> impl Iterator<Item = &str> {
        let (primary, pool) = match &self.routing {
            Routing::Primary(name) => (Some(name.as_str()), &[][..]),
            Routing::Balanced { connections, .. } => (None, connections.as_slice()),
        };
        primary.into_iter().chain(pool.iter().map(|c| c.name.as_str())).chain(self.fallbacks.iter().map(String::as_str))
    }

    /// The model to ask `connection` for; `None` means the connection's default.
    pub fn model_for(&self, connection: &str) -> Option<&str> {
        match self.model.as_ref()? {
            ModelSpec::Single(model) => Some(model),
            ModelSpec::PerConnection(models) => models.get(connection).map(String::as_str),
        }
    }
}

/// How the first attempt picks a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// Always this connection first.
    Primary(String),
    /// One of a pool, chosen by `policy`.
    Balanced {
        /// The pool; never empty, names unique.
        connections: Vec<WeightedConnection>,
        /// How to choose from the pool.
        policy: LoadBalancing,
    },
}

/// A pool member; the weight only matters for [`LoadBalancing::Weighted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedConnection {
    /// The connection's name.
    pub name: String,
    /// Relative share, at least 1 (default 1).
    pub weight: u32,
}

/// Pool selection policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancing {
    /// Each connection in turn.
    #[default]
    RoundRobin,
    /// The one with the fewest requests in flight.
    LeastLoaded,
    /// Uniformly at random.
    Random,
    /// At random, in proportion to the weights.
    Weighted,
    /// The one with the lowest recent latency.
    LowestLatency,
}

/// Which model to request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// The same model on every connection.
    Single(String),
    /// Per connection name; connections not listed use their default model.
    PerConnection(BTreeMap<String, String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(routing: Routing, model: Option<ModelSpec>) -> RouteSpec {
        RouteSpec { routing, failover_on: ErrorClass::DEFAULT_FAILOVER.to_vec(), fallbacks: vec!["c".into()], model }
    }

    #[test]
    fn connection_names_in_routing_order() {
        let primary = route(Routing::Primary("p".into()), None);
        assert_eq!(primary.connection_names().collect::<Vec<_>>(), ["p", "c"]);
        let pool = route(
            Routing::Balanced {
                connections: vec![
                    WeightedConnection { name: "a".into(), weight: 1 },
                    WeightedConnection { name: "b".into(), weight: 3 },
                ],
                policy: LoadBalancing::Weighted,
            },
            None,
        );
        assert_eq!(pool.connection_names().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn model_for_single_map_and_none() {
        let single = route(Routing::Primary("p".into()), Some(ModelSpec::Single("m".into())));
        assert_eq!(single.model_for("p"), Some("m"));
        assert_eq!(single.model_for("c"), Some("m"));
        let map = route(
            Routing::Primary("p".into()),
            Some(ModelSpec::PerConnection(BTreeMap::from([("p".to_string(), "mp".to_string())]))),
        );
        assert_eq!(map.model_for("p"), Some("mp"));
        assert_eq!(map.model_for("c"), None);
        assert_eq!(route(Routing::Primary("p".into()), None).model_for("p"), None);
    }
}
