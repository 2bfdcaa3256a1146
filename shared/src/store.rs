//! Persistence: the [`Store`] trait over every entity the system keeps, and its two backends.
//!
//! Both backends pass one conformance suite (`tests/store`). The guarantees callers rely on:
//! - [`Store::consume_code`] returns a code at most once, however many requests race for it;
//! - [`Store::rotate_refresh_token`] rotates a token at most once, and presenting a used token
//!   revokes its whole family;
//! - nothing expired is ever returned, whether or not TTL deletion has run;
//! - a memory operation only ever touches the memories of the user it names.

mod dynamo;
mod embedded;
mod model;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

pub use dynamo::DynamoStore;
pub use embedded::EmbeddedStore;
pub use model::*;

use crate::config::{ConfigError, Profile};

/// A store failure. Callers answer a generic 503; the detail goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with the same key already exists.
    #[error("already exists")]
    Conflict,
    /// The record to change does not exist.
    #[error("not found")]
    NotFound,
    /// A cursor given by the caller is not one the store issued.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The backend failed or could not be reached.
    #[error("store backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub(crate) fn backend(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend(err.into())
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which backend, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// DynamoDB (production, or a DynamoDB-compatible server at `endpoint_url`).
    DynamoDb {
        /// Physical table name = prefix + logical name.
        table_prefix: String,
        /// A non-AWS endpoint (local or test server); `None` uses the region's endpoint.
        endpoint_url: Option<String>,
    },
    /// The embedded database file.
    Embedded {
        /// The database file.
        path: PathBuf,
    },
}

impl StoreSettings {
    pub(crate) fn from_vars<'a>(
        profile: Profile,
        get: &dyn Fn(&str) -> Option<&'a str>,
        data_dir: &Path,
    ) -> Result<Self, ConfigError> {
        let endpoint_url = get("DYNAMODB_ENDPOINT_URL").map(str::to_owned);
        let backend = match (get("STORE"), profile, &endpoint_url) {
            (Some(name), _, _) => name,
            (None, Profile::Lambda, _) | (None, Profile::Local, Some(_)) => "dynamodb",
            (None, Profile::Local, None) => "embedded",
        };
        match backend {
            "dynamodb" => Ok(Self::DynamoDb {
                table_prefix: get("TABLE_PREFIX").unwrap_or("memory-mcp-").to_owned(),
                endpoint_url,
            }),
            "embedded" => Ok(Self::Embedded {
                path: data_dir.join("store.redb"),
            }),
            other => Err(ConfigError::Invalid {
                name: "STORE",
                value: other.to_owned(),
                reason: "expected dynamodb or embedded".into(),
            }),
        }
    }

    /// Opens the store these settings describe.
    pub async fn open(&self) -> StoreResult<Arc<dyn Store>> {
        Ok(match self {
            Self::DynamoDb {
                table_prefix,
                endpoint_url,
            } => Arc::new(DynamoStore::connect(table_prefix, endpoint_url.as_deref()).await),
            Self::Embedded { path } => Arc::new(EmbeddedStore::open(path)?),
        })
    }
}

/// Persistence for every entity. Methods that read take `now` so that expiry is decided by the
/// caller's clock (a test's fake clock, or the system clock).
#[async_trait]
pub trait Store: Send + Sync {
    /// A short name for `/status`: `dynamodb` or `embedded`.
    fn backend(&self) -> &'static str;

    /// Checks that the backend answers and every table exists.
    async fn ping(&self) -> StoreResult<()>;

    // --- clients ---

    /// Registers a client; [`StoreError::Conflict`] if the id is taken.
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    /// A client, unless unknown or lapsed.
    async fn get_client(&self, client_id: &str, now: Timestamp) -> StoreResult<Option<Client>>;
    /// Replaces an existing client; [`StoreError::NotFound`] if absent.
    async fn update_client(&self, client: &Client) -> StoreResult<()>;
    /// Deletes a client; whether it existed.
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
    /// Lists clients (including lapsed ones not yet deleted), `limit` at a time.
    async fn list_clients(&self, cursor: Option<&str>, limit: usize) -> StoreResult<Page<Client>>;

    // --- authorization codes ---

    /// Stores a new code; [`StoreError::Conflict`] if the hash exists.
    async fn put_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// Removes and returns the code if it exists and has not lapsed. At most one caller ever
    /// receives a given code.
    async fn consume_code(&self, code_hash: &str, now: Timestamp) -> StoreResult<Option<AuthCode>>;

    // --- grants and refresh tokens ---

    /// Creates a grant with its first refresh token, both or neither.
    async fn create_grant(&self, grant: &Grant, token: &RefreshToken) -> StoreResult<()>;
    /// A grant, unless unknown, revoked or lapsed.
    async fn get_grant(&self, grant_id: &str, now: Timestamp) -> StoreResult<Option<Grant>>;
    /// A user's live grants.
    async fn list_grants(&self, user_id: &str, now: Timestamp) -> StoreResult<Vec<Grant>>;
    /// A refresh token record (used or not), unless unknown or lapsed.
    async fn get_refresh_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<RefreshToken>>;
    /// Exchanges `old_hash` for `new` (which must name the same grant). Atomic: the old token is
    /// marked used, the new one written and the grant's expiry moved to the new token's (a
    /// grant lapses with its newest refresh token), or nothing changes. A used `old_hash`
    /// revokes the grant and answers [`Rotation::Reused`].
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshToken,
        now: Timestamp,
    ) -> StoreResult<Rotation>;
    /// Revokes a grant and with it every refresh token of its family; whether it existed.
    async fn revoke_grant(&self, grant_id: &str) -> StoreResult<bool>;

    // --- users ---

    /// Creates a user; [`StoreError::Conflict`] if the e-mail address is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// A user by normalised e-mail address.
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// A user by id.
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// Replaces an existing user (same e-mail); [`StoreError::NotFound`] if absent.
    async fn update_user(&self, user: &User) -> StoreResult<()>;

    // --- consents ---

    /// Records (or replaces) a user's consent for a client.
    async fn put_consent(&self, consent: &Consent) -> StoreResult<()>;
    /// A user's consent for a client.
    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Option<Consent>>;
    /// A user's consents.
    async fn list_consents(&self, user_id: &str) -> StoreResult<Vec<Consent>>;
    /// Withdraws a consent; whether it existed.
    async fn delete_consent(&self, user_id: &str, client_id: &str) -> StoreResult<bool>;

    // --- memories ---

    /// Stores memories (all of them or none; at most [`MAX_BATCH`]).
    async fn add_memories(&self, memories: &[Memory]) -> StoreResult<()>;
    /// One user's memories, newest first.
    async fn list_memories(
        &self,
        user_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Memory>>;
    /// Every memory of one user (for ranking), newest first.
    async fn all_memories(&self, user_id: &str) -> StoreResult<Vec<Memory>>;
    /// Deletes those of `memory_ids` that belong to `user_id`; the ids actually deleted.
    async fn delete_memories(
        &self,
        user_id: &str,
        memory_ids: &[String],
    ) -> StoreResult<Vec<String>>;
    /// Deletes every memory of `user_id`; how many.
    async fn delete_all_memories(&self, user_id: &str) -> StoreResult<usize>;
}

/// The most memories one [`Store::add_memories`] call takes (DynamoDB's transaction limit).
pub const MAX_BATCH: usize = 25;
