//! The token endpoint (OAuth 2.1 §4.1.3, §4.3), revocation (RFC 7009) and introspection
//! (RFC 7662).
//!
//! `authorization_code`: the code is consumed atomically first, so a replay or a race never
//! yields a second token, then checked against the client, redirect URI, PKCE verifier and
//! resource. `refresh_token`: rotated on every use; a reused token revokes its whole grant.
//! Access tokens are RFC 9068 JWTs for the canonical MCP URL. Every response is `no-store`.

use ::http::StatusCode;
use serde_json::json;

use crate::config::BaseUrl;
use crate::crypto::{random_token, sha256_hex};
use crate::http::{self, Request, Response};
use crate::oauth::client_auth::{self, AuthFailure};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::jwt::{self, AccessClaims};
use crate::oauth::params::Params;
use crate::oauth::scope::Scope;
use crate::oauth::{metadata, pkce, resource_matches};
use crate::state::State;
use crate::store::{Client, Grant, RefreshToken, Rotation, new_id};

fn fail(error: OAuthError) -> Response {
    error.into_response(false)
}

fn auth_failed(failure: AuthFailure) -> Response {
    failure.error.into_response(failure.basic)
}

/// The form parameters of a token-style request, or the error response.
fn form(req: &Request) -> Result<Params, Response> {
    if !http::content_type_is(req, "application/x-www-form-urlencoded") {
        return Err(fail(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        )));
    }
    let body = std::str::from_utf8(req.body().as_ref())
        .map_err(|_| fail(OAuthError::invalid_request("the body is not UTF-8")))?;
    Params::parse(body).map_err(|e| fail(OAuthError::invalid_request(e)))
}

/// Parses the form and authenticates the client.
async fn client_and_form(state: &State, req: &Request) -> Result<(Client, Params), Response> {
    let params = form(req)?;
    let authorization = http::header(req, ::http::header::AUTHORIZATION);
    let client = client_auth::authenticate(state, authorization, &params)
        .await
        .map_err(auth_failed)?;
    Ok((client, params))
}

/// `POST /token`.
pub async fn token(state: &State, req: &Request) -> Response {
    let base = match http::require_base_url(state, req) {
        Ok(base) => base,
        Err(response) => return response,
    };
    let (client, params) = match client_and_form(state, req).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = match params.get("grant_type") {
        Some("authorization_code") => authorization_code(state, &base, &client, &params).await,
        Some("refresh_token") => refresh(state, &base, &client, &params).await,
        Some(other) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type {other:?} is not supported"),
        )),
        None => Err(OAuthError::invalid_request("grant_type is required")),
    };
    match result {
        Ok(body) => {
            let mut response = http::json(StatusCode::OK, &body);
            http::no_store(&mut response);
            response.headers_mut().insert(
                ::http::header::PRAGMA,
                ::http::HeaderValue::from_static("no-cache"),
            );
            http::cors(&mut response);
            response
        }
        Err(error) => {
            if error.code != ErrorCode::TemporarilyUnavailable {
                tracing::info!(client_id = %client.client_id, error = %error, "token request refused");
            }
            fail(error)
        }
    }
}

fn check_resource(params: &Params, expected: &str) -> Result<(), OAuthError> {
    match params.get("resource") {
        Some(r) if !resource_matches(r, expected) => Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            format!("resource {r:?} does not match the grant's resource"),
        )),
        _ => Ok(()),
    }
}

fn grant_allowed(client: &Client, grant_type: &str) -> Result<(), OAuthError> {
    if client.metadata.grant_types.iter().any(|g| g == grant_type) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("the client did not register the {grant_type} grant"),
        ))
    }
}

async fn authorization_code(
    state: &State,
    base: &BaseUrl,
    client: &Client,
    params: &Params,
) -> Result<serde_json::Value, OAuthError> {
    grant_allowed(client, "authorization_code")?;
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let now = state.clock.now();
    let invalid = |why: &'static str| OAuthError::new(ErrorCode::InvalidGrant, why);
    let record = state
        .store
        .consume_code(&sha256_hex(code), now)
        .await
        .map_err(|e| OAuthError::unavailable(&e))?
        .ok_or_else(|| invalid("the authorization code is invalid, expired or already used"))?;
    if record.client_id != client.client_id {
        return Err(invalid(
            "the authorization code was issued to another client",
        ));
    }
    if params
        .get("redirect_uri")
        .is_some_and(|uri| uri != record.redirect_uri)
    {
        return Err(invalid(
            "redirect_uri does not match the authorization request",
        ));
    }
    if !pkce::verify(verifier, &record.code_challenge) {
        return Err(invalid("code_verifier does not match the code_challenge"));
    }
    check_resource(params, &record.resource)?;

    let refresh_ttl = state.config.oauth.refresh_token_ttl;
    let grant = Grant {
        grant_id: new_id(),
        user_id: record.user_id,
        client_id: client.client_id.clone(),
        scope: record.scope,
        resource: record.resource,
        created_at: now,
        expires_at: now + refresh_ttl,
    };
    let (refresh_token, stored) = new_refresh_token(&grant.grant_id, now, refresh_ttl)?;
    state
        .store
        .create_grant(&grant, &stored)
        .await
        .map_err(|e| OAuthError::unavailable(&e))?;
    keep_client(state, client, now + refresh_ttl).await;
    tracing::info!(client_id = %client.client_id, user_id = %grant.user_id, grant_id = %grant.grant_id, "tokens issued");
    issue(state, base, &grant, &grant.scope, &refresh_token, now)
}

