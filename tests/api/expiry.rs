//! Lifetimes, on a clock the test moves: codes, access tokens, refresh tokens and sign-in
//! sessions lapse when they should, whether or not anything has deleted them yet; an account
//! locked by failed sign-ins opens again after the lockout.

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use tests::oauth::{Browser, CLAUDE_CALLBACK, Mcp, pkce};
use tests::{Backend, TestApp, on_both_backends};

on_both_backends!(
    an_authorization_code_lapses_after_its_lifetime,
    an_access_token_lapses_and_the_refresh_token_still_works,
    a_refresh_token_lapses_after_its_lifetime,
    a_sign_in_session_lapses_after_its_lifetime,
    five_failed_sign_ins_lock_the_account_for_fifteen_minutes,
);

async fn an_authorization_code_lapses_after_its_lifetime(backend: Backend) -> anyhow::Result<()> {
    let (app, clock) =
        TestApp::spawn_with_clock(backend, &[("AUTH_CODE_TTL_SECONDS", "60")]).await?;
    let client = app.register_claude().await?;
    let pkce = pkce();
    let url = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce, &[]);
    let back = app
        .sign_up_and_approve(&Browser::new(&app)?, &url, "code-ttl@example.com")
        .await?;
    let code = back.redirect_param("code").context("no code")?;
    clock.advance(60);
    let late = app
        .exchange(&client, &code, CLAUDE_CALLBACK, &pkce.verifier)
        .await?;
    ensure!(
        late.status() == 400,
        "a lapsed code was redeemed: {}",
        late.status()
    );
    let body: Value = late.json().await?;
    ensure!(body["error"] == "invalid_grant", "{body}");
    Ok(())
}

async fn an_access_token_lapses_and_the_refresh_token_still_works(
    backend: Backend,
) -> anyhow::Result<()> {
    let (app, clock) =
        TestApp::spawn_with_clock(backend, &[("ACCESS_TOKEN_TTL_SECONDS", "600")]).await?;
    let (client, token) = app.full_flow("at-ttl@example.com").await?;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let mcp = Mcp::new(&app, token["access_token"].as_str().context("no token")?);
    ensure!(mcp.send(&list).await?.0 == 200);
    clock.advance(600 + 30);
    let (status, body) = mcp.send(&list).await?;
    ensure!(
        status == 401,
        "an expired access token was accepted: {status} {body}"
    );
    let refresh_token = token["refresh_token"].as_str().unwrap_or_default();
    let (_, refreshed) = app.refresh(&client, refresh_token).await?;
    let fresh = Mcp::new(
        &app,
        refreshed["access_token"].as_str().context("no new token")?,
    );
    ensure!(
        fresh.send(&list).await?.0 == 200,
        "the refreshed token is refused"
    );
    Ok(())
}

async fn a_refresh_token_lapses_after_its_lifetime(backend: Backend) -> anyhow::Result<()> {
    let (app, clock) =
        TestApp::spawn_with_clock(backend, &[("REFRESH_TOKEN_TTL_SECONDS", "3600")]).await?;
    let (client, token) = app.full_flow("rt-ttl@example.com").await?;
    clock.advance(3600);
    let (status, body) = app
        .refresh(&client, token["refresh_token"].as_str().unwrap_or_default())
        .await?;
    ensure!(
        status == 400 && body["error"] == "invalid_grant",
        "a lapsed refresh token worked: {status} {body}"
    );
    Ok(())
}

async fn a_sign_in_session_lapses_after_its_lifetime(backend: Backend) -> anyhow::Result<()> {
    let (app, clock) =
        TestApp::spawn_with_clock(backend, &[("SESSION_TTL_SECONDS", "600")]).await?;
    let client = app.register_claude().await?;
    let browser = Browser::new(&app)?;
    let url = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]);
    app.sign_up_and_approve(&browser, &url, "session-ttl@example.com")
        .await?;
    let again = browser
        .get(&app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]))
        .await?;
    ensure!(
        again.status == 302,
        "a fresh session should skip the pages: {}",
        again.status
    );
    clock.advance(600);
    let later = browser
        .get(&app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]))
        .await?;
    ensure!(
        later.status == 200 && later.body.contains("Sign in to Memory"),
        "a lapsed session still signs in: {}",
        later.status
    );
    Ok(())
}

async fn five_failed_sign_ins_lock_the_account_for_fifteen_minutes(
    backend: Backend,
) -> anyhow::Result<()> {
    let (app, clock) = TestApp::spawn_with_clock(backend, &[]).await?;
    let client = app.register_claude().await?;
    let url = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]);
    app.sign_up_and_approve(&Browser::new(&app)?, &url, "locked@example.com")
        .await?;
    let browser = Browser::new(&app)?;
    let page = browser.get(&url).await?;
    for attempt in 1..=5 {
        let wrong = browser
            .submit(
                &page,
                &[
                    ("email", "locked@example.com"),
                    ("password", "guess guess guess"),
                ],
            )
            .await?;
        ensure!(wrong.status == 401, "attempt {attempt}: {}", wrong.status);
    }
    let right = [
        ("email", "locked@example.com"),
        ("password", "correct horse battery"),
    ];
    let locked = browser.submit(&page, &right).await?;
    ensure!(
        locked.status == 429 && locked.body.contains("Too many failed sign-ins"),
        "not locked: {}",
        locked.status
    );
    clock.advance(15 * 60);
    let open = browser.submit(&page, &right).await?;
    ensure!(
        open.status == 302,
        "still locked after 15 minutes: {}",
        open.status
    );
    Ok(())
}
