//! Liveness (`GET /health`: no I/O) and readiness (`GET /status`: the store answers within a
//! deadline, the signing keys are loaded). `/status` answers 503 `degraded` naming each failed
//! check, so a load balancer, the smoke check and a person all read the same truth.

use std::time::{Duration, Instant};

use ::http::StatusCode;
use serde::Serialize;

use crate::http::{self, Request, Response};
use crate::state::State;

/// How long the store may take to answer before `/status` calls it down.
const STORE_DEADLINE: Duration = Duration::from_secs(3);

/// The specifications this deployment implements (grows as endpoints land).
pub const SPECS: &[&str] = &[
    "OAuth 2.1 (draft-ietf-oauth-v2-1), authorization code with PKCE S256",
    "RFC 8414 authorization server metadata (+ OpenID discovery path)",
    "RFC 9728 protected resource metadata",
    "RFC 7591 dynamic client registration",
    "OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document)",
    "RFC 7592 client configuration",
    "RFC 8707 resource indicators",
    "RFC 9207 authorization response iss",
    "RFC 9068 JWT access tokens (EdDSA, RFC 8037)",
    "RFC 7009 token revocation",
    "RFC 7662 token introspection",
    "RFC 7636 PKCE (S256 only)",
    "RFC 8252 loopback redirects",
    "RFC 6750 bearer tokens (header only)",
    "MCP Streamable HTTP, stateless JSON (2025-03-26, 2025-06-18, 2025-11-25, 2026-07-28)",
];

#[derive(Serialize)]
struct StatusBody {
    status: &'static str,
    version: &'static str,
    issuer: Option<String>,
    failed: Vec<&'static str>,
    checks: Checks,
    specs: &'static [&'static str],
}

#[derive(Serialize)]
struct Checks {
    store: StoreCheck,
    signing_key: KeyCheck,
}

#[derive(Serialize)]
struct StoreCheck {
    ok: bool,
    backend: &'static str,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

#[derive(Serialize)]
struct KeyCheck {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// `GET /health`: the process is up. No I/O.
pub fn health() -> Response {
    let mut response = http::json(StatusCode::OK, &serde_json::json!({ "status": "ok" }));
    http::no_store(&mut response);
    response
}

/// `GET /status`: readiness, 200 `ready` or 503 `degraded`.
pub async fn status(state: &State, req: &Request) -> Response {
    let started = Instant::now();
    let store_error = match tokio::time::timeout(STORE_DEADLINE, state.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => {
            tracing::error!(error = %err, source = ?std::error::Error::source(&err), "status: store ping failed");
            Some("the store did not answer")
        }
        Err(_) => {
            tracing::error!(
                deadline_ms = STORE_DEADLINE.as_millis(),
                "status: store ping timed out"
            );
            Some("the store did not answer in time")
        }
    };
    let store = StoreCheck {
        ok: store_error.is_none(),
        backend: state.store.backend(),
        latency_ms: (started.elapsed().as_secs_f64() * 1e4).round() / 10.0,
        error: store_error,
    };
    let signing_key = match &state.keys {
        Ok(keys) => KeyCheck {
            ok: true,
            kid: Some(keys.active().kid.clone()),
            keys: keys.all().len(),
            error: None,
        },
        Err(_) => KeyCheck {
            ok: false,
            kid: None,
            keys: 0,
            error: Some("the signing keys could not be loaded"),
        },
    };
    let mut failed = Vec::new();
    if !store.ok {
        failed.push("store");
    }
    if !signing_key.ok {
        failed.push("signing_key");
    }
    let ready = failed.is_empty();
    let body = StatusBody {
        status: if ready { "ready" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        issuer: http::public_base_url(state, req).map(|u| u.to_string()),
        failed,
        checks: Checks { store, signing_key },
        specs: SPECS,
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = http::json(code, &body);
    http::no_store(&mut response);
    response
}