async fn refresh(
    state: &State,
    base: &BaseUrl,
    client: &Client,
    params: &Params,
) -> Result<serde_json::Value, OAuthError> {
    grant_allowed(client, "refresh_token")?;
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let now = state.clock.now();
    let invalid = |why: &'static str| OAuthError::new(ErrorCode::InvalidGrant, why);
    let unavailable = |e: crate::store::StoreError| OAuthError::unavailable(&e);
    let old_hash = sha256_hex(presented);
    let token = state
        .store
        .get_refresh_token(&old_hash, now)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| invalid("the refresh token is invalid or expired"))?;
    // Bind to the client before rotating, so another client cannot burn someone's token.
    let grant = state
        .store
        .get_grant(&token.grant_id, now)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| invalid("the refresh token has been revoked"))?;
    if grant.client_id != client.client_id {
        return Err(invalid("the refresh token was issued to another client"));
    }
    check_resource(params, &grant.resource)?;
    let scope = match params.get("scope") {
        Some(raw) => {
            let asked =
                Scope::parse(raw).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
            let granted = Scope::parse(&grant.scope).unwrap_or_default();
            if !granted.contains_all(&asked) || asked.is_empty() {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "the requested scope exceeds the grant",
                ));
            }
            asked.to_string()
        }
        None => grant.scope.clone(),
    };
    let refresh_ttl = state.config.oauth.refresh_token_ttl;
    let (next, stored) = new_refresh_token(&grant.grant_id, now, refresh_ttl)?;
    match state
        .store
        .rotate_refresh_token(&old_hash, &stored, now)
        .await
        .map_err(unavailable)?
    {
        Rotation::Rotated { .. } => {
            keep_client(state, client, now + refresh_ttl).await;
            issue(state, base, &grant, &scope, &next, now)
        }
        Rotation::Reused { grant_id } => {
            state.grant_cache.forget(&grant_id);
            tracing::warn!(%grant_id, client_id = %client.client_id, "refresh token reused: grant revoked");
            Err(invalid(
                "the refresh token was already used; the grant has been revoked",
            ))
        }
        Rotation::Invalid => Err(invalid("the refresh token is invalid or expired")),
    }
}

/// A fresh refresh token of `grant_id`'s family: the value to hand out, and the record to store
/// (which holds only its hash).
fn new_refresh_token(
    grant_id: &str,
    now: i64,
    ttl: i64,
) -> Result<(String, RefreshToken), OAuthError> {
    let token = random_token().map_err(|e| OAuthError::unavailable(&e))?;
    let record = RefreshToken {
        token_hash: sha256_hex(&token),
        grant_id: grant_id.to_owned(),
        used: false,
        created_at: now,
        expires_at: now + ttl,
    };
    Ok((token, record))
}

/// Keeps a client that holds live tokens from lapsing as an unused registration: its expiry
/// moves with the newest refresh token (written at most about once a day).
async fn keep_client(state: &State, client: &Client, until: i64) {
    let Some(current) = client.expires_at else {
        return;
    };
    if current >= until - 86_400 {
        return;
    }
    let mut kept = client.clone();
    kept.expires_at = Some(until + 86_400);
    if let Err(err) = state.store.update_client(&kept).await {
        tracing::warn!(error = %err, client_id = %client.client_id, "could not extend the client's lifetime");
    }
}

fn issue(
    state: &State,
    base: &BaseUrl,
    grant: &Grant,
    scope: &str,
    refresh_token: &str,
    now: i64,
) -> Result<serde_json::Value, OAuthError> {
    let keys = state.keys.as_ref().map_err(|_| {
        tracing::error!("token request while the signing keys are not loaded");
        OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the server cannot sign tokens right now",
        )
    })?;
    let ttl = state.config.oauth.access_token_ttl;
    let claims = AccessClaims {
        iss: base.as_str().to_owned(),
        sub: grant.user_id.clone(),
        aud: grant.resource.clone(),
        client_id: grant.client_id.clone(),
        scope: scope.to_owned(),
        exp: now + ttl,
        iat: now,
        nbf: now,
        jti: new_id(),
        gid: grant.grant_id.clone(),
    };
    let access_token = jwt::sign(keys, &claims).map_err(|e| OAuthError::unavailable(&e))?;
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh_token,
        "scope": scope,
    }))
}

