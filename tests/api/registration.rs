//! RFC 7591 (dynamic client registration) and RFC 7592 (client management).

use anyhow::ensure;
use memory_mcp::crypto::sha256_hex;
use serde_json::{Value, json};
use tests::oauth::{CLAUDE_CALLBACK, claude_registration};
use tests::{Backend, TestApp, on_both_backends};

on_both_backends!(
    rfc7591_a_public_claude_client_gets_no_secret,
    rfc7591_a_client_secret_post_client_gets_a_hashed_secret,
    rfc7591_the_default_method_is_client_secret_basic,
    rfc7591_bad_metadata_gets_the_rfc_error_and_status,
    rfc7591_a_new_dynamic_client_lapses_if_never_used,
    rfc7592_the_registration_token_reads_updates_and_deletes_the_client,
);

async fn rfc7591_a_public_claude_client_gets_no_secret(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let b = &client.body;
    ensure!(b["token_endpoint_auth_method"] == "none", "{b}");
    ensure!(
        b.get("client_secret").is_none() && b.get("client_secret_expires_at").is_none(),
        "{b}"
    );
    ensure!(b["client_id_issued_at"].as_i64().is_some(), "{b}");
    ensure!(b["redirect_uris"] == json!([CLAUDE_CALLBACK]), "{b}");
    ensure!(b["client_name"] == "Claude", "{b}");
    ensure!(b["registration_access_token"].is_string(), "{b}");
    ensure!(
        b["registration_client_uri"] == app.url(&format!("/register/{}", client.client_id)),
        "{b}"
    );
    Ok(())
}

async fn rfc7591_a_client_secret_post_client_gets_a_hashed_secret(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let body = claude_registration(
        "client_secret_post",
        "https://claude.com/api/mcp/auth_callback",
    );
    let client = app.register(&body).await?;
    ensure!(client.body["token_endpoint_auth_method"] == "client_secret_post");
    let secret = client.client_secret.clone().unwrap_or_default();
    ensure!(secret.len() >= 32, "{}", client.body);
    ensure!(client.body["client_secret_expires_at"] == 0);
    let now = app.state.clock.now();
    let stored = app.state.store.get_client(&client.client_id, now).await?;
    let stored = stored.ok_or_else(|| anyhow::anyhow!("client not stored"))?;
    ensure!(
        stored.client_secret_hash == Some(sha256_hex(&secret)),
        "secret not stored as its hash"
    );
    let token = client.body["registration_access_token"]
        .as_str()
        .unwrap_or_default();
    ensure!(stored.registration_token_hash == Some(sha256_hex(token)));
    Ok(())
}

async fn rfc7591_the_default_method_is_client_secret_basic(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app
        .register(&json!({"redirect_uris": ["http://127.0.0.1/callback"]}))
        .await?;
    ensure!(
        client.body["token_endpoint_auth_method"] == "client_secret_basic",
        "{}",
        client.body
    );
    ensure!(client.client_secret.is_some());
    Ok(())
}

