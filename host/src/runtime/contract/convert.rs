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

/// Up only, for a record a later version extended: the fields both versions
/// have, and a value for each field only the newer one has.
macro_rules! record_up {
    ($name:ident { $($field:ident),* $(,)? } + { $($extra:ident: $value:expr),* $(,)? }) => {
        impl Convert<new::$name> for old::$name {
            fn convert(self) -> new::$name {
                new::$name { $($field: self.$field.convert(),)* $($extra: $value),* }
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
/// (everything but `chat-request`, `capabilities`, the embedding types and
/// the types 0.4.0 extended: see [`answers_before_0_4!`]).
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
        record!(StreamEvent { event, data });
        record!(ToolCallDelta { index, id, name, arguments });
        record!(ProviderError { kind, message, code, retry_after_ms });
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

/// The types 0.4.0 extended, up from an older version: an answer carries no
/// grounding, and a model's modalities are what its capabilities imply (text
/// in, plus images for a vision model; text out, or vectors for an embedding
/// model), its reasoning tokens cost the output price and its cache writes
/// have one price.
macro_rules! answers_before_0_4 {
    () => {
        record_up!(ChatResponse { id, model, text, reasoning, tool_calls, finish_reason, usage } + { grounding: None });
        record_up!(StreamDelta { text, reasoning, tool_calls, usage, finish_reason, id, model, done } + { grounding: None });
        record_up!(PluginInfo {
            name,
            version,
            contract_version,
            display_name,
            auth,
            default_base_url,
            egress_hosts,
            models,
            capabilities
        } + {});

        impl Convert<new::ModelInfo> for old::ModelInfo {
            fn convert(self) -> new::ModelInfo {
                let capabilities: new::Capabilities = self.capabilities.convert();
                let (input_modalities, output_modalities) = super::modalities_implied_by(capabilities);
                new::ModelInfo {
                    id: self.id,
                    context_window: self.context_window,
                    max_output_tokens: self.max_output_tokens,
                    input_price: self.input_price,
                    output_price: self.output_price,
                    cached_input_price: self.cached_input_price,
                    cache_write_price: self.cache_write_price,
                    capabilities,
                    input_modalities,
                    output_modalities,
                    reasoning_price: None,
                    cache_write_prices: Vec::new(),
                }
            }
        }
    };
}

/// A chat request for an older version: the fields every version has, plus
/// the named ones it added since 0.1.0 (anything newer, the plugin never sees;
/// the host asks for it only of a plugin announcing its capability).
macro_rules! chat_request_with {
    ($($since:ident),* $(,)?) => {
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
                    $($since: self.$since.convert(),)*
                }
            }
        }
    };
}

/// The embedding types and functions, for a version that has them (0.2.0 on)
/// but is older than the host's.
macro_rules! embedding_functions {
    () => {
        record!(EmbeddingRequest { model, inputs, dimensions });
        record!(EmbeddingResponse { vectors, model, usage });

        /// `build-embedding-request`.
        pub(super) fn build_embedding_request(
            world: &Plugin,
            store: &mut Store<Sandbox>,
            request: &new::EmbeddingRequest,
            connection: &new::ConnectionSettings,
        ) -> Outcome<new::PreparedRequest> {
            let (request, connection): (old::EmbeddingRequest, old::ConnectionSettings) =
                (request.clone().convert(), connection.clone().convert());
            up(world.llmnode_provider_provider().call_build_embedding_request(store, &request, &connection))
        }

        /// `parse-embedding-response`.
        pub(super) fn parse_embedding_response(
            world: &Plugin,
            store: &mut Store<Sandbox>,
            response: &new::HttpResponse,
        ) -> Outcome<new::EmbeddingResponse> {
            let response: old::HttpResponse = response.clone().convert();
            up(world.llmnode_provider_provider().call_parse_embedding_response(store, &response))
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

pub(super) use {
    answers_before_0_4, capabilities, chat_functions, chat_request_with, embedding_functions, record, record_up,
    unchanged_since_0_1, variant,
};
