//! OAuth 2.1 §4.1.3 and §4.3 (token endpoint), RFC 9068 (JWT access tokens), RFC 7009
//! (revocation), RFC 7662 (introspection), client authentication (RFC 6749 §2.3.1).

use std::sync::Arc;

use anyhow::{Context as _, ensure};
use base64::Engine as _;
use serde_json::Value;
use tests::oauth::{Browser, CLAUDE_CALLBACK, Registered, claude_registration, pkce};
use tests::{Backend, TestApp, oauth_claims, on_both_backends};

on_both_backends!(
    rfc9068_the_access_token_is_an_at_jwt_for_the_mcp_url,
    a_code_is_single_use,
    fifty_concurrent_redemptions_of_one_code_give_exactly_one_token,
    a_code_is_bound_to_its_client_redirect_uri_and_verifier,
    secret_clients_authenticate_by_post_or_basic_and_wrong_secrets_fail,
    refresh_tokens_rotate_and_a_reused_one_revokes_the_family,
    rfc7009_revoking_a_refresh_or_access_token_ends_the_grant,
    rfc7662_introspection_reports_active_tokens_to_their_confidential_client,
    bad_token_requests_get_the_rfc_error_never_5xx,
);

async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<(u16, reqwest::header::HeaderMap, Value)> {
    let response = app.http.post(app.url(path)).form(form).send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    };
    Ok((status, headers, body))
}

/// A fresh code for a new user of `client`.
async fn code_for(
    app: &TestApp,
    client: &Registered,
    email: &str,
) -> anyhow::Result<(String, String)> {
    let pkce = pkce();
    let url = app.authorize_url(client, CLAUDE_CALLBACK, &pkce, &[]);
    let back = app
        .sign_up_and_approve(&Browser::new(app)?, &url, email)
        .await?;
    Ok((
        back.redirect_param("code").context("no code")?,
        pkce.verifier,
    ))
}

async fn rfc9068_the_access_token_is_an_at_jwt_for_the_mcp_url(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[("ACCESS_TOKEN_TTL_SECONDS", "900")]).await?;
    let (client, token) = app.full_flow("jwt@example.com").await?;
    ensure!(
        token["token_type"] == "Bearer" && token["expires_in"] == 900,
        "{token}"
    );
    ensure!(
        token["refresh_token"].is_string(),
        "no refresh token without offline_access: {token}"
    );
    ensure!(token["scope"] == "memories:read memories:write", "{token}");
    let jwt = token["access_token"].as_str().context("no access token")?;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap_or_default())?,
    )?;
    ensure!(
        header["typ"] == "at+jwt" && header["alg"] == "EdDSA" && header["kid"].is_string(),
        "{header}"
    );
    let claims = oauth_claims(jwt)?;
    ensure!(claims["iss"] == app.base_url.as_str(), "{claims}");
    ensure!(claims["aud"] == app.url("/mcp"), "{claims}");
    ensure!(claims["client_id"] == client.client_id.as_str(), "{claims}");
    ensure!(
        claims["scope"] == "memories:read memories:write",
        "{claims}"
    );
    let user = app
        .state
        .store
        .get_user_by_email("jwt@example.com")
        .await?
        .context("no user")?;
    ensure!(claims["sub"] == user.user_id.as_str(), "{claims}");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    ensure!(exp - iat == 900 && claims["jti"].is_string(), "{claims}");
    let keys = app
        .state
        .keys
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let verified = memory_mcp::oauth::jwt::verify(keys, jwt, &app.base_url, &app.url("/mcp"), iat);
    ensure!(verified.is_ok(), "{verified:?}");
    Ok(())
}

async fn a_code_is_single_use(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let (code, verifier) = code_for(&app, &client, "once@example.com").await?;
    let first = app
        .exchange(&client, &code, CLAUDE_CALLBACK, &verifier)
        .await?;
    ensure!(first.status() == 200);
    let second = app
        .exchange(&client, &code, CLAUDE_CALLBACK, &verifier)
        .await?;
    ensure!(second.status() == 400);
    ensure!(second.headers()["cache-control"] == "no-store");
    let body: Value = second.json().await?;
    ensure!(body["error"] == "invalid_grant", "{body}");
    Ok(())
}

