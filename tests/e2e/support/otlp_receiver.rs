//! An OTLP/HTTP receiver on loopback (a collector's `/v1/traces` and
//! `/v1/metrics`): it keeps every request as it arrived, for raw-byte scans,
//! and decodes spans and metric points from either encoding, the protobuf
//! one with the project's own generated types and the JSON one by hand, as
//! the OTLP specification spells it.

use super::{Reply, Seen, Upstream};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Attributes by key, each value as JSON (strings, numbers, booleans).
pub type Attributes = BTreeMap<String, Value>;

/// One span as received.
#[derive(Debug, Clone)]
pub struct SpanSeen {
    pub name: String,
    /// The OTLP enum: 1 internal, 3 client.
    pub kind: i64,
    pub span_id: String,
    pub parent_span_id: String,
    /// The OTLP enum: 0 unset, 1 ok, 2 error.
    pub status: i64,
    pub attributes: Attributes,
    /// The sender's resource (`service.name`, …).
    pub resource: Attributes,
}

/// One metric data point as received.
#[derive(Debug, Clone)]
pub struct PointSeen {
    pub metric: String,
    pub unit: String,
    pub attributes: Attributes,
    /// A histogram's count, else zero.
    pub count: u64,
    /// A histogram's sum or a sum's value.
    pub value: f64,
}

