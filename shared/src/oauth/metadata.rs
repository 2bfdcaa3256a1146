//! Discovery documents: authorization server metadata (RFC 8414 §2, also served as the OpenID
//! configuration) and protected resource metadata (RFC 9728 §2). They advertise exactly what
//! this server implements.

use serde_json::{Value, json};

use super::client_metadata::{AUTH_METHODS, GRANT_TYPES};
use super::prompt;
use super::scope::SUPPORTED;
use crate::config::BaseUrl;

/// The canonical MCP URL (the resource, and every access token's audience).
pub fn mcp_url(base: &BaseUrl) -> String {
    base.join("/mcp")
}

/// RFC 8414 authorization server metadata.
pub fn authorization_server(base: &BaseUrl) -> Value {
    json!({
        "issuer": base.as_str(),
        "authorization_endpoint": base.join("/authorize"),
        "token_endpoint": base.join("/token"),
        "registration_endpoint": base.join("/register"),
        "revocation_endpoint": base.join("/revoke"),
        "introspection_endpoint": base.join("/introspect"),
        "jwks_uri": base.join("/.well-known/jwks.json"),
        "scopes_supported": SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "prompt_values_supported": prompt::SUPPORTED,
        "grant_types_supported": GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
        "subject_types_supported": ["public"],
    })
}

/// RFC 9728 protected resource metadata for the MCP endpoint.
pub fn protected_resource(base: &BaseUrl) -> Value {
    json!({
        "resource": mcp_url(base),
        "authorization_servers": [base.as_str()],
        "scopes_supported": SUPPORTED,
        "bearer_methods_supported": ["header"],
        "resource_name": "Memory",
    })
}
