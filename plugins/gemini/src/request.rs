//! Chat request → `generateContent` request, for the Gemini API or Vertex AI.
//! Reference: https://ai.google.dev/api/generate-content and
//! https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent

use crate::{calls, images};
use llmnode_sdk::prelude::*;
use serde_json::{Map, Value, json};

/// The Gemini API, the default base URL.
pub const GEMINI_API: &str = "https://generativelanguage.googleapis.com";

/// The OAuth scope Vertex AI needs.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Where a connection's requests go and how they are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The Gemini API with an API key.
    GeminiApi {
        /// Base URL without a trailing slash.
        base: String,
    },
    /// Vertex AI, with a service account's OAuth token.
    Vertex {
        /// Base URL without a trailing slash.
        base: String,
        /// The Google Cloud project billed.
        project: String,
        /// The region serving the model, or `global`.
        location: String,
    },
}

impl Endpoint {
    /// Vertex AI when the connection's options name `vertex_project` (and
    /// optionally `vertex_location`, default `us-central1`), else the Gemini API.
    /// A Vertex connection left on the Gemini API's default base URL goes to the
    /// location's own endpoint; any other base URL (a proxy) is kept.
    pub fn of(conn: &ConnectionSettings) -> Result<Self, ProviderError> {
        let base = conn.base_url.trim_end_matches('/').to_string();
        let Some(project) = conn.option("vertex_project") else {
            return Ok(Endpoint::GeminiApi { base });
        };
        let location = conn.option("vertex_location").unwrap_or("us-central1");
        check_name("vertex_project", project, |c| c.is_ascii_alphanumeric() || "-.:_".contains(c))?;
        check_name("vertex_location", location, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')?;
        let base = match base.as_str() {
            GEMINI_API if location == "global" => "https://aiplatform.googleapis.com".to_string(),
            GEMINI_API => format!("https://{location}-aiplatform.googleapis.com"),
            _ => base,
        };
        Ok(Endpoint::Vertex { base, project: project.into(), location: location.into() })
    }

    /// The URL of `{model}:{action}`, e.g. `generateContent`.
    pub fn model_url(&self, model: &str, action: &str) -> Result<String, ProviderError> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        check_name("the model id", model, |c| c.is_ascii_alphanumeric() || "-._@".contains(c))?;
        Ok(match self {
            Endpoint::GeminiApi { base } => format!("{base}/v1beta/models/{model}{action}"),
            Endpoint::Vertex { base, project, location } => {
                format!("{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}{action}")
            }
        })
    }

    /// The key as `x-goog-api-key` (never in the URL, which may be logged), or
    /// a Google OAuth token for Vertex AI.
    pub fn auth(&self) -> AuthDirective {
        match self {
            Endpoint::GeminiApi { .. } => AuthDirective::Header("x-goog-api-key".into()),
            Endpoint::Vertex { .. } => AuthDirective::GoogleServiceAccount(vec![CLOUD_PLATFORM_SCOPE.into()]),
        }
    }
}

/// Refuse a name that would change the URL's shape (a `/`, `?` or a host part).
fn check_name(what: &str, value: &str, allowed: impl Fn(char) -> bool) -> Result<(), ProviderError> {
    if value.is_empty() || !value.chars().all(allowed) {
        return Err(ProviderError::invalid(format!("{what} {value:?} has characters Gemini does not allow there")));
    }
    Ok(())
}

/// The request for a chat: URL, JSON headers and the operator's custom headers.
pub fn prepared(req: &ChatRequest, conn: &ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
    let endpoint = Endpoint::of(conn)?;
    images::check_fetch(req, &endpoint)?;
    let action = if req.stream { ":streamGenerateContent?alt=sse" } else { ":generateContent" };
    let mut request = http::post(endpoint.model_url(&req.model, action)?, body(req, conn)?);
    request.headers.extend(conn.headers.iter().cloned());
    Ok(PreparedRequest { request, auth: endpoint.auth() })
}

/// A request that costs nothing: reading the model on the Gemini API, counting
/// one word's tokens on Vertex AI (which has no per-project model read).
pub fn probe(conn: &ConnectionSettings, model: &str) -> Result<PreparedRequest, ProviderError> {
    let endpoint = Endpoint::of(conn)?;
    let mut request = match endpoint {
        Endpoint::GeminiApi { .. } => http::get(endpoint.model_url(model, "")?),
        Endpoint::Vertex { .. } => {
            let body = json!({ "contents": [{ "role": "user", "parts": [{ "text": "ping" }] }] });
            http::post(endpoint.model_url(model, ":countTokens")?, json::body(&body))
        }
    };
    request.headers.extend(conn.headers.iter().cloned());
    Ok(PreparedRequest { request, auth: endpoint.auth() })
}

