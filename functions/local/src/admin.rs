//! The operator commands behind the `admin` binary, as a function so tests drive them on both
//! backends.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use memory_mcp::accounts;
use memory_mcp::clock::{Clock as _, SystemClock};
use memory_mcp::config::{Config, Profile};

/// The usage line.
pub const USAGE: &str = "usage: admin [--data-dir DIR] [--dynamodb-endpoint URL] \
(create-user EMAIL | reset-password EMAIL | list-clients | delete-client ID | revoke-grants EMAIL)";

/// Runs one command given its arguments, the environment, and a way to read a password;
/// returns what to print.
pub async fn run(
    args: &[String],
    mut vars: HashMap<String, String>,
    read_password: impl Fn() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    let mut words = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => {
                drop(vars.insert("DATA_DIR".into(), args.next().context(USAGE)?.clone()))
            }
            "--dynamodb-endpoint" => {
                let url = args.next().context(USAGE)?.clone();
                drop(vars.insert("DYNAMODB_ENDPOINT_URL".into(), url));
            }
            "-h" | "--help" => return Ok(format!("{USAGE}\n")),
            word => words.push(word),
        }
    }
    let config = Config::from_vars(Profile::Local, &vars)?;
    let store = config.store.open().await?;
    let now = SystemClock.now();
    let mut out = String::new();
    match words.as_slice() {
        ["create-user", email] => {
            let user = accounts::create_user(store.as_ref(), email, &read_password()?, now).await?;
            writeln!(out, "created {} ({})", user.email, user.user_id)?;
        }
        ["reset-password", email] => {
            let user =
                accounts::set_password(store.as_ref(), email, &read_password()?, now).await?;
            writeln!(out, "password changed for {}", user.email)?;
        }
        ["list-clients"] => {
            let mut cursor = None;
            writeln!(
                out,
                "{:<40} {:<22} {:<12} name",
                "client_id", "auth method", "expires_at"
            )?;
            loop {
                let page = store.list_clients(cursor.as_deref(), 100).await?;
                for c in &page.items {
                    writeln!(
                        out,
                        "{:<40} {:<22} {:<12} {}",
                        c.client_id,
                        c.metadata.token_endpoint_auth_method,
                        c.expires_at.map_or("never".into(), |t| t.to_string()),
                        c.metadata.client_name.as_deref().unwrap_or("")
                    )?;
                }
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
        }
        ["delete-client", id] => {
            if !store.delete_client(id).await? {
                bail!("no client {id}");
            }
            writeln!(out, "deleted client {id}")?;
        }
        ["revoke-grants", email] => {
            let user = accounts::find(store.as_ref(), email).await?;
            let (grants, consents) =
                accounts::revoke_everything(store.as_ref(), &user, now).await?;
            writeln!(
                out,
                "revoked {grants} grants and {consents} consents of {}",
                user.email
            )?;
        }
        _ => bail!("{USAGE}"),
    }
    Ok(out)
}
