//! The bearer guard in front of `/mcp` (MCP authorization; RFC 6750 §2.1 and §3; RFC 9728 §5.1).
//!
//! Only `Authorization: Bearer` is read, never the query string. The token must be one of our
//! RFC 9068 JWTs: signature against the live keys, `typ`, `iss`, `aud` = the canonical MCP URL,
//! `exp`/`nbf` with 30 s leeway, and a grant that has not been revoked. The grant check is one
//! consistent read, cached per container for `GRANT_CACHE_SECONDS` (default 30): a revocation
//! made elsewhere takes effect within that time, and at once in the process that revoked it.
//! Failures are 401 with `WWW-Authenticate: Bearer resource_metadata=…, scope=…` (plus
//! `error="invalid_token"` when a token was sent); missing scope is 403 `insufficient_scope`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use ::http::{HeaderMap, StatusCode};

use crate::config::BaseUrl;
use crate::http::Response;
use crate::oauth::jwt::{self, Rejection};
use crate::oauth::metadata;
use crate::oauth::scope::{self, Scope};
use crate::state::State;

/// Who is calling, as the access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user (`sub`).
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// Granted scopes.
    pub scope: Scope,
    /// The grant the token belongs to.
    pub grant_id: String,
}

/// Which grants are live, remembered briefly so most requests need no store read.
pub struct GrantCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (bool, Instant)>>,
}

/// Entries kept at most; past this the cache starts over.
const CACHE_CAPACITY: usize = 10_000;

impl GrantCache {
    /// A cache keeping answers for `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, grant_id: &str) -> Option<bool> {
        let entries = self.entries.lock().ok()?;
        let (live, at) = entries.get(grant_id)?;
        (at.elapsed() < self.ttl).then_some(*live)
    }

    fn put(&self, grant_id: &str, live: bool) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(grant_id.to_owned(), (live, Instant::now()));
        }
    }

    /// Forgets a grant (this process revoked it).
    pub fn forget(&self, grant_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(grant_id);
        }
    }
}

/// The value of `WWW-Authenticate` for a 401.
fn challenge(base: &BaseUrl, error: Option<&str>) -> String {
    let prm = base.join("/.well-known/oauth-protected-resource/mcp");
    let all = Scope::all().to_string();
    match error {
        Some(description) => format!(
            "Bearer resource_metadata=\"{prm}\", scope=\"{all}\", error=\"invalid_token\", error_description=\"{description}\""
        ),
        None => format!("Bearer resource_metadata=\"{prm}\", scope=\"{all}\""),
    }
}

/// A JSON-RPC error response with an HTTP status (clients need a JSON-RPC body on every error).
pub fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    let mut response = crate::http::json(status, &body);
    crate::http::no_store(&mut response);
    response
}

fn unauthorized(base: &BaseUrl, error: Option<&str>) -> Response {
    let message = error.unwrap_or("authorization required");
    let mut response = jsonrpc_error(
        StatusCode::UNAUTHORIZED,
        -32001,
        &format!("Unauthorized: {message}"),
    );
    if let Ok(value) = HeaderValue::from_str(&challenge(base, error)) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// 403 `insufficient_scope` naming the scope needed (for step-up authorization).
pub fn insufficient_scope(base: &BaseUrl, needed: &str) -> Response {
    let prm = base.join("/.well-known/oauth-protected-resource/mcp");
    let mut response = jsonrpc_error(
        StatusCode::FORBIDDEN,
        -32001,
        &format!("Forbidden: this needs the {needed} scope"),
    );
    let value = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{needed}\", resource_metadata=\"{prm}\", error_description=\"the {needed} scope is required\""
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// Authenticates a request to `/mcp`.
pub async fn authenticate(
    state: &State,
    base: &BaseUrl,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    let Some(header) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized(base, None));
    };
    let token = match header.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            token.trim()
        }
        _ => return Err(unauthorized(base, None)),
    };
    let Ok(keys) = &state.keys else {
        tracing::error!("bearer check while the signing keys are not loaded");
        return Err(jsonrpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            -32603,
            "temporarily unavailable",
        ));
    };
    let now = state.clock.now();
    let mcp_url = metadata::mcp_url(base);
    let claims = match jwt::verify(keys, token, base.as_str(), &mcp_url, now) {
        Ok(claims) => claims,
        Err(rejection) => {
            match &rejection {
                Rejection::Audience { expected, got } => {
                    tracing::warn!(%expected, received = %got, "access token for another audience");
                }
                other => tracing::info!(reason = %other, "access token refused"),
            }
            let description = match rejection {
                Rejection::Expired => "the access token expired",
                Rejection::Audience { .. } => "the access token is for another resource",
                Rejection::Issuer { .. } => "the access token is from another issuer",
                Rejection::Invalid(_) => "the access token is invalid",
            };
            return Err(unauthorized(base, Some(description)));
        }
    };
    let live = match state.grant_cache.get(&claims.gid) {
        Some(live) => live,
        None => match state.store.get_grant(&claims.gid, now).await {
            Ok(grant) => {
                let live = grant.is_some();
                state.grant_cache.put(&claims.gid, live);
                live
            }
            Err(err) => {
                tracing::error!(error = %err, "bearer check: store failure");
                return Err(jsonrpc_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    -32603,
                    "temporarily unavailable",
                ));
            }
        },
    };
    if !live {
        return Err(unauthorized(
            base,
            Some("the access token has been revoked"),
        ));
    }
    Ok(Principal {
        user_id: claims.sub,
        client_id: claims.client_id,
        scope: Scope::parse(&claims.scope).unwrap_or_default(),
        grant_id: claims.gid,
    })
}

/// The scope a JSON-RPC message needs: write tools need `memories:write`, everything else
/// `memories:read` or `memories:write`. `None` when the principal has it.
pub fn missing_scope(principal: &Principal, body: &[u8]) -> Option<&'static str> {
    let message: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let is_call = message["method"] == "tools/call";
    let tool = message["params"]["name"].as_str().unwrap_or_default();
    let writes = matches!(
        tool,
        "add_memories" | "delete_memories" | "delete_all_memories"
    );
    let reads = matches!(tool, "search_memory" | "list_memories");
    let has = |s| principal.scope.contains(s);
    if is_call && writes && !has(scope::WRITE) {
        Some(scope::WRITE)
    } else if (is_call && reads && !has(scope::READ)) || (!has(scope::READ) && !has(scope::WRITE)) {
        Some(scope::READ)
    } else {
        None
    }
}
