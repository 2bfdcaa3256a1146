//! OAuth 2.1 §4.1.1–4.1.2 (authorization request and response), RFC 7636 (PKCE), RFC 8707
//! (resource), RFC 8252 §7.3 (loopback redirects), RFC 9207 (`iss`), and the sign-in, sign-up
//! and consent pages.

use anyhow::{Context as _, ensure};
use tests::oauth::{Browser, CLAUDE_CALLBACK, claude_registration, hidden_inputs, pkce};
use tests::{Backend, TestApp, on_both_backends};

on_both_backends!(
    a_claude_client_completes_the_flow_with_code_state_and_iss,
    a_loopback_redirect_matches_on_any_port,
    the_resource_may_be_omitted_or_carry_a_trailing_slash,
    errors_before_the_redirect_uri_is_trusted_never_redirect,
    errors_after_the_redirect_uri_is_trusted_go_back_with_state_and_iss,
    denying_consent_redirects_with_access_denied,
    a_returning_user_with_consent_is_not_asked_again,
    a_form_without_its_csrf_token_is_refused,
    a_wrong_password_shows_the_sign_in_page_again,
    a_closed_policy_offers_no_sign_up,
    an_allow_list_only_admits_listed_emails,
    pages_forbid_framing_and_set_a_safe_session_cookie,
    prompt_none_answers_without_showing_a_page,
    prompt_login_and_consent_show_their_pages_again,
);

async fn a_claude_client_completes_the_flow_with_code_state_and_iss(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    for method in ["none", "client_secret_post"] {
        let client = app
            .register(&claude_registration(method, CLAUDE_CALLBACK))
            .await?;
        let pkce = pkce();
        let browser = Browser::new(&app)?;
        let url = app.authorize_url(
            &client,
            CLAUDE_CALLBACK,
            &pkce,
            &[("resource", &app.url("/mcp"))],
        );
        let back = app
            .sign_up_and_approve(&browser, &url, &format!("{method}@example.com"))
            .await?;
        let location = back.location.clone().unwrap_or_default();
        ensure!(
            location.starts_with(&format!("{CLAUDE_CALLBACK}?")),
            "{location}"
        );
        ensure!(
            back.redirect_param("state").as_deref() == Some("st4te"),
            "{location}"
        );
        ensure!(
            back.redirect_param("iss").as_deref() == Some(app.base_url.as_str()),
            "{location}"
        );
        let code = back.redirect_param("code").context("no code")?;
        let token = app
            .exchange(&client, &code, CLAUDE_CALLBACK, &pkce.verifier)
            .await?;
        ensure!(token.status() == 200, "{method}: token {}", token.status());
    }
    Ok(())
}

async fn a_loopback_redirect_matches_on_any_port(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app
        .register(&claude_registration("none", "http://localhost/callback"))
        .await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let redirect = format!("http://localhost:{port}/callback");
    let pkce = pkce();
    let browser = Browser::new(&app)?;
    let url = app.authorize_url(&client, &redirect, &pkce, &[]);
    let back = app
        .sign_up_and_approve(&browser, &url, "code@example.com")
        .await?;
    let location = back.location.clone().unwrap_or_default();
    ensure!(location.starts_with(&format!("{redirect}?")), "{location}");
    let code = back.redirect_param("code").context("no code")?;
    let token = app
        .exchange(&client, &code, &redirect, &pkce.verifier)
        .await?;
    ensure!(token.status() == 200);

    let other_path = app.authorize_url(
        &client,
        &format!("http://localhost:{port}/other"),
        &pkce,
        &[],
    );
    let page = browser.get(&other_path).await?;
    ensure!(
        page.status == 400 && page.location.is_none(),
        "another path was accepted"
    );
    Ok(())
}

async fn the_resource_may_be_omitted_or_carry_a_trailing_slash(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let with_slash = app.url("/mcp/");
    for (i, resource) in [None, Some(with_slash.as_str())].into_iter().enumerate() {
        let client = app.register_claude().await?;
        let pkce = pkce();
        let browser = Browser::new(&app)?;
        let extra: Vec<(&str, &str)> = resource.map(|r| ("resource", r)).into_iter().collect();
        let url = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce, &extra);
        let back = app
            .sign_up_and_approve(&browser, &url, &format!("r{i}@example.com"))
            .await?;
        let code = back.redirect_param("code").context("no code")?;
        let token: serde_json::Value = app
            .exchange(&client, &code, CLAUDE_CALLBACK, &pkce.verifier)
            .await?
            .json()
            .await?;
        let jwt = token["access_token"].as_str().context("no access token")?;
        let claims = tests::oauth_claims(jwt)?;
        ensure!(
            claims["aud"] == app.url("/mcp"),
            "resource {resource:?}: {claims}"
        );
    }
    Ok(())
}

