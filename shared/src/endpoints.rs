//! The route table and the dispatcher: which function serves which method and path.
//!
//! [`ROUTES`] is the one list of routes. Each Lambda binary dispatches only its own function's
//! routes; the local server dispatches all of them; the template check compares `template.yaml`
//! against this list. Paths are matched exactly (`/mcp` and `/mcp/` are separate entries, never
//! a redirect) with `{name}` standing for one path segment.

pub mod account;
pub mod authorize;
mod browser;
pub mod discovery;
pub mod mcp;
pub mod register;
pub mod status;
pub mod token;

use crate::http::{self, Request, Response};
use crate::state::State;

/// A Lambda function (endpoint group); each is one binary under `functions/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `functions/discovery`: metadata documents and the JWKS.
    Discovery,
    /// `functions/register`: dynamic client registration.
    Register,
    /// `functions/authorize`: sign-in, sign-up, consent, the account page.
    Authorize,
    /// `functions/token`: token, revocation, introspection.
    Token,
    /// `functions/mcp`: the MCP endpoint.
    Mcp,
    /// `functions/status`: liveness and readiness.
    Status,
}

impl Function {
    /// Every function that has a binary.
    pub const ALL: &'static [Function] = &[
        Function::Discovery,
        Function::Register,
        Function::Authorize,
        Function::Token,
        Function::Mcp,
        Function::Status,
    ];

    /// Whether the function signs or verifies tokens or cookies (and so reads the key secret).
    pub fn needs_signing_keys(self) -> bool {
        !matches!(self, Self::Register)
    }

    /// The binary (and directory) name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Register => "register",
            Self::Authorize => "authorize",
            Self::Token => "token",
            Self::Mcp => "mcp",
            Self::Status => "status",
        }
    }
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// CORS preflight for a public endpoint.
    Preflight,
    /// RFC 8414 / OpenID metadata.
    AuthorizationServerMetadata,
    /// RFC 9728 metadata.
    ProtectedResourceMetadata,
    /// The JWKS.
    Jwks,
    /// POST `/register`.
    Register,
    /// GET `/register/{client_id}`.
    RegistrationRead,
    /// PUT `/register/{client_id}`.
    RegistrationUpdate,
    /// DELETE `/register/{client_id}`.
    RegistrationDelete,
    /// GET/POST `/authorize`.
    Authorize,
    /// GET/POST `/account`: connected applications.
    Account,
    /// POST `/token`.
    Token,
    /// POST `/revoke`.
    Revoke,
    /// POST `/introspect`.
    Introspect,
    /// POST/GET/DELETE `/mcp` and `/mcp/`.
    Mcp,
    /// GET `/health`.
    Health,
    /// GET `/status`.
    Status,
}

/// One route: method and path template, served by `function`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The function that serves it.
    pub function: Function,
    /// HTTP method.
    pub method: &'static str,
    /// Path template.
    pub path: &'static str,
    /// The handler.
    pub endpoint: Endpoint,
}

const fn route(
    function: Function,
    method: &'static str,
    path: &'static str,
    endpoint: Endpoint,
) -> Route {
    Route {
        function,
        method,
        path,
        endpoint,
    }
}

