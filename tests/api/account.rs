//! The account page (`/account`): a person sees the applications connected to their memories
//! and disconnects one, which withdraws the consent and revokes the grant.

use anyhow::{Context as _, ensure};
use serde_json::json;
use tests::oauth::{Browser, CLAUDE_CALLBACK, Mcp, Page, hidden_inputs, pkce};
use tests::{Backend, TestApp, on_both_backends};

on_both_backends!(
    disconnecting_an_application_ends_its_tokens_and_its_consent,
    the_account_page_needs_a_sign_in_and_a_csrf_token,
    nobody_can_disconnect_another_persons_application,
    consents_of_deleted_registrations_are_dropped_not_listed,
);

const PASSWORD: &str = "correct horse battery";

/// The CSRF value of a page's forms.
fn csrf(page: &Page) -> anyhow::Result<String> {
    hidden_inputs(&page.body)
        .into_iter()
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value)
        .context("no csrf field on the page")
}

async fn disconnecting_an_application_ends_its_tokens_and_its_consent(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let browser = Browser::new(&app)?;
    let (client, tokens) = app.full_flow_in(&browser, "owner@example.com").await?;
    let access = tokens["access_token"].as_str().context("no access token")?;
    let refresh = tokens["refresh_token"]
        .as_str()
        .context("no refresh token")?;
    let mcp = Mcp::new(&app, access);
    let stored = mcp
        .call("add_memories", json!({"text": "kept after a disconnect"}))
        .await?;
    ensure!(stored["isError"] != true, "{stored}");

    // The session from the authorization signs the person in on the account page.
    let page = browser.get("/account").await?;
    ensure!(page.status == 200, "{} {}", page.status, page.body);
    ensure!(
        page.body.contains("owner@example.com")
            && page.body.contains("Claude")
            && page.body.contains("Read and search your memories")
            && page.body.contains(&client.client_id),
        "the application is not listed: {}",
        page.body
    );
    let done = browser.submit(&page, &[("action", "disconnect")]).await?;
    ensure!(
        done.status == 303 && done.location.as_deref() == Some("/account?done=disconnected"),
        "{done:?}"
    );
    let after = browser.get("/account?done=disconnected").await?;
    ensure!(
        after.body.contains("was disconnected") && !after.body.contains(&client.client_id),
        "{}",
        after.body
    );

    // Its refresh token and access token are dead; the next authorization asks again.
    let (status, body) = app.refresh(&client, refresh).await?;
    ensure!(
        status == 400 && body["error"] == "invalid_grant",
        "{status} {body}"
    );
    let (status, _) = mcp
        .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await?;
    ensure!(status == 401, "the access token still works: {status}");
    let again = browser
        .get(&app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]))
        .await?;
    ensure!(
        again.status == 200 && again.body.contains("decision"),
        "consent was not withdrawn: {} {:?}",
        again.status,
        again.location
    );
    let back = browser.submit(&again, &[("decision", "allow")]).await?;
    ensure!(back.redirect_param("code").is_some(), "{back:?}");

    // The memories were not touched.
    let stored = app
        .state
        .store
        .get_user_by_email("owner@example.com")
        .await?
        .context("no user")?;
    let memories = app.state.store.all_memories(&stored.user_id).await?;
    ensure!(memories.len() == 1, "{memories:?}");
    Ok(())
}

async fn the_account_page_needs_a_sign_in_and_a_csrf_token(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    app.full_flow("reader@example.com").await?;

    let browser = Browser::new(&app)?;
    let page = browser.get("/account").await?;
    ensure!(
        page.status == 200 && page.body.contains("name=\"password\""),
        "no sign-in form: {} {}",
        page.status,
        page.body
    );
    ensure!(page.headers["x-frame-options"] == "DENY");
    ensure!(page.headers["cache-control"] == "no-store");

    let forged = browser
        .post("/account", &[("action", "disconnect"), ("client_id", "x")])
        .await?;
    ensure!(forged.status == 403, "no CSRF token: {}", forged.status);
    let unsigned = browser
        .post(
            "/account",
            &[
                ("action", "disconnect"),
                ("client_id", "x"),
                ("csrf", &csrf(&page)?),
            ],
        )
        .await?;
    ensure!(
        unsigned.status == 401,
        "disconnect without a session: {}",
        unsigned.status
    );

    let wrong = browser
        .submit(
            &page,
            &[
                ("email", "reader@example.com"),
                ("password", "wrong password"),
            ],
        )
        .await?;
    ensure!(
        wrong.status == 401 && wrong.body.contains("Wrong email or password"),
        "{}",
        wrong.status
    );
    let signed_in = browser
        .submit(
            &page,
            &[("email", "Reader@Example.com"), ("password", PASSWORD)],
        )
        .await?;
    ensure!(
        signed_in.status == 303 && signed_in.location.as_deref() == Some("/account"),
        "{signed_in:?}"
    );
    ensure!(
        signed_in
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().is_ok_and(|c| c.contains("HttpOnly"))),
        "no session cookie"
    );
    let list = browser.get("/account").await?;
    ensure!(
        list.body
            .contains("Signed in as <strong>reader@example.com</strong>")
            && list.body.contains("Disconnect"),
        "{}",
        list.body
    );

    let out = browser
        .post(
            "/account",
            &[("action", "signout"), ("csrf", &csrf(&list)?)],
        )
        .await?;
    ensure!(out.status == 303, "{out:?}");
    let page = browser.get("/account").await?;
    ensure!(
        page.body.contains("name=\"password\""),
        "still signed in: {}",
        page.body
    );
    Ok(())
}

async fn nobody_can_disconnect_another_persons_application(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let (client, tokens) = app.full_flow("alice@example.com").await?;
    let intruder = Browser::new(&app)?;
    app.full_flow_in(&intruder, "mallory@example.com").await?;
    let page = intruder.get("/account").await?;
    ensure!(
        !page.body.contains(&client.client_id),
        "another person's application is listed"
    );
    let done = intruder
        .post(
            "/account",
            &[
                ("action", "disconnect"),
                ("client_id", &client.client_id),
                ("csrf", &csrf(&page)?),
            ],
        )
        .await?;
    ensure!(done.status == 303, "{done:?}");
    let refresh = tokens["refresh_token"]
        .as_str()
        .context("no refresh token")?;
    let (status, body) = app.refresh(&client, refresh).await?;
    ensure!(
        status == 200,
        "alice's grant was revoked by mallory: {status} {body}"
    );
    Ok(())
}

async fn consents_of_deleted_registrations_are_dropped_not_listed(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let browser = Browser::new(&app)?;
    let (gone, tokens) = app.full_flow_in(&browser, "tidy@example.com").await?;
    // The grant ends (revoked), then the registration (deleted): only the consent is left.
    let revoked = app
        .http
        .post(app.url("/revoke"))
        .form(&[
            (
                "token",
                tokens["refresh_token"].as_str().unwrap_or_default(),
            ),
            ("client_id", gone.client_id.as_str()),
        ])
        .send()
        .await?;
    ensure!(revoked.status() == 200);
    ensure!(app.state.store.delete_client(&gone.client_id).await?);
    let page = browser.get("/account").await?;
    ensure!(
        page.status == 200 && !page.body.contains(&gone.client_id),
        "a deleted registration is listed: {}",
        page.body
    );
    let user = app
        .state
        .store
        .get_user_by_email("tidy@example.com")
        .await?
        .context("no user")?;
    ensure!(
        app.state
            .store
            .list_consents(&user.user_id)
            .await?
            .is_empty(),
        "the stale consent was kept"
    );
    Ok(())
}