async fn errors_before_the_redirect_uri_is_trusted_never_redirect(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let pkce = pkce();
    let browser = Browser::new(&app)?;
    let cases = [
        ("unknown client", app.url("/authorize?response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback")),
        ("no client_id", app.url("/authorize?response_type=code")),
        ("unregistered redirect", app.authorize_url(&client, "https://evil.example/cb", &pkce, &[])),
        ("redirect with extra path", app.authorize_url(&client, &format!("{CLAUDE_CALLBACK}/x"), &pkce, &[])),
        ("repeated parameter", format!("{}&client_id=again", app.authorize_url(&client, CLAUDE_CALLBACK, &pkce, &[]))),
    ];
    for (name, url) in cases {
        let page = browser.get(&url).await?;
        ensure!(
            page.location.is_none(),
            "{name}: redirected to {:?}",
            page.location
        );
        ensure!(page.status == 400, "{name}: {}", page.status);
        ensure!(
            page.body.contains("cannot continue"),
            "{name}: {}",
            page.body
        );
        ensure!(
            page.headers["content-type"]
                .to_str()?
                .starts_with("text/html"),
            "{name}"
        );
    }
    Ok(())
}

async fn errors_after_the_redirect_uri_is_trusted_go_back_with_state_and_iss(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let p = pkce();
    let browser = Browser::new(&app)?;
    let base = format!(
        "/authorize?client_id={}&redirect_uri={}&state=s1",
        client.client_id, "https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback"
    );
    let good = format!("&code_challenge={}&code_challenge_method=S256", p.challenge);
    let cases = [
        (
            "missing response_type",
            format!("{base}{good}"),
            "invalid_request",
        ),
        (
            "token response_type",
            format!("{base}&response_type=token{good}"),
            "unsupported_response_type",
        ),
        (
            "missing PKCE",
            format!("{base}&response_type=code"),
            "invalid_request",
        ),
        (
            "plain PKCE",
            format!(
                "{base}&response_type=code&code_challenge={}&code_challenge_method=plain",
                p.challenge
            ),
            "invalid_request",
        ),
        (
            "PKCE without method",
            format!("{base}&response_type=code&code_challenge={}", p.challenge),
            "invalid_request",
        ),
        (
            "other resource",
            format!("{base}&response_type=code{good}&resource=https%3A%2F%2Fevil.example%2Fmcp"),
            "invalid_target",
        ),
        (
            "unknown scope",
            format!("{base}&response_type=code{good}&scope=admin"),
            "invalid_scope",
        ),
    ];
    for (name, path, want) in cases {
        let page = browser.get(&path).await?;
        ensure!(page.status == 302, "{name}: {} {}", page.status, page.body);
        ensure!(
            page.redirect_param("error").as_deref() == Some(want),
            "{name}: {:?}",
            page.location
        );
        ensure!(
            page.redirect_param("state").as_deref() == Some("s1"),
            "{name}"
        );
        ensure!(
            page.redirect_param("iss").as_deref() == Some(app.base_url.as_str()),
            "{name}"
        );
        ensure!(
            page.redirect_param("code").is_none(),
            "{name}: a code was issued"
        );
    }
    Ok(())
}

async fn denying_consent_redirects_with_access_denied(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let browser = Browser::new(&app)?;
    let url = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]);
    let sign_in = browser.get(&url).await?;
    let sign_up = browser.get(&app.signup_link(&sign_in)?).await?;
    let consent = browser
        .submit(
            &sign_up,
            &[
                ("email", "deny@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await?;
    let back = browser.submit(&consent, &[("decision", "deny")]).await?;
    ensure!(back.status == 302);
    ensure!(
        back.redirect_param("error").as_deref() == Some("access_denied"),
        "{:?}",
        back.location
    );
    ensure!(back.redirect_param("code").is_none());
    ensure!(back.redirect_param("state").as_deref() == Some("st4te"));
    Ok(())
}

async fn a_returning_user_with_consent_is_not_asked_again(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let browser = Browser::new(&app)?;
    let first = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]);
    app.sign_up_and_approve(&browser, &first, "back@example.com")
        .await?;
    let again = browser
        .get(&app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]))
        .await?;
    ensure!(
        again.status == 302,
        "returning user saw a page: {}",
        again.status
    );
    ensure!(again.redirect_param("code").is_some());

    // Another client: signed in already, but consent is per client.
    let other = app.register_claude().await?;
    let page = browser
        .get(&app.authorize_url(&other, CLAUDE_CALLBACK, &pkce(), &[]))
        .await?;
    ensure!(
        page.status == 200 && page.body.contains("decision"),
        "consent skipped for a new client"
    );
    Ok(())
}

