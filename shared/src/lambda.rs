//! The whole `main` of a Lambda function: logging, configuration, state, then `lambda_http`
//! serving one function's routes. A configuration or startup error ends the cold start with the
//! error in the log (Lambda reports an init failure) instead of serving broken responses.

use std::sync::Arc;

use crate::config::{Config, Profile};
use crate::endpoints::{Function, dispatch};
use crate::state::State;
use crate::telemetry;

/// Runs `function` under the Lambda runtime until the sandbox is shut down.
pub async fn run(function: Function) -> Result<(), lambda_http::Error> {
    let config = Config::from_env(Profile::Lambda).inspect_err(|err| {
        telemetry::init(crate::config::LogFormat::Json);
        tracing::error!(error = %err, "configuration is invalid");
    })?;
    telemetry::init(config.log_format);
    let state = if function.needs_signing_keys() {
        State::new(config).await?
    } else {
        State::without_keys(config).await?
    };
    let state = Arc::new(state);
    tracing::info!(function = function.name(), "cold start complete");
    lambda_http::run(lambda_http::service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, std::convert::Infallible>(dispatch(&state, Some(function), req).await) }
    }))
    .await
}
