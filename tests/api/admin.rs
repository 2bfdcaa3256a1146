//! The operator commands (`admin`), on both backends.

use std::collections::HashMap;

use anyhow::ensure;
use tests::{Backend, TestApp, dynamodb_endpoint, on_both_backends, unique_prefix};

on_both_backends!(admin_commands_manage_users_clients_and_grants);

async fn admin_commands_manage_users_clients_and_grants(backend: Backend) -> anyhow::Result<()> {
    // The admin command and a TestApp share one store: DynamoDB tables, or (for the embedded
    // file, which one process at a time may open) a store the admin opens after the app is gone.
    let dir = tempfile::tempdir()?;
    let mut vars: HashMap<String, String> =
        HashMap::from([("DATA_DIR".to_owned(), dir.path().display().to_string())]);
    if backend == Backend::DynamoDb {
        vars.insert("DYNAMODB_ENDPOINT_URL".into(), dynamodb_endpoint());
        vars.insert("TABLE_PREFIX".into(), unique_prefix());
    }
    let admin = |words: &[&str], password: &'static str| {
        let args: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        let vars = vars.clone();
        async move { local::admin::run(&args, vars, move || Ok(password.to_owned())).await }
    };
    if backend == Backend::DynamoDb {
        // The local server creates the tables the admin command then uses.
        drop(TestApp::spawn_with(vars.clone()).await?);
    }
    let out = admin(&["create-user", "Ops@Example.com"], "correct horse battery").await?;
    ensure!(out.starts_with("created ops@example.com"), "{out}");
    let again = admin(&["create-user", "ops@example.com"], "correct horse battery").await;
    ensure!(again.is_err(), "a duplicate user was created");
    let weak = admin(&["create-user", "weak@example.com"], "short").await;
    ensure!(weak.is_err(), "a weak password was accepted");
    let out = admin(
        &["reset-password", "ops@example.com"],
        "a brand new password",
    )
    .await?;
    ensure!(out.contains("password changed"), "{out}");

    let app = TestApp::spawn_with(vars.clone()).await?;
    let (client, _) = app
        .full_flow_as("ops@example.com", "a brand new password")
        .await?;
    app.stop().await?;

    let out = admin(&["list-clients"], "").await?;
    ensure!(
        out.contains(&client.client_id) && out.contains("Claude"),
        "{out}"
    );
    let out = admin(&["revoke-grants", "ops@example.com"], "").await?;
    ensure!(out.starts_with("revoked 1 grants and 1 consents"), "{out}");
    let out = admin(&["delete-client", &client.client_id], "").await?;
    ensure!(out.contains("deleted"), "{out}");
    let out = admin(&["list-clients"], "").await?;
    ensure!(!out.contains(&client.client_id), "{out}");
    ensure!(admin(&["delete-client", "nope"], "").await.is_err());
    ensure!(admin(&["frobnicate"], "").await.is_err());
    Ok(())
}