async fn fifty_concurrent_redemptions_of_one_code_give_exactly_one_token(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = Arc::new(TestApp::spawn(backend, &[]).await?);
    let client = app.register_claude().await?;
    let (code, verifier) = code_for(&app, &client, "race@example.com").await?;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, client, code, verifier) = (
                Arc::clone(&app),
                client.clone(),
                code.clone(),
                verifier.clone(),
            );
            tokio::spawn(async move {
                let response = app
                    .exchange(&client, &code, CLAUDE_CALLBACK, &verifier)
                    .await?;
                anyhow::Ok(response.status().as_u16())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await??);
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    ensure!(ok == 1, "{ok} token responses: {statuses:?}");
    ensure!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
    Ok(())
}

async fn a_code_is_bound_to_its_client_redirect_uri_and_verifier(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let other = app.register_claude().await?;
    let cases: [(&str, Box<FormFor<'_>>); 4] = [
        (
            "another client",
            Box::new(|code, v| form(&other.client_id, code, CLAUDE_CALLBACK, v)),
        ),
        (
            "another redirect_uri",
            Box::new(|code, v| {
                form(
                    &client.client_id,
                    code,
                    "https://claude.com/api/mcp/auth_callback",
                    v,
                )
            }),
        ),
        (
            "wrong verifier",
            Box::new(|code, _| form(&client.client_id, code, CLAUDE_CALLBACK, &"x".repeat(43))),
        ),
        (
            "other resource",
            Box::new(|code, v| {
                let mut f = form(&client.client_id, code, CLAUDE_CALLBACK, v);
                f.push(("resource".into(), "https://evil.example/mcp".into()));
                f
            }),
        ),
    ];
    for (i, (name, make)) in cases.iter().enumerate() {
        let (code, verifier) = code_for(&app, &client, &format!("bind{i}@example.com")).await?;
        let fields = make(&code, &verifier);
        let response = app
            .http
            .post(app.url("/token"))
            .form(&fields)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        let want = if *name == "other resource" {
            "invalid_target"
        } else {
            "invalid_grant"
        };
        ensure!(
            status == 400 && body["error"] == want,
            "{name}: {status} {body}"
        );
        // The failed attempt burned the code.
        let retry = app
            .exchange(&client, &code, CLAUDE_CALLBACK, &verifier)
            .await?;
        ensure!(
            retry.status() == 400,
            "{name}: the code survived a failed redemption"
        );
    }
    Ok(())
}

/// Builds the token form for a (code, verifier).
type FormFor<'a> = dyn Fn(&str, &str) -> Vec<(String, String)> + 'a;
/// (case, form fields, expected status, expected error).
type BadRequest<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

fn form(client_id: &str, code: &str, redirect: &str, verifier: &str) -> Vec<(String, String)> {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
        ("client_id", client_id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

async fn secret_clients_authenticate_by_post_or_basic_and_wrong_secrets_fail(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    for method in ["client_secret_post", "client_secret_basic"] {
        let client = app
            .register(&claude_registration(method, CLAUDE_CALLBACK))
            .await?;
        let secret = client.client_secret.clone().context("no secret")?;
        let (code, verifier) = code_for(&app, &client, &format!("{method}@example.com")).await?;
        let fields = form(&client.client_id, &code, CLAUDE_CALLBACK, &verifier);

        let no_secret = app
            .http
            .post(app.url("/token"))
            .form(&fields)
            .send()
            .await?;
        ensure!(
            no_secret.status() == 401,
            "{method} without secret: {}",
            no_secret.status()
        );
        let wrong = app
            .http
            .post(app.url("/token"))
            .basic_auth(&client.client_id, Some("wrong"))
            .form(&fields)
            .send()
            .await?;
        ensure!(wrong.status() == 401, "{method} wrong secret");
        ensure!(
            wrong
                .headers()
                .get("www-authenticate")
                .is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("Basic")))
        );
        let body: Value = wrong.json().await?;
        ensure!(body["error"] == "invalid_client", "{body}");

        let request = app.http.post(app.url("/token"));
        let request = if method == "client_secret_basic" {
            request
                .basic_auth(&client.client_id, Some(&secret))
                .form(&fields)
        } else {
            let mut with_secret = fields.clone();
            with_secret.push(("client_secret".into(), secret.clone()));
            request.form(&with_secret)
        };
        let ok = request.send().await?;
        ensure!(ok.status() == 200, "{method}: {}", ok.status());
    }
    Ok(())
}

async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let (client, first) = app.full_flow("rotate@example.com").await?;
    let r1 = first["refresh_token"]
        .as_str()
        .context("no refresh token")?;
    let (status, second) = app.refresh(&client, r1).await?;
    ensure!(status == 200, "{second}");
    let r2 = second["refresh_token"].as_str().context("not rotated")?;
    ensure!(r1 != r2 && second["access_token"] != first["access_token"]);
    let narrowed = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", r2),
            ("client_id", &client.client_id),
            ("scope", "memories:read"),
        ],
    )
    .await?;
    ensure!(
        narrowed.0 == 200 && narrowed.2["scope"] == "memories:read",
        "{:?}",
        narrowed.2
    );
    let r3 = narrowed.2["refresh_token"]
        .as_str()
        .context("not rotated")?
        .to_owned();

    let other = app.register_claude().await?;
    let (status, body) = app.refresh(&other, &r3).await?;
    ensure!(
        status == 400 && body["error"] == "invalid_grant",
        "another client used it: {body}"
    );

    let (status, body) = app.refresh(&client, r1).await?;
    ensure!(
        status == 400 && body["error"] == "invalid_grant",
        "reuse accepted: {body}"
    );
    let (status, body) = app.refresh(&client, &r3).await?;
    ensure!(
        status == 400 && body["error"] == "invalid_grant",
        "family survived reuse: {body}"
    );
    Ok(())
}

