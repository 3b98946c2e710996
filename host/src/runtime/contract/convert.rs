//! Conversions between a contract version's types and the host's (newest)
//! ones, for the shims of older versions: the trait, and macros for types
//! whose shape did not change. A shim module names the two sides `old` and
//! `new` and invokes [`unchanged_since_0_1!`] for every type all versions share.

/// A value of one contract version as the same value of another.
pub(super) trait Convert<T> {
    fn convert(self) -> T;
}

macro_rules! same {
    ($($t:ty),*) => {$(
        impl Convert<$t> for $t {
            fn convert(self) -> $t {
                self
            }
        }
    )*};
}

same!(String, bool, u8, u16, u32, u64, f32, f64);

impl<A: Convert<B>, B> Convert<Vec<B>> for Vec<A> {
    fn convert(self) -> Vec<B> {
        self.into_iter().map(Convert::convert).collect()
    }
}

impl<A: Convert<B>, B> Convert<Option<B>> for Option<A> {
    fn convert(self) -> Option<B> {
        self.map(Convert::convert)
    }
}

/// Both directions for a record whose fields kept their names and types.
macro_rules! record {
    ($name:ident { $($field:ident),* $(,)? }) => {
        impl Convert<new::$name> for old::$name {
            fn convert(self) -> new::$name {
                new::$name { $($field: self.$field.convert()),* }
            }
        }
        impl Convert<old::$name> for new::$name {
            fn convert(self) -> old::$name {
                old::$name { $($field: self.$field.convert()),* }
            }
        }
    };
}

/// Both directions for an enum or variant whose cases kept their names.
macro_rules! variant {
    ($from:ident :: $name:ident => $to:ident { $($unit:ident),* ; $($case:ident),* }) => {
        impl Convert<$to::$name> for $from::$name {
            fn convert(self) -> $to::$name {
                match self {
                    $($from::$name::$unit => $to::$name::$unit,)*
                    $($from::$name::$case(v) => $to::$name::$case(v.convert()),)*
                }
            }
        }
    };
    ($name:ident { $($unit:ident),* ; $($case:ident),* }) => {
        variant!(old::$name => new { $($unit),* ; $($case),* });
        variant!(new::$name => old { $($unit),* ; $($case),* });
    };
}

/// Both directions for every type whose shape is the same in every version
/// (everything but `chat-request`, `capabilities` and the embedding types).
macro_rules! unchanged_since_0_1 {
    () => {
        record!(Message { role, content, name, tool_call_id, tool_calls, cache_breakpoint });
        record!(ImagePart { url, detail });
        record!(ToolCall { id, name, arguments });
        record!(ToolDefinition { name, description, parameters, strict });
        record!(JsonSchemaFormat { name, schema, strict });
        record!(CacheHint { enabled, ttl_seconds });
        record!(Header { name, value });
        record!(ConnectionSettings { base_url, organization, headers, options });
        record!(HttpRequest { method, url, headers, body });
        record!(AwsSigv4Params { service, region });
        record!(PreparedRequest { request, auth });
        record!(HttpResponse { status, headers, body });
        record!(Usage { input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens });
        record!(ChatResponse { id, model, text, reasoning, tool_calls, finish_reason, usage });
        record!(StreamEvent { event, data });
        record!(ToolCallDelta { index, id, name, arguments });
        record!(StreamDelta { text, reasoning, tool_calls, usage, finish_reason, id, model, done });
        record!(ProviderError { kind, message, code, retry_after_ms });
        record!(ModelInfo {
            id,
            context_window,
            max_output_tokens,
            input_price,
            output_price,
            cached_input_price,
            cache_write_price,
            capabilities
        });
        record!(PluginInfo {
            name,
            version,
            contract_version,
            display_name,
            auth,
            default_base_url,
            egress_hosts,
            models,
            capabilities
        });
        variant!(Role { System, User, Assistant, Tool; });
        variant!(ContentPart { ; Text, Image });
        variant!(ToolChoice { Auto, None, Required; Function });
        variant!(ResponseFormat { Text, JsonObject; JsonSchema });
        variant!(Method { Get, Post; });
        variant!(AuthDirective { None, Bearer; Header, Query, AwsSigv4, GoogleServiceAccount });
        variant!(FinishReason { Stop, Length, ToolCalls, ContentFilter, Other; });
        variant!(ErrorKind { RateLimit, Timeout, ServerError, Overloaded, Auth, InvalidRequest, ContextLength, ContentFilter, Other; });
        variant!(AuthScheme { None, ApiKey, AwsSigv4, GoogleServiceAccount; });
    };
}

