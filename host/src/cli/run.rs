//! `llmnode run`: one workflow, with a workspace's stored connections or a
//! connections file; every attempt is recorded as a usage event when there is a store.

use super::progress::Progress;
use super::recording::Recording;
use super::{Env, Failure, report};
use clap::Args;
use llmnode::connections::ConnectionSet;
use llmnode::engine::{Engine, EngineOptions, EventSink, NoEvents, RunReport};
use llmnode::escape::{Escaped, escape};
use llmnode::limits::RedisUrl;
use llmnode::principal::Principal;
use llmnode::workflow::Workflow;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args)]
pub struct RunArgs {
    /// The workflow file (JSON).
    workflow: PathBuf,

    /// A workflow input as NAME=VALUE (repeat for more).
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    inputs: Vec<String>,

    /// Connections file (JSON or TOML); keys come from the environment variables
    /// it names. Without it, the workspace's stored connections are used.
    #[arg(long, short = 'c', env = "LLMNODE_CONNECTIONS", value_name = "FILE")]
    connections: Option<PathBuf>,

    /// The workspace whose stored connections serve the run.
    #[arg(long, short = 'w', default_value = super::operator::DEFAULT_WORKSPACE)]
    workspace: String,

    /// Print the whole result as JSON on stdout (no progress display).
    #[arg(long)]
    json: bool,

    /// Count against limits shared through Redis (as `llmnode serve --limits`)
    /// rather than through the store.
    #[arg(long, env = "LLMNODE_LIMITS_URL", value_name = "URL", hide_env_values = true)]
    limits: Option<RedisUrl>,
}

/// Read and validate a workflow file; errors name the file and the JSON path.
pub fn load_workflow(path: &Path) -> Result<Workflow, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("cannot read workflow {}: {e}", path.display())))?;
    Workflow::parse(&text).map_err(|e| Failure::input(format!("workflow {} is invalid:\n{e}", path.display())))
}

/// Split `NAME=VALUE` arguments.
fn parse_inputs(raw: &[String]) -> Result<Vec<(String, String)>, Failure> {
    raw.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Failure::input(format!("--input {kv:?} must look like NAME=VALUE"))),
        })
        .collect()
}

pub async fn run(env: &Env, args: RunArgs) -> Result<(), Failure> {
    let workflow = load_workflow(&args.workflow)?;
    let inputs = workflow.resolve_inputs(parse_inputs(&args.inputs)?).map_err(Failure::input)?;
    // Usage is recorded whenever there is a store: always for stored
    // connections, and for a connections file once `llmnode init` has run.
    let (connections, context) = match &args.connections {
        Some(file) => {
            let set = ConnectionSet::load(file, |var| std::env::var(var).ok()).map_err(Failure::input)?;
            let context = match env.has_store() {
                true => Some(env.admin()?.run_context(&args.workspace).map_err(Failure::input)?),
                false => None,
            };
            (set, context)
        }
        None => {
            let admin = env.admin()?;
            let set = admin.connection_set(&args.workspace).map_err(Failure::input)?;
            (set, Some(admin.run_context(&args.workspace).map_err(Failure::input)?))
        }
    };
    let runtime = env.runtime()?;
    let registry = env.registry(&runtime)?;
    let (recording, options) = match context {
        Some(context) => {
            let location = env.store_location()?;
            let (recording, options) =
                Recording::open(&location, env.data_dir.as_deref(), context, args.limits.as_ref())?;
            (Some(recording), options)
        }
        None => (None, EngineOptions::default()),
    };
    let engine = Engine::with_options(&connections, &registry, options).map_err(Failure::run)?;
    engine
        .check(&workflow)
        .map_err(|e| Failure::input(format!("workflow {} is invalid:\n{e}", args.workflow.display())))?;
    let outcome = execute(&engine, workflow, inputs, args.json).await;
    drop(engine);
    if let Some(recording) = recording {
        recording.close().await;
    }
    finish(&outcome.report, args.json, outcome.shown_text.as_deref())
}

/// A finished run and the text already streamed to the terminal.
pub struct Outcome {
    pub report: RunReport,
    pub shown_text: Option<String>,
}

/// Run with a progress display (or none, for JSON output).
pub async fn execute(
    engine: &Engine,
    workflow: Workflow,
    inputs: serde_json::Map<String, serde_json::Value>,
    json: bool,
) -> Outcome {
    let ids: Vec<String> = workflow.nodes.iter().map(|n| n.id.clone()).collect();
    let by = Principal::cli(&super::operator::actor());
    if json {
        let report = engine.run(Arc::new(workflow), inputs, &by, Arc::new(NoEvents)).await;
        return Outcome { report, shown_text: None };
    }
    let progress = Arc::new(Progress::new(&ids, std::io::stderr().is_terminal()));
    let sink: Arc<dyn EventSink> = progress.clone();
    let report = engine.run(Arc::new(workflow), inputs, &by, sink).await;
    progress.finish();
    Outcome { report, shown_text: progress.shown_text() }
}

/// Print the result; a failed run is exit code 1. Output already streamed to
/// the same terminal is not printed again.
pub fn finish(report: &RunReport, json: bool, shown_text: Option<&str>) -> Result<(), Failure> {
    if json {
        super::print_json(report);
    } else if let Some(text) = report::output_text(report) {
        let same_terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        if !(same_terminal && shown_text == Some(text.as_str())) {
            println!("{text}");
        }
    }
    match &report.error {
        None => Ok(()),
        Some(e) => {
            let mut message = escape(e).into_owned();
            for n in report.nodes.iter().filter(|n| n.status == llmnode::engine::NodeStatus::Failed) {
                message.push_str(&format!("\n  {}: {}", n.id, Escaped(n.error.as_deref().unwrap_or("failed"))));
            }
            Err(Failure::run(if json { String::new() } else { message }))
        }
    }
}