/// The grant a presented token (refresh token or access token) belongs to, if it is the
/// client's own.
async fn grant_of(
    state: &State,
    base: &BaseUrl,
    client: &Client,
    token: &str,
    hint: Option<&str>,
) -> Result<Option<(Grant, Option<AccessClaims>)>, OAuthError> {
    let now = state.clock.now();
    let unavailable = |e: crate::store::StoreError| OAuthError::unavailable(&e);
    let as_refresh = async {
        match state
            .store
            .get_refresh_token(&sha256_hex(token), now)
            .await
            .map_err(unavailable)?
        {
            Some(record) if !record.used => state
                .store
                .get_grant(&record.grant_id, now)
                .await
                .map_err(unavailable),
            _ => Ok(None),
        }
    };
    let looks_like_jwt = token.matches('.').count() == 2;
    if (hint != Some("access_token") || !looks_like_jwt)
        && let Some(grant) = as_refresh.await?
    {
        return Ok((grant.client_id == client.client_id).then_some((grant, None)));
    }
    let Ok(keys) = &state.keys else {
        return Ok(None);
    };
    let Ok(claims) = jwt::verify(keys, token, base.as_str(), &metadata::mcp_url(base), now) else {
        return Ok(None);
    };
    if claims.client_id != client.client_id {
        return Ok(None);
    }
    let grant = state
        .store
        .get_grant(&claims.gid, now)
        .await
        .map_err(unavailable)?;
    Ok(grant.map(|g| (g, Some(claims))))
}

/// `POST /revoke` (RFC 7009): revokes the grant behind a refresh or access token. Answers 200
/// for unknown tokens too, so it reveals nothing.
pub async fn revoke(state: &State, req: &Request) -> Response {
    let base = match http::require_base_url(state, req) {
        Ok(base) => base,
        Err(response) => return response,
    };
    let (client, params) = match client_and_form(state, req).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(token) = params.get("token") else {
        return fail(OAuthError::invalid_request("token is required"));
    };
    let found = match grant_of(state, &base, &client, token, params.get("token_type_hint")).await {
        Ok(found) => found,
        Err(error) => return fail(error),
    };
    if let Some((grant, _)) = found {
        if let Err(err) = state.store.revoke_grant(&grant.grant_id).await {
            return fail(OAuthError::unavailable(&err));
        }
        state.grant_cache.forget(&grant.grant_id);
        tracing::info!(grant_id = %grant.grant_id, client_id = %client.client_id, "grant revoked");
    }
    let mut response = Response::new(lambda_http::Body::Empty);
    http::no_store(&mut response);
    http::cors(&mut response);
    response
}

/// `POST /introspect` (RFC 7662), for confidential clients: whether a token of theirs is
/// active, with its claims.
pub async fn introspect(state: &State, req: &Request) -> Response {
    let base = match http::require_base_url(state, req) {
        Ok(base) => base,
        Err(response) => return response,
    };
    let (client, params) = match client_and_form(state, req).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if client.client_secret_hash.is_none() {
        return fail(OAuthError::new(
            ErrorCode::InvalidClient,
            "introspection needs a confidential client",
        ));
    }
    let Some(token) = params.get("token") else {
        return fail(OAuthError::invalid_request("token is required"));
    };
    let body = match grant_of(state, &base, &client, token, params.get("token_type_hint")).await {
        Ok(Some((grant, Some(claims)))) => json!({
            "active": true, "token_type": "Bearer", "scope": claims.scope, "client_id": claims.client_id,
            "sub": claims.sub, "aud": claims.aud, "iss": claims.iss, "exp": claims.exp,
            "iat": claims.iat, "nbf": claims.nbf, "jti": claims.jti, "grant_id": grant.grant_id,
        }),
        Ok(Some((grant, None))) => json!({
            "active": true, "token_type": "refresh_token", "scope": grant.scope,
            "client_id": grant.client_id, "sub": grant.user_id, "aud": grant.resource,
            "iss": base.as_str(), "exp": grant.expires_at,
        }),
        Ok(None) => json!({ "active": false }),
        Err(error) => return fail(error),
    };
    let mut response = http::json(StatusCode::OK, &body);
    http::no_store(&mut response);
    response
}
