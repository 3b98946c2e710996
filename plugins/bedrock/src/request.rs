//! Chat request → `POST {base}/model/{modelId}/converse` (or `/converse-stream`).
//! Reference: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html

use crate::models::{self, Caching};
use llmnode_sdk::AwsSigv4Params;
use llmnode_sdk::prelude::*;
use serde_json::{Map, Value, json};

/// The region of a connection that names none.
const DEFAULT_REGION: &str = "us-east-1";

/// The plugin's default base URL: [`DEFAULT_REGION`]'s endpoint. See [`Endpoint`].
pub const DEFAULT_BASE_URL: &str = "https://bedrock-runtime.us-east-1.amazonaws.com";

/// Bedrock reads at most this many cache checkpoints per request.
const MAX_CACHE_POINTS: usize = 4;

/// Converse has no JSON mode; a JSON response format becomes this instruction.
const JSON_INSTRUCTION: &str = "Respond with a single JSON object and nothing else.";

/// Images: Converse takes the bytes (base64 in JSON) in these formats, or an
/// S3 location, never a web address.
/// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html
const IMAGES: image::Accepts = image::Accepts {
    provider: "Bedrock",
    media_types: &["image/png", "image/jpeg", "image/gif", "image/webp"],
    urls: false,
};

/// Where a connection's requests go and the region they are signed for.
///
/// `info` can only name one static default base URL, and the host makes the
/// connection's base URL (that default unless the operator set one) the only
/// origin its requests may reach. So:
/// - the region is the connection option `region`; without it, the region in
///   an AWS endpoint base URL (`https://bedrock-runtime.eu-west-1.amazonaws.com`),
///   so setting that URL alone is enough; otherwise `us-east-1`;
/// - a connection that keeps the default base URL is sent to its region's
///   endpoint, `https://bedrock-runtime.{region}.amazonaws.com`. For a region
///   other than us-east-1 that origin is not the default's, and the host
///   refuses it, naming it, unless the operator accepted it (a connections
///   file's `allowed_hosts`): such a connection should rather set its base URL
///   to that endpoint. Sending a request signed for one region to another
///   region's endpoint instead would only fail later, at AWS;
/// - any other base URL (a VPC endpoint, a proxy, a test server) is used as
///   given and signed for the region.
pub struct Endpoint {
    base_url: String,
    region: String,
}

impl Endpoint {
    /// The endpoint of `conn`; a region that is not a region name is refused.
    pub fn of(conn: &ConnectionSettings) -> Result<Self, ProviderError> {
        let option = conn.option("region").map(str::trim).filter(|r| !r.is_empty());
        let region = option.or_else(|| region_in(&conn.base_url)).unwrap_or(DEFAULT_REGION);
        if !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(ProviderError::invalid(format!(
                "the connection's region {region:?} is not an AWS region name"
            )));
        }
        let base_url = if conn.base_url.trim_end_matches('/') == DEFAULT_BASE_URL {
            format!("https://bedrock-runtime.{region}.amazonaws.com")
        } else {
            conn.base_url.clone()
        };
        Ok(Endpoint { base_url, region: region.to_string() })
    }
}

/// The region of an AWS Bedrock runtime endpoint URL (`bedrock-runtime[-fips].{region}.amazonaws.com…`).
fn region_in(base_url: &str) -> Option<&str> {
    let host = base_url.split_once("://")?.1.split(['/', ':']).next()?;
    let rest = host.strip_prefix("bedrock-runtime.").or_else(|| host.strip_prefix("bedrock-runtime-fips."))?;
    let (region, domain) = rest.split_once('.')?;
    domain.starts_with("amazonaws.com").then_some(region)
}

/// The request template: the model's `action` URL (`converse`,
/// `converse-stream`, `invoke`), JSON headers and the operator's custom
/// headers; the host signs it with SigV4 for `bedrock` in the connection's region.
pub fn prepared(
    conn: &ConnectionSettings,
    model: &str,
    action: &str,
    body: Vec<u8>,
) -> Result<PreparedRequest, ProviderError> {
    if model.is_empty() {
        return Err(ProviderError::invalid("Bedrock needs a model id"));
    }
    let endpoint = Endpoint::of(conn)?;
    let url = http::join(&endpoint.base_url, &format!("model/{}/{action}", path_segment(model)));
    let mut request = http::post(url, body);
    request.headers.extend(conn.headers.iter().cloned());
    let auth = AuthDirective::AwsSigv4(AwsSigv4Params { service: "bedrock".into(), region: endpoint.region });
    Ok(PreparedRequest { request, auth })
}

