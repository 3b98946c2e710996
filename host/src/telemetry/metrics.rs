//! The GenAI client metrics (`gen_ai.client.token.usage`,
//! `gen_ai.client.operation.duration`) and what each attempt cost
//! (`llmnode.cost`), recorded once per attempt that reached a provider.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use std::time::Duration;

/// The conventions' advised buckets for token counts.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];
/// The conventions' advised buckets for durations, in seconds.
const DURATION_BUCKETS: [f64; 14] =
    [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

/// The instruments, made once when export starts.
pub(crate) struct Instruments {
    tokens: Histogram<u64>,
    duration: Histogram<f64>,
    cost: Counter<f64>,
}

/// One attempt as the metrics see it: names, no content.
pub struct AttemptMetrics<'a> {
    pub operation: &'static str,
    pub provider: &'a str,
    pub request_model: &'a str,
    pub response_model: Option<&'a str>,
    pub connection: &'a str,
    pub error_type: Option<&'static str>,
    pub duration: Duration,
    /// Input and output tokens, for a served attempt.
    pub tokens: Option<(u64, u64)>,
    pub cost_usd: f64,
}

impl Instruments {
    pub(crate) fn new(meter: &Meter) -> Self {
        Instruments {
            tokens: meter
                .u64_histogram("gen_ai.client.token.usage")
                .with_unit("{token}")
                .with_description("Number of input and output tokens used.")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            duration: meter
                .f64_histogram("gen_ai.client.operation.duration")
                .with_unit("s")
                .with_description("GenAI operation duration.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            cost: meter
                .f64_counter("llmnode.cost")
                .with_unit("USD")
                .with_description("What attempts cost at the workspace's prices.")
                .build(),
        }
    }

    pub(crate) fn record(&self, a: &AttemptMetrics<'_>) {
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", a.operation),
            KeyValue::new("gen_ai.provider.name", a.provider.to_string()),
            KeyValue::new("gen_ai.request.model", a.request_model.to_string()),
        ];
        if let Some(model) = a.response_model {
            attributes.push(KeyValue::new("gen_ai.response.model", model.to_string()));
        }
        if let Some(error) = a.error_type {
            attributes.push(KeyValue::new("error.type", error));
        }
        self.duration.record(a.duration.as_secs_f64(), &attributes);
        if let Some((input, output)) = a.tokens {
            for (kind, count) in [("input", input), ("output", output)] {
                attributes.push(KeyValue::new("gen_ai.token.type", kind));
                self.tokens.record(count, &attributes);
                attributes.pop();
            }
        }
        if a.cost_usd > 0.0 {
            attributes.push(KeyValue::new("llmnode.connection", a.connection.to_string()));
            self.cost.add(a.cost_usd, &attributes);
        }
    }
}
