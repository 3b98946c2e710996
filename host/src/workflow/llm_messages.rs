//! The `messages` of an `llm` node: roles, text and image parts (templates),
//! and the tool-call bookkeeping providers insist on.

use super::llm_config::{MessageRole, MessageSpec, PartSpec, ToolCallSpec};
use super::llm_tools::ToolType;
use super::path::Loc;
use super::shape::{Expect, Obj, StrOrSeq};
use super::validate::Checker;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMessage {
    role: MessageRole,
    content: Option<StrOrSeq<RawParts>>,
    name: Option<String>,
    tool_call_id: Option<String>,
    tool_calls: Option<Vec<Obj<RawToolCall>>>,
    cache: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct RawParts(Vec<Obj<RawPart>>);

impl Expect for RawParts {
    const EXPECT: &'static str = "a template string or an array of content parts";
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPart {
    #[serde(rename = "type")]
    kind: PartType,
    text: Option<String>,
    image_url: Option<Obj<RawImageUrl>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PartType {
    Text,
    ImageUrl,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImageUrl {
    url: String,
    detail: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToolCall {
    id: String,
    #[serde(rename = "type")]
    _kind: Option<ToolType>,
    function: Obj<RawFunctionCall>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunctionCall {
    name: String,
    arguments: String,
}

pub(crate) fn messages(
    raw: Option<Vec<Obj<RawMessage>>>,
    loc: &Loc<'_>,
    cx: &mut Checker<'_, '_>,
) -> Option<Vec<MessageSpec>> {
    let Some(raw) = raw else {
        cx.issue(loc, "missing field `messages`");
        return None;
    };
    let list_loc = loc.key("messages");
    if raw.is_empty() {
        cx.issue(&list_loc, "must have at least one message");
    }
    let mut tool_call_ids: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, Obj(message)) in raw.into_iter().enumerate() {
        if let Some(spec) = self::message(message, &list_loc.index(i), &mut tool_call_ids, cx) {
            out.push(spec);
        }
    }
    Some(out)
}

fn message(
    raw: RawMessage,
    loc: &Loc<'_>,
    tool_call_ids: &mut Vec<String>,
    cx: &mut Checker<'_, '_>,
) -> Option<MessageSpec> {
    let role = raw.role;
    let tool_calls: Vec<ToolCallSpec> = raw
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|Obj(call)| ToolCallSpec { id: call.id, name: call.function.0.name, arguments: call.function.0.arguments })
        .collect();
    if !tool_calls.is_empty() && role != MessageRole::Assistant {
        cx.issue(&loc.key("tool_calls"), "only assistant messages have tool_calls");
    }
    tool_call_ids.extend(tool_calls.iter().map(|call| call.id.clone()));
    match (&raw.tool_call_id, role) {
        (None, MessageRole::Tool) => cx.issue(loc, "a tool message needs `tool_call_id`"),
        (Some(id), MessageRole::Tool) if !tool_call_ids.contains(id) => {
            cx.issue(&loc.key("tool_call_id"), format!("no earlier assistant message has a tool call with id \"{id}\""))
        }
        (Some(_), role) if role != MessageRole::Tool => {
            cx.issue(&loc.key("tool_call_id"), "only tool messages have tool_call_id")
        }
        _ => {}
    }
    let content_loc = loc.key("content");
    let content = match raw.content {
        None if role == MessageRole::Assistant && !tool_calls.is_empty() => Some(Vec::new()),
        None => {
            let what = match role {
                MessageRole::System => "a system message needs `content`",
                MessageRole::User => "a user message needs `content`",
                MessageRole::Assistant => "an assistant message needs `content` (or `tool_calls`)",
                MessageRole::Tool => "a tool message needs `content`",
            };
            cx.issue(loc, what);
            None
        }
        Some(StrOrSeq::Str(text)) => cx.template(&content_loc, text).map(|t| vec![PartSpec::Text(t)]),
        Some(StrOrSeq::Seq(RawParts(parts))) => {
            if parts.is_empty() {
                cx.issue(&content_loc, "must have at least one part");
            }
            let mut out = Vec::with_capacity(parts.len());
            let mut ok = true;
            for (j, Obj(raw_part)) in parts.into_iter().enumerate() {
                match part(raw_part, &content_loc.index(j), cx) {
                    Some(p) => out.push(p),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
    };
    Some(MessageSpec {
        role,
        content: content?,
        name: raw.name,
        tool_call_id: raw.tool_call_id,
        tool_calls,
        cache: raw.cache.unwrap_or(false),
    })
}

fn part(raw: RawPart, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<PartSpec> {
    match raw.kind {
        PartType::Text => {
            if raw.image_url.is_some() {
                cx.issue(&loc.key("image_url"), "not allowed in a text part");
            }
            let Some(text) = raw.text else {
                cx.issue(loc, "a text part needs `text`");
                return None;
            };
            cx.template(&loc.key("text"), text).map(PartSpec::Text)
        }
        PartType::ImageUrl => {
            if raw.text.is_some() {
                cx.issue(&loc.key("text"), "not allowed in an image_url part");
            }
            let Some(Obj(image)) = raw.image_url else {
                cx.issue(loc, "an image_url part needs `image_url`");
                return None;
            };
            let url_loc = loc.key("image_url");
            let url = cx.template(&url_loc.key("url"), image.url)?;
            Some(PartSpec::Image { url, detail: image.detail })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::llm_config::*;
    use super::super::llm_parse::tests::{C, assert_issue, parse, with};
    use serde_json::json;

    #[test]
    fn messages_parts_and_images() {
        let config = parse(with(json!({"messages": [
            {"role": "system", "content": "sys", "cache": true},
            {"role": "user", "name": "bob", "content": [
                {"type": "text", "text": "look: {{inputs.ticket}}"},
                {"type": "image_url", "image_url": {"url": "{{inputs.ticket}}", "detail": "low"}}
            ]},
        ]})))
        .unwrap();
        let [system, user] = &config.messages[..] else { panic!("{:?}", config.messages) };
        assert_eq!(system.role, MessageRole::System);
        assert!(system.cache);
        assert_eq!(user.name.as_deref(), Some("bob"));
        match &user.content[..] {
            [PartSpec::Text(t), PartSpec::Image { url, detail }] => {
                assert_eq!(t.as_str(), "look: {{inputs.ticket}}");
                assert_eq!(url.as_str(), "{{inputs.ticket}}");
                assert_eq!(detail.as_deref(), Some("low"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn message_errors() {
        let m = format!("{C}.messages");
        assert_issue(with(json!({"messages": []})), &m, "at least one message");
        assert_issue(
            with(json!({"messages": [{"role": "robot", "content": "x"}]})),
            &format!("{m}[0].role"),
            "unknown variant `robot`, expected one of `system`, `user`, `assistant`, `tool`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user"}]})),
            &format!("{m}[0]"),
            "a user message needs `content`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": null}]})),
            &format!("{m}[0]"),
            "a user message needs `content`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": []}]})),
            &format!("{m}[0].content"),
            "at least one part",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]})),
            &format!("{m}[0].content[0]"),
            "needs `text`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": [{"type": "video", "text": "x"}]}]})),
            &format!("{m}[0].content[0].type"),
            "unknown variant `video`",
        );
        assert_issue(
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"uri": "x"}}]}]}),
            ),
            &format!("{m}[0].content[0].image_url.uri"),
            "unknown field `uri`",
        );
        assert_issue(
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "{{ nope }}"}}]}]}),
            ),
            &format!("{m}[0].content[0].image_url.url"),
            "unknown reference root `nope`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})),
            &format!("{m}[0].content[0]"),
            "needs `image_url`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": "{{inputs.ticket"}]})),
            &format!("{m}[0].content"),
            "unclosed `{{` at byte 0",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": 5}]})),
            &format!("{m}[0].content"),
            "expected a template string or an array of content parts",
        );
    }

    #[test]
    fn tool_messages_and_calls() {
        let config = parse(with(json!({"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "12C"},
        ]})))
        .unwrap();
        let assistant = &config.messages[1];
        assert!(assistant.content.is_empty());
        assert_eq!(
            assistant.tool_calls,
            [ToolCallSpec { id: "call_1".into(), name: "get".into(), arguments: "{\"city\":\"Oslo\"}".into() }]
        );
        assert_eq!(config.messages[2].tool_call_id.as_deref(), Some("call_1"));

        let m = format!("{C}.messages");
        assert_issue(
            with(json!({"messages": [{"role": "tool", "content": "x"}]})),
            &format!("{m}[0]"),
            "needs `tool_call_id`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "tool", "tool_call_id": "zz", "content": "x"}]})),
            &format!("{m}[0].tool_call_id"),
            "no earlier assistant message has a tool call with id \"zz\"",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "tool_call_id": "zz", "content": "x"}]})),
            &format!("{m}[0].tool_call_id"),
            "only tool messages",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": "x", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]})),
            &format!("{m}[0].tool_calls"),
            "only assistant messages have tool_calls",
        );
        assert_issue(
            with(json!({"messages": [{"role": "assistant"}]})),
            &format!("{m}[0]"),
            "an assistant message needs `content` (or `tool_calls`)",
        );
        assert_issue(
            with(json!({"messages": [{"role": "assistant", "tool_calls": [
                {"id": "a", "function": {"name": "f", "arguments": {}}}]}]})),
            &format!("{m}[0].tool_calls[0].function.arguments"),
            "expected a string",
        );
    }
}