async fn a_form_without_its_csrf_token_is_refused(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let browser = Browser::new(&app)?;
    let sign_in = browser
        .get(&app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]))
        .await?;
    let sign_up = browser.get(&app.signup_link(&sign_in)?).await?;
    // A cross-site attacker has neither the cookie nor the token.
    let mut form = hidden_inputs(&sign_up.body);
    form.retain(|(k, _)| k != "csrf");
    form.push(("email".into(), "victim@example.com".into()));
    form.push(("password".into(), "correct horse battery".into()));
    let response = app
        .http
        .post(app.url("/authorize"))
        .form(&form)
        .send()
        .await?;
    ensure!(response.status() == 403, "{}", response.status());
    ensure!(
        app.state
            .store
            .get_user_by_email("victim@example.com")
            .await?
            .is_none(),
        "user created"
    );
    let forged = browser
        .submit(
            &sign_up,
            &[
                ("csrf", "forged"),
                ("email", "victim@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await?;
    ensure!(forged.status == 403, "{}", forged.status);
    ensure!(
        app.state
            .store
            .get_user_by_email("victim@example.com")
            .await?
            .is_none(),
        "user created"
    );
    Ok(())
}

async fn a_wrong_password_shows_the_sign_in_page_again(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let url = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]);
    app.sign_up_and_approve(&Browser::new(&app)?, &url, "pw@example.com")
        .await?;
    let browser = Browser::new(&app)?;
    let sign_in = browser.get(&url).await?;
    for (email, password) in [
        ("pw@example.com", "wrong password"),
        ("nobody@example.com", "correct horse battery"),
    ] {
        let again = browser
            .submit(&sign_in, &[("email", email), ("password", password)])
            .await?;
        ensure!(again.status == 401, "{email}: {}", again.status);
        ensure!(again.body.contains("Wrong email or password"), "{email}");
        ensure!(again.location.is_none());
    }
    let ok = browser
        .submit(
            &sign_in,
            &[
                ("email", "PW@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await?;
    ensure!(
        ok.status == 302,
        "sign-in with consent on record: {}",
        ok.status
    );
    Ok(())
}

async fn a_closed_policy_offers_no_sign_up(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[("SIGNUP_POLICY", "closed")]).await?;
    let client = app.register_claude().await?;
    let browser = Browser::new(&app)?;
    let sign_in = browser
        .get(&app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]))
        .await?;
    ensure!(
        sign_in.status == 200 && !sign_in.body.contains("Create one"),
        "sign-up offered"
    );
    let attempt = browser
        .submit(
            &sign_in,
            &[
                ("action", "signup"),
                ("email", "x@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await?;
    ensure!(attempt.status == 403, "{}", attempt.status);
    ensure!(
        app.state
            .store
            .get_user_by_email("x@example.com")
            .await?
            .is_none()
    );
    Ok(())
}

async fn an_allow_list_only_admits_listed_emails(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(
        backend,
        &[
            ("SIGNUP_POLICY", "allowlist"),
            ("ALLOWED_EMAILS", "ada@example.com,@team.example"),
        ],
    )
    .await?;
    let client = app.register_claude().await?;
    for (email, allowed) in [
        ("eve@example.com", false),
        ("ada@example.com", true),
        ("bob@team.example", true),
    ] {
        let browser = Browser::new(&app)?;
        let sign_in = browser
            .get(&app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]))
            .await?;
        let sign_up = browser.get(&app.signup_link(&sign_in)?).await?;
        let page = browser
            .submit(
                &sign_up,
                &[("email", email), ("password", "correct horse battery")],
            )
            .await?;
        let created = app.state.store.get_user_by_email(email).await?.is_some();
        ensure!(created == allowed, "{email}: created={created}");
        ensure!((page.status == 200) == allowed, "{email}: {}", page.status);
    }
    Ok(())
}

async fn pages_forbid_framing_and_set_a_safe_session_cookie(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let browser = Browser::new(&app)?;
    let sign_in = browser
        .get(&app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]))
        .await?;
    ensure!(sign_in.headers["x-frame-options"] == "DENY");
    let csp = sign_in.headers["content-security-policy"].to_str()?;
    ensure!(csp.contains("frame-ancestors 'none'"), "{csp}");
    ensure!(
        sign_in.body.contains("name=\"email\"")
            && sign_in.body.contains("autocomplete=\"current-password\"")
    );
    let sign_up = browser.get(&app.signup_link(&sign_in)?).await?;
    ensure!(sign_up.body.contains("autocomplete=\"new-password\""));
    let consent = browser
        .submit(
            &sign_up,
            &[
                ("email", "cookie@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await?;
    let cookies: Vec<&str> = consent
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("mcp_session="))
        .context("no session cookie")?;
    ensure!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    ensure!(
        consent.body.contains("Claude") && consent.body.contains("claude.ai"),
        "consent page lacks client or host"
    );
    ensure!(consent.body.contains("memories:read") && consent.body.contains("memories:write"));
    let consent_csp = consent.headers["content-security-policy"].to_str()?;
    ensure!(
        consent_csp.contains("https://claude.ai"),
        "form-action must allow the redirect: {consent_csp}"
    );
    let user = app
        .state
        .store
        .get_user_by_email("cookie@example.com")
        .await?
        .context("no user")?;
    ensure!(
        user.password_hash.starts_with("$argon2id$"),
        "password not hashed with argon2id"
    );
    Ok(())
}

/// The error (or code) a redirect back to Claude carries, after checking `state` and `iss`.
fn redirect_outcome(app: &TestApp, page: &tests::oauth::Page) -> anyhow::Result<String> {
    ensure!(
        page.status == 302,
        "expected a redirect: {} {}",
        page.status,
        page.body
    );
    ensure!(
        page.redirect_param("state").as_deref() == Some("st4te"),
        "{page:?}"
    );
    ensure!(
        page.redirect_param("iss").as_deref() == Some(app.base_url.as_str()),
        "{page:?}"
    );
    Ok(page
        .redirect_param("error")
        .or_else(|| page.redirect_param("code").map(|_| "code".to_owned()))
        .unwrap_or_default())
}

async fn prompt_none_answers_without_showing_a_page(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let browser = Browser::new(&app)?;
    let silent =
        |client| app.authorize_url(client, CLAUDE_CALLBACK, &pkce(), &[("prompt", "none")]);

    let page = browser.get(&silent(&client)).await?;
    ensure!(redirect_outcome(&app, &page)? == "login_required");

    let first = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]);
    app.sign_up_and_approve(&browser, &first, "silent@example.com")
        .await?;
    let page = browser.get(&silent(&client)).await?;
    ensure!(redirect_outcome(&app, &page)? == "code");

    let other = app.register_claude().await?;
    let page = browser.get(&silent(&other)).await?;
    ensure!(redirect_outcome(&app, &page)? == "consent_required");

    let page = browser
        .get(&app.authorize_url(
            &client,
            CLAUDE_CALLBACK,
            &pkce(),
            &[("prompt", "none login")],
        ))
        .await?;
    ensure!(redirect_outcome(&app, &page)? == "invalid_request");
    let page = browser
        .get(&app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[("prompt", "create")]))
        .await?;
    ensure!(redirect_outcome(&app, &page)? == "invalid_request");
    Ok(())
}

