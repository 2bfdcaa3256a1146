//! RFC 8414 (authorization server metadata), RFC 9728 (protected resource metadata), JWKS.

use anyhow::ensure;
use serde_json::Value;
use tests::{Backend, TestApp, on_both_backends};

on_both_backends!(
    rfc8414_metadata_advertises_exactly_what_is_implemented,
    rfc8414_openid_configuration_is_the_same_document,
    rfc9728_resource_metadata_is_served_at_the_root_and_path_inserted,
    jwks_publishes_the_signing_key_by_kid,
    discovery_allows_cross_origin_reads_and_preflight,
);

async fn get_json(app: &TestApp, path: &str) -> anyhow::Result<Value> {
    let response = app.http.get(app.url(path)).send().await?;
    ensure!(response.status() == 200, "{path}: {}", response.status());
    Ok(response.json().await?)
}

async fn rfc8414_metadata_advertises_exactly_what_is_implemented(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let m = get_json(&app, "/.well-known/oauth-authorization-server").await?;
    let base = app.base_url.as_str();
    ensure!(m["issuer"] == base, "{m}");
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("registration_endpoint", "/register"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        ensure!(m[field] == app.url(path), "{field}: {m}");
    }
    ensure!(
        m["code_challenge_methods_supported"] == serde_json::json!(["S256"]),
        "{m}"
    );
    ensure!(
        m["token_endpoint_auth_methods_supported"]
            == serde_json::json!(["none", "client_secret_post", "client_secret_basic"]),
        "{m}"
    );
    ensure!(
        m["authorization_response_iss_parameter_supported"] == true,
        "{m}"
    );
    ensure!(
        m["response_types_supported"] == serde_json::json!(["code"]),
        "{m}"
    );
    ensure!(
        m["prompt_values_supported"]
            == serde_json::json!(["none", "login", "consent", "select_account"]),
        "{m}"
    );
    ensure!(
        m["grant_types_supported"] == serde_json::json!(["authorization_code", "refresh_token"]),
        "{m}"
    );
    ensure!(
        m["scopes_supported"] == serde_json::json!(["memories:read", "memories:write"]),
        "{m}"
    );
    Ok(())
}

async fn rfc8414_openid_configuration_is_the_same_document(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let a = get_json(&app, "/.well-known/oauth-authorization-server").await?;
    let b = get_json(&app, "/.well-known/openid-configuration").await?;
    ensure!(a == b);
    Ok(())
}

async fn rfc9728_resource_metadata_is_served_at_the_root_and_path_inserted(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let root = get_json(&app, "/.well-known/oauth-protected-resource").await?;
    let inserted = get_json(&app, "/.well-known/oauth-protected-resource/mcp").await?;
    ensure!(root == inserted);
    ensure!(root["resource"] == app.url("/mcp"), "{root}");
    ensure!(
        root["authorization_servers"] == serde_json::json!([app.base_url]),
        "{root}"
    );
    ensure!(
        root["bearer_methods_supported"] == serde_json::json!(["header"]),
        "{root}"
    );
    ensure!(
        root["scopes_supported"]
            .as_array()
            .is_some_and(|s| s.len() == 2),
        "{root}"
    );
    Ok(())
}

async fn jwks_publishes_the_signing_key_by_kid(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let jwks = get_json(&app, "/.well-known/jwks.json").await?;
    let key = &jwks["keys"][0];
    ensure!(
        key["kty"] == "OKP" && key["crv"] == "Ed25519" && key["alg"] == "EdDSA",
        "{jwks}"
    );
    ensure!(key["x"].as_str().is_some_and(|x| x.len() == 43), "{jwks}");
    let status = get_json(&app, "/status").await?;
    ensure!(
        key["kid"] == status["checks"]["signing_key"]["kid"],
        "{jwks} vs {status}"
    );
    ensure!(key.get("d").is_none(), "private key published: {jwks}");
    Ok(())
}

async fn discovery_allows_cross_origin_reads_and_preflight(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let response = app
        .http
        .get(app.url("/.well-known/oauth-protected-resource"))
        .send()
        .await?;
    ensure!(response.headers()["access-control-allow-origin"] == "*");
    for path in [
        "/.well-known/oauth-authorization-server",
        "/token",
        "/register",
    ] {
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "https://claude.ai")
            .header("access-control-request-method", "POST")
            .send()
            .await?;
        ensure!(preflight.status() == 204, "{path}: {}", preflight.status());
        ensure!(
            preflight.headers()["access-control-allow-origin"] == "*",
            "{path}"
        );
    }
    Ok(())
}
