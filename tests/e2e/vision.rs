//! Images through every plugin whose provider sees them: a workflow whose
//! `llm` node sends a text, an image by URL and an image filled inline from a
//! workflow input (base64 in a `data:` URL) runs against each provider's
//! loopback upstream, which must receive exactly the provider's documented
//! image form. What a provider cannot take (an address for Bedrock, a type it
//! does not read) fails the node with an error naming the part, and nothing
//! is sent. The daemon's OpenAI- and Anthropic-compatible endpoints take
//! images in their own clients' forms and hand them on.

use crate::support::daemon::{Daemon, Setup};
use crate::support::{self, Reply, Seen, Upstream};
use llmnode::connections::Connection;
use llmnode::engine::RunReport;
use llmnode::error_class::ErrorClass;
use llmnode::secret::Secret;
use llmnode::transport::auth::KeyMaterial;
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "fake-vision-key-for-tests-v0001";

/// A PNG's first bytes in base64: what a workflow input carries.
const PHOTO: &str = "iVBORw0KGgoAAAANSUhEUg==";

/// The image by address every provider but Bedrock is given.
const CAT: &str = "https://example.com/cat.jpg";

/// The vision plugins, with the connection variant each is run as.
const PLUGINS: &[&str] = &["openai", "azure-openai", "qwen", "anthropic", "gemini", "gemini-vertex", "bedrock"];

/// An upstream answering every request with `plugin`'s provider's recorded answer.
async fn upstream_for(plugin: &str) -> Upstream {
    let answer = match plugin {
        "anthropic" => support::fixture_json("anthropic/recorded/structured-output-json-schema.json")["interactions"]
            [0]["response"]["body"]
            .to_string(),
        "bedrock" => {
            support::fixture_json("bedrock/recorded/converse-basic.json")["interactions"][0]["response"]["body"]
                .to_string()
        }
        "gemini" | "gemini-vertex" => {
            support::fixture_json("gemini/recorded/vertex-generateContent.json")["interactions"][0]["response"]["body"]
                .to_string()
        }
        _ => String::from_utf8(support::fixture("openai/spec-examples/default.response.json")).unwrap(),
    };
    Upstream::start(move |_| Reply::json(200, answer.clone())).await
}

/// A connection named `c` through `plugin` to `upstream`, set up as each
/// plugin's own tests set one up; Vertex AI's token comes from `tokens`.
fn connection(plugin: &str, upstream: &Upstream, tokens: &Upstream) -> Connection {
    let mut c = match plugin {
        "openai" => support::connection("c", "openai", &upstream.url("/v1"), KEY),
        "gemini-vertex" => {
            let mut key_file = support::fixture_json("google/test-service-account.json");
            key_file["token_uri"] = json!(tokens.url("/token"));
            let mut c = support::connection("c", "gemini", &upstream.url(""), KEY);
            c.credentials.api_key = None;
            c.credentials.set("google_service_account", KeyMaterial::Plain(Secret::new(key_file.to_string()))).unwrap();
            c.options.insert("vertex_project".into(), "my-project".into());
            c
        }
        "bedrock" => {
            let mut c = Connection::with_key("c", "bedrock", upstream.url(""), "m", Secret::new(""));
            for (field, value) in [("aws_access_key_id", "FAKEAWSKEYIDTESTV0001"), ("aws_secret_access_key", KEY)] {
                c.credentials.set(field, KeyMaterial::Plain(Secret::new(value))).unwrap();
            }
            c.options.insert("region".into(), "eu-west-3".into());
            c
        }
        other => support::connection("c", other, &upstream.url(""), KEY),
    };
    c.retry.max_retries = 0;
    c
}

/// The model each plugin is asked for: a vision model of its provider.
fn model(plugin: &str) -> &'static str {
    match plugin {
        "openai" | "azure-openai" => "gpt-4o",
        "qwen" => "qwen-vl-max",
        "anthropic" => "claude-sonnet-4-5",
        "gemini" | "gemini-vertex" => "gemini-2.5-flash",
        _ => "us.amazon.nova-lite-v1:0",
    }
}

