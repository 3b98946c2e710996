//! Images as `image_url` content parts: the OpenAPI spec's own "image input"
//! example (tests/fixtures/openai/spec-examples) is sent as written, and an
//! inline image is a `data:` URL in the same field, with `detail` when given.

use llmnode_plugin_openai::OpenAi;
use llmnode_sdk::prelude::*;
use serde_json::{Value, json};

fn sent(req: ChatRequest) -> Result<Value, ProviderError> {
    let conn = ConnectionSettings { base_url: "https://api.openai.com/v1".into(), ..ConnectionSettings::default() };
    OpenAi::build_request(req, conn).map(|p| serde_json::from_slice(&p.request.body).unwrap())
}

fn image(url: &str, detail: Option<&str>) -> ContentPart {
    ContentPart::Image(ImagePart { url: url.into(), detail: detail.map(Into::into) })
}

#[test]
fn the_spec_example_and_an_inline_image_are_sent_as_image_url_parts() {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/openai/spec-examples/image-input.request.json");
    let example: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let parts = &example["messages"][0]["content"];
    let mut look = Message::user(parts[0]["text"].as_str().unwrap());
    look.content.push(image(parts[1]["image_url"]["url"].as_str().unwrap(), None));
    let req = ChatRequest { model: "gpt-4o".into(), messages: vec![look.clone()], ..ChatRequest::default() };
    assert_eq!(sent(req).unwrap()["messages"], example["messages"]);

    look.content.push(image("data:image/png;base64,iVBORw0KGgo=", Some("low")));
    let req = ChatRequest { model: "gpt-4o".into(), messages: vec![look], ..ChatRequest::default() };
    assert_eq!(
        sent(req).unwrap()["messages"][0]["content"][2],
        json!({ "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low" } })
    );
}

#[test]
fn types_openai_does_not_read_are_refused_by_place() {
    let mut look = Message::user("x");
    look.content.push(image("data:image/svg+xml;base64,PHN2Zz4=", None));
    let req = ChatRequest { model: "gpt-4o".into(), messages: vec![Message::user("hi"), look], ..Default::default() };
    let e = sent(req).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(
        e.message,
        "messages[1].content[1]: OpenAI does not take \"image/svg+xml\" images \
         (it takes image/png, image/jpeg, image/webp, image/gif)"
    );
}
