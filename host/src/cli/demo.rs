//! `llmnode demo`: the whole path of an llm node, self-contained. A simulated
//! provider runs on loopback speaking both the OpenAI and the Anthropic wire
//! formats; the example workflows run through the real, sandboxed OpenAI and
//! Anthropic plugins over real HTTP, including a failover from a rate-limited
//! OpenAI connection to an Anthropic one, a streamed answer, and an
//! embedding node turning three texts into vectors in one call.

use super::{Env, Failure, report, run};
use clap::Args;
use llmnode::connections::{Connection, ConnectionSet};
use llmnode::demo::SimulatedUpstream;
use llmnode::engine::Engine;
use llmnode::secret::Secret;
use llmnode::workflow::Workflow;
use serde_json::json;
use std::time::Duration;

const TRIAGE: &str = include_str!("../../../examples/workflows/support-triage.json");
const ASK: &str = include_str!("../../../examples/workflows/ask.json");
const EMBED: &str = include_str!("../../../examples/workflows/embed.json");

#[derive(Args)]
pub struct DemoArgs {
    /// Print each run's result as JSON instead of the live display.
    #[arg(long)]
    json: bool,

    /// Milliseconds between streamed words.
    #[arg(long, default_value_t = 25, value_name = "MS")]
    word_delay_ms: u64,

    /// The key the simulated provider accepts (random when omitted).
    #[arg(long, hide = true)]
    key: Option<String>,
}

fn connection(name: &str, provider: &str, base_url: String, model: &str, key: &Secret) -> Connection {
    Connection::with_key(name, provider, base_url, model, key.clone())
}

pub async fn run(env: &Env, args: DemoArgs) -> Result<(), Failure> {
    let key = Secret::new(args.key.unwrap_or_else(|| format!("demo-{}", hex::encode(rand::random::<[u8; 16]>()))));
    let upstream = SimulatedUpstream::start(key.expose(), Duration::from_millis(args.word_delay_ms))
        .await
        .map_err(|e| Failure::run(format!("cannot start the simulated provider on loopback: {e}")))?;

    let mut connections = ConnectionSet::default();
    connections.insert(connection("primary", "openai", upstream.rate_limited_base_url(), "gpt-4o-mini", &key));
    connections.insert(connection("backup", "anthropic", upstream.anthropic_base_url(), "claude-haiku-4-5", &key));
    connections.insert(connection("openai", "openai", upstream.base_url(), "gpt-4o-mini", &key));

    let runtime = env.runtime()?;
    let registry = env.registry(&runtime)?;
    let engine = Engine::new(&connections, &registry).map_err(Failure::run)?;

    let say = |text: &str| {
        if !args.json {
            eprintln!("{text}");
        }
    };
    say(&format!(
        "llmnode demo: a simulated provider speaking the OpenAI and Anthropic formats is listening on {} \
         (loopback only, no keys, no network).\n\
         Connection `primary` (OpenAI) always answers 429, so nodes fail over to `backup` (Anthropic, another plugin).\n",
        upstream.base_url()
    ));

    let mut attempts = Vec::new();
    let mut failed = None;
    let runs = [
        (
            TRIAGE,
            json!({ "ticket": "Hi, I was charged twice for my subscription this month. Please refund one of the charges." }),
        ),
        (ASK, json!({ "question": "What does llmnode do?" })),
        (EMBED, json!({ "question": "What does llmnode do?" })),
    ];
    for (text, inputs) in runs {
        let workflow = Workflow::parse(text).map_err(|e| Failure::run(format!("bundled example is invalid: {e}")))?;
        engine.check(&workflow).map_err(Failure::run)?;
        let serde_json::Value::Object(inputs) = inputs else { unreachable!("inputs are an object literal") };
        let inputs = workflow.resolve_input_values(inputs).map_err(Failure::run)?;
        say(&format!("▶ workflow `{}`: {}", workflow.name, workflow.description.as_deref().unwrap_or("")));
        let outcome = run::execute(&engine, workflow, inputs, args.json).await;
        if let Err(f) = run::finish(&outcome.report, args.json, outcome.shown_text.as_deref()) {
            failed.get_or_insert(f);
        }
        attempts.extend(outcome.report.attempts.iter().cloned());
        say("");
    }
    if !args.json {
        eprintln!("Usage and cost of every attempt (prices from each plugin's model table):\n");
        eprint!("{}", report::usage_table(&attempts));
        eprintln!(
            "\nRun against a real provider:\n  OPENAI_API_KEY=… llmnode run examples/workflows/ask.json -c examples/connections.toml -i question='Why is the sky blue?'"
        );
    }
    match failed {
        Some(f) => Err(f),
        None => Ok(()),
    }
}
