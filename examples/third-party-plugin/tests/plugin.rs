//! The plugin's logic, natively. Recorded exchanges are in `fixtures/`, run
//! through the built component with `llmnode plugin test`.

use llmnode_ollama::{DEFAULT_BASE_URL, Ollama};
use llmnode_sdk::prelude::*;

fn local() -> ConnectionSettings {
    ConnectionSettings { base_url: DEFAULT_BASE_URL.into(), ..Default::default() }
}

#[test]
fn chat_goes_to_the_openai_compatible_route_without_credentials() {
    let req = ChatRequest { model: "llama3.2".into(), messages: vec![Message::user("Hi")], ..Default::default() };
    let prepared = Ollama::build_request(req, local()).unwrap();
    assert_eq!(prepared.request.url, "http://localhost:11434/v1/chat/completions");
    assert!(matches!(prepared.auth, AuthDirective::None));
}

#[test]
fn embeddings_keep_the_order_of_the_inputs() {
    let req =
        EmbeddingRequest { model: "nomic-embed-text".into(), inputs: vec!["a".into(), "b".into()], dimensions: None };
    let prepared = Ollama::build_embedding_request(req, local()).unwrap();
    assert_eq!(prepared.request.url, "http://localhost:11434/v1/embeddings");
    let body = br#"{"object":"list","data":[{"object":"embedding","embedding":[0.5],"index":1},{"object":"embedding","embedding":[0.25],"index":0}],"model":"nomic-embed-text","usage":{"prompt_tokens":2,"total_tokens":2}}"#;
    let parsed =
        Ollama::parse_embedding_response(HttpResponse { status: 200, headers: Vec::new(), body: body.to_vec() })
            .unwrap();
    assert_eq!(parsed.vectors, vec![vec![0.25], vec![0.5]]);
    assert_eq!(parsed.usage.unwrap().input_tokens, 2);
}

#[test]
fn a_model_that_was_not_pulled_is_an_invalid_request() {
    let body = br#"{"error":{"message":"model \"llama9\" not found, try pulling it first","type":"api_error","param":null,"code":null}}"#;
    let error = Ollama::classify_error(404, Vec::new(), body.to_vec());
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert!(error.message.contains("try pulling it first"));
}