/// A model id (`us.amazon.nova-micro-v1:0`, or an ARN with `/`) as one path
/// segment: everything but unreserved characters percent-encoded, as AWS's
/// SDKs send it (`us.amazon.nova-micro-v1%3A0`).
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The JSON body of a Converse request (ConverseStream takes the same body).
/// System messages, wherever they stand, form `system`; tool results are user
/// turns; consecutive turns of one role are merged, since Converse wants the
/// roles to alternate. Cache points follow the SDK's [`CachePlan`], where the
/// model takes them.
pub fn body(req: &ChatRequest, conn: &ConnectionSettings) -> Result<Vec<u8>, ProviderError> {
    IMAGES.check(&req.messages)?;
    let caching = models::caching(&req.model);
    let mut cache = match caching {
        Caching::No => CachePlan::default(),
        _ => CachePlan::new(req, conn, MAX_CACHE_POINTS),
    };
    cache.tools &= caching == Caching::Everywhere;
    let mut point = json!({ "type": "default" });
    if cache.wants_hour() {
        point["ttl"] = json!("1h");
    }
    let point = json!({ "cachePoint": point });

    let mut system: Vec<Value> = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        if m.role == Role::System {
            system.extend(m.content.iter().map(system_block).collect::<Result<Vec<_>, _>>()?);
            if cache.after(i) {
                system.push(point.clone());
            }
            continue;
        }
        let (role, mut blocks) = match m.role {
            Role::Tool => ("user", vec![tool_result(m)?]),
            _ => (names::role(m.role), blocks(m)?),
        };
        if cache.after(i) && !blocks.is_empty() {
            blocks.push(point.clone());
        }
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(content) = last["content"].as_array_mut() {
                    content.extend(blocks);
                }
            }
            _ if blocks.is_empty() => {}
            _ => messages.push(json!({ "role": role, "content": blocks })),
        }
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => system.push(json!({ "text": JSON_INSTRUCTION })),
        Some(ResponseFormat::JsonSchema(s)) => {
            let schema = json::parse_text(&s.schema, &format!("the JSON schema `{}`", s.name))?;
            let text =
                format!("Respond with a single JSON object matching this JSON Schema and nothing else: {schema}");
            system.push(json!({ "text": text }));
        }
        _ => {}
    }

    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let config = inference_config(req);
    if !config.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(config));
    }
    if let Some(tools) = tool_config(req, cache.tools.then_some(point))? {
        body.insert("toolConfig".into(), tools);
    }
    if let Some(r) = req.reasoning {
        body.insert("additionalModelRequestFields".into(), thinking(&req.model, r)?);
    }
    Ok(json::body(&Value::Object(body)))
}

/// Reasoning for a Claude model: Anthropic's own `thinking` field, passed
/// through in `additionalModelRequestFields`; other Bedrock models take none.
/// https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html
fn thinking(model: &str, r: Reasoning) -> Result<Value, ProviderError> {
    if !model.contains("anthropic.claude") {
        return Err(ProviderError::invalid(format!(
            "reasoning is taken only by Claude models on Bedrock, not by {model:?}"
        )));
    }
    let budget = reasoning::budget(r);
    if budget < 1024 {
        return Err(ProviderError::invalid(format!(
            "Claude takes a reasoning budget of at least 1024 tokens, not {budget}"
        )));
    }
    Ok(json!({ "thinking": { "type": "enabled", "budget_tokens": budget } }))
}