/// The JSON body of a `generateContent` request.
pub fn body(req: &ChatRequest, conn: &ConnectionSettings) -> Result<Vec<u8>, ProviderError> {
    let mut body = Map::new();
    let (system, contents) = contents(&req.messages)?;
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    body.insert("contents".into(), Value::Array(contents));
    let mut tools = Vec::new();
    if !req.tools.is_empty() {
        let declarations = req.tools.iter().map(function_declaration).collect::<Result<Vec<_>, _>>()?;
        tools.push(json!({ "functionDeclarations": declarations }));
    }
    let vertex = matches!(Endpoint::of(conn)?, Endpoint::Vertex { .. });
    tools.extend(crate::grounding::tool(req, vertex)?);
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &req.tool_choice {
        body.insert("toolConfig".into(), json!({ "functionCallingConfig": function_calling(choice) }));
    }
    let config = generation_config(req, conn)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(json::body(&Value::Object(body)))
}

/// System messages become `systemInstruction`; the rest become `contents` with
/// Gemini's two roles, `user` and `model`. Consecutive tool results go in one
/// `user` turn, as Gemini wants all answers to a turn's calls together.
fn contents(messages: &[Message]) -> Result<(Vec<Value>, Vec<Value>), ProviderError> {
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = |part| image::At { message: i, part };
        let mut parts = m.content.iter().enumerate().map(|(j, p)| part(p, at(j))).collect::<Result<Vec<_>, _>>()?;
        let role = match m.role {
            Role::System => {
                system.append(&mut parts);
                continue;
            }
            Role::User => "user",
            Role::Assistant => {
                for (n, call) in m.tool_calls.iter().enumerate() {
                    parts.push(function_call(call, n == 0)?);
                }
                "model"
            }
            Role::Tool => {
                let answer = function_response(m, &messages[..i])?;
                if i > 0
                    && messages[i - 1].role == Role::Tool
                    && let Some(Value::Array(previous)) = contents.last_mut().map(|c| &mut c["parts"])
                {
                    previous.push(answer);
                    continue;
                }
                parts = vec![answer];
                "user"
            }
        };
        if !parts.is_empty() {
            contents.push(json!({ "role": role, "parts": parts }));
        }
    }
    Ok((system, contents))
}

fn part(p: &ContentPart, at: image::At) -> Result<Value, ProviderError> {
    match p {
        ContentPart::Text(text) => Ok(json!({ "text": text })),
        ContentPart::Image(image) => images::part(image, at),
    }
}

/// An earlier call of the model, replayed. The first call of a turn always
/// carries a thought signature (the real one, else the placeholder).
fn function_call(call: &ToolCall, first: bool) -> Result<Value, ProviderError> {
    let (id, signature) = calls::split(&call.id);
    let args = match call.arguments.trim() {
        "" => json!({}),
        text => json::parse_text(text, &format!("the arguments of tool call `{}`", call.name))?,
    };
    if !args.is_object() {
        return Err(ProviderError::invalid(format!(
            "the arguments of tool call `{}` must be a JSON object",
            call.name
        )));
    }
    let mut function_call = json!({ "name": call.name, "args": args });
    if !id.is_empty() {
        function_call["id"] = json!(id);
    }
    let mut part = json!({ "functionCall": function_call });
    if let Some(signature) = signature.or(first.then_some(calls::SKIP_SIGNATURE)) {
        part["thoughtSignature"] = json!(signature);
    }
    Ok(part)
}

/// A tool result. Gemini identifies the call by its function name, found on
/// the earlier call with this id. A JSON object result is sent as it is; any
/// other text as `{"output": text}`, the shape Google's docs suggest.
fn function_response(m: &Message, earlier: &[Message]) -> Result<Value, ProviderError> {
    let call_id = m.tool_call_id.as_deref().unwrap_or_default();
    let name = earlier
        .iter()
        .rev()
        .flat_map(|e| &e.tool_calls)
        .find(|c| c.id == call_id)
        .map(|c| c.name.as_str())
        .or(m.name.as_deref())
        .ok_or_else(|| ProviderError::invalid(format!("no earlier tool call has the id {call_id:?}")))?;
    let text = m.text();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object,
        _ => json!({ "output": text }),
    };
    let mut function_response = json!({ "name": name, "response": response });
    let (id, _) = calls::split(call_id);
    if !id.is_empty() {
        function_response["id"] = json!(id);
    }
    Ok(json!({ "functionResponse": function_response }))
}

