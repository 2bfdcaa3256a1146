//! Client ID Metadata Documents: a URL client_id is fetched (with SSRF guards), cached, and
//! completes the flow as a public client; bad documents and addresses are refused on the local
//! error page, never redirected.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use tests::oauth::{Browser, CLAUDE_CALLBACK, Registered, pkce};
use tests::{Backend, TestApp, on_both_backends};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

on_both_backends!(
    a_metadata_document_client_completes_the_flow_and_is_cached,
    bad_metadata_documents_and_addresses_are_refused_without_a_redirect,
);

/// A loopback server for documents; `docs` maps a path to (status, body) given the server's
/// own origin (a document must name its own URL). Counts requests.
async fn document_server(
    docs: impl Fn(&str) -> HashMap<String, (u16, String)>,
) -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let docs = Arc::new(docs(&origin));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (docs, counter) = (Arc::clone(&docs), Arc::clone(&counter));
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                counter.fetch_add(1, Ordering::SeqCst);
                let (status, body) = docs.get(&path).cloned().unwrap_or((404, "{}".into()));
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncache-control: max-age=600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok((origin, hits))
}

fn doc(client_id: &str, extra: Value) -> String {
    let mut d = json!({
        "client_id": client_id,
        "client_name": "Claude (metadata document)",
        "redirect_uris": [CLAUDE_CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    });
    if let (Some(map), Value::Object(more)) = (d.as_object_mut(), extra) {
        map.extend(more);
    }
    d.to_string()
}

fn url_client(url: &str) -> Registered {
    Registered {
        client_id: url.to_owned(),
        client_secret: None,
        body: Value::Null,
    }
}

async fn a_metadata_document_client_completes_the_flow_and_is_cached(
    backend: Backend,
) -> anyhow::Result<()> {
    let (origin, hits) = document_server(|origin| {
        let url = format!("{origin}/oauth/client.json");
        HashMap::from([("/oauth/client.json".to_owned(), (200, doc(&url, json!({}))))])
    })
    .await?;
    let app = TestApp::spawn(backend, &[("CIMD_ALLOW_HTTP_LOOPBACK", "true")]).await?;
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        metadata["client_id_metadata_document_supported"] == true,
        "{metadata}"
    );

    let client = url_client(&format!("{origin}/oauth/client.json"));
    let pkce = pkce();
    let browser = Browser::new(&app)?;
    let url = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce, &[]);
    let sign_in = browser.get(&url).await?;
    ensure!(
        sign_in.body.contains("Claude (metadata document)"),
        "the page does not name the client: {}",
        sign_in.body
    );
    let back = app
        .sign_up_and_approve(&browser, &url, "cimd@example.com")
        .await?;
    let code = back.redirect_param("code").context("no code")?;
    let token = app
        .exchange(&client, &code, CLAUDE_CALLBACK, &pkce.verifier)
        .await?;
    ensure!(
        token.status() == 200,
        "token exchange for a URL client: {}",
        token.status()
    );
    let body: Value = token.json().await?;
    let claims = tests::oauth_claims(body["access_token"].as_str().unwrap_or_default())?;
    ensure!(claims["client_id"] == client.client_id.as_str(), "{claims}");
    ensure!(
        hits.load(Ordering::SeqCst) == 1,
        "the document was fetched {} times",
        hits.load(Ordering::SeqCst)
    );
    ensure!(
        app.state
            .store
            .list_clients(None, 10)
            .await?
            .items
            .is_empty(),
        "a URL client was stored"
    );
    Ok(())
}

async fn bad_metadata_documents_and_addresses_are_refused_without_a_redirect(
    backend: Backend,
) -> anyhow::Result<()> {
    let (origin, _) = document_server(|origin| {
        let at = |p: &str| format!("{origin}{p}");
        HashMap::from([
            (
                "/other.json".to_owned(),
                (200, doc("https://evil.example/meta", json!({}))),
            ),
            (
                "/secret.json".to_owned(),
                (
                    200,
                    doc(
                        &at("/secret.json"),
                        json!({"token_endpoint_auth_method": "client_secret_basic"}),
                    ),
                ),
            ),
            ("/broken.json".to_owned(), (200, "not json".to_owned())),
            (
                "/bad-redirect.json".to_owned(),
                (
                    200,
                    doc(
                        &at("/bad-redirect.json"),
                        json!({"redirect_uris": ["http://evil.example/cb"]}),
                    ),
                ),
            ),
        ])
    })
    .await?;
    let app = TestApp::spawn(backend, &[("CIMD_ALLOW_HTTP_LOOPBACK", "true")]).await?;
    let strict = TestApp::spawn(backend, &[]).await?;
    let browser = Browser::new(&app)?;
    let cases = [
        (
            &app,
            format!("{origin}/other.json"),
            "its client_id is not the URL",
        ),
        (&app, format!("{origin}/secret.json"), "not supported"),
        (&app, format!("{origin}/broken.json"), "not JSON"),
        (&app, format!("{origin}/bad-redirect.json"), "invalid"),
        (
            &app,
            format!("{origin}/missing.json"),
            "could not be fetched",
        ),
        (
            &app,
            "https://10.0.0.1/meta".to_owned(),
            "non-public address",
        ),
        (
            &app,
            "https://169.254.169.254/latest/meta-data".to_owned(),
            "non-public address",
        ),
        (&app, "https://example.com/".to_owned(), "must have a path"),
        (&strict, format!("{origin}/other.json"), "must be https"),
    ];
    for (server, client_id, want) in cases {
        let url = server.authorize_url(&url_client(&client_id), CLAUDE_CALLBACK, &pkce(), &[]);
        let page = browser.get(&url).await?;
        ensure!(
            page.status == 400 && page.location.is_none(),
            "{client_id}: {} {:?}",
            page.status,
            page.location
        );
        ensure!(
            page.body.contains(want),
            "{client_id}: page lacks {want:?}: {}",
            page.body
        );
    }
    let token = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("code_verifier", &"a".repeat(43)),
            ("client_id", &format!("{origin}/broken.json")),
        ])
        .send()
        .await?;
    ensure!(
        token.status() == 401,
        "token endpoint with a bad document: {}",
        token.status()
    );
    Ok(())
}