async fn rfc7591_bad_metadata_gets_the_rfc_error_and_status(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let long = format!("https://claude.ai/{}", "a".repeat(3000));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no redirect_uris",
            json!({"client_name": "x"}),
            "invalid_redirect_uri",
        ),
        (
            "empty redirect_uris",
            json!({"redirect_uris": []}),
            "invalid_redirect_uri",
        ),
        (
            "http non-loopback",
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "fragment",
            json!({"redirect_uris": ["https://a.example/cb#f"]}),
            "invalid_redirect_uri",
        ),
        (
            "relative",
            json!({"redirect_uris": ["/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "too long",
            json!({"redirect_uris": [long]}),
            "invalid_redirect_uri",
        ),
        (
            "eleven uris",
            json!({"redirect_uris": (0..11).map(|i| format!("https://a.example/{i}")).collect::<Vec<_>>()}),
            "invalid_redirect_uri",
        ),
        (
            "unknown method",
            json!({"redirect_uris": [CLAUDE_CALLBACK], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            "implicit grant",
            json!({"redirect_uris": [CLAUDE_CALLBACK], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            "refresh only",
            json!({"redirect_uris": [CLAUDE_CALLBACK], "grant_types": ["refresh_token"]}),
            "invalid_client_metadata",
        ),
        (
            "token response",
            json!({"redirect_uris": [CLAUDE_CALLBACK], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            "unknown scope",
            json!({"redirect_uris": [CLAUDE_CALLBACK], "scope": "admin"}),
            "invalid_client_metadata",
        ),
        (
            "wrong type",
            json!({"redirect_uris": CLAUDE_CALLBACK}),
            "invalid_client_metadata",
        ),
        (
            "http logo",
            json!({"redirect_uris": [CLAUDE_CALLBACK], "logo_uri": "http://a.example/l.png"}),
            "invalid_client_metadata",
        ),
        ("not an object", json!([1, 2]), "invalid_request"),
    ];
    for (name, body, want) in cases {
        let response = app
            .http
            .post(app.url("/register"))
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        ensure!(response.headers()["cache-control"] == "no-store", "{name}");
        let got: Value = response.json().await?;
        ensure!(
            status == 400 && got["error"] == want,
            "{name}: {status} {got}"
        );
    }
    let raw = [
        ("not json", "text/plain", "{"),
        ("broken json", "application/json", "{\"redirect_uris\":"),
        (
            "huge body",
            "application/json",
            &*format!("{{\"client_name\":\"{}\"}}", "x".repeat(20_000)),
        ),
    ];
    for (name, content_type, body) in raw {
        let response = app
            .http
            .post(app.url("/register"))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await?;
        let status = response.status();
        let got: Value = response.json().await?;
        ensure!(
            status == 400 && got["error"].is_string(),
            "{name}: {status} {got}"
        );
    }
    Ok(())
}

async fn rfc7591_a_new_dynamic_client_lapses_if_never_used(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[("UNUSED_CLIENT_TTL_SECONDS", "3600")]).await?;
    let client = app.register_claude().await?;
    let now = app.state.clock.now();
    ensure!(
        app.state
            .store
            .get_client(&client.client_id, now + 3599)
            .await?
            .is_some()
    );
    ensure!(
        app.state
            .store
            .get_client(&client.client_id, now + 3601)
            .await?
            .is_none()
    );
    Ok(())
}

async fn rfc7592_the_registration_token_reads_updates_and_deletes_the_client(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app
        .register(&claude_registration("client_secret_basic", CLAUDE_CALLBACK))
        .await?;
    let uri = client.body["registration_client_uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = client.body["registration_access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let anonymous = app.http.get(&uri).send().await?;
    ensure!(
        anonymous.status() == 401,
        "read without token: {}",
        anonymous.status()
    );
    let wrong = app.http.get(&uri).bearer_auth("nope").send().await?;
    ensure!(wrong.status() == 401);

    let read: Value = app
        .http
        .get(&uri)
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        read["client_id"] == client.client_id.as_str() && read["client_name"] == "Claude",
        "{read}"
    );

    let mut changed = claude_registration("client_secret_basic", CLAUDE_CALLBACK);
    changed["client_name"] = json!("Claude (renamed)");
    let updated = app
        .http
        .put(&uri)
        .bearer_auth(&token)
        .json(&changed)
        .send()
        .await?;
    ensure!(updated.status() == 200, "update: {}", updated.status());
    let read: Value = app
        .http
        .get(&uri)
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    ensure!(read["client_name"] == "Claude (renamed)", "{read}");

    let deleted = app.http.delete(&uri).bearer_auth(&token).send().await?;
    ensure!(deleted.status() == 204, "delete: {}", deleted.status());
    let gone = app.http.get(&uri).bearer_auth(&token).send().await?;
    ensure!(gone.status() == 401, "after delete: {}", gone.status());
    Ok(())
}
