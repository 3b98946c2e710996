//! `llmnode alerts`: what fired, the thresholds that decide it, and the
//! channels it goes to. A webhook URL (it often carries a token) and an SMTP
//! password are read from environment variables and never printed: a
//! webhook is shown as its scheme and host, a mail channel as its server.

use super::operator::DEFAULT_WORKSPACE;
use super::{Env, Failure};
use clap::{Args, Subcommand};
use llmnode::admin::alerting::WebhookChange;
use llmnode::alerts::channel::{ChannelSettings, EmailSettings, SmtpAuth, StartTls, WebhookFormat, WebhookSettings};
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
    /// Change thresholds or the `webhook` channel's URL; unnamed settings keep their values.
    Set(SetArgs),
    /// Where alerts go: webhooks (JSON or Slack's format) and email over SMTP.
    #[command(subcommand)]
    Channel(ChannelCommand),
}

#[derive(Subcommand)]
enum ChannelCommand {
    /// The workspace's channels.
    List {
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Add a channel, or replace the one of that name.
    #[command(subcommand)]
    Add(AddChannel),
    /// Remove a channel.
    Remove {
        /// The channel's name.
        name: String,
    },
}

#[derive(Subcommand)]
enum AddChannel {
    /// POST each alert to a URL.
    Webhook {
        /// The channel's name.
        name: String,
        /// Read the URL from this environment variable (it often carries a token).
        #[arg(long, value_name = "VAR")]
        url_env: String,
        /// The body: `json` (every field of the alert) or `slack` (`text` and `blocks`,
        /// as Slack's incoming webhooks take it).
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Mail each alert through an SMTP server.
    Email(EmailArgs),
}

#[derive(Args)]
struct EmailArgs {
    /// The channel's name.
    name: String,
    /// The SMTP server (also the name its certificate must carry).
    #[arg(long, value_name = "HOST")]
    smtp_host: String,
    /// The SMTP server's port (587: submission, with STARTTLS).
    #[arg(long, value_name = "PORT", default_value_t = 587)]
    smtp_port: u16,
    /// `required`: encrypt (STARTTLS) or do not deliver; `opportunistic`: encrypt when
    /// offered; `none`: plain text (a relay on this machine).
    #[arg(long, value_enum, default_value_t = Tls::Required)]
    starttls: Tls,
    /// Log in with AUTH PLAIN or LOGIN (needs --username and --password-env).
    #[arg(long, value_enum)]
    auth: Option<Auth>,
    /// The SMTP login's user name.
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    /// Read the SMTP password from this environment variable; left out when
    /// replacing a mail channel, the stored one is kept.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// The sender address.
    #[arg(long, value_name = "ADDRESS")]
    from: String,
    /// A recipient (repeat for more).
    #[arg(long, value_name = "ADDRESS", required = true)]
    to: Vec<String>,
    /// Trust this PEM certificate besides the public roots (a private CA or a self-signed server).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Json,
    Slack,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Tls {
    Required,
    Opportunistic,
    None,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Auth {
    Plain,
    Login,
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
    /// Read the URL of the `webhook` channel (alerts are POSTed to it) from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "no_webhook")]
    webhook_url_env: Option<String>,
    /// Remove the `webhook` channel.
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
                    (Some(_), _, _) => "delivered".to_string(),
                    (None, 0, _) => "log only".to_string(),
                    (None, n, e) => {
                        format!("not delivered after {n} attempt(s): {}", Escaped(e.as_deref().unwrap_or("")))
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
            let s = alert_rows::settings(store.db(), ws.id).map_err(Failure::input)?;
            let channels = alert_rows::channels(store.db(), ws.id).map_err(Failure::input)?;
            match json {
                true => super::print_json(&serde_json::json!({ "settings": s, "channels": channels })),
                false => {
                    let spend = s.daily_spend_usd.map(|d| format!("${d:.2}")).unwrap_or_else(|| "off".into());
                    println!("daily spend:   {spend}");
                    println!("limits:        {}% of a connection's RPM, TPM or daily budget", s.limit_pct);
                    println!(
                        "error rate:    {}% of at least {} attempts in {} s",
                        s.error_rate_pct, s.min_requests, s.window_secs
                    );
                    println!("key rotation:  every {} days", s.rotation_days);
                    if channels.is_empty() {
                        println!("channels:      none (log events only)");
                    }
                    for c in &channels {
                        println!("channel:       {} ({}): {}", Escaped(&c.name), c.settings.kind(), Escaped(&c.hint));
                    }
                }
            }
            Ok(())
        }
        AlertsCommand::Set(set) => {
            let mut admin = env.admin()?;
            let ws = workspaces::get(admin.store.db(), &args.workspace).map_err(Failure::input)?;
            let mut s = alert_rows::settings(admin.store.db(), ws.id).map_err(Failure::input)?;
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
                (Some(var), _) => WebhookChange::Set(secret_from_env(&var)?),
                (None, true) => WebhookChange::Remove,
                (None, false) => WebhookChange::Keep,
            };
            admin.configure_alerts(&args.workspace, s, webhook).map_err(Failure::input)?;
            println!("alerts of workspace {} updated", Escaped(&args.workspace));
            Ok(())
        }
        AlertsCommand::Channel(command) => channel(env, &args.workspace, command),
    }
}

fn channel(env: &Env, workspace: &str, command: ChannelCommand) -> Result<(), Failure> {
    let (name, settings, secret) = match command {
        ChannelCommand::List { json } => {
            let store = env.store()?;
            let ws = workspaces::get(store.db(), workspace).map_err(Failure::input)?;
            let channels = alert_rows::channels(store.db(), ws.id).map_err(Failure::input)?;
            if json {
                super::print_json(&channels);
                return Ok(());
            }
            if channels.is_empty() {
                println!("no alert channels (log events only)");
            }
            for c in channels {
                println!("{:<16} {:<8} {}", Escaped(&c.name), c.settings.kind(), Escaped(&c.hint));
            }
            return Ok(());
        }
        ChannelCommand::Remove { name } => {
            env.admin()?.remove_alert_channel(workspace, &name).map_err(Failure::input)?;
            println!("alert channel {} removed", Escaped(&name));
            return Ok(());
        }
        ChannelCommand::Add(AddChannel::Webhook { name, url_env, format }) => {
            let format = match format {
                Format::Json => WebhookFormat::Json,
                Format::Slack => WebhookFormat::Slack,
            };
            (name, ChannelSettings::Webhook(WebhookSettings { format }), Some(secret_from_env(&url_env)?))
        }
        ChannelCommand::Add(AddChannel::Email(e)) => {
            let ca_pem = match &e.ca_file {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|err| {
                    Failure::input(format!("cannot read the CA certificate {}: {err}", path.display()))
                })?),
                None => None,
            };
            let settings = EmailSettings {
                host: e.smtp_host,
                port: e.smtp_port,
                starttls: match e.starttls {
                    Tls::Required => StartTls::Required,
                    Tls::Opportunistic => StartTls::Opportunistic,
                    Tls::None => StartTls::None,
                },
                auth: e.auth.map(|a| match a {
                    Auth::Plain => SmtpAuth::Plain,
                    Auth::Login => SmtpAuth::Login,
                }),
                username: e.username,
                from: e.from,
                to: e.to,
                ca_pem,
            };
            let password = e.password_env.as_deref().map(secret_from_env).transpose()?;
            (e.name, ChannelSettings::Email(settings), password)
        }
    };
    let row = env.admin()?.put_alert_channel(workspace, &name, settings, secret).map_err(Failure::input)?;
    println!("alert channel {} ({}) set: {}", Escaped(&row.name), row.settings.kind(), Escaped(&row.hint));
    Ok(())
}

/// The secret in environment variable `var`.
fn secret_from_env(var: &str) -> Result<Secret, Failure> {
    std::env::var(var).map(Secret::new).map_err(|_| Failure::input(format!("environment variable {var} is not set")))
}
