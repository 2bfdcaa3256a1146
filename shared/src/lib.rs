//! A memory MCP server with its own OAuth 2.1 authorization server, built to run as a set of
//! small AWS Lambda functions behind API Gateway (HTTP API) with DynamoDB, or all at once in
//! the local server with an embedded store.
//!
//! Every endpoint is a plain `async fn(&State, Request) -> Response` (see [`endpoints`]): bad
//! input becomes an HTTP error response, never an `Err`, because an `Err` would reach the
//! client as a Lambda invocation failure (a 5xx).

pub mod accounts;
pub mod aws;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod endpoints;
pub mod http;
pub mod lambda;
pub mod mcp;
pub mod memory;
pub mod oauth;
pub mod state;
pub mod store;
pub mod telemetry;

pub use config::{Config, ConfigError, Profile};
pub use endpoints::{Function, dispatch};
pub use state::State;
