//! Every API Gateway HTTP API (payload 2.0) event in `events/` is parsed by `lambda_http` and
//! run through its own function's handler, as the Lambda runtime would; the origin comes from
//! the event's request context, as it does behind API Gateway.

use std::collections::HashMap;

use anyhow::{Context as _, ensure};
use memory_mcp::{Config, Function, Profile, State, dispatch};
use serde_json::Value;

const DOMAIN: &str = "https://abc123xyz.execute-api.us-east-1.amazonaws.com";

type Check = fn(&Value) -> bool;

/// (event file, function, status, what the body must satisfy).
const CASES: &[(&str, Function, u16, Check)] = &[
    ("status-health", Function::Status, 200, |b| {
        b["status"] == "ok"
    }),
    ("status-status", Function::Status, 200, |b| {
        b["status"] == "ready" && b["issuer"] == DOMAIN
    }),
    ("status-wrong-method", Function::Status, 405, |b| {
        b["error"] == "method_not_allowed"
    }),
    (
        "discovery-authorization-server",
        Function::Discovery,
        200,
        |b| b["issuer"] == DOMAIN && b["token_endpoint"] == format!("{DOMAIN}/token"),
    ),
    (
        "discovery-openid-configuration",
        Function::Discovery,
        200,
        |b| b["issuer"] == DOMAIN,
    ),
    (
        "discovery-protected-resource",
        Function::Discovery,
        200,
        |b| b["resource"] == format!("{DOMAIN}/mcp"),
    ),
    (
        "discovery-protected-resource-mcp",
        Function::Discovery,
        200,
        |b| b["authorization_servers"][0] == DOMAIN,
    ),
    ("discovery-jwks", Function::Discovery, 200, |b| {
        b["keys"][0]["kty"] == "OKP"
    }),
    ("discovery-unknown-path", Function::Discovery, 404, |b| {
        b["error"] == "not_found"
    }),
    ("register-claude", Function::Register, 201, |b| {
        b["token_endpoint_auth_method"] == "none" && b.get("client_secret").is_none()
    }),
    ("register-base64-body", Function::Register, 201, |b| {
        b["client_secret"].is_string()
    }),
    ("register-bad-redirect", Function::Register, 400, |b| {
        b["error"] == "invalid_redirect_uri"
    }),
    ("register-not-json", Function::Register, 400, |b| {
        b["error"] == "invalid_request"
    }),
    ("authorize-unknown-client", Function::Authorize, 400, |b| {
        b.is_null()
    }),
    ("authorize-no-client-id", Function::Authorize, 400, |b| {
        b.is_null()
    }),
    ("account-sign-in", Function::Authorize, 200, |b| b.is_null()),
    ("token-unsupported-grant", Function::Token, 401, |b| {
        b["error"] == "invalid_client"
    }),
    ("token-unknown-code", Function::Token, 401, |b| {
        b["error"] == "invalid_client"
    }),
    ("token-revoke-unknown-client", Function::Token, 401, |b| {
        b["error"] == "invalid_client"
    }),
    ("mcp-no-token", Function::Mcp, 401, |b| {
        b["error"]["code"].is_i64()
    }),
    ("mcp-bad-token", Function::Mcp, 401, |b| {
        b["error"]["code"].is_i64()
    }),
    ("mcp-get", Function::Mcp, 405, |b| {
        b["error"]["code"].is_i64()
    }),
    ("mcp-trailing-slash", Function::Mcp, 401, |b| {
        b["error"]["code"].is_i64()
    }),
];

fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

async fn state(dir: &tempfile::TempDir) -> anyhow::Result<State> {
    let vars = HashMap::from([("DATA_DIR".to_owned(), dir.path().display().to_string())]);
    Ok(State::new(Config::from_vars(Profile::Local, &vars)?).await?)
}

#[tokio::test]
async fn every_event_runs_through_its_functions_handler() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let state = state(&dir).await?;
    for (name, function, status, check) in CASES {
        let raw = std::fs::read_to_string(events_dir().join(format!("{name}.json")))
            .with_context(|| format!("events/{name}.json"))?;
        let request = lambda_http::request::from_str(&raw)
            .with_context(|| format!("{name}: not an API Gateway event"))?;
        let response = dispatch(&state, Some(*function), request).await;
        let got = response.status().as_u16();
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
        ensure!(
            got == *status,
            "{name}: status {got}, want {status}: {body}"
        );
        ensure!(check(&body), "{name}: unexpected body {body}");
        ensure!(
            response.headers().get("cache-control").is_some(),
            "{name}: no Cache-Control"
        );
    }
    Ok(())
}

#[test]
fn every_event_file_is_covered() -> anyhow::Result<()> {
    for entry in std::fs::read_dir(events_dir())? {
        let file = entry?.file_name().to_string_lossy().into_owned();
        let name = file.trim_end_matches(".json");
        ensure!(
            CASES.iter().any(|(case, ..)| *case == name),
            "events/{file} has no test case"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_function_serves_only_its_own_routes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let state = state(&dir).await?;
    let raw = std::fs::read_to_string(events_dir().join("status-health.json"))?;
    let response = dispatch(
        &state,
        Some(Function::Mcp),
        lambda_http::request::from_str(&raw)?,
    )
    .await;
    ensure!(response.status() == 404, "the mcp function served /health");
    Ok(())
}

#[tokio::test]
async fn an_authenticated_mcp_event_reaches_the_tools_behind_api_gateway() -> anyhow::Result<()> {
    use memory_mcp::oauth::jwt::{AccessClaims, sign};
    use memory_mcp::store::{Grant, RefreshToken};

    let dir = tempfile::tempdir()?;
    let state = state(&dir).await?;
    let now = state.clock.now();
    let grant = Grant {
        grant_id: "g-events".into(),
        user_id: "u-events".into(),
        client_id: "c-events".into(),
        scope: "memories:read memories:write".into(),
        resource: format!("{DOMAIN}/mcp"),
        created_at: now,
        expires_at: now + 3600,
    };
    let token = RefreshToken {
        token_hash: "h-events".into(),
        grant_id: grant.grant_id.clone(),
        used: false,
        created_at: now,
        expires_at: now + 3600,
    };
    state.store.create_grant(&grant, &token).await?;
    let keys = state.keys.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    let access = sign(
        keys,
        &AccessClaims {
            iss: DOMAIN.into(),
            sub: grant.user_id.clone(),
            aud: grant.resource.clone(),
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            exp: now + 600,
            iat: now,
            nbf: now,
            jti: "j-events".into(),
            gid: grant.grant_id.clone(),
        },
    )?;
    // The trailing-slash event, as API Gateway delivers it, now with a bearer token.
    let raw = std::fs::read_to_string(events_dir().join("mcp-trailing-slash.json"))?;
    let mut event: Value = serde_json::from_str(&raw)?;
    event["headers"]["authorization"] = Value::String(format!("Bearer {access}"));
    let request = lambda_http::request::from_str(&event.to_string())?;
    let response = dispatch(&state, Some(Function::Mcp), request).await;
    let status = response.status();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    ensure!(status == 200, "{status}: {body}");
    ensure!(
        body["result"]["tools"]
            .as_array()
            .is_some_and(|t| t.len() == 5),
        "{body}"
    );
    Ok(())
}
