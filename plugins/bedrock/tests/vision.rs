//! Images as Converse `image` blocks
//! (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html):
//! `{"image": {"format": "png", "source": {"bytes": <base64>}}}`. Converse has
//! no web-address source, so an image by URL is refused.

use llmnode_plugin_bedrock::Bedrock;
use llmnode_sdk::prelude::*;
use serde_json::{Value, json};

fn with_images(urls: &[&str]) -> ChatRequest {
    let mut look = Message::user("Describe");
    look.content.extend(urls.iter().map(|u| ContentPart::Image(ImagePart { url: (*u).into(), detail: None })));
    ChatRequest { model: "us.amazon.nova-lite-v1:0".into(), messages: vec![look], ..ChatRequest::default() }
}

fn sent(req: ChatRequest) -> Result<Value, ProviderError> {
    let conn =
        ConnectionSettings { base_url: "https://bedrock-runtime.us-east-1.amazonaws.com".into(), ..Default::default() };
    Bedrock::build_request(req, conn).map(|p| serde_json::from_slice(&p.request.body).unwrap())
}

#[test]
fn inline_images_become_image_blocks_of_each_format() {
    let urls = ["data:image/png;base64,iVBORw0KGgo=", "data:image/jpeg;base64,/9j/", "data:image/gif;base64,R0lG"];
    let mut req = with_images(&urls);
    req.messages[0].content.push(ContentPart::Image(ImagePart {
        url: "data:image/webp;base64,UklGRg==".into(),
        detail: Some("high".into()),
    }));
    assert_eq!(
        sent(req).unwrap()["messages"][0]["content"],
        json!([
            { "text": "Describe" },
            { "image": { "format": "png", "source": { "bytes": "iVBORw0KGgo=" } } },
            { "image": { "format": "jpeg", "source": { "bytes": "/9j/" } } },
            { "image": { "format": "gif", "source": { "bytes": "R0lG" } } },
            { "image": { "format": "webp", "source": { "bytes": "UklGRg==" } } }
        ])
    );
}

#[test]
fn addresses_and_other_types_are_refused_by_place() {
    let e = sent(with_images(&["data:image/png;base64,AAAA", "https://x.test/cat.png"])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(
        e.message,
        "messages[0].content[2]: Bedrock takes images inline only, not by address: give the image as a data: URL \
         (data:<type>;base64,<data>)"
    );
    let e = sent(with_images(&["data:image/tiff;base64,SUkq"])).unwrap_err();
    assert_eq!(
        e.message,
        "messages[0].content[1]: Bedrock does not take \"image/tiff\" images \
         (it takes image/png, image/jpeg, image/gif, image/webp)"
    );
}