/// Both directions for `capabilities`, over the flags both versions have
/// (a flag only the newer version has is never set coming up).
macro_rules! capabilities {
    ($($flag:ident),* $(,)?) => {
        const SHARED_CAPABILITIES: &[(old::Capabilities, new::Capabilities)] =
            &[$((old::Capabilities::$flag, new::Capabilities::$flag)),*];

        impl Convert<new::Capabilities> for old::Capabilities {
            fn convert(self) -> new::Capabilities {
                SHARED_CAPABILITIES
                    .iter()
                    .filter(|(o, _)| self.contains(*o))
                    .fold(new::Capabilities::empty(), |c, (_, n)| c | *n)
            }
        }

        impl Convert<old::Capabilities> for new::Capabilities {
            fn convert(self) -> old::Capabilities {
                SHARED_CAPABILITIES
                    .iter()
                    .filter(|(_, n)| self.contains(*n))
                    .fold(old::Capabilities::empty(), |c, (o, _)| c | *o)
            }
        }
    };
}

/// A chat request for a version without `reasoning` (added in 0.3.0): the
/// same request, asking for the provider's default.
macro_rules! chat_request_before_0_3 {
    () => {
        impl Convert<old::ChatRequest> for new::ChatRequest {
            fn convert(self) -> old::ChatRequest {
                old::ChatRequest {
                    model: self.model,
                    messages: self.messages.convert(),
                    tools: self.tools.convert(),
                    tool_choice: self.tool_choice.convert(),
                    response_format: self.response_format.convert(),
                    temperature: self.temperature,
                    top_p: self.top_p,
                    max_tokens: self.max_tokens,
                    stop: self.stop,
                    stream: self.stream,
                    cache: self.cache.convert(),
                }
            }
        }
    };
}

/// The log level, and every chat function of the contract, called through
/// the old version's bindings in the host's types.
macro_rules! chat_functions {
    () => {
        impl Convert<super::latest::LogLevel> for self::llmnode::provider::host::LogLevel {
            fn convert(self) -> super::latest::LogLevel {
                use super::latest::LogLevel as New;
                match self {
                    Self::Trace => New::Trace,
                    Self::Debug => New::Debug,
                    Self::Info => New::Info,
                    Self::Warn => New::Warn,
                    Self::Error => New::Error,
                }
            }
        }

        type Outcome<T> = wasmtime::Result<Result<T, new::ProviderError>>;

        fn up<A: Convert<B>, B>(r: wasmtime::Result<Result<A, old::ProviderError>>) -> Outcome<B> {
            r.map(|r| r.map(Convert::convert).map_err(Convert::convert))
        }

        /// `info`.
        pub(super) fn info(world: &Plugin, store: &mut Store<Sandbox>) -> wasmtime::Result<new::PluginInfo> {
            world.llmnode_provider_provider().call_info(store).map(Convert::convert)
        }

        /// `build-request`.
        pub(super) fn build_request(
            world: &Plugin,
            store: &mut Store<Sandbox>,
            request: &new::ChatRequest,
            connection: &new::ConnectionSettings,
        ) -> Outcome<new::PreparedRequest> {
            let (request, connection): (old::ChatRequest, old::ConnectionSettings) =
                (request.clone().convert(), connection.clone().convert());
            up(world.llmnode_provider_provider().call_build_request(store, &request, &connection))
        }

        /// `parse-response`.
        pub(super) fn parse_response(
            world: &Plugin,
            store: &mut Store<Sandbox>,
            response: &new::HttpResponse,
        ) -> Outcome<new::ChatResponse> {
            let response: old::HttpResponse = response.clone().convert();
            up(world.llmnode_provider_provider().call_parse_response(store, &response))
        }

        /// `parse-stream-event`.
        pub(super) fn parse_stream_event(
            world: &Plugin,
            store: &mut Store<Sandbox>,
            event: &new::StreamEvent,
        ) -> Outcome<new::StreamDelta> {
            let event: old::StreamEvent = event.clone().convert();
            up(world.llmnode_provider_provider().call_parse_stream_event(store, &event))
        }

        /// `classify-error`.
        pub(super) fn classify_error(
            world: &Plugin,
            store: &mut Store<Sandbox>,
            status: u16,
            headers: &[new::Header],
            body: &[u8],
        ) -> wasmtime::Result<new::ProviderError> {
            let headers: Vec<old::Header> = headers.to_vec().convert();
            world.llmnode_provider_provider().call_classify_error(store, status, &headers, body).map(Convert::convert)
        }

        /// `test-request`.
        pub(super) fn test_request(
            world: &Plugin,
            store: &mut Store<Sandbox>,
            connection: &new::ConnectionSettings,
            model: &str,
        ) -> Outcome<new::PreparedRequest> {
            let connection: old::ConnectionSettings = connection.clone().convert();
            up(world.llmnode_provider_provider().call_test_request(store, &connection, model))
        }
    };
}

pub(super) use {capabilities, chat_functions, chat_request_before_0_3, record, unchanged_since_0_1, variant};