async fn prompt_login_and_consent_show_their_pages_again(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let client = app.register_claude().await?;
    let browser = Browser::new(&app)?;
    let first = app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[]);
    app.sign_up_and_approve(&browser, &first, "again@example.com")
        .await?;

    // Consent on record, session valid: prompt=consent still asks.
    let with = |prompt| app.authorize_url(&client, CLAUDE_CALLBACK, &pkce(), &[("prompt", prompt)]);
    let consent = browser.get(&with("consent")).await?;
    ensure!(
        consent.status == 200 && consent.body.contains("decision"),
        "prompt=consent skipped the consent page: {}",
        consent.status
    );
    let back = browser.submit(&consent, &[("decision", "allow")]).await?;
    ensure!(redirect_outcome(&app, &back)? == "code");

    // prompt=login asks for the password although the session is valid; consent is then
    // remembered, so the sign-in leads straight back.
    let sign_in = browser.get(&with("login")).await?;
    ensure!(
        sign_in.status == 200
            && sign_in.body.contains("name=\"password\"")
            && !sign_in.body.contains("decision"),
        "prompt=login did not ask to sign in: {}",
        sign_in.status
    );
    let back = browser
        .submit(
            &sign_in,
            &[
                ("email", "again@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await?;
    ensure!(redirect_outcome(&app, &back)? == "code");

    // Both at once: sign in, then the consent page.
    let sign_in = browser.get(&with("login consent")).await?;
    let consent = browser
        .submit(
            &sign_in,
            &[
                ("email", "again@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await?;
    ensure!(
        consent.status == 200 && consent.body.contains("decision"),
        "prompt=login consent skipped the consent page: {}",
        consent.status
    );
    Ok(())
}
