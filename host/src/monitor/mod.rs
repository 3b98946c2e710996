//! The prompt monitor: looks at every llm node's messages after they are
//! rendered and before any plugin builds a request from them, for secrets
//! and payment card numbers ([`rules`]) and for volume far above its
//! sender's own baseline ([`volume`]). A workspace chooses per detector what
//! a hit does ([`Policy`]): nothing, an alert, the match replaced by
//! `[REDACTED:rule]`, or the node refused with nothing sent. A hit names the
//! rule and where it was (workflow, node, message index), never the text.

pub mod rules;
pub mod volume;

use crate::runtime::bindings::types;
use crate::store::now_ms;
use rules::{Found, RULES};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use volume::{Sender, Volume};

/// What a detector's hits do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Not looked for.
    Off,
    /// Recorded (alert, log line, metric); the prompt goes as it is.
    #[default]
    Alert,
    /// Recorded, and the match replaced by `[REDACTED:rule]` before sending.
    Redact,
    /// Recorded, and the node fails (`invalid_request`) with nothing sent.
    Block,
}

impl Action {
    /// Every action, as operators spell them.
    pub const NAMES: &'static str = "off, alert, redact, block";

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Off => "off",
            Action::Alert => "alert",
            Action::Redact => "redact",
            Action::Block => "block",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Action::Off),
            "alert" => Ok(Action::Alert),
            "redact" => Ok(Action::Redact),
            "block" => Ok(Action::Block),
            other => Err(format!("unknown monitor action {other:?} (one of: {})", Action::NAMES)),
        }
    }
}

/// The monitor's detectors, each with its own policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    Secrets,
    Cards,
    Volume,
}

impl Detector {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Secrets => "secrets",
            Detector::Cards => "cards",
            Detector::Volume => "volume",
        }
    }
}

/// A workspace's policy, per detector. Every detector alerts by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub secrets: Action,
    pub cards: Action,
    pub volume: Action,
}

impl Policy {
    /// What `detector`'s hits do.
    pub fn action(&self, detector: Detector) -> Action {
        match detector {
            Detector::Secrets => self.secrets,
            Detector::Cards => self.cards,
            Detector::Volume => self.volume,
        }
    }

    /// Refuse what cannot be done: volume has no text to redact.
    pub fn validate(&self) -> Result<(), String> {
        if self.volume == Action::Redact {
            return Err("monitor policy `volume`: a volume has no text to redact; choose off, alert or block".into());
        }
        Ok(())
    }
}

/// One hit: which rule, what it did, and where. Never the matched text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub rule: &'static str,
    pub detector: Detector,
    pub action: Action,
    pub node: String,
    /// The message's index in the node's `messages` (text detectors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<usize>,
    /// Whose volume, and how far over (the volume detector).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
}

impl Hit {
    /// Where the hit was, for alerts and errors.
    pub fn place(&self, workflow: &str) -> String {
        let mut s =
            format!("workflow `{}`, node `{}`", crate::escape::Escaped(workflow), crate::escape::Escaped(&self.node));
        if let Some(i) = self.message {
            s.push_str(&format!(", message {i}"));
        }
        if let Some(who) = &self.sender {
            s.push_str(&format!(", {who}"));
        }
        s
    }
}

/// A node the monitor refused: nothing was sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the prompt monitor blocked this node: {what} matched in {place}; nothing was sent (workspace policy `{detector}`: block)"
)]
pub struct Blocked {
    pub what: String,
    pub place: String,
    pub detector: &'static str,
}

/// Who sent the prompt of a node.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub workspace: i64,
    pub workflow: &'a str,
    pub node: &'a str,
    /// The API token the run came through, if any.
    pub token: Option<i64>,
}

/// A workspace's policy and the process's volume baselines.
#[derive(Clone, Default)]
pub struct Monitor {
    pub policy: Policy,
    pub volume: Arc<Volume>,
}

impl Monitor {
    /// Look at `request`'s messages, apply the policy to what is found
    /// (redacting in place), append the hits to `hits`, and refuse the node
    /// if a blocking detector hit.
    pub fn inspect(
        &self,
        request: &mut types::ChatRequest,
        origin: Origin<'_>,
        hits: &mut Vec<Hit>,
    ) -> Result<(), Blocked> {
        let policy = self.policy;
        let first_new = hits.len();
        if policy.volume != Action::Off {
            self.volume_hits(request, origin, hits);
        }
        if policy.secrets != Action::Off || policy.cards != Action::Off {
            let mut found = Vec::new();
            for (i, message) in request.messages.iter_mut().enumerate() {
                for part in &mut message.content {
                    let types::ContentPart::Text(text) = part else { continue };
                    found.clear();
                    rules::scan(text, |r| policy.action(r.detector) != Action::Off, &mut found);
                    if found.is_empty() {
                        continue;
                    }
                    for f in &found {
                        let rule = &RULES[f.rule];
                        let action = policy.action(rule.detector);
                        let hit = Hit {
                            rule: rule.name,
                            detector: rule.detector,
                            action,
                            node: origin.node.to_string(),
                            message: Some(i),
                            sender: None,
                        };
                        if !hits[first_new..].contains(&hit) {
                            hits.push(hit);
                        }
                    }
                    found.retain(|f| policy.action(RULES[f.rule].detector) == Action::Redact);
                    if !found.is_empty() {
                        *text = redact(text, &mut found);
                    }
                }
            }
        }
        for hit in &hits[first_new..] {
            tracing::warn!(
                target: "llmnode::monitor",
                workflow = %crate::escape::Escaped(origin.workflow),
                node = %crate::escape::Escaped(origin.node),
                rule = hit.rule,
                message = hit.message,
                action = hit.action.as_str(),
                "prompt monitor: rule `{}` hit in {}",
                hit.rule,
                hit.place(origin.workflow)
            );
        }
        match hits[first_new..].iter().find(|h| h.action == Action::Block) {
            Some(hit) => Err(Blocked {
                what: match hit.detector {
                    Detector::Volume => "prompt volume far above its baseline".to_string(),
                    _ => format!("rule `{}`", hit.rule),
                },
                place: hit.place(origin.workflow),
                detector: hit.detector.as_str(),
            }),
            None => Ok(()),
        }
    }

