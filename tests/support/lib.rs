//! Test support: stores on both backends and a `TestApp` that runs the local server in-process.
//!
//! The DynamoDB backend is a real DynamoDB-compatible server (moto's server mode) whose URL is
//! in `MEMORY_TEST_DYNAMODB_ENDPOINT`; `tests/run` starts it. Each test gets its own table
//! prefix, so tests run in parallel without seeing each other's data.

pub mod oauth;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use memory_mcp::clock::{Clock, FakeClock, SystemClock};
use memory_mcp::store::{DynamoStore, EmbeddedStore, Store};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The environment variable naming the DynamoDB-compatible test server.
pub const DYNAMODB_ENDPOINT_VAR: &str = "MEMORY_TEST_DYNAMODB_ENDPOINT";

/// A store backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The redb file.
    Embedded,
    /// DynamoDB (moto server).
    DynamoDb,
}

/// The test server's URL. Missing is a failure, not a skip: these tests must run in CI.
pub fn dynamodb_endpoint() -> String {
    match std::env::var(DYNAMODB_ENDPOINT_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{DYNAMODB_ENDPOINT_VAR} is not set: run the tests with tests/run, which starts a \
             DynamoDB-compatible server (moto) and sets it"
        ),
    }
}

/// A unique table prefix for one test.
pub fn unique_prefix() -> String {
    format!("t{}-", uuid::Uuid::new_v4().simple())
}

/// A fresh, empty store of `backend`, with whatever keeps it alive.
pub async fn store(backend: Backend) -> anyhow::Result<(Arc<dyn Store>, Option<TempDir>)> {
    Ok(match backend {
        Backend::Embedded => {
            let dir = tempfile::tempdir()?;
            let store = EmbeddedStore::open(&dir.path().join("store.redb"))?;
            (Arc::new(store), Some(dir))
        }
        Backend::DynamoDb => {
            let store = DynamoStore::connect(&unique_prefix(), Some(&dynamodb_endpoint())).await;
            store.ensure_tables().await?;
            (Arc::new(store), None)
        }
    })
}

/// The local server, running in this process on a free port.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// An HTTP client that does not follow redirects.
    pub http: reqwest::Client,
    /// The server's state (to seed or inspect the store).
    pub state: Arc<memory_mcp::State>,
    _data: TempDir,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// Starts the local server on `backend` with extra configuration `vars`.
    pub async fn spawn(backend: Backend, vars: &[(&str, &str)]) -> anyhow::Result<Self> {
        let (env, data) = Self::env(backend, vars)?;
        Self::start(env, data, Arc::new(SystemClock)).await
    }

    /// Starts the local server with exactly the configuration `env` (which names the store).
    pub async fn spawn_with(env: HashMap<String, String>) -> anyhow::Result<Self> {
        Self::start(env, tempfile::tempdir()?, Arc::new(SystemClock)).await
    }

    /// Starts the local server on `backend` with a clock the test moves.
    pub async fn spawn_with_clock(
        backend: Backend,
        vars: &[(&str, &str)],
    ) -> anyhow::Result<(Self, Arc<FakeClock>)> {
        let clock = Arc::new(FakeClock::new(SystemClock.now()));
        let (env, data) = Self::env(backend, vars)?;
        let app = Self::start(env, data, clock.clone()).await?;
        Ok((app, clock))
    }

    fn env(
        backend: Backend,
        vars: &[(&str, &str)],
    ) -> anyhow::Result<(HashMap<String, String>, TempDir)> {
        let data = tempfile::tempdir()?;
        let mut env: HashMap<String, String> =
            HashMap::from([("DATA_DIR".to_owned(), data.path().display().to_string())]);
        if backend == Backend::DynamoDb {
            env.insert("DYNAMODB_ENDPOINT_URL".into(), dynamodb_endpoint());
            env.insert("TABLE_PREFIX".into(), unique_prefix());
        }
        for (k, v) in vars {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        Ok((env, data))
    }

    async fn start(
        env: HashMap<String, String>,
        data: TempDir,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        memory_mcp::crypto::install_tls_provider();
        let server = local::bind_with_clock(0, env, clock).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (base_url, state) = (server.base_url.clone(), Arc::clone(&server.state));
        let server = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            base_url,
            http,
            state,
            _data: data,
            stop,
            server,
        })
    }

    /// Stops the server and waits until nothing of it holds the store any more (the embedded
    /// file can then be opened by another process or command). Dropping a `TestApp` stops the
    /// server too, without waiting.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Self {
            state,
            stop,
            server,
            ..
        } = self;
        let _ = stop.send(());
        server.await?;
        // The last connection task lets go of its state just after the server is told it ended.
        for _ in 0..500 {
            if Arc::strong_count(&state) == 1 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!("the stopped server still holds its state after 5 s")
    }

    /// The URL of `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// The claims of a JWT, decoded without verification (to inspect what was issued).
pub fn oauth_claims(jwt: &str) -> anyhow::Result<serde_json::Value> {
    use base64::Engine as _;
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Generates one `#[tokio::test]` per backend for each named `async fn(Backend)` test, in
/// modules `embedded` and `dynamodb`, so one suite runs against both.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($crate::Backend::Embedded).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($crate::Backend::DynamoDb).await
                }
            )*
        }
    };
}
