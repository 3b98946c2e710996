//! Where a key may be put on the wire. A plugin names an auth directive with
//! each request; the host applies it only if it fits the scheme the plugin
//! declared in its info or the kind of credential the operator stored on the
//! connection, and only in a header or query parameter from a fixed
//! allow-list (or the one the operator configured). Anything else is a plugin
//! error and nothing is sent: a plugin cannot move a key into `user-agent`,
//! `referer`, a cookie or a query string an access log records.

use super::TransportError;
use super::auth::Credentials;
use crate::runtime::bindings::types::{AuthDirective, AuthScheme};

/// Headers an API key may be written into by a `header` directive. `Bearer`
/// writes `authorization` itself.
pub const KEY_HEADERS: [&str; 4] = ["authorization", "x-api-key", "api-key", "x-goog-api-key"];

/// The placements one connection allows, fixed when its engine is built.
#[derive(Debug, Clone)]
pub struct Placement {
    api_key: bool,
    aws_sigv4: bool,
    google_service_account: bool,
    /// A header name the operator chose for the key, besides [`KEY_HEADERS`].
    header: Option<String>,
    /// The query parameter the operator chose for the key; none by default,
    /// since URLs end up in access logs.
    query: Option<String>,
}

/// The operator's own choice of where the key goes, from the connection's
/// options `auth_header` and `auth_query`.
#[derive(Debug, Clone, Default)]
pub struct OperatorPlacement {
    pub header: Option<String>,
    pub query: Option<String>,
}

impl Placement {
    /// The schemes `declared` by the plugin, plus the one each stored
    /// credential implies (a Vertex connection of an API-key plugin holds a
    /// service-account key file).
    pub fn new(declared: AuthScheme, credentials: &Credentials, operator: OperatorPlacement) -> Self {
        Placement {
            api_key: matches!(declared, AuthScheme::ApiKey) || credentials.api_key.is_some(),
            aws_sigv4: matches!(declared, AuthScheme::AwsSigv4) || credentials.aws_access_key_id.is_some(),
            google_service_account: matches!(declared, AuthScheme::GoogleServiceAccount)
                || credentials.google_service_account.is_some(),
            header: operator.header.map(|h| h.to_ascii_lowercase()),
            query: operator.query,
        }
    }

    /// Refuse a directive this connection does not allow.
    pub fn check(&self, directive: &AuthDirective) -> Result<(), TransportError> {
        let refuse = |reason: String| Err(TransportError::AuthRefused { directive: describe(directive), reason });
        match directive {
            AuthDirective::None => Ok(()),
            AuthDirective::Bearer | AuthDirective::Header(_) | AuthDirective::Query(_) if !self.api_key => {
                refuse("the plugin declared no API-key scheme and the connection holds no API key".into())
            }
            AuthDirective::Bearer => Ok(()),
            AuthDirective::Header(name) => {
                let lower = name.to_ascii_lowercase();
                if KEY_HEADERS.contains(&lower.as_str()) || self.header.as_deref() == Some(lower.as_str()) {
                    Ok(())
                } else {
                    refuse(format!("an API key may only be sent in {}", self.allowed_headers()))
                }
            }
            AuthDirective::Query(name) => match &self.query {
                Some(q) if q == name => Ok(()),
                Some(q) => refuse(format!("the connection's key goes only in the query parameter {q:?}")),
                None => refuse(
                    "this connection sends no key in a query string (an operator may allow one with the \
                     option auth_query)"
                        .into(),
                ),
            },
            AuthDirective::AwsSigv4(_) if !self.aws_sigv4 => {
                refuse("the plugin declared no SigV4 scheme and the connection holds no AWS keys".into())
            }
            AuthDirective::GoogleServiceAccount(_) if !self.google_service_account => refuse(
                "the plugin declared no service-account scheme and the connection holds no service-account key".into(),
            ),
            AuthDirective::AwsSigv4(_) | AuthDirective::GoogleServiceAccount(_) => Ok(()),
        }
    }

    fn allowed_headers(&self) -> String {
        let mut names: Vec<&str> = KEY_HEADERS.to_vec();
        if let Some(h) = &self.header {
            names.push(h);
        }
        names.join(", ")
    }
}

/// A directive as a message shows it (names truncated, never a value).
fn describe(directive: &AuthDirective) -> String {
    let short = |s: &str| s.chars().take(64).collect::<String>().escape_debug().to_string();
    match directive {
        AuthDirective::None => "none".into(),
        AuthDirective::Bearer => "bearer".into(),
        AuthDirective::Header(n) => format!("header \"{}\"", short(n)),
        AuthDirective::Query(n) => format!("query parameter \"{}\"", short(n)),
        AuthDirective::AwsSigv4(_) => "aws-sigv4".into(),
        AuthDirective::GoogleServiceAccount(_) => "google-service-account".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::types::AwsSigv4Params;
    use crate::secret::Secret;

    fn api_key_connection() -> Placement {
        Placement::new(AuthScheme::ApiKey, &Credentials::plain(Some(Secret::new("k"))), OperatorPlacement::default())
    }

    #[test]
    fn an_api_key_goes_only_into_the_allowed_headers() {
        let p = api_key_connection();
        for ok in ["authorization", "X-Api-Key", "api-key", "x-goog-api-key"] {
            assert!(p.check(&AuthDirective::Header(ok.into())).is_ok(), "{ok}");
        }
        assert!(p.check(&AuthDirective::Bearer).is_ok());
        assert!(p.check(&AuthDirective::None).is_ok());
        for bad in ["user-agent", "referer", "cookie", "host", "x-forwarded-for", "content-type"] {
            assert!(p.check(&AuthDirective::Header(bad.into())).is_err(), "{bad}");
        }
        for bad in ["api_key", "key", "token"] {
            assert!(p.check(&AuthDirective::Query(bad.into())).is_err(), "{bad}");
        }
        let sigv4 = AuthDirective::AwsSigv4(AwsSigv4Params { service: "s3".into(), region: "us-east-1".into() });
        assert!(p.check(&sigv4).is_err());
        assert!(p.check(&AuthDirective::GoogleServiceAccount(vec![])).is_err());
    }

    #[test]
    fn the_operator_may_name_one_more_header_or_a_query_parameter() {
        let operator = OperatorPlacement { header: Some("X-Gateway-Key".into()), query: Some("key".into()) };
        let p = Placement::new(AuthScheme::ApiKey, &Credentials::default(), operator);
        assert!(p.check(&AuthDirective::Header("x-gateway-key".into())).is_ok());
        assert!(p.check(&AuthDirective::Query("key".into())).is_ok());
        assert!(p.check(&AuthDirective::Query("api_key".into())).is_err());
    }

    #[test]
    fn a_plugin_without_an_api_key_scheme_cannot_send_one() {
        let p = Placement::new(AuthScheme::None, &Credentials::default(), OperatorPlacement::default());
        assert!(p.check(&AuthDirective::None).is_ok());
        assert!(p.check(&AuthDirective::Bearer).is_err());
        assert!(p.check(&AuthDirective::Header("x-api-key".into())).is_err());
    }
}