/// The receiver; every request is answered 200.
pub struct OtlpReceiver {
    upstream: Upstream,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        OtlpReceiver { upstream: Upstream::start(|_| Reply::json(200, "{}")).await }
    }

    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` is set to.
    pub fn endpoint(&self) -> String {
        self.upstream.url("")
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.upstream.seen()
    }

    /// Wait until `done` holds for what arrived (at most 20 s).
    pub async fn wait_for(&self, what: &str, done: impl Fn(&OtlpReceiver) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < Duration::from_secs(20), "the receiver never got {what}: {:?}", self.paths());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|s| s.uri).collect()
    }

    /// Every span received, from either encoding.
    pub fn spans(&self) -> Vec<SpanSeen> {
        self.decoded("/v1/traces", json_spans, proto_spans)
    }

    /// Every metric data point received, from either encoding.
    pub fn points(&self) -> Vec<PointSeen> {
        self.decoded("/v1/metrics", json_points, proto_points)
    }

    /// What arrived at `path`, each request decoded by its content type.
    fn decoded<T>(&self, path: &str, json: fn(&Value, &mut Vec<T>), proto: fn(&[u8], &mut Vec<T>)) -> Vec<T> {
        let mut out = Vec::new();
        for seen in self.requests().iter().filter(|s| s.uri == path) {
            match is_json(seen) {
                true => json(&seen.json(), &mut out),
                false => proto(&seen.body, &mut out),
            }
        }
        out
    }
}

fn is_json(seen: &Seen) -> bool {
    let kind = seen.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    match kind {
        "application/json" => true,
        "application/x-protobuf" => false,
        other => panic!("an OTLP request of content type `{other}`"),
    }
}

// --- protobuf ---

fn proto_value(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => json!(s),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(d)) => json!(d),
        Some(any_value::Value::BoolValue(b)) => json!(b),
        other => json!(format!("{other:?}")),
    }
}

fn proto_attributes(kvs: &[KeyValue]) -> Attributes {
    kvs.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, proto_value))).collect()
}

fn proto_spans(body: &[u8], out: &mut Vec<SpanSeen>) {
    let request = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
    for rs in &request.resource_spans {
        let resource = rs.resource.as_ref().map(|r| proto_attributes(&r.attributes)).unwrap_or_default();
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            out.push(SpanSeen {
                name: span.name.clone(),
                kind: span.kind.into(),
                span_id: hex::encode(&span.span_id),
                parent_span_id: hex::encode(&span.parent_span_id),
                status: span.status.as_ref().map_or(0, |s| s.code.into()),
                attributes: proto_attributes(&span.attributes),
                resource: resource.clone(),
            });
        }
    }
}

fn proto_points(body: &[u8], out: &mut Vec<PointSeen>) {
    let request = ExportMetricsServiceRequest::decode(body).expect("an ExportMetricsServiceRequest");
    for metric in request.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics) {
        let point = |attributes: &[KeyValue], count: u64, value: f64| PointSeen {
            metric: metric.name.clone(),
            unit: metric.unit.clone(),
            attributes: proto_attributes(attributes),
            count,
            value,
        };
        match &metric.data {
            Some(Data::Histogram(h)) => {
                out.extend(h.data_points.iter().map(|p| point(&p.attributes, p.count, p.sum.unwrap_or(0.0))))
            }
            Some(Data::Sum(s)) => out.extend(s.data_points.iter().map(|p| {
                use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
                let v = match p.value {
                    Some(N::AsDouble(d)) => d,
                    Some(N::AsInt(i)) => i as f64,
                    None => 0.0,
                };
                point(&p.attributes, 0, v)
            })),
            _ => {}
        }
    }
}

// --- JSON (OTLP/JSON: camelCase fields, hex ids, 64-bit integers as strings) ---

fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn json_value(v: &Value) -> Value {
    if let Some(s) = v.get("stringValue") {
        return s.clone();
    }
    if let Some(i) = v.get("intValue") {
        return json!(number(i).map(|n| n as i64));
    }
    if let Some(d) = v.get("doubleValue") {
        return json!(number(d));
    }
    v.get("boolValue").cloned().unwrap_or_else(|| v.clone())
}

fn json_attributes(v: &Value) -> Attributes {
    let kvs = v["attributes"].as_array().cloned().unwrap_or_default();
    kvs.iter().map(|kv| (kv["key"].as_str().unwrap_or("").to_string(), json_value(&kv["value"]))).collect()
}

fn json_enum(v: &Value, names: &[&str]) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(-1),
        Value::String(s) => names.iter().position(|n| n == s).map_or(-1, |i| i as i64),
        _ => 0,
    }
}

fn json_spans(body: &Value, out: &mut Vec<SpanSeen>) {
    const KINDS: [&str; 6] = [
        "SPAN_KIND_UNSPECIFIED",
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ];
    const STATUS: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
    for rs in body["resourceSpans"].as_array().expect("resourceSpans") {
        let resource = json_attributes(&rs["resource"]);
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for span in ss["spans"].as_array().into_iter().flatten() {
                out.push(SpanSeen {
                    name: span["name"].as_str().unwrap_or("").to_string(),
                    kind: json_enum(&span["kind"], &KINDS),
                    span_id: span["spanId"].as_str().unwrap_or("").to_lowercase(),
                    parent_span_id: span["parentSpanId"].as_str().unwrap_or("").to_lowercase(),
                    status: json_enum(&span["status"]["code"], &STATUS),
                    attributes: json_attributes(span),
                    resource: resource.clone(),
                });
            }
        }
    }
}

fn json_points(body: &Value, out: &mut Vec<PointSeen>) {
    for rm in body["resourceMetrics"].as_array().expect("resourceMetrics") {
        for metric in
            rm["scopeMetrics"].as_array().into_iter().flatten().flat_map(|s| s["metrics"].as_array()).flatten()
        {
            let (data, histogram) = match (&metric["histogram"], &metric["sum"]) {
                (h, _) if h.is_object() => (h, true),
                (_, s) if s.is_object() => (s, false),
                _ => continue,
            };
            for p in data["dataPoints"].as_array().into_iter().flatten() {
                let value = match histogram {
                    true => number(&p["sum"]),
                    false => number(&p["asDouble"]).or_else(|| number(&p["asInt"])),
                };
                out.push(PointSeen {
                    metric: metric["name"].as_str().unwrap_or("").to_string(),
                    unit: metric["unit"].as_str().unwrap_or("").to_string(),
                    attributes: json_attributes(p),
                    count: number(&p["count"]).unwrap_or(0.0) as u64,
                    value: value.unwrap_or(0.0),
                });
            }
        }
    }
}
