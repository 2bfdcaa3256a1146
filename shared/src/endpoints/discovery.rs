//! Discovery: RFC 8414 authorization server metadata (also at the OpenID configuration path),
//! RFC 9728 protected resource metadata at the root and path-inserted (`/mcp`) locations, and
//! the JWKS. All public, cacheable for five minutes, readable cross-origin.

use ::http::StatusCode;
use ::http::header::{CACHE_CONTROL, HeaderValue};

use crate::http::{self, Request, Response};
use crate::oauth::{jwt, metadata};
use crate::state::State;

fn public(mut response: Response) -> Response {
    http::cors(&mut response);
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub fn authorization_server(state: &State, req: &Request) -> Response {
    match http::require_base_url(state, req) {
        Ok(base) => public(http::json(
            StatusCode::OK,
            &metadata::authorization_server(&base),
        )),
        Err(response) => response,
    }
}

/// `GET /.well-known/oauth-protected-resource[/mcp]`.
pub fn protected_resource(state: &State, req: &Request) -> Response {
    match http::require_base_url(state, req) {
        Ok(base) => public(http::json(
            StatusCode::OK,
            &metadata::protected_resource(&base),
        )),
        Err(response) => response,
    }
}

/// `GET /.well-known/jwks.json`.
pub fn jwks(state: &State) -> Response {
    match &state.keys {
        Ok(keys) => public(http::json(StatusCode::OK, &jwt::jwks(keys))),
        Err(_) => http::unavailable(),
    }
}
