//! HTTP helpers shared by every endpoint: the request/response types (those of `lambda_http`,
//! so the same handler serves API Gateway and the local server), JSON bodies and errors, and
//! the public origin of a request.

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt as _};
use serde::Serialize;

use crate::config::BaseUrl;
use crate::state::State;

/// A request, as API Gateway (via `lambda_http`) and the local server deliver it.
pub type Request = lambda_http::Request;
/// A response.
pub type Response = http::Response<Body>;

/// A JSON response with `status`.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = Response::new(Body::Binary(bytes));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "response serialisation failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
    }
}

/// A JSON error `{"error": code, "error_description": description}` (the RFC 6749 §5.2 shape,
/// used for every error of this service), not cacheable.
pub fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": code, "error_description": description });
    let mut response = json(status, &body);
    no_store(&mut response);
    response
}

/// Marks a response `Cache-Control: no-store`.
pub fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// 404 for a path no route serves.
pub fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// 405 with the `Allow` header listing the methods the path does take.
pub fn method_not_allowed(allowed: &[&str]) -> Response {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    );
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(http::header::ALLOW, value);
    }
    response
}

/// 503 for a store or dependency fault; the detail has been logged by the caller.
pub fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the service is temporarily unavailable, try again",
    )
}

/// The public origin this request was addressed to: the configured `PUBLIC_BASE_URL`, else
/// the domain API Gateway received the request on. Never the client's `Host` header.
pub fn public_base_url(state: &State, req: &Request) -> Option<BaseUrl> {
    if let Some(url) = &state.config.public_base_url {
        return Some(url.clone());
    }
    #[allow(
        unreachable_patterns,
        reason = "other variants exist only when other lambda_http features are on"
    )]
    let domain = match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.domain_name.clone()?,
        _ => return None,
    };
    BaseUrl::parse(&format!("https://{domain}")).ok()
}

/// Allows cross-origin reads (discovery, registration, token): browser-based MCP clients
/// call these directly. Credentials are never cookies here, so `*` is safe.
pub fn cors(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate"),
    );
}

/// The answer to a CORS preflight (`OPTIONS`).
pub fn preflight() -> Response {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    cors(&mut response);
    let headers = response.headers_mut();
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "Authorization, Content-Type, MCP-Protocol-Version, Mcp-Session-Id",
        ),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

/// The origin of `req`, or a 503 when it cannot be known (a misconfigured deployment).
pub fn require_base_url(state: &State, req: &Request) -> Result<BaseUrl, Response> {
    public_base_url(state, req).ok_or_else(|| {
        tracing::error!("the public origin is unknown: set PUBLIC_BASE_URL");
        unavailable()
    })
}

/// A header's value as text.
pub fn header(req: &Request, name: impl http::header::AsHeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request's `Content-Type` is `mime` (parameters such as `charset` ignored).
pub fn content_type_is(req: &Request, mime: &str) -> bool {
    header(req, CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(mime))
}
