//! Prompts and answers in the GenAI conventions' message shape
//! (`gen_ai.input.messages`, `gen_ai.output.messages`), for operators who opt
//! in to content capture. Only what was sent and answered: never a header,
//! a key or a connection setting.

use crate::engine::Answer;
use crate::runtime::bindings::types::{ChatRequest, ContentPart, Message, Role};
use serde_json::{Value, json};

/// `gen_ai.input.messages`: the request's messages as JSON text.
pub fn input_messages(request: &ChatRequest) -> String {
    Value::Array(request.messages.iter().map(message).collect()).to_string()
}

/// `gen_ai.output.messages`: the answer as one assistant message.
pub fn output_messages(answer: &Answer) -> String {
    let mut parts = Vec::new();
    if let Some(reasoning) = &answer.reasoning {
        parts.push(json!({ "type": "reasoning", "content": reasoning }));
    }
    if !answer.text.is_empty() {
        parts.push(json!({ "type": "text", "content": answer.text }));
    }
    for call in &answer.tool_calls {
        parts.push(tool_call(&call.id, &call.name, &call.arguments));
    }
    let finish = answer.finish_reason.unwrap_or("stop");
    json!([{ "role": "assistant", "parts": parts, "finish_reason": finish }]).to_string()
}

fn message(m: &Message) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut parts: Vec<Value> = Vec::new();
    if let (Role::Tool, Some(id)) = (m.role, &m.tool_call_id) {
        let response: String = m.content.iter().filter_map(text_of).collect();
        parts.push(json!({ "type": "tool_call_response", "id": id, "response": response }));
    } else {
        parts.extend(m.content.iter().map(|part| match part {
            ContentPart::Text(text) => json!({ "type": "text", "content": text }),
            // Inline image data is not text a trace backend can use.
            ContentPart::Image(image) if image.url.starts_with("data:") => {
                json!({ "type": "blob", "modality": "image" })
            }
            ContentPart::Image(image) => json!({ "type": "uri", "modality": "image", "uri": image.url }),
        }));
    }
    parts.extend(m.tool_calls.iter().map(|c| tool_call(&c.id, &c.name, &c.arguments)));
    let mut out = json!({ "role": role, "parts": parts });
    if let Some(name) = &m.name {
        out["name"] = json!(name);
    }
    out
}

fn text_of(part: &ContentPart) -> Option<&str> {
    match part {
        ContentPart::Text(text) => Some(text),
        ContentPart::Image(_) => None,
    }
}

fn tool_call(id: &str, name: &str, arguments: &str) -> Value {
    let arguments = serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| Value::String(arguments.into()));
    json!({ "type": "tool_call", "id": id, "name": name, "arguments": arguments })
}
