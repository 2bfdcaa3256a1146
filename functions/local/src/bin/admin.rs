//! `admin`: operator commands against either store backend.
//!
//! ```text
//! cargo run -p local --bin admin -- [--data-dir DIR | --dynamodb-endpoint URL] COMMAND
//!   create-user EMAIL        password read from standard input
//!   reset-password EMAIL     new password read from standard input
//!   list-clients
//!   delete-client CLIENT_ID
//!   revoke-grants EMAIL      revokes every grant and consent of the user
//! ```
//! Against a deployment: `STORE=dynamodb TABLE_PREFIX=<stack>- cargo run -p local --bin admin --
//! list-clients` with AWS credentials in the environment. The embedded store is a locked file:
//! stop the local server first.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::process::ExitCode;

fn read_password() -> anyhow::Result<String> {
    eprintln!("password (read from standard input):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[tokio::main]
async fn main() -> ExitCode {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match local::admin::run(&args, vars, read_password).await {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
