//! What the standard `OTEL_*` environment variables ask for. The OTLP
//! exporter reads the endpoints, headers and timeouts itself; this reads what
//! decides whether to export at all, the protocol (which the exporter takes
//! only from code) and the content-capture opt-in.

use super::TelemetryError;
use crate::secret::Secret;

/// OTLP over HTTP, in either encoding the specification names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`: the default.
    Protobuf,
    /// `http/json`.
    Json,
}

/// One signal's export, if it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub protocol: Protocol,
}

/// What to export, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtelConfig {
    pub traces: Option<Signal>,
    pub metrics: Option<Signal>,
    /// `service.name`, unless `OTEL_RESOURCE_ATTRIBUTES` names one.
    pub service_name: Option<String>,
    /// Prompts and answers on spans (`gen_ai.input.messages`, `gen_ai.output.messages`).
    pub capture_content: bool,
}

impl OtelConfig {
    /// Read from the process environment.
    pub fn from_env() -> Result<Option<Self>, TelemetryError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Read through `var`; `None` when nothing is to be exported: no endpoint
    /// is set, or `OTEL_SDK_DISABLED=true`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, TelemetryError> {
        let var = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let truthy = |name: &str| var(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if truthy("OTEL_SDK_DISABLED") {
            return Ok(None);
        }
        let endpoint = |name: &str| -> Result<bool, TelemetryError> {
            let Some(value) = var(name) else { return Ok(false) };
            match url::Url::parse(&value) {
                Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                    Err(TelemetryError::CredentialsInEndpoint(name.to_string()))
                }
                _ => Ok(true),
            }
        };
        let general = endpoint("OTEL_EXPORTER_OTLP_ENDPOINT")?;
        let signal = |kind: &str| -> Result<Option<Signal>, TelemetryError> {
            let own = endpoint(&format!("OTEL_EXPORTER_OTLP_{kind}_ENDPOINT"))?;
            let exporter = var(&format!("OTEL_{kind}_EXPORTER"));
            if !(general || own) || exporter.is_some_and(|e| e.eq_ignore_ascii_case("none")) {
                return Ok(None);
            }
            let protocol =
                var(&format!("OTEL_EXPORTER_OTLP_{kind}_PROTOCOL")).or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
            let protocol = match protocol.as_deref() {
                None | Some("http/protobuf") => Protocol::Protobuf,
                Some("http/json") => Protocol::Json,
                Some(other) => return Err(TelemetryError::Protocol(other.to_string())),
            };
            Ok(Some(Signal { protocol }))
        };
        let (traces, metrics) = (signal("TRACES")?, signal("METRICS")?);
        if traces.is_none() && metrics.is_none() {
            return Ok(None);
        }
        let named_in_attributes = var("OTEL_RESOURCE_ATTRIBUTES")
            .is_some_and(|a| a.split(',').any(|kv| kv.trim().starts_with("service.name=")));
        let service_name = match var("OTEL_SERVICE_NAME") {
            Some(name) => Some(name),
            None if named_in_attributes => None,
            None => Some("llmnode".to_string()),
        };
        Ok(Some(OtelConfig {
            traces,
            metrics,
            service_name,
            capture_content: truthy("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"),
        }))
    }
}

/// What the `OTEL_*` variables hold that authenticates to the collector:
/// header values and an endpoint's query values (a password in an endpoint
/// is refused by [`OtelConfig::from_vars`]). Exporter errors are scrubbed of
/// them before they reach a log line.
pub fn credentials(var: impl Fn(&str) -> Option<String>) -> Vec<Secret> {
    let mut found = Vec::new();
    for signal in ["", "TRACES_", "METRICS_"] {
        for pair in var(&format!("OTEL_EXPORTER_OTLP_{signal}HEADERS")).iter().flat_map(|h| h.split(',')) {
            if let Some((_, value)) = pair.split_once('=') {
                let value = value.trim();
                found.push(Secret::new(percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()));
                found.push(Secret::new(value.to_string()));
            }
        }
        if let Some(url) = var(&format!("OTEL_EXPORTER_OTLP_{signal}ENDPOINT")).and_then(|e| url::Url::parse(&e).ok()) {
            found.extend(url.query_pairs().map(|(_, v)| Secret::new(v.into_owned())));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<OtelConfig>, TelemetryError> {
        OtelConfig::from_vars(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn nothing_without_an_endpoint_or_when_disabled() {
        assert_eq!(read(&[]).unwrap(), None);
        assert_eq!(read(&[("OTEL_SERVICE_NAME", "x"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap(), None);
        let on = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"), ("OTEL_SDK_DISABLED", "TRUE")];
        assert_eq!(read(&on).unwrap(), None);
    }

    #[test]
    fn per_signal_endpoints_protocols_and_the_opt_in() {
        let c = read(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://h/v1/traces")]).unwrap().unwrap();
        assert_eq!(c.traces, Some(Signal { protocol: Protocol::Protobuf }));
        assert_eq!(c.metrics, None);
        assert_eq!(c.service_name.as_deref(), Some("llmnode"));
        assert!(!c.capture_content);
        let c = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=gw,env=prod"),
            ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.traces, None);
        assert_eq!(c.metrics, Some(Signal { protocol: Protocol::Protobuf }));
        assert_eq!(c.service_name, None);
        assert!(c.capture_content);
    }

    #[test]
    fn collector_credentials_are_found_in_headers_and_endpoints() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20tok-one-1234, x-tenant=team7"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "api-key=tok-two-5678"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector/v1/traces?key=tok-four-0"),
        ];
        let found = credentials(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()));
        let found: Vec<&str> = found.iter().map(Secret::expose).collect();
        for value in ["Bearer tok-one-1234", "Bearer%20tok-one-1234", "team7", "tok-two-5678", "tok-four-0"] {
            assert!(found.contains(&value), "{value} in {found:?}");
        }
    }

    #[test]
    fn an_endpoint_with_a_password_is_refused_by_variable_not_by_value() {
        for (name, url) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:pass-five-1@h:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://only-a-user@h/v1/metrics"),
        ] {
            let e = read(&[(name, url)]).unwrap_err().to_string();
            assert!(e.starts_with(name) && e.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{e}");
            assert!(!e.contains("pass-five-1") && !e.contains("only-a-user"), "{e}");
        }
    }

    #[test]
    fn grpc_is_refused_by_name() {
        let e = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert!(e.unwrap_err().to_string().contains("`grpc`"));
    }
}