async fn rfc7009_revoking_a_refresh_or_access_token_ends_the_grant(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    for (i, kind) in ["refresh_token", "access_token"].iter().enumerate() {
        let (client, token) = app.full_flow(&format!("revoke{i}@example.com")).await?;
        let presented = token[*kind].as_str().context("no token")?;
        let (status, headers, _) = post_form(
            &app,
            "/revoke",
            &[
                ("token", presented),
                ("token_type_hint", kind),
                ("client_id", &client.client_id),
            ],
        )
        .await?;
        ensure!(
            status == 200 && headers["cache-control"] == "no-store",
            "{kind}: {status}"
        );
        let refresh_token = token["refresh_token"].as_str().unwrap_or_default();
        let (status, body) = app.refresh(&client, refresh_token).await?;
        ensure!(
            status == 400 && body["error"] == "invalid_grant",
            "{kind}: grant survived: {body}"
        );
        let claims = oauth_claims(token["access_token"].as_str().unwrap_or_default())?;
        let grant = app
            .state
            .store
            .get_grant(
                claims["gid"].as_str().unwrap_or_default(),
                app.state.clock.now(),
            )
            .await?;
        ensure!(grant.is_none(), "{kind}: grant still live");
    }
    let client = app.register_claude().await?;
    let (status, _, _) = post_form(
        &app,
        "/revoke",
        &[("token", "garbage"), ("client_id", &client.client_id)],
    )
    .await?;
    ensure!(
        status == 200,
        "unknown tokens are 200 too (RFC 7009 §2.2): {status}"
    );
    let (status, _, body) = post_form(&app, "/revoke", &[("client_id", &client.client_id)]).await?;
    ensure!(
        status == 400 && body["error"] == "invalid_request",
        "{body}"
    );
    Ok(())
}

