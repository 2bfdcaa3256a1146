//! The local server: every function's handler on one port on 127.0.0.1, with the embedded
//! store by default or DynamoDB at a given endpoint (tables are created when missing).
//!
//! Requests are handed to the same [`memory_mcp::dispatch`] the Lambda functions use, as the
//! same `lambda_http::Request` type, so routes and behaviour mirror API Gateway exactly. The
//! request goes straight from hyper to the handler (no API Gateway event JSON in between, which
//! would cost more than the handler itself); the public origin comes from configuration.

pub mod admin;
pub mod smoke;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use lambda_http::Body;
use memory_mcp::clock::{Clock, SystemClock};
use memory_mcp::config::{Config, Profile};
use memory_mcp::store::{DynamoStore, Store, StoreSettings};
use memory_mcp::{State, dispatch};
use tokio::net::TcpListener;

/// The default port.
pub const DEFAULT_PORT: u16 = 8788;

/// API Gateway refuses larger payloads to Lambda (6 MB); so does the local server.
const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// How long a stopping server waits for the requests in flight (API Gateway's own limit on an
/// integration is 30 s; no handler here comes near it).
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A bound, configured server that has not started serving yet.
pub struct Server {
    listener: TcpListener,
    /// The state every request shares.
    pub state: Arc<State>,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

/// Binds 127.0.0.1:`port` (0 picks a free port) and builds the state from `vars` (the
/// environment, with command-line flags applied). Unless `PUBLIC_BASE_URL` is set, the public
/// origin is the bound address.
pub async fn bind(port: u16, vars: HashMap<String, String>) -> anyhow::Result<Server> {
    bind_with_clock(port, vars, Arc::new(SystemClock)).await
}

/// Like [`bind`], with the clock every handler reads (tests pass a fake one).
pub async fn bind_with_clock(
    port: u16,
    mut vars: HashMap<String, String>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Server> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let addr = listener.local_addr()?;
    vars.entry("PUBLIC_BASE_URL".into())
        .or_insert_with(|| format!("http://{addr}"));
    let config = Config::from_vars(Profile::Local, &vars)?;
    let store: Arc<dyn Store> = match &config.store {
        StoreSettings::DynamoDb {
            table_prefix,
            endpoint_url: Some(url),
        } => {
            let store = DynamoStore::connect(table_prefix, Some(url)).await;
            store
                .ensure_tables()
                .await
                .with_context(|| format!("creating tables at {url}"))?;
            Arc::new(store)
        }
        settings => settings.open().await?,
    };
    let base_url = config
        .public_base_url
        .as_ref()
        .map_or_else(|| format!("http://{addr}"), ToString::to_string);
    let state = Arc::new(State::with_store_and_clock(config, store, clock).await);
    Ok(Server {
        listener,
        state,
        base_url,
    })
}

impl Server {
    /// Serves until `shutdown` completes, then lets the requests in flight finish (closing idle
    /// keep-alive connections at once) for at most [`DRAIN_TIMEOUT`]. When it returns, no
    /// connection is served any more.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, _) = match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    continue;
                }
            };
            let state = Arc::clone(&self.state);
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(err) = conn.await {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
            });
        }
        drop(self.listener);
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("requests still running after the drain timeout were cut off");
        }
    }
}

async fn handle(state: &State, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let response = memory_mcp::http::error(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the request body is too large",
            );
            return into_hyper(response);
        }
    };
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(err) => Body::Binary(err.into_bytes()),
        }
    };
    let response = dispatch(state, None, lambda_http::Request::from_parts(parts, body)).await;
    into_hyper(response)
}

fn into_hyper(response: memory_mcp::http::Response) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = Bytes::copy_from_slice(body.as_ref());
    hyper::Response::from_parts(parts, Full::new(bytes))
}
