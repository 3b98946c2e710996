//! Images as OpenAI's `image_url` content parts (Azure OpenAI speaks the same
//! dialect), by URL or inline as a `data:` URL, with `detail` when given.

use llmnode_plugin_azure_openai::AzureOpenAi;
use llmnode_sdk::prelude::*;
use serde_json::{Value, json};

fn sent(urls: &[(&str, Option<&str>)]) -> Result<Value, ProviderError> {
    let mut look = Message::user("Describe");
    look.content.extend(
        urls.iter().map(|(u, d)| ContentPart::Image(ImagePart { url: (*u).into(), detail: d.map(Into::into) })),
    );
    let req = ChatRequest { model: "gpt-4o".into(), messages: vec![look], ..ChatRequest::default() };
    let conn = ConnectionSettings { base_url: "https://r.openai.azure.com".into(), ..ConnectionSettings::default() };
    AzureOpenAi::build_request(req, conn).map(|p| serde_json::from_slice(&p.request.body).unwrap())
}

#[test]
fn urls_and_inline_images_are_image_url_parts() {
    let body = sent(&[("https://x.test/a.jpg", Some("high")), ("data:image/jpeg;base64,/9j/", None)]).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            { "type": "text", "text": "Describe" },
            { "type": "image_url", "image_url": { "url": "https://x.test/a.jpg", "detail": "high" } },
            { "type": "image_url", "image_url": { "url": "data:image/jpeg;base64,/9j/" } }
        ])
    );
}

#[test]
fn types_azure_does_not_read_are_refused_by_place() {
    let e = sent(&[("data:image/bmp;base64,Qk0=", None)]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(
        e.message,
        "messages[0].content[1]: Azure OpenAI does not take \"image/bmp\" images \
         (it takes image/png, image/jpeg, image/webp, image/gif)"
    );
}
