//! The post-deploy smoke check, run against the local server on both backends.

use anyhow::ensure;
use local::smoke::{Options, run};
use tests::{Backend, TestApp, on_both_backends};

on_both_backends!(
    the_smoke_check_passes_on_a_healthy_server,
    the_smoke_check_fails_and_cleans_up_on_bad_credentials
);

async fn the_smoke_check_passes_on_a_healthy_server(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let options = Options {
        base_url: app.base_url.clone(),
        email: "smoke@example.com".into(),
        password: "correct horse battery".into(),
        sign_up: true,
    };
    let report = run(options.clone()).await?;
    ensure!(report.passed(), "{}", report.render());
    ensure!(report.items.len() == 13);
    ensure!(
        report
            .render()
            .ends_with("smoke: 13 passed, 0 failed, 0 skipped\n"),
        "{}",
        report.render()
    );
    // A second run signs in (the account exists now) and still leaves nothing behind.
    let again = run(Options {
        sign_up: false,
        ..options
    })
    .await?;
    ensure!(again.passed(), "{}", again.render());
    let user = app
        .state
        .store
        .get_user_by_email("smoke@example.com")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no smoke user"))?;
    let consents = app.state.store.list_consents(&user.user_id).await?;
    ensure!(
        consents.is_empty(),
        "the smoke check left consents behind: {consents:?}"
    );
    let clients = app.state.store.list_clients(None, 100).await?;
    ensure!(
        clients.items.is_empty(),
        "the smoke check left clients behind: {:?}",
        clients.items
    );
    Ok(())
}

async fn the_smoke_check_fails_and_cleans_up_on_bad_credentials(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let report = run(Options {
        base_url: app.base_url.clone(),
        email: "nobody@example.com".into(),
        password: "not the password".into(),
        sign_up: false,
    })
    .await?;
    ensure!(!report.passed());
    let failed: Vec<&str> = report
        .items
        .iter()
        .filter(|i| matches!(i.outcome, Some(Err(_))))
        .map(|i| i.name)
        .collect();
    ensure!(
        failed == ["sign-in, consent and token"],
        "{}",
        report.render()
    );
    ensure!(
        report.render().contains("wrong email or password"),
        "{}",
        report.render()
    );
    ensure!(
        matches!(
            report.items.last().and_then(|i| i.outcome.clone()),
            Some(Ok(_))
        ),
        "no clean-up: {}",
        report.render()
    );
    ensure!(
        app.state
            .store
            .list_clients(None, 100)
            .await?
            .items
            .is_empty(),
        "client left behind"
    );
    Ok(())
}