/// A workflow whose one node asks about `images` (given as a workflow author
/// writes them); the input `photo` is base64 image data for templates.
fn workflow(plugin: &str, images: Value) -> String {
    let mut content = vec![json!({ "type": "text", "text": "What is in these images?" })];
    content.extend(images.as_array().unwrap().iter().cloned());
    json!({
        "name": "vision",
        "inputs": { "photo": { "type": "string" } },
        "nodes": [{ "id": "look", "node_type": "llm", "config": {
            "primary_connection": "c",
            "model": model(plugin),
            "max_tokens": 100,
            "messages": [{ "role": "user", "content": content }]
        } }],
        "output": "{{nodes.look.output.text}}"
    })
    .to_string()
}

/// Run `images` through `plugin`: the requests its upstream received and the report.
async fn run(plugin: &str, images: Value) -> (Vec<Seen>, RunReport) {
    let upstream = upstream_for(plugin).await;
    let tokens = Upstream::start(|_| {
        Reply::json(200, json!({ "access_token": "ya29.vision-test", "expires_in": 3600 }).to_string())
    })
    .await;
    let engine = support::engine(vec![connection(plugin, &upstream, &tokens)]);
    let report = support::run(&engine, &workflow(plugin, images), json!({ "photo": PHOTO })).await;
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    (upstream.seen(), report)
}

/// The images of the workflow: one by address (except for Bedrock, which
/// takes none), one inline from the `photo` input, with a detail hint.
fn images(plugin: &str) -> Value {
    let inline = json!({ "type": "image_url", "image_url": {
        "url": "data:image/png;base64,{{inputs.photo}}", "detail": "low"
    } });
    if plugin == "bedrock" {
        json!([inline])
    } else {
        json!([{ "type": "image_url", "image_url": { "url": CAT } }, inline])
    }
}

/// Exactly what `plugin`'s provider must receive for [`images`].
fn expected(plugin: &str) -> Value {
    let question = "What is in these images?";
    let openai = |model: &str| {
        json!({
            "model": model,
            "max_tokens": 100,
            "messages": [{ "role": "user", "content": [
                { "type": "text", "text": question },
                { "type": "image_url", "image_url": { "url": CAT } },
                { "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{PHOTO}"), "detail": "low" } }
            ] }]
        })
    };
    match plugin {
        "openai" | "azure-openai" | "qwen" => openai(model(plugin)),
        // No detail hint at Anthropic, Gemini or Bedrock: it is dropped.
        "anthropic" => json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "messages": [{ "role": "user", "content": [
                { "type": "text", "text": question },
                { "type": "image", "source": { "type": "url", "url": CAT } },
                { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": PHOTO } }
            ] }]
        }),
        "gemini" | "gemini-vertex" => json!({
            "contents": [{ "role": "user", "parts": [
                { "text": question },
                { "fileData": { "mimeType": "image/jpeg", "fileUri": CAT } },
                { "inlineData": { "mimeType": "image/png", "data": PHOTO } }
            ] }],
            "generationConfig": { "maxOutputTokens": 100 }
        }),
        _ => json!({
            "messages": [{ "role": "user", "content": [
                { "text": question },
                { "image": { "format": "png", "source": { "bytes": PHOTO } } }
            ] }],
            "inferenceConfig": { "maxTokens": 100 }
        }),
    }
}

#[tokio::test]
async fn every_vision_plugin_sends_url_and_inline_images_in_its_providers_form() {
    for plugin in PLUGINS {
        let (seen, report) = run(plugin, images(plugin)).await;
        assert!(report.ok, "{plugin}: {report:#?}");
        assert_eq!(seen.len(), 1, "{plugin}");
        assert_eq!(seen[0].json(), expected(plugin), "{plugin}: {}", seen[0].uri);
    }
}

/// The node failed as an invalid request whose error contains `what`, and
/// the provider was never asked.
fn assert_refused(plugin: &str, (seen, report): &(Vec<Seen>, RunReport), what: &str) {
    assert!(seen.is_empty() && !report.ok, "{plugin}: {seen:?} {report:#?}");
    assert_eq!(report.attempts[0].error, Some(ErrorClass::InvalidRequest), "{plugin}: {report:#?}");
    let error = report.nodes[0].error.as_deref().unwrap();
    assert!(error.contains(what), "{plugin}: {error}");
}