/// `maxTokens`, `temperature`, `topP` and `stopSequences`, where the request sets them.
fn inference_config(req: &ChatRequest) -> Map<String, Value> {
    let mut config = Map::new();
    if let Some(n) = req.max_tokens {
        config.insert("maxTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json::decimal(t));
    }
    if let Some(p) = req.top_p {
        config.insert("topP".into(), json::decimal(p));
    }
    if !req.stop.is_empty() {
        config.insert("stopSequences".into(), json!(req.stop));
    }
    config
}

/// The system prompt takes text only.
fn system_block(part: &ContentPart) -> Result<Value, ProviderError> {
    match part {
        ContentPart::Text(text) => Ok(json!({ "text": text })),
        ContentPart::Image(_) => Err(ProviderError::invalid("Bedrock's system prompt takes text only")),
    }
}

/// A user or assistant turn as content blocks: text (Bedrock refuses blank
/// text blocks), images, and for the assistant the tool calls it made.
fn blocks(m: &Message) -> Result<Vec<Value>, ProviderError> {
    let mut out = Vec::with_capacity(m.content.len() + m.tool_calls.len());
    for part in &m.content {
        match part {
            ContentPart::Text(text) if text.is_empty() => {}
            ContentPart::Text(text) => out.push(json!({ "text": text })),
            ContentPart::Image(image) => out.push(image_block(image)?),
        }
    }
    for call in &m.tool_calls {
        let input = if call.arguments.trim().is_empty() {
            json!({})
        } else {
            json::parse_text(&call.arguments, &format!("the arguments of tool call `{}`", call.id))?
        };
        out.push(json!({ "toolUse": { "toolUseId": call.id, "name": call.name, "input": input } }));
    }
    Ok(out)
}

/// A tool's answer: a `toolResult` block (text and images).
fn tool_result(m: &Message) -> Result<Value, ProviderError> {
    let content = m
        .content
        .iter()
        .map(|part| match part {
            ContentPart::Text(text) => Ok(json!({ "text": text })),
            ContentPart::Image(image) => image_block(image),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "toolResult": { "toolUseId": m.tool_call_id, "content": content } }))
}

/// An image as an `image` block: its format is the media type's subtype
/// (`image/png` is `png`). Every image was checked against [`IMAGES`] first.
fn image_block(image: &ImagePart) -> Result<Value, ProviderError> {
    let Some((media_type, data)) = image.inline() else {
        return Err(ProviderError::invalid("Bedrock takes images inline only: give them as data: URLs"));
    };
    let format = media_type.strip_prefix("image/").unwrap_or(media_type);
    Ok(json!({ "image": { "format": format, "source": { "bytes": data } } }))
}

/// `toolConfig`: the tools, a cache point after them if planned, and the
/// choice. Converse has no "none" choice: the tools are left out instead,
/// unless earlier turns used them (Bedrock then needs their specs to read
/// those turns, and the model may call one again).
fn tool_config(req: &ChatRequest, point: Option<Value>) -> Result<Option<Value>, ProviderError> {
    let used = req.messages.iter().any(|m| m.role == Role::Tool || !m.tool_calls.is_empty());
    if req.tools.is_empty() || (matches!(req.tool_choice, Some(ToolChoice::None)) && !used) {
        return Ok(None);
    }
    let mut tools = req.tools.iter().map(tool).collect::<Result<Vec<_>, _>>()?;
    tools.extend(point);
    let mut config = json!({ "tools": tools });
    let choice = match &req.tool_choice {
        Some(ToolChoice::Auto) => Some(json!({ "auto": {} })),
        Some(ToolChoice::Required) => Some(json!({ "any": {} })),
        Some(ToolChoice::Function(name)) => Some(json!({ "tool": { "name": name } })),
        Some(ToolChoice::None) | None => None,
    };
    if let Some(choice) = choice {
        config["toolChoice"] = choice;
    }
    Ok(Some(config))
}

fn tool(t: &ToolDefinition) -> Result<Value, ProviderError> {
    let mut spec = Map::new();
    spec.insert("name".into(), json!(t.name));
    if let Some(d) = &t.description {
        spec.insert("description".into(), json!(d));
    }
    let schema = json::parse_text(&t.parameters, &format!("the parameters of tool `{}`", t.name))?;
    spec.insert("inputSchema".into(), json!({ "json": schema }));
    if t.strict == Some(true) {
        spec.insert("strict".into(), json!(true));
    }
    Ok(json!({ "toolSpec": spec }))
}
