//! Images for Qwen's vision models in DashScope's OpenAI-compatible mode
//! (https://www.alibabacloud.com/help/en/model-studio/qwen-vl-compatible-with-openai):
//! `image_url` parts, by URL or as `data:image/<type>;base64,` URLs.

use llmnode_plugin_qwen::Qwen;
use llmnode_sdk::prelude::*;
use serde_json::{Value, json};

fn sent(urls: &[&str]) -> Result<Value, ProviderError> {
    let mut look = Message::user("Describe");
    look.content.extend(urls.iter().map(|u| ContentPart::Image(ImagePart { url: (*u).into(), detail: None })));
    let req = ChatRequest { model: "qwen-vl-max".into(), messages: vec![look], ..ChatRequest::default() };
    let conn = ConnectionSettings {
        base_url: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1".into(),
        ..ConnectionSettings::default()
    };
    Qwen::build_request(req, conn).map(|p| serde_json::from_slice(&p.request.body).unwrap())
}

#[test]
fn urls_and_inline_images_are_image_url_parts() {
    let body = sent(&["https://x.test/dog.jpeg", "data:image/bmp;base64,Qk0=", "data:image/tiff;base64,SUkq"]).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            { "type": "text", "text": "Describe" },
            { "type": "image_url", "image_url": { "url": "https://x.test/dog.jpeg" } },
            { "type": "image_url", "image_url": { "url": "data:image/bmp;base64,Qk0=" } },
            { "type": "image_url", "image_url": { "url": "data:image/tiff;base64,SUkq" } }
        ])
    );
}

#[test]
fn types_qwen_does_not_read_are_refused_by_place() {
    let e = sent(&["data:image/gif;base64,R0lG"]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(
        e.message,
        "messages[0].content[1]: Qwen does not take \"image/gif\" images \
         (it takes image/bmp, image/jpeg, image/png, image/tiff, image/webp, image/heic)"
    );
}