/// Every route of the service.
pub const ROUTES: &[Route] = &[
    route(
        Function::Discovery,
        "GET",
        "/.well-known/oauth-authorization-server",
        Endpoint::AuthorizationServerMetadata,
    ),
    route(
        Function::Discovery,
        "OPTIONS",
        "/.well-known/oauth-authorization-server",
        Endpoint::Preflight,
    ),
    route(
        Function::Discovery,
        "GET",
        "/.well-known/openid-configuration",
        Endpoint::AuthorizationServerMetadata,
    ),
    route(
        Function::Discovery,
        "OPTIONS",
        "/.well-known/openid-configuration",
        Endpoint::Preflight,
    ),
    route(
        Function::Discovery,
        "GET",
        "/.well-known/oauth-protected-resource",
        Endpoint::ProtectedResourceMetadata,
    ),
    route(
        Function::Discovery,
        "OPTIONS",
        "/.well-known/oauth-protected-resource",
        Endpoint::Preflight,
    ),
    route(
        Function::Discovery,
        "GET",
        "/.well-known/oauth-protected-resource/mcp",
        Endpoint::ProtectedResourceMetadata,
    ),
    route(
        Function::Discovery,
        "OPTIONS",
        "/.well-known/oauth-protected-resource/mcp",
        Endpoint::Preflight,
    ),
    route(
        Function::Discovery,
        "GET",
        "/.well-known/jwks.json",
        Endpoint::Jwks,
    ),
    route(
        Function::Discovery,
        "OPTIONS",
        "/.well-known/jwks.json",
        Endpoint::Preflight,
    ),
    route(Function::Register, "POST", "/register", Endpoint::Register),
    route(
        Function::Register,
        "OPTIONS",
        "/register",
        Endpoint::Preflight,
    ),
    route(
        Function::Register,
        "GET",
        "/register/{client_id}",
        Endpoint::RegistrationRead,
    ),
    route(
        Function::Register,
        "PUT",
        "/register/{client_id}",
        Endpoint::RegistrationUpdate,
    ),
    route(
        Function::Register,
        "DELETE",
        "/register/{client_id}",
        Endpoint::RegistrationDelete,
    ),
    route(
        Function::Authorize,
        "GET",
        "/authorize",
        Endpoint::Authorize,
    ),
    route(
        Function::Authorize,
        "POST",
        "/authorize",
        Endpoint::Authorize,
    ),
    route(Function::Authorize, "GET", "/account", Endpoint::Account),
    route(Function::Authorize, "POST", "/account", Endpoint::Account),
    route(Function::Token, "POST", "/token", Endpoint::Token),
    route(Function::Token, "OPTIONS", "/token", Endpoint::Preflight),
    route(Function::Token, "POST", "/revoke", Endpoint::Revoke),
    route(Function::Token, "OPTIONS", "/revoke", Endpoint::Preflight),
    route(Function::Token, "POST", "/introspect", Endpoint::Introspect),
    route(Function::Mcp, "POST", "/mcp", Endpoint::Mcp),
    route(Function::Mcp, "GET", "/mcp", Endpoint::Mcp),
    route(Function::Mcp, "DELETE", "/mcp", Endpoint::Mcp),
    route(Function::Mcp, "OPTIONS", "/mcp", Endpoint::Preflight),
    route(Function::Mcp, "POST", "/mcp/", Endpoint::Mcp),
    route(Function::Mcp, "GET", "/mcp/", Endpoint::Mcp),
    route(Function::Mcp, "DELETE", "/mcp/", Endpoint::Mcp),
    route(Function::Mcp, "OPTIONS", "/mcp/", Endpoint::Preflight),
    route(Function::Status, "GET", "/health", Endpoint::Health),
    route(Function::Status, "GET", "/status", Endpoint::Status),
];

/// Whether `path` matches the template (`{name}` matches one non-empty segment).
pub fn path_matches(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// Serves one request among the routes of `only` (one function), or of every function.
/// Unknown paths answer 404, known paths with another method 405 (with `Allow`).
pub async fn dispatch(state: &State, only: Option<Function>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let candidates: Vec<&Route> = ROUTES
        .iter()
        .filter(|r| only.is_none_or(|f| r.function == f) && path_matches(r.path, &path))
        .collect();
    if candidates.is_empty() {
        return http::not_found();
    }
    let method = req.method().as_str();
    let Some(route) = candidates.iter().find(|r| r.method == method) else {
        let allowed: Vec<&str> = candidates.iter().map(|r| r.method).collect();
        return http::method_not_allowed(&allowed);
    };
    let last_segment = || path.rsplit('/').next().unwrap_or_default();
    match route.endpoint {
        Endpoint::Preflight => http::preflight(),
        Endpoint::AuthorizationServerMetadata => discovery::authorization_server(state, &req),
        Endpoint::ProtectedResourceMetadata => discovery::protected_resource(state, &req),
        Endpoint::Jwks => discovery::jwks(state),
        Endpoint::Register => register::register(state, &req).await,
        Endpoint::RegistrationRead => register::read(state, &req, last_segment()).await,
        Endpoint::RegistrationUpdate => register::update(state, &req, last_segment()).await,
        Endpoint::RegistrationDelete => register::delete(state, &req, last_segment()).await,
        Endpoint::Authorize => authorize::authorize(state, &req).await,
        Endpoint::Account => account::account(state, &req).await,
        Endpoint::Token => token::token(state, &req).await,
        Endpoint::Revoke => token::revoke(state, &req).await,
        Endpoint::Introspect => token::introspect(state, &req).await,
        Endpoint::Mcp => mcp::mcp(state, req).await,
        Endpoint::Health => status::health(),
        Endpoint::Status => status::status(state, &req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments_only() {
        assert!(path_matches("/health", "/health"));
        assert!(!path_matches("/health", "/health/"));
        assert!(!path_matches("/health", "/healthz"));
        assert!(path_matches("/register/{id}", "/register/abc"));
        assert!(!path_matches("/register/{id}", "/register/"));
        assert!(!path_matches("/register/{id}", "/register/a/b"));
    }

    #[test]
    fn every_route_belongs_to_a_function_with_a_binary() {
        for r in ROUTES {
            assert!(Function::ALL.contains(&r.function), "{r:?}");
        }
    }
}
