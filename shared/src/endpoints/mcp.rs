//! `POST /mcp` (and `/mcp/`): MCP Streamable HTTP, stateless, JSON responses, served by rmcp's
//! `StreamableHttpService` behind the bearer guard. GET and DELETE answer 405 (no server-sent
//! event stream, no sessions). Every error carries a JSON-RPC error body, because clients such as
//! the Python SDK decide what to do next from it.

use std::sync::Arc;

use ::http::{HeaderValue, Method, StatusCode};
use http_body_util::BodyExt as _;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::config::BaseUrl;
use crate::http::{self, Request, Response};
use crate::mcp::guard::{self, jsonrpc_error};
use crate::mcp::server::MemoryServer;
use crate::state::State;

/// Largest JSON-RPC message accepted.
const MAX_BODY_BYTES: usize = 1024 * 1024;

fn origin_allowed(state: &State, base: &BaseUrl, origin: &str) -> bool {
    let origin = origin.trim_end_matches('/');
    origin.eq_ignore_ascii_case(base.as_str())
        || state
            .config
            .mcp
            .allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
}

fn authority(base: &BaseUrl) -> String {
    base.as_str()
        .split_once("://")
        .map_or_else(String::new, |(_, rest)| rest.to_owned())
}

/// `POST|GET|DELETE /mcp` and `/mcp/`.
pub async fn mcp(state: &State, mut req: Request) -> Response {
    let base = match http::require_base_url(state, &req) {
        Ok(base) => base,
        Err(response) => return response,
    };
    if req.method() != Method::POST {
        let mut response = jsonrpc_error(
            StatusCode::METHOD_NOT_ALLOWED,
            -32600,
            "this server is stateless: POST one JSON-RPC message per request",
        );
        response
            .headers_mut()
            .insert(::http::header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if let Some(origin) = http::header(&req, ::http::header::ORIGIN)
        && !origin_allowed(state, &base, origin)
    {
        tracing::warn!(%origin, "MCP request from a disallowed origin");
        return jsonrpc_error(
            StatusCode::FORBIDDEN,
            -32600,
            "Forbidden: origin not allowed",
        );
    }
    let principal = match guard::authenticate(state, &base, req.headers()).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    if req.body().len() > MAX_BODY_BYTES {
        return jsonrpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            -32600,
            "the message is too large",
        );
    }
    if let Some(needed) = guard::missing_scope(&principal, req.body().as_ref()) {
        return guard::insufficient_scope(&base, needed);
    }
    req.extensions_mut().insert(principal);

    let (store, clock) = (Arc::clone(&state.store), Arc::clone(&state.clock));
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_sse_retry(None)
        .with_allowed_hosts([authority(&base)])
        .disable_allowed_origins()
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    let service = StreamableHttpService::new(
        move || Ok(MemoryServer::new(Arc::clone(&store), Arc::clone(&clock))),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let (parts, body) = service.handle(req).await.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    if !parts.status.is_success() && serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
        // rmcp answers some transport errors in plain text: give them a JSON-RPC body.
        let message = String::from_utf8_lossy(&bytes);
        let mut response = jsonrpc_error(parts.status, -32600, message.trim());
        for name in [::http::header::ALLOW, ::http::header::WWW_AUTHENTICATE] {
            if let Some(value) = parts.headers.get(&name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
        return response;
    }
    let mut response = Response::from_parts(parts, lambda_http::Body::Binary(bytes.to_vec()));
    http::no_store(&mut response);
    response
}
