//! The AWS SDK configuration, resolved once per process.
//!
//! The store (DynamoDB) and the signing keys (Secrets Manager) both need it at cold start.
//! Resolving it once means one region and credentials lookup and one HTTPS client (one
//! connection pool, one set of TLS roots) for both SDK clients instead of two of each.
//!
//! The HTTPS client inside belongs to the tokio runtime that first used it, so this is for a
//! process with one runtime for its whole life (a Lambda function). Local servers and tests
//! name an endpoint and build their own configuration ([`crate::store::DynamoStore::connect`]).

use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

static DEFAULTS: OnceCell<SdkConfig> = OnceCell::const_new();

/// The default configuration chain (environment, then the Lambda or instance role), resolved
/// on first use.
pub async fn defaults() -> &'static SdkConfig {
    DEFAULTS
        .get_or_init(|| aws_config::load_defaults(BehaviorVersion::latest()))
        .await
}
