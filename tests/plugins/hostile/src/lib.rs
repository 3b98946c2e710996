//! A deliberately hostile plugin for the sandbox tests. The request's model name
//! picks the attack; the host must contain every one of them.

use llmnode_sdk::AwsSigv4Params;
use llmnode_sdk::prelude::*;

struct Hostile;

/// A WASI import Rust's standard library links anyway (for `println!`), called
/// directly so its handles can be leaked.
mod raw {
    #[link(wasm_import_module = "wasi:cli/stdout@0.2.0")]
    unsafe extern "C" {
        #[link_name = "get-stdout"]
        fn get_stdout() -> i32;
    }

    /// A new stdout handle, never dropped by the caller.
    pub fn stdout_handle() -> i32 {
        // SAFETY: `get-stdout` takes nothing and returns a handle index.
        unsafe { get_stdout() }
    }
}

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
            "udp-dns" => {
                use std::net::ToSocketAddrs;
                let udp = match std::net::UdpSocket::bind("127.0.0.1:0") {
                    Ok(_) => "UDP BOUND".to_string(),
                    Err(e) => format!("UDP DENIED: {e}"),
                };
                let dns = match ("localhost", 80).to_socket_addrs() {
                    Ok(found) => format!("DNS RESOLVED {} addresses", found.count()),
                    Err(e) => format!("DNS DENIED: {e}"),
                };
                Ok(ok_request(&conn, format!("{udp}\n{dns}").into_bytes()))
            }
            "println" => {
                // Stdout and stderr go nowhere, but writing to them must not
                // disturb the host (its blocking WASI calls once did).
                for i in 0..200 {
                    println!("hostile stdout line {i}");
                    eprintln!("hostile stderr line {i}");
                }
                Ok(ok_request(&conn, b"printed 200 lines".to_vec()))
            }
            "sleep" => {
                // A sleep would hold a host thread outside the CPU deadline.
                std::thread::sleep(std::time::Duration::from_secs(30));
                Ok(ok_request(&conn, b"slept".to_vec()))
            }
            "clock-spin" => {
                // Busy-wait on the clock: CPU time, so the deadline stops it.
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_secs(30) {}
                Ok(ok_request(&conn, b"spun".to_vec()))
            }
            "handle-flood" => {
                // Take stdout handles and never drop them, to fill the host's
                // resource table.
                for _ in 0..1_000_000 {
                    std::hint::black_box(raw::stdout_handle());
                }
                Ok(ok_request(&conn, b"flooded".to_vec()))
            }
            // Zeroed fresh memory is never touched, so this is quick even on
            // a loaded machine; the host must still refuse it.
            "huge-body" => Ok(ok_request(&conn, vec![0u8; (32 << 20) + 1])),
            "huge-url" => Ok(PreparedRequest {
                request: http::post(
                    format!("{}?pad={}", http::join(&conn.base_url, "chat/completions"), "a".repeat(10_000)),
                    b"{}".to_vec(),
                ),
                auth: AuthDirective::Bearer,
            }),
            "huge-header-value" => {
                let mut p = ok_request(&conn, b"{}".to_vec());
                p.request.headers.push(http::header("x-padding", &"v".repeat(40 * 1024)));
                Ok(p)
            }
            "scope-flood" => Ok(PreparedRequest {
                request: http::post(http::join(&conn.base_url, "chat/completions"), b"{}".to_vec()),
                auth: AuthDirective::GoogleServiceAccount(
                    (0..100_000).map(|i| format!("https://www.googleapis.com/auth/scope-{i}")).collect(),
                ),
            }),
            "key-in-host-header" => Ok(PreparedRequest {
                request: http::post(http::join(&conn.base_url, "chat/completions"), b"{}".to_vec()),
                auth: AuthDirective::Header("Host".into()),
            }),
            "userinfo-url" => {
                let url = conn.base_url.replacen("http://", "http://attacker:pw@", 1);
                Ok(PreparedRequest {
                    request: http::post(http::join(&url, "chat/completions"), b"{}".to_vec()),
                    auth: AuthDirective::Bearer,
                })
            }
            "exfiltrate" => Ok(PreparedRequest {
                request: http::post("http://127.0.0.1:1/steal".into(), b"{}".to_vec()),
                auth: AuthDirective::Bearer,
            }),
            // `url:SUFFIX` sends the key to the base URL with SUFFIX appended
            // as written (`/../x`, `/%2e%2e/x`); `origin:PATH` to PATH on the
            // base URL's origin, outside its prefix.
            suffix if suffix.starts_with("url:") => Ok(PreparedRequest {
                request: http::post(format!("{}{}", conn.base_url, &suffix["url:".len()..]), b"{}".to_vec()),
                auth: AuthDirective::Bearer,
            }),
            path if path.starts_with("origin:") => {
                let after_scheme = conn.base_url.find("://").map_or(0, |i| i + 3);
                let origin_end =
                    conn.base_url[after_scheme..].find('/').map_or(conn.base_url.len(), |i| i + after_scheme);
                Ok(PreparedRequest {
                    request: http::post(
                        format!("{}{}", &conn.base_url[..origin_end], &path["origin:".len()..]),
                        b"{}".to_vec(),
                    ),
                    auth: AuthDirective::Bearer,
                })
            }
            // `key-in-header:NAME` / `key-in-query:NAME` ask the host to put
            // the key in a header or query parameter of the plugin's choosing.
            header if header.starts_with("key-in-header:") => Ok(PreparedRequest {
                request: http::post(http::join(&conn.base_url, "chat/completions"), b"{}".to_vec()),
                auth: AuthDirective::Header(header["key-in-header:".len()..].into()),
            }),
            query if query.starts_with("key-in-query:") => Ok(PreparedRequest {
                request: http::post(http::join(&conn.base_url, "chat/completions"), b"{}".to_vec()),
                auth: AuthDirective::Query(query["key-in-query:".len()..].into()),
            }),
            "sigv4" => Ok(PreparedRequest {
                request: http::post(http::join(&conn.base_url, "chat/completions"), b"{}".to_vec()),
                auth: AuthDirective::AwsSigv4(AwsSigv4Params { service: "s3".into(), region: "us-east-1".into() }),
            }),
            smuggle if smuggle.starts_with("smuggle:") => {
                // `smuggle:NAME` sets header NAME (credentials, Host, framing).
                let mut p = ok_request(&conn, b"{}".to_vec());
                p.request.headers.push(http::header(&smuggle["smuggle:".len()..], "attacker.example"));
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
            "log-forge" => {
                log::warn("forge-attempt\r\n2026-01-01T00:00:00Z  WARN forged line\x1b[2J\x07\u{9b}\u{202e}\0");
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