async fn rfc7662_introspection_reports_active_tokens_to_their_confidential_client(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app
        .register(&claude_registration("client_secret_post", CLAUDE_CALLBACK))
        .await?;
    let secret = client.client_secret.clone().context("no secret")?;
    let (code, verifier) = code_for(&app, &client, "intro@example.com").await?;
    let token: Value = app
        .exchange(&client, &code, CLAUDE_CALLBACK, &verifier)
        .await?
        .json()
        .await?;
    let access = token["access_token"].as_str().context("no token")?;
    let ask = |t: &str| {
        let fields = vec![
            ("token".to_owned(), t.to_owned()),
            ("client_id".into(), client.client_id.clone()),
            ("client_secret".into(), secret.clone()),
        ];
        app.http.post(app.url("/introspect")).form(&fields).send()
    };
    let active: Value = ask(access).await?.json().await?;
    ensure!(
        active["active"] == true && active["aud"] == app.url("/mcp"),
        "{active}"
    );
    let garbage: Value = ask("garbage").await?.json().await?;
    ensure!(garbage == serde_json::json!({"active": false}), "{garbage}");
    let public = app.register_claude().await?;
    let (status, _, body) = post_form(
        &app,
        "/introspect",
        &[("token", access), ("client_id", &public.client_id)],
    )
    .await?;
    ensure!(status == 401 && body["error"] == "invalid_client", "{body}");
    Ok(())
}

async fn bad_token_requests_get_the_rfc_error_never_5xx(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let id = client.client_id.as_str();
    let verifier = "a".repeat(43);
    let cases: Vec<BadRequest<'_>> = vec![
        (
            "no grant_type",
            vec![("client_id", id)],
            400,
            "invalid_request",
        ),
        (
            "password grant",
            vec![("grant_type", "password"), ("client_id", id)],
            400,
            "unsupported_grant_type",
        ),
        (
            "client_credentials",
            vec![("grant_type", "client_credentials"), ("client_id", id)],
            400,
            "unsupported_grant_type",
        ),
        (
            "no code",
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("code_verifier", "x"),
            ],
            400,
            "invalid_request",
        ),
        (
            "no verifier",
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("code", "x"),
            ],
            400,
            "invalid_request",
        ),
        (
            "unknown code",
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("code", "x"),
                ("code_verifier", &verifier),
            ],
            400,
            "invalid_grant",
        ),
        (
            "no refresh token",
            vec![("grant_type", "refresh_token"), ("client_id", id)],
            400,
            "invalid_request",
        ),
        (
            "unknown refresh token",
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", id),
                ("refresh_token", "nope"),
            ],
            400,
            "invalid_grant",
        ),
        (
            "no client",
            vec![("grant_type", "authorization_code"), ("code", "x")],
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", "nobody"),
            ],
            401,
            "invalid_client",
        ),
        (
            "repeated parameter",
            vec![
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
                ("client_id", id),
            ],
            400,
            "invalid_request",
        ),
    ];
    for (name, fields, want_status, want) in cases {
        let (status, headers, body) = post_form(&app, "/token", &fields).await?;
        ensure!(
            status == want_status && body["error"] == want,
            "{name}: {status} {body}"
        );
        ensure!(
            headers["cache-control"] == "no-store",
            "{name}: cacheable error"
        );
    }
    let raw = [
        (
            "json body",
            "application/json",
            "{\"grant_type\":\"authorization_code\"}",
        ),
        ("no content type", "", "grant_type=authorization_code"),
    ];
    for (name, content_type, body) in raw {
        let mut request = app.http.post(app.url("/token")).body(body.to_owned());
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let got: Value = response.json().await?;
        ensure!(
            status == 400 && got["error"] == "invalid_request",
            "{name}: {status} {got}"
        );
    }
    let mangled = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"grant_type=%ZZ&&==&\xff\xfe".to_vec())
        .send()
        .await?;
    let status = mangled.status().as_u16();
    let got: Value = mangled.json().await?;
    ensure!(
        (400..500).contains(&status) && got["error"].is_string(),
        "mangled body: {status} {got}"
    );
    let get = app.http.get(app.url("/token")).send().await?;
    ensure!(get.status() == 405, "GET /token: {}", get.status());
    Ok(())
}
