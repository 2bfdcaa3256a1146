//! Application state, built once per process (cold start) and shared by every request.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, KeySource};
use crate::crypto::{KeyError, SigningKeys};
use crate::mcp::guard::GrantCache;
use crate::oauth::cimd::{CimdError, Resolver, is_document_url};
use crate::store::{Client, Store, StoreError};

/// A startup failure: the process cannot serve at all.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
}

/// Everything a handler needs.
pub struct State {
    /// The configuration.
    pub config: Config,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The signing keys, or why they could not be loaded (reported by `/status`).
    pub keys: Result<Arc<SigningKeys>, Arc<KeyError>>,
    /// Recently checked grants (bearer guard).
    pub grant_cache: GrantCache,
    /// Client metadata documents (URL client ids).
    pub cimd: Resolver,
}

/// Why a client could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum ClientLookupError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client's metadata document could not be used.
    #[error(transparent)]
    Document(#[from] CimdError),
}

impl State {
    /// Opens the store and loads the signing keys named by `config`. A key that cannot be
    /// loaded does not stop the process: `/status` reports it and token issuance refuses.
    pub async fn new(config: Config) -> Result<Self, StartupError> {
        let store = config.store.open().await?;
        Ok(Self::with_store(config, store).await)
    }

    /// Like [`State::new`], without loading signing keys (for a function that never signs or
    /// verifies, so it needs no access to the secret).
    pub async fn without_keys(config: Config) -> Result<Self, StartupError> {
        let store = config.store.open().await?;
        let keys = Err(Arc::new(KeyError::NotUsed));
        Ok(Self::from_parts(config, store, Arc::new(SystemClock), keys))
    }

    /// Like [`State::new`] with a store the caller opened (the local server prepares its tables).
    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> Self {
        Self::with_store_and_clock(config, store, Arc::new(SystemClock)).await
    }

    /// Like [`State::with_store`] with a clock of the caller's (tests move a fake one).
    pub async fn with_store_and_clock(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let keys = load_keys(&config.signing_keys)
            .await
            .map(Arc::new)
            .map_err(|err| {
                tracing::error!(error = %err, "signing keys could not be loaded");
                Arc::new(err)
            });
        Self::from_parts(config, store, clock, keys)
    }

    /// A state from ready parts (tests use a fake clock or a prepared store).
    pub fn from_parts(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        keys: Result<Arc<SigningKeys>, Arc<KeyError>>,
    ) -> Self {
        let grant_cache = GrantCache::new(Duration::from_secs(config.mcp.grant_cache_seconds));
        let cimd = Resolver::new(config.oauth.cimd_allow_http_loopback);
        Self {
            config,
            store,
            clock,
            keys,
            grant_cache,
            cimd,
        }
    }

    /// A client by id: a registered one from the store, or, for a URL id, the client its
    /// metadata document describes. `None` for an unknown or lapsed registration.
    pub async fn find_client(&self, client_id: &str) -> Result<Option<Client>, ClientLookupError> {
        let now = self.clock.now();
        if is_document_url(client_id) {
            return Ok(Some(self.cimd.resolve(client_id, now).await?));
        }
        Ok(self.store.get_client(client_id, now).await?)
    }
}

async fn load_keys(source: &KeySource) -> Result<SigningKeys, KeyError> {
    match source {
        KeySource::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || SigningKeys::load_or_generate(&path))
                .await
                .map_err(|e| KeyError::Malformed(e.to_string()))?
        }
        KeySource::Secret(id) => {
            let client = aws_sdk_secretsmanager::Client::new(crate::aws::defaults().await);
            let secret = client
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| KeyError::Secret(Box::new(e)))?;
            let json = secret
                .secret_string()
                .ok_or_else(|| KeyError::Malformed("the secret holds no string".into()))?;
            SigningKeys::from_json(json)
        }
    }
}
