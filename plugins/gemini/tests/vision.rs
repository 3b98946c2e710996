//! Images as Gemini parts (https://ai.google.dev/api/caching#Part): inline as
//! `inlineData {mimeType, data}`, by address as `fileData {mimeType, fileUri}`,
//! on the Gemini API and on Vertex AI alike.

use llmnode_plugin_gemini::Gemini;
use llmnode_sdk::prelude::*;
use serde_json::{Value, json};

fn with_images(model: &str, urls: &[&str]) -> ChatRequest {
    let mut look = Message::user("Describe");
    look.content.extend(urls.iter().map(|u| ContentPart::Image(ImagePart { url: (*u).into(), detail: None })));
    ChatRequest { model: model.into(), messages: vec![look], ..ChatRequest::default() }
}

fn sent(req: ChatRequest, vertex: bool) -> Result<Value, ProviderError> {
    let options = if vertex { vec![http::header("vertex_project", "p")] } else { Vec::new() };
    let conn = ConnectionSettings {
        base_url: "https://generativelanguage.googleapis.com".into(),
        options,
        ..ConnectionSettings::default()
    };
    Gemini::build_request(req, conn).map(|p| serde_json::from_slice(&p.request.body).unwrap())
}

#[test]
fn inline_images_and_addresses_take_the_documented_part_shapes() {
    let urls = ["data:image/webp;base64,UklGRg==", "https://x.test/cat.HEIC?sig=1", "gs://bucket/dog.jpeg"];
    for vertex in [false, true] {
        let body = sent(with_images("gemini-2.5-flash", &urls), vertex).unwrap();
        assert_eq!(
            body["contents"][0]["parts"],
            json!([
                { "text": "Describe" },
                { "inlineData": { "mimeType": "image/webp", "data": "UklGRg==" } },
                { "fileData": { "mimeType": "image/heic", "fileUri": "https://x.test/cat.HEIC?sig=1" } },
                { "fileData": { "mimeType": "image/jpeg", "fileUri": "gs://bucket/dog.jpeg" } }
            ])
        );
    }
}

#[test]
fn what_gemini_cannot_read_is_refused_by_place() {
    let refused = |model: &str, urls: &[&str], vertex: bool| sent(with_images(model, urls), vertex).unwrap_err();
    let e = refused("gemini-2.5-flash", &["data:image/png;base64,AAAA", "data:image/gif;base64,R0lG"], false);
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(
        e.message,
        "messages[0].content[2]: Gemini does not take \"image/gif\" images \
         (it takes image/png, image/jpeg, image/webp, image/heic, image/heif)"
    );
    // An address must name the type; a known but unread type is named.
    let e = refused("gemini-2.5-flash", &["https://x.test/image?id=7"], false);
    assert!(e.message.starts_with("messages[0].content[1]: Gemini needs an image's type"), "{}", e.message);
    let e = refused("gemini-2.5-flash", &["https://x.test/a.bmp"], false);
    assert!(e.message.contains("does not take \"image/bmp\" images"), "{}", e.message);
    // The Gemini API fetches web addresses for Gemini 3 models, not for 2.0 ones.
    let e = refused("gemini-2.0-flash", &["https://x.test/a.png"], false);
    assert!(
        e.message.starts_with("messages[0].content[1]: on the Gemini API, gemini-2.0-flash does not fetch images"),
        "{}",
        e.message
    );
    assert!(sent(with_images("gemini-2.0-flash", &["https://x.test/a.png"]), true).is_ok(), "Vertex AI fetches");
    let files_api = "https://generativelanguage.googleapis.com/v1beta/files/abc.png";
    assert!(sent(with_images("gemini-2.0-flash", &[files_api, "data:image/png;base64,AAAA"]), false).is_ok());
}