#[tokio::test]
async fn what_a_provider_cannot_take_is_refused_by_place_before_anything_is_sent() {
    // Converse takes no web addresses.
    let by_address = json!([{ "type": "image_url", "image_url": { "url": CAT } }]);
    let refused = run("bedrock", by_address).await;
    assert_refused("bedrock", &refused, "messages[0].content[1]: Bedrock takes images inline only");
    // An SVG is an image no vision provider here reads; the address of a
    // signed URL is never quoted back.
    let svg = json!([
        { "type": "image_url", "image_url": { "url": "https://example.com/a.png?X-Amz-Signature=s3cr3t" } },
        { "type": "image_url", "image_url": { "url": "data:image/svg+xml;base64,{{inputs.photo}}" } }
    ]);
    for plugin in PLUGINS.iter().filter(|p| **p != "bedrock") {
        let refused = run(plugin, svg.clone()).await;
        assert_refused(plugin, &refused, "messages[0].content[2]: ");
        assert_refused(plugin, &refused, "does not take \"image/svg+xml\" images");
        assert!(!refused.1.nodes[0].error.as_deref().unwrap().contains("s3cr3t"));
    }
    // Base64 split over lines (as `base64` prints it) is not base64 to a provider.
    let wrapped = json!([{ "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0K\nGgo=" } }]);
    let refused = run("anthropic", wrapped).await;
    assert_refused("anthropic", &refused, "messages[0].content[1]: the image's data is not base64");
}

/// A daemon whose connection `rec` goes through `provider` to a recording upstream.
async fn daemon_with(provider: &str) -> (Setup, Daemon, Upstream) {
    let s = Setup::new(Duration::ZERO).await;
    let upstream = upstream_for(provider).await;
    let base = if provider == "openai" { upstream.url("/v1") } else { upstream.url("") };
    let add = ["connections", "add", "rec", "--provider", provider, "--api-key-env", "K", "--base-url", &base];
    s.cli(&[&add[..], &["--max-retries", "0"]].concat()).await;
    let d = s.serve().await;
    (s, d, upstream)
}

/// The content of the user message in the one request the upstream received.
fn sent_content(upstream: &Upstream) -> Value {
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    seen[0].json()["messages"][0]["content"].clone()
}

#[tokio::test]
async fn the_openai_endpoint_takes_image_url_parts_and_hands_them_to_any_plugin() {
    let (s, d, upstream) = daemon_with("anthropic").await;
    let chat = |url: &str| {
        json!({ "model": "rec/claude-sonnet-4-5", "max_tokens": 50, "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "What is this?" },
            { "type": "image_url", "image_url": { "url": CAT, "detail": "high" } },
            { "type": "image_url", "image_url": { "url": url } }
        ] }] })
    };
    let inline = chat(&format!("data:image/webp;base64,{PHOTO}"));
    let (status, answer) = d.call("POST", "/v1/chat/completions", &s.member, Some(inline)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        sent_content(&upstream),
        json!([
            { "type": "text", "text": "What is this?" },
            { "type": "image", "source": { "type": "url", "url": CAT } },
            { "type": "image", "source": { "type": "base64", "media_type": "image/webp", "data": PHOTO } }
        ])
    );
    // A type Anthropic does not read: a 400 naming the part; nothing more sent.
    let bmp = chat("data:image/bmp;base64,Qk0=");
    let (status, answer) = d.call("POST", "/v1/chat/completions", &s.member, Some(bmp)).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("messages[0].content[2]: Anthropic does not take \"image/bmp\" images"), "{answer}");
    assert_eq!(upstream.seen().len(), 1);
    d.assert_log_clean();
}

#[tokio::test]
async fn the_anthropic_endpoint_takes_image_blocks_and_hands_them_to_any_plugin() {
    let (s, d, upstream) = daemon_with("openai").await;
    let message = json!({ "model": "rec/gpt-4o", "max_tokens": 50, "messages": [{ "role": "user", "content": [
        { "type": "text", "text": "What is this?" },
        { "type": "image", "source": { "type": "base64", "media_type": "image/jpeg", "data": PHOTO } },
        { "type": "image", "source": { "type": "url", "url": CAT } }
    ] }] });
    let (status, answer) = d.call("POST", "/v1/messages", &s.member, Some(message)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        sent_content(&upstream),
        json!([
            { "type": "text", "text": "What is this?" },
            { "type": "image_url", "image_url": { "url": format!("data:image/jpeg;base64,{PHOTO}") } },
            { "type": "image_url", "image_url": { "url": CAT } }
        ])
    );
    d.assert_log_clean();
}
