//! The API's errors: a stable `code` clients can match on, the HTTP status it
//! deserves, and a message that names what is wrong. Messages come from our
//! own error types, which never carry a secret's value.

use crate::admin::AdminError;
use crate::store::StoreError;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API request failed; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("{0}")]
    UpstreamFailed(String),
    #[error("{0}")]
    UpstreamTimeout(String),
    #[error("{0}")]
    Unavailable(String),
    /// The daemon is at one of its caps (connections, requests in flight):
    /// 503 with `Retry-After`, so clients back off and come again.
    #[error("{0}")]
    Overloaded(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The stable code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Invalid(_) => "invalid_request",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Conflict(_) => "conflict",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::UpstreamFailed(_) => "upstream_failed",
            ApiError::UpstreamTimeout(_) => "upstream_timeout",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UpstreamFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable(_) | ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OpenAI-style error type, so OpenAI clients raise their usual exceptions.
    fn kind(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "authentication_error",
            ApiError::Forbidden(_) => "permission_error",
            ApiError::NotFound(_) => "not_found_error",
            ApiError::Invalid(_)
            | ApiError::Conflict(_)
            | ApiError::PayloadTooLarge(_)
            | ApiError::MethodNotAllowed(_)
            | ApiError::UnsupportedMediaType(_) => "invalid_request_error",
            ApiError::RateLimited(_) => "rate_limit_error",
            _ => "api_error",
        }
    }

    /// The JSON body: `{"error": {"code", "message", "type"}}`.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code(), "message": self.to_string(), "type": self.kind() } })
    }

    /// The body in Anthropic's format, for the Messages endpoint:
    /// `{"type": "error", "error": {"type", "message", "code"}}`, typed as
    /// Anthropic types its errors so Anthropic clients raise their usual
    /// exceptions; `code` is ours, as on every other endpoint.
    pub fn anthropic_body(&self) -> serde_json::Value {
        let mut body = self.body();
        to_anthropic(&mut body, self.status());
        body
    }

    /// The error an answer of `status` stands for, for answers produced
    /// outside our handlers (axum's rejections, its 405).
    pub fn for_status(status: StatusCode, message: String) -> ApiError {
        match status {
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized(message),
            StatusCode::FORBIDDEN => ApiError::Forbidden(message),
            StatusCode::NOT_FOUND => ApiError::NotFound(message),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(message),
            StatusCode::CONFLICT => ApiError::Conflict(message),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
            StatusCode::TOO_MANY_REQUESTS => ApiError::RateLimited(message),
            StatusCode::BAD_GATEWAY => ApiError::UpstreamFailed(message),
            StatusCode::GATEWAY_TIMEOUT => ApiError::UpstreamTimeout(message),
            StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(message),
            s if s.is_client_error() => ApiError::Invalid(message),
            _ => ApiError::Internal(message),
        }
    }
}

/// Seconds a client is asked to wait after an [`ApiError::Overloaded`].
const RETRY_AFTER_SECS: u32 = 1;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Internal(_)) {
            tracing::error!(error = %self, "internal error");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if matches!(self, ApiError::Overloaded(_)) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// Middleware: every error answer in the JSON format, whoever produced it.
/// axum's own rejections (a body over the limit, a path or query that does
/// not decode) are plain text and its 405 is empty; they are rewritten here,
/// keeping their status and headers. Answers that are already JSON
/// pass untouched, so the cost on the hot path is one header lookup.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Rejection texts are one line; anything longer is not worth quoting.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = describe(parts.status, &method, &String::from_utf8_lossy(&text));
    let mut answer = ApiError::for_status(parts.status, message).into_response();
    *answer.status_mut() = parts.status;
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    answer.headers_mut().extend(parts.headers);
    answer
}

/// Our error `body` of an answer with `status`, in Anthropic's format.
fn to_anthropic(body: &mut serde_json::Value, status: StatusCode) {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::FORBIDDEN => "permission_error",
        StatusCode::NOT_FOUND => "not_found_error",
        StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
        StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
        StatusCode::SERVICE_UNAVAILABLE => "overloaded_error",
        s if s.is_client_error() => "invalid_request_error",
        _ => "api_error",
    };
    body["type"] = json!("error");
    body["error"]["type"] = json!(kind);
}

/// Middleware: every error answer of the Anthropic-compatible endpoint in
/// Anthropic's format, whoever produced it (its handler, an extractor, the
/// router's 405). It runs outside [`json_errors`], so every error it sees is
/// already our JSON; any other answer passes after one path comparison.
pub async fn anthropic_errors(request: Request, next: Next) -> Response {
    let anthropic = request.uri().path() == super::messages::PATH;
    let response = next.run(request).await;
    let status = response.status();
    if !anthropic || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 10).await.unwrap_or_default();
    let mut body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(ours) if ours["error"]["code"].is_string() => ours,
        _ => ApiError::for_status(status, status.canonical_reason().unwrap_or("the request failed").into()).body(),
    };
    to_anthropic(&mut body, status);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

/// What a foreign error answer means, without echoing quoted values.
fn describe(status: StatusCode, method: &Method, text: &str) -> String {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => super::json_body::too_large().to_string(),
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("this endpoint does not answer {method}; its `Allow` header lists the methods it does")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "the request body must be JSON (`content-type: application/json`)".into(),
        _ if !text.trim().is_empty() => super::json_body::without_quoted(text.trim()),
        _ => status.canonical_reason().unwrap_or("the request failed").to_string(),
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            StoreError::Exists { .. } => ApiError::Conflict(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Store(s) => s.into(),
            AdminError::Refused(m) => ApiError::Conflict(m),
            AdminError::Invalid(m) => ApiError::Invalid(m),
            AdminError::Forbidden(m) => ApiError::Forbidden(m),
            AdminError::Name(n) => ApiError::Invalid(n.to_string()),
            AdminError::Vault(v) => ApiError::Internal(v.to_string()),
            e @ AdminError::Secret { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<crate::vault::VaultError> for ApiError {
    fn from(e: crate::vault::VaultError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}
