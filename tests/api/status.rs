//! `/health`, `/status`, and the answers for routes and methods that do not exist.

use anyhow::ensure;
use serde_json::Value;
use tests::{Backend, TestApp, on_both_backends};

on_both_backends!(
    health_answers_ok,
    status_is_ready_and_reports_the_store_and_signing_key,
    an_unknown_route_is_a_json_404,
    a_wrong_method_is_a_json_405_naming_the_allowed_ones,
);

async fn health_answers_ok(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let response = app.http.get(app.url("/health")).send().await?;
    ensure!(response.status() == 200);
    ensure!(response.headers()["cache-control"] == "no-store");
    let body: Value = response.json().await?;
    ensure!(body["status"] == "ok", "{body}");
    Ok(())
}

async fn status_is_ready_and_reports_the_store_and_signing_key(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let response = app.http.get(app.url("/status")).send().await?;
    ensure!(response.status() == 200, "status {}", response.status());
    let body: Value = response.json().await?;
    ensure!(body["status"] == "ready", "{body}");
    ensure!(body["version"] == env!("CARGO_PKG_VERSION"), "{body}");
    ensure!(body["issuer"] == app.base_url.as_str(), "{body}");
    ensure!(body["failed"] == serde_json::json!([]), "{body}");
    let store = &body["checks"]["store"];
    let want = match backend {
        Backend::Embedded => "embedded",
        Backend::DynamoDb => "dynamodb",
    };
    ensure!(store["backend"] == want && store["ok"] == true, "{body}");
    ensure!(store["latency_ms"].as_f64().is_some(), "{body}");
    let key = &body["checks"]["signing_key"];
    ensure!(
        key["ok"] == true && key["kid"].is_string() && key["keys"] == 1,
        "{body}"
    );
    Ok(())
}

async fn an_unknown_route_is_a_json_404(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    for path in [
        "/nope",
        "/health/",
        "/status/x",
        "/.well-known/nothing",
        "/%ff",
    ] {
        let response = app.http.get(app.url(path)).send().await?;
        ensure!(response.status() == 404, "{path}: {}", response.status());
        let body: Value = response.json().await?;
        ensure!(body["error"] == "not_found", "{path}: {body}");
    }
    Ok(())
}

async fn a_wrong_method_is_a_json_405_naming_the_allowed_ones(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    for (method, path) in [
        ("POST", "/status"),
        ("DELETE", "/health"),
        ("PUT", "/status"),
    ] {
        let method: reqwest::Method = method.parse()?;
        let response = app
            .http
            .request(method.clone(), app.url(path))
            .body("{not json")
            .send()
            .await?;
        ensure!(
            response.status() == 405,
            "{method} {path}: {}",
            response.status()
        );
        ensure!(response.headers()["allow"] == "GET", "{method} {path}");
        let body: Value = response.json().await?;
        ensure!(
            body["error"] == "method_not_allowed",
            "{method} {path}: {body}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn status_is_503_degraded_naming_the_store_when_it_does_not_answer() -> anyhow::Result<()> {
    // A DynamoDB endpoint where nothing listens: the store never answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", closed.local_addr()?);
    drop(closed);
    // The local server creates its tables at startup and so refuses a dead endpoint; build
    // the state the way a Lambda function does, which starts regardless and reports it.
    let mut vars = std::collections::HashMap::new();
    vars.insert("STORE".to_owned(), "dynamodb".to_owned());
    vars.insert("DYNAMODB_ENDPOINT_URL".to_owned(), url.clone());
    vars.insert(
        "PUBLIC_BASE_URL".to_owned(),
        "https://mcp.example.com".to_owned(),
    );
    let dir = tempfile::tempdir()?;
    vars.insert("DATA_DIR".to_owned(), dir.path().display().to_string());
    let config = memory_mcp::Config::from_vars(memory_mcp::Profile::Local, &vars)?;
    let state = memory_mcp::State::new(config).await?;
    let request = lambda_http::http::Request::get("/status").body(lambda_http::Body::Empty)?;
    let response = memory_mcp::dispatch(&state, None, request).await;
    ensure!(response.status() == 503, "status {}", response.status());
    let body: Value = serde_json::from_slice(response.body().as_ref())?;
    ensure!(body["status"] == "degraded", "{body}");
    ensure!(body["failed"] == serde_json::json!(["store"]), "{body}");
    ensure!(body["checks"]["store"]["ok"] == false, "{body}");
    ensure!(body["checks"]["signing_key"]["ok"] == true, "{body}");
    let text = body.to_string();
    ensure!(!text.contains("127.0.0.1"), "internals leaked: {text}");
    Ok(())
}
