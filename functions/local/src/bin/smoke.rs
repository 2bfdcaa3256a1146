//! `smoke`: the post-deploy checklist against a base URL.
//!
//! ```text
//! SMOKE_PASSWORD=... cargo run -p local --bin smoke -- https://<api> ops@example.com [--sign-up]
//! ```
//! The password comes from `SMOKE_PASSWORD` (never from the command line, where it would sit
//! in shell history). `--sign-up` creates the account on the sign-up page when signing in
//! fails (a local server, or a deployment whose policy admits the address). Exits 1 when any
//! check fails.

use std::process::ExitCode;

const USAGE: &str = "usage: SMOKE_PASSWORD=... smoke BASE_URL EMAIL [--sign-up]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sign_up = args.iter().any(|a| a == "--sign-up");
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let (Some(base_url), Some(email), Ok(password)) = (
        positional.first(),
        positional.get(1),
        std::env::var("SMOKE_PASSWORD"),
    ) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let options = local::smoke::Options {
        base_url: (*base_url).clone(),
        email: (*email).clone(),
        password,
        sign_up,
    };
    match local::smoke::run(options).await {
        Ok(report) => {
            print!("{}", report.render());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