    /// Count the prompt's bytes for its workflow and token; a hit for each
    /// that is far over its baseline (an alert once an hour; a block every time).
    fn volume_hits(&self, request: &types::ChatRequest, origin: Origin<'_>, hits: &mut Vec<Hit>) {
        let bytes: u64 = request
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .map(|p| match p {
                types::ContentPart::Text(t) => t.len() as u64,
                types::ContentPart::Image(i) => i.url.len() as u64,
            })
            .sum();
        let now = now_ms();
        let action = self.policy.volume;
        let senders = [
            Some(Sender::Workflow { workspace: origin.workspace, name: origin.workflow }),
            origin.token.map(Sender::Token),
        ];
        for sender in senders.into_iter().flatten() {
            let Some(a) = self.volume.add(sender, bytes, now) else { continue };
            if !a.first && action != Action::Block {
                continue;
            }
            let who = match sender {
                Sender::Workflow { .. } => "the workflow".to_string(),
                Sender::Token(id) => format!("API token {id}"),
            };
            hits.push(Hit {
                rule: "prompt_volume",
                detector: Detector::Volume,
                action,
                node: origin.node.to_string(),
                message: None,
                sender: Some(format!(
                    "{who}: {} prompt bytes this hour, trailing hourly average {}",
                    a.bytes, a.average
                )),
            });
        }
    }
}

/// `text` with each found range replaced by `[REDACTED:rule]` (overlaps
/// merged into the first).
fn redact(text: &str, found: &mut [Found]) -> String {
    found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in found.iter() {
        if f.start < at {
            continue;
        }
        out.push_str(&text[at..f.start]);
        out.push_str("[REDACTED:");
        out.push_str(RULES[f.rule].name);
        out.push(']');
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(texts: &[&str]) -> types::ChatRequest {
        let messages: Vec<_> = texts.iter().map(|t| serde_json::json!({ "role": "user", "content": t })).collect();
        crate::kit::call::chat_request(&serde_json::json!({ "model": "m", "messages": messages })).unwrap()
    }

    fn text(r: &types::ChatRequest, i: usize) -> &str {
        match &r.messages[i].content[0] {
            types::ContentPart::Text(t) => t,
            _ => unreachable!(),
        }
    }

    const ORIGIN: Origin<'static> = Origin { workspace: 1, workflow: "wf", node: "n", token: None };

    #[test]
    fn each_action_does_what_it_says_and_hits_never_hold_the_text() {
        // AWS's own documentation example, never a live key.
        let key = "AKIAIOSFODNN7EXAMPLE";
        let card = "4111 1111 1111 1111";
        let prompt = format!("use {key} and pay with {card}, not 4111 1111 1111 1112");
        for (secrets, cards) in
            [(Action::Alert, Action::Redact), (Action::Redact, Action::Off), (Action::Block, Action::Alert)]
        {
            let m = Monitor { policy: Policy { secrets, cards, volume: Action::Off }, ..Default::default() };
            let mut r = request(&["hello", &prompt]);
            let mut hits = Vec::new();
            let outcome = m.inspect(&mut r, ORIGIN, &mut hits);
            assert_eq!(outcome.is_err(), secrets == Action::Block);
            let rules: Vec<_> = hits.iter().map(|h| (h.rule, h.action, h.message)).collect();
            let mut want = vec![("aws_access_key_id", secrets, Some(1))];
            if cards != Action::Off {
                want.push(("payment_card", cards, Some(1)));
            }
            assert_eq!(rules, want);
            let sent = text(&r, 1);
            assert_eq!(sent.contains(key), secrets != Action::Redact, "{sent}");
            assert_eq!(sent.contains("[REDACTED:aws_access_key_id]"), secrets == Action::Redact);
            assert_eq!(sent.contains(card), cards != Action::Redact, "{sent}");
            assert!(sent.contains("4111 1111 1111 1112"), "a Luhn-invalid number is left alone");
            let shown = format!("{:?} {}", hits, outcome.err().map(|e| e.to_string()).unwrap_or_default());
            assert!(!shown.contains(key) && !shown.contains(card), "{shown}");
        }
    }

    #[test]
    fn volume_cannot_be_redacted_and_is_counted_per_sender() {
        let p = Policy { volume: Action::Redact, ..Default::default() };
        assert!(p.validate().unwrap_err().contains("volume"));
        let m = Monitor { policy: Policy { volume: Action::Block, ..Default::default() }, ..Default::default() };
        let big = "x".repeat(600_000);
        let mut hits = Vec::new();
        assert!(m.inspect(&mut request(&[&big]), ORIGIN, &mut hits).is_ok());
        let blocked = m.inspect(&mut request(&[&big]), ORIGIN, &mut hits).unwrap_err();
        assert!(blocked.to_string().contains("volume"), "{blocked}");
        assert_eq!(hits.len(), 1);
    }
}
