//! `llmnode alerts`: what fired, and the thresholds and webhook that decide it.
//! The webhook URL is read from an environment variable (it often carries a
//! token) and shown only as its scheme and host.

use super::operator::DEFAULT_WORKSPACE;
use super::{Env, Failure};
use clap::{Args, Subcommand};
use llmnode::admin::alerting::WebhookChange;
use llmnode::escape::Escaped;
use llmnode::secret::Secret;
use llmnode::store::{DAY_MS, alert_rows, now_ms, workspaces};

#[derive(Args)]
pub struct AlertsArgs {
    /// The workspace whose alerts to show or change.
    #[arg(long, short = 'w', global = true, default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    #[command(subcommand)]
    command: AlertsCommand,
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Alerts that fired, newest first, with their webhook delivery.
    List {
        /// How many days back, today included.
        #[arg(long, value_name = "DAYS", default_value_t = 7)]
        days: u32,
        /// At most this many alerts, newest first.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: u32,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// The workspace's thresholds and webhook.
    Show {
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Change thresholds or the webhook; unnamed settings keep their values.
    Set(SetArgs),
}

#[derive(Args)]
struct SetArgs {
    /// Alert when the workspace's spend today (UTC) reaches this many US dollars. Default: off.
    #[arg(long, value_name = "USD", conflicts_with = "no_daily_spend")]
    daily_spend_usd: Option<f64>,
    /// Turn the daily spend alert off.
    #[arg(long)]
    no_daily_spend: bool,
    /// Alert when a connection uses this percentage of its RPM, TPM or daily budget. Default: 80.
    #[arg(long, value_name = "PERCENT")]
    limit_pct: Option<f64>,
    /// Alert when this percentage of a connection's attempts fail within the window. Default: 5.
    #[arg(long, value_name = "PERCENT")]
    error_rate_pct: Option<f64>,
    /// The window errors are counted over, in seconds; each condition alerts once per window. Default: 300.
    #[arg(long, value_name = "SECONDS")]
    window_secs: Option<u64>,
    /// Fewer attempts than this in the window never make an error-rate alert. Default: 20.
    #[arg(long, value_name = "N")]
    min_requests: Option<u64>,
    /// Alert once per key when a connection's secret is older than this many days (default 90).
    #[arg(long, value_name = "DAYS")]
    rotation_days: Option<u32>,
    /// Read the webhook URL (alerts are POSTed to it as JSON) from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "no_webhook")]
    webhook_url_env: Option<String>,
    /// Stop posting alerts to a webhook.
    #[arg(long)]
    no_webhook: bool,
}

pub fn run(env: &Env, args: AlertsArgs) -> Result<(), Failure> {
    match args.command {
        AlertsCommand::List { days, limit, json } => {
            let store = env.store()?;
            let ws = workspaces::get(store.db(), &args.workspace).map_err(Failure::input)?;
            let since = now_ms() - i64::from(days) * DAY_MS;
            let alerts = alert_rows::list(store.db(), ws.id, since, limit).map_err(Failure::input)?;
            if json {
                super::print_json(&alerts);
                return Ok(());
            }
            if alerts.is_empty() {
                println!("no alerts in the last {days} days");
            }
            for a in alerts {
                let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(a.fired_ms.max(0) as u64);
                let delivery = match (a.delivered_ms, a.delivery_attempts, &a.delivery_error) {
                    (Some(_), _, _) => "webhook: delivered".to_string(),
                    (None, 0, _) => "log only".to_string(),
                    (None, n, e) => {
                        format!("webhook: failed after {n} attempt(s): {}", Escaped(e.as_deref().unwrap_or("")))
                    }
                };
                let at = humantime::format_rfc3339_seconds(at);
                println!("{at}  {:<12} {}  [{delivery}]", Escaped(&a.kind), Escaped(&a.message));
            }
            Ok(())
        }
        AlertsCommand::Show { json } => {
            let store = env.store()?;
            let ws = workspaces::get(store.db(), &args.workspace).map_err(Failure::input)?;
            let stored = alert_rows::settings(store.db(), ws.id).map_err(Failure::input)?;
            let value = serde_json::json!({ "settings": stored.settings, "webhook": stored.webhook_hint });
            match json {
                true => super::print_json(&value),
                false => {
                    let s = stored.settings;
                    let spend = s.daily_spend_usd.map(|d| format!("${d:.2}")).unwrap_or_else(|| "off".into());
                    println!("daily spend:   {spend}");
                    println!("limits:        {}% of a connection's RPM, TPM or daily budget", s.limit_pct);
                    println!(
                        "error rate:    {}% of at least {} attempts in {} s",
                        s.error_rate_pct, s.min_requests, s.window_secs
                    );
                    println!("key rotation:  every {} days", s.rotation_days);
                    let webhook = stored.webhook_hint.as_deref().unwrap_or("none (log events only)");
                    println!("webhook:       {}", Escaped(webhook));
                }
            }
            Ok(())
        }
        AlertsCommand::Set(set) => {
            let mut admin = env.admin()?;
            let ws = workspaces::get(admin.store.db(), &args.workspace).map_err(Failure::input)?;
            let mut s = alert_rows::settings(admin.store.db(), ws.id).map_err(Failure::input)?.settings;
            if set.no_daily_spend {
                s.daily_spend_usd = None;
            }
            s.daily_spend_usd = set.daily_spend_usd.or(s.daily_spend_usd);
            s.limit_pct = set.limit_pct.unwrap_or(s.limit_pct);
            s.error_rate_pct = set.error_rate_pct.unwrap_or(s.error_rate_pct);
            s.window_secs = set.window_secs.unwrap_or(s.window_secs);
            s.min_requests = set.min_requests.unwrap_or(s.min_requests);
            s.rotation_days = set.rotation_days.unwrap_or(s.rotation_days);
            let webhook = match (set.webhook_url_env, set.no_webhook) {
                (Some(var), _) => {
                    let url = std::env::var(&var)
                        .map_err(|_| Failure::input(format!("environment variable {var} is not set")))?;
                    WebhookChange::Set(Secret::new(url))
                }
                (None, true) => WebhookChange::Remove,
                (None, false) => WebhookChange::Keep,
            };
            admin.configure_alerts(&args.workspace, s, webhook).map_err(Failure::input)?;
            println!("alerts of workspace {} updated", Escaped(&args.workspace));
            Ok(())
        }
    }
}