/// `parametersJsonSchema` takes the JSON Schema as written (OpenAPI-only
/// `parameters` would refuse `additionalProperties` and friends).
fn function_declaration(t: &ToolDefinition) -> Result<Value, ProviderError> {
    let mut declaration = json!({ "name": t.name });
    if let Some(d) = &t.description {
        declaration["description"] = json!(d);
    }
    let what = format!("the parameters of tool `{}`", t.name);
    declaration["parametersJsonSchema"] = json::parse_text(&t.parameters, &what)?;
    Ok(declaration)
}

fn function_calling(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!({ "mode": "AUTO" }),
        ToolChoice::None => json!({ "mode": "NONE" }),
        ToolChoice::Required => json!({ "mode": "ANY" }),
        ToolChoice::Function(name) => json!({ "mode": "ANY", "allowedFunctionNames": [name] }),
    }
}

/// Sampling, length, stop sequences, JSON output, and thinking: the request's
/// `reasoning`, else the connection's options (`include_thoughts`,
/// `thinking_budget`, `thinking_level`).
fn generation_config(req: &ChatRequest, conn: &ConnectionSettings) -> Result<Map<String, Value>, ProviderError> {
    let mut config = Map::new();
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        config.insert("topP".into(), json!(p));
    }
    if let Some(n) = req.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if !req.stop.is_empty() {
        config.insert("stopSequences".into(), json!(req.stop));
    }
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema(s)) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            let schema = json::parse_text(&s.schema, &format!("the JSON schema `{}`", s.name))?;
            config.insert("responseJsonSchema".into(), schema);
        }
    }
    let mut thinking = Map::new();
    let option = |name| conn.option(name).map(str::trim);
    if let Some(v) = option("include_thoughts") {
        let include =
            v.parse::<bool>().map_err(|_| ProviderError::invalid("include_thoughts must be true or false"))?;
        thinking.insert("includeThoughts".into(), json!(include));
    }
    if let Some(v) = option("thinking_budget") {
        let budget = v.parse::<i32>().map_err(|_| ProviderError::invalid("thinking_budget must be a whole number"))?;
        thinking.insert("thinkingBudget".into(), json!(budget));
    }
    if let Some(v) = option("thinking_level") {
        thinking.insert("thinkingLevel".into(), json!(v));
    }
    if let Some(r) = req.reasoning {
        // The request's reasoning wins over the connection's options: a budget,
        // with the thought summaries returned.
        // https://ai.google.dev/gemini-api/docs/thinking#set-budget
        thinking.insert("thinkingBudget".into(), json!(reasoning::budget(r)));
        thinking.insert("includeThoughts".into(), json!(true));
    }
    if !thinking.is_empty() {
        config.insert("thinkingConfig".into(), Value::Object(thinking));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    //! The pure request building, natively: Vertex AI cannot be reached end to
    //! end until the host mints service-account tokens.
    use super::*;

    fn conn(base: &str, options: &[(&str, &str)]) -> ConnectionSettings {
        let header = |(name, value): &(&str, &str)| http::header(name, value);
        ConnectionSettings {
            base_url: base.into(),
            organization: None,
            headers: Vec::new(),
            options: options.iter().map(header).collect(),
        }
    }

    fn chat(messages: Vec<Message>, stream: bool) -> ChatRequest {
        ChatRequest { model: "gemini-2.5-flash".into(), messages, stream, ..ChatRequest::default() }
    }

    fn message(role: Role, text: &str) -> Message {
        Message::new(role, text)
    }

    #[test]
    fn vertex_requests_go_to_the_location_with_a_service_account_token() {
        let hello = chat(vec![message(Role::User, "Hello")], false);
        let p = prepared(&hello, &conn(GEMINI_API, &[("vertex_project", "my-proj")])).unwrap();
        assert_eq!(
            p.request.url,
            "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        assert!(
            matches!(&p.auth, AuthDirective::GoogleServiceAccount(scopes) if scopes == &[CLOUD_PLATFORM_SCOPE]),
            "{:?}",
            p.auth
        );

        let streamed = chat(vec![message(Role::User, "Hello")], true);
        let global = conn(GEMINI_API, &[("vertex_project", "p"), ("vertex_location", "global")]);
        assert_eq!(
            prepared(&streamed, &global).unwrap().request.url,
            "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        // An operator's own base URL (a proxy) is kept.
        let proxied = conn("https://proxy.example/", &[("vertex_project", "p"), ("vertex_location", "europe-west4")]);
        assert_eq!(
            prepared(&hello, &proxied).unwrap().request.url,
            "https://proxy.example/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        let probe = probe(&proxied, "gemini-2.5-flash").unwrap();
        assert!(
            probe.request.url.ends_with("/models/gemini-2.5-flash:countTokens") && probe.request.method == Method::Post
        );

        for bad in [("vertex_location", "us-central1.evil.com/x"), ("vertex_project", "p/../../x")] {
            let options = [("vertex_project", "p"), bad];
            let options = if bad.0 == "vertex_project" { &options[1..] } else { &options[..] };
            let e = prepared(&hello, &conn(GEMINI_API, options)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{}", e.message);
        }
    }

    #[test]
    fn gemini_api_requests_name_the_key_header_and_keep_the_url_clean() {
        let p = prepared(&chat(vec![message(Role::User, "Hello")], true), &conn(GEMINI_API, &[])).unwrap();
        assert_eq!(
            p.request.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert!(matches!(&p.auth, AuthDirective::Header(h) if h == "x-goog-api-key"));
        let probe = probe(&conn(GEMINI_API, &[]), "models/gemini-2.5-pro").unwrap();
        assert_eq!(probe.request.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro");
        assert!(probe.request.method == Method::Get && probe.request.body.is_empty());
        let mut odd = chat(vec![message(Role::User, "Hello")], false);
        odd.model = "gemini?key=x".into();
        assert!(prepared(&odd, &conn(GEMINI_API, &[])).is_err());
    }

    #[test]
    fn parallel_tool_results_share_a_turn_and_signatures_travel_back() {
        let mut asked = message(Role::Assistant, "");
        asked.content.clear();
        asked.tool_calls = vec![
            ToolCall { id: "call_1#sig=c2ln".into(), name: "sum".into(), arguments: r#"{"x":1}"#.into() },
            ToolCall { id: "call_2".into(), name: "mul".into(), arguments: String::new() },
        ];
        let mut first = message(Role::Tool, r#"{"result":3}"#);
        first.tool_call_id = Some("call_1#sig=c2ln".into());
        let mut second = message(Role::Tool, "6");
        second.tool_call_id = Some("call_2".into());
        let messages = vec![message(Role::System, "Be brief."), message(Role::User, "Go"), asked, first, second];
        let body: Value =
            serde_json::from_slice(&body(&chat(messages, false), &conn(GEMINI_API, &[])).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "systemInstruction": { "parts": [{ "text": "Be brief." }] },
                "contents": [
                    { "role": "user", "parts": [{ "text": "Go" }] },
                    { "role": "model", "parts": [
                        { "functionCall": { "id": "call_1", "name": "sum", "args": { "x": 1 } }, "thoughtSignature": "c2ln" },
                        { "functionCall": { "id": "call_2", "name": "mul", "args": {} } }
                    ] },
                    { "role": "user", "parts": [
                        { "functionResponse": { "id": "call_1", "name": "sum", "response": { "result": 3 } } },
                        { "functionResponse": { "id": "call_2", "name": "mul", "response": { "output": "6" } } }
                    ] }
                ]
            })
        );
    }

    #[test]
    fn images_options_and_formats() {
        let mut look = message(Role::User, "What is this?");
        look.content.push(ContentPart::Image(ImagePart { url: "data:image/png;base64,iVBORw0K".into(), detail: None }));
        look.content.push(ContentPart::Image(ImagePart { url: "https://x.test/cat.JPG?sig=1".into(), detail: None }));
        let mut req = chat(vec![look], false);
        req.tool_choice = Some(ToolChoice::Function("lookup".into()));
        req.response_format = Some(ResponseFormat::JsonObject);
        req.max_tokens = Some(100);
        let options = [("include_thoughts", "true"), ("thinking_budget", "-1")];
        let body: Value = serde_json::from_slice(&body(&req, &conn(GEMINI_API, &options)).unwrap()).unwrap();
        assert_eq!(
            body["contents"][0]["parts"][1],
            json!({ "inlineData": { "mimeType": "image/png", "data": "iVBORw0K" } })
        );
        assert_eq!(
            body["contents"][0]["parts"][2],
            json!({ "fileData": { "mimeType": "image/jpeg", "fileUri": "https://x.test/cat.JPG?sig=1" } })
        );
        assert_eq!(
            body["toolConfig"],
            json!({ "functionCallingConfig": { "mode": "ANY", "allowedFunctionNames": ["lookup"] } })
        );
        assert_eq!(
            body["generationConfig"],
            json!({
                "maxOutputTokens": 100,
                "responseMimeType": "application/json",
                "thinkingConfig": { "includeThoughts": true, "thinkingBudget": -1 }
            })
        );
        let mut unknown = chat(vec![message(Role::User, "x")], false);
        unknown.messages[0]
            .content
            .push(ContentPart::Image(ImagePart { url: "https://x.test/img".into(), detail: None }));
        assert_eq!(super::body(&unknown, &conn(GEMINI_API, &[])).unwrap_err().kind, ErrorKind::InvalidRequest);
    }
}
