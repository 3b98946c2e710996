//! Images in the Messages API's documented form
//! (https://docs.anthropic.com/en/docs/build-with-claude/vision): an inline
//! image is a `base64` source with its media type, an address a `url` source.

use llmnode_plugin_anthropic::Anthropic;
use llmnode_sdk::prelude::*;
use serde_json::{Value, json};

fn with_images(urls: &[&str]) -> ChatRequest {
    let mut look = Message::user("What is in these images?");
    look.content.extend(urls.iter().map(|u| ContentPart::Image(ImagePart { url: (*u).into(), detail: None })));
    ChatRequest { model: "claude-sonnet-4-5".into(), messages: vec![look], ..ChatRequest::default() }
}

fn sent(req: ChatRequest) -> Result<Value, ProviderError> {
    let conn = ConnectionSettings { base_url: "https://api.anthropic.com".into(), ..ConnectionSettings::default() };
    Anthropic::build_request(req, conn).map(|p| serde_json::from_slice(&p.request.body).unwrap())
}

#[test]
fn inline_and_url_images_take_the_documented_source_shapes() {
    let req = with_images(&["data:image/jpeg;base64,/9j/4AAQSkZJRg==", "https://upload.wikimedia.org/ant.jpg"]);
    let body = sent(req).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            { "type": "text", "text": "What is in these images?" },
            { "type": "image", "source": { "type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg==" } },
            { "type": "image", "source": { "type": "url", "url": "https://upload.wikimedia.org/ant.jpg" } }
        ])
    );
    for t in ["image/png", "image/gif", "image/webp"] {
        let body = sent(with_images(&[&format!("data:{t};base64,AAAA")])).unwrap();
        assert_eq!(body["messages"][0]["content"][1]["source"]["media_type"], t);
    }
}

#[test]
fn types_anthropic_does_not_read_are_refused_by_place() {
    let e = sent(with_images(&["https://x.test/a.png", "data:image/bmp;base64,Qk0="])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(
        e.message,
        "messages[0].content[2]: Anthropic does not take \"image/bmp\" images \
         (it takes image/jpeg, image/png, image/gif, image/webp)"
    );
    let e = sent(with_images(&["data:image/png;base64,not base64!"])).unwrap_err();
    assert!(e.message.starts_with("messages[0].content[1]: the image's data is not base64"), "{}", e.message);
}
