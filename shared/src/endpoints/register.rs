//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).
//!
//! The requested `token_endpoint_auth_method` is honoured and echoed; a `client_secret` is
//! issued only for the secret methods. Secrets and registration access tokens are stored as
//! SHA-256 hashes. A new dynamic client lapses after `UNUSED_CLIENT_TTL_SECONDS` unless it
//! obtains a token (Claude registers a fresh client on every new connection).

use ::http::StatusCode;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::crypto::{random_token, sha256_hex};
use crate::http::{self, Request, Response};
use crate::oauth::client_metadata;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::state::State;
use crate::store::{Client, StoreError};

fn respond(error: OAuthError) -> Response {
    error.into_response(false)
}

fn client_json(client: &Client, base: &crate::config::BaseUrl) -> Value {
    let mut body = serde_json::to_value(&client.metadata).unwrap_or_else(|_| json!({}));
    body["client_id"] = json!(client.client_id);
    body["client_id_issued_at"] = json!(client.created_at);
    body["registration_client_uri"] = json!(base.join(&format!("/register/{}", client.client_id)));
    if client.client_secret_hash.is_some() {
        body["client_secret_expires_at"] = json!(0);
    }
    body
}

/// `POST /register`.
pub async fn register(state: &State, req: &Request) -> Response {
    let base = match http::require_base_url(state, req) {
        Ok(base) => base,
        Err(response) => return response,
    };
    if !http::content_type_is(req, "application/json") {
        return respond(OAuthError::invalid_request(
            "the body must be application/json",
        ));
    }
    let metadata = match client_metadata::validate(req.body().as_ref()) {
        Ok(metadata) => metadata,
        Err(error) => return respond(error),
    };
    let (Ok(secret), Ok(registration_token)) = (random_token(), random_token()) else {
        return http::unavailable();
    };
    let secret = (metadata.token_endpoint_auth_method != "none").then_some(secret);
    let now = state.clock.now();
    let client = Client {
        client_id: format!("mcp-{}", uuid::Uuid::new_v4().simple()),
        client_secret_hash: secret.as_deref().map(sha256_hex),
        registration_token_hash: Some(sha256_hex(&registration_token)),
        metadata,
        created_at: now,
        expires_at: Some(now + state.config.oauth.unused_client_ttl),
    };
    if let Err(err) = state.store.create_client(&client).await {
        return respond(OAuthError::unavailable(&err));
    }
    tracing::info!(
        client_id = %client.client_id,
        method = %client.metadata.token_endpoint_auth_method,
        name = client.metadata.client_name.as_deref().unwrap_or(""),
        "client registered"
    );
    let mut body = client_json(&client, &base);
    body["registration_access_token"] = json!(registration_token);
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
    }
    let mut response = http::json(StatusCode::CREATED, &body);
    http::no_store(&mut response);
    http::cors(&mut response);
    response
}

/// The client a registration access token (RFC 7592 §3) manages, or the error to send.
async fn managed_client(state: &State, req: &Request, client_id: &str) -> Result<Client, Response> {
    let invalid = || {
        let mut response =
            OAuthError::new(ErrorCode::InvalidToken, "invalid registration access token")
                .into_response(false);
        response.headers_mut().insert(
            ::http::header::WWW_AUTHENTICATE,
            ::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        response
    };
    let token = http::header(req, ::http::header::AUTHORIZATION)
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(invalid)?;
    let client = match state.store.get_client(client_id, state.clock.now()).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(invalid()),
        Err(err) => return Err(respond(OAuthError::unavailable(&err))),
    };
    let presented = sha256_hex(token.trim());
    let matches = client
        .registration_token_hash
        .as_deref()
        .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(presented.as_bytes())));
    if matches { Ok(client) } else { Err(invalid()) }
}

/// `GET /register/{client_id}`: the registered metadata.
pub async fn read(state: &State, req: &Request, client_id: &str) -> Response {
    let base = match http::require_base_url(state, req) {
        Ok(base) => base,
        Err(response) => return response,
    };
    match managed_client(state, req, client_id).await {
        Ok(client) => {
            let mut response = http::json(StatusCode::OK, &client_json(&client, &base));
            http::no_store(&mut response);
            response
        }
        Err(response) => response,
    }
}

/// `PUT /register/{client_id}`: replaces the metadata (the secret and id stay).
pub async fn update(state: &State, req: &Request, client_id: &str) -> Response {
    let base = match http::require_base_url(state, req) {
        Ok(base) => base,
        Err(response) => return response,
    };
    let mut client = match managed_client(state, req, client_id).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let metadata = match client_metadata::validate(req.body().as_ref()) {
        Ok(metadata) => metadata,
        Err(error) => return respond(error),
    };
    if (metadata.token_endpoint_auth_method == "none") != client.client_secret_hash.is_none() {
        return respond(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "token_endpoint_auth_method cannot switch between public and secret",
        ));
    }
    client.metadata = metadata;
    match state.store.update_client(&client).await {
        Ok(()) => {
            let mut response = http::json(StatusCode::OK, &client_json(&client, &base));
            http::no_store(&mut response);
            response
        }
        Err(StoreError::NotFound) => http::not_found(),
        Err(err) => respond(OAuthError::unavailable(&err)),
    }
}

/// `DELETE /register/{client_id}`: deregisters the client.
pub async fn delete(state: &State, req: &Request, client_id: &str) -> Response {
    if let Err(response) = managed_client(state, req, client_id).await {
        return response;
    }
    match state.store.delete_client(client_id).await {
        Ok(_) => {
            let mut response = Response::new(lambda_http::Body::Empty);
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Err(err) => respond(OAuthError::unavailable(&err)),
    }
}
