//! `local`: runs every endpoint on 127.0.0.1 with no AWS account.
//!
//! ```text
//! cargo run -p local -- [--port 8788] [--data-dir .data] [--dynamodb-endpoint http://127.0.0.1:5000]
//! ```
//! Every variable of the README's configuration table applies; flags override them.

use std::collections::HashMap;

use anyhow::{Context as _, bail};
use memory_mcp::config::LogFormat;
use memory_mcp::telemetry;

const USAGE: &str = "usage: local [--port N] [--data-dir DIR] [--dynamodb-endpoint URL]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    let mut port = match vars.get("PORT") {
        Some(p) => p.parse().context("PORT must be a port number")?,
        None => local::DEFAULT_PORT,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--port" => port = value()?.parse().context("--port must be a port number")?,
            "--data-dir" => drop(vars.insert("DATA_DIR".into(), value()?)),
            "--dynamodb-endpoint" => drop(vars.insert("DYNAMODB_ENDPOINT_URL".into(), value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    telemetry::init(match vars.get("LOG_FORMAT").map(String::as_str) {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Text,
    });
    let server = local::bind(port, vars).await?;
    let store = server.state.store.backend();
    println!("memory-mcp local server ({store} store)");
    println!("  base URL: {}", server.base_url);
    println!(
        "  MCP URL:  {}/mcp   <- paste this into your MCP client",
        server.base_url
    );
    println!("  status:   {}/status", server.base_url);
    server.run(shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return drop(ctrl_c.await);
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    drop(ctrl_c.await);
}
