//! Client metadata validation for dynamic registration (RFC 7591 §2, §3.2.2): redirect URIs
//! HTTPS or loopback without fragments, consistent grant and response types, a known
//! authentication method (the default is `client_secret_basic`, RFC 7591 §2), bounded sizes.

use serde::Deserialize;

use super::error::{ErrorCode, OAuthError};
use super::{redirect, scope::Scope};
use crate::store::ClientMetadata;

/// At most this many redirect URIs per client.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest text field (name, URIs, ids).
pub const MAX_FIELD_LEN: usize = 2000;
/// Longest registration body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The authentication methods at the token endpoint.
pub const AUTH_METHODS: &[&str] = &["none", "client_secret_post", "client_secret_basic"];
/// The grant types.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token"];

#[derive(Deserialize)]
struct Request {
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    scope: Option<String>,
    contacts: Option<Vec<String>>,
    software_id: Option<String>,
    software_version: Option<String>,
}

fn bad(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description.into())
}

fn bounded(name: &str, value: Option<String>) -> Result<Option<String>, OAuthError> {
    match value {
        Some(v) if v.len() > MAX_FIELD_LEN => Err(bad(format!("{name} is too long"))),
        Some(v) if v.chars().any(char::is_control) => {
            Err(bad(format!("{name} contains control characters")))
        }
        other => Ok(other),
    }
}

fn https_uri(name: &str, value: Option<String>) -> Result<Option<String>, OAuthError> {
    let value = bounded(name, value)?;
    if let Some(uri) = &value
        && !uri.starts_with("https://")
    {
        return Err(bad(format!("{name} must be an https URL")));
    }
    Ok(value)
}

/// Validates a registration request body (JSON) into metadata to store.
pub fn validate(body: &[u8]) -> Result<ClientMetadata, OAuthError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(bad("the registration request is too large"));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| OAuthError::invalid_request("the body must be a JSON object"))?;
    if !value.is_object() {
        return Err(OAuthError::invalid_request(
            "the body must be a JSON object",
        ));
    }
    let req: Request = serde_json::from_value(value).map_err(|e| bad(format!("{e}")))?;

    let redirect_uris = req.redirect_uris.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "redirect_uris is required",
        ));
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            format!("at most {MAX_REDIRECT_URIS} redirect_uris"),
        ));
    }
    for uri in &redirect_uris {
        redirect::validate(uri).map_err(|e| OAuthError::new(ErrorCode::InvalidRedirectUri, e))?;
    }

    let method = req
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".into());
    if !AUTH_METHODS.contains(&method.as_str()) {
        return Err(bad(format!(
            "token_endpoint_auth_method must be one of {}",
            AUTH_METHODS.join(", ")
        )));
    }

    let grant_types = req
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if let Some(unknown) = grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(bad(format!("grant type {unknown:?} is not supported")));
    }
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(bad("grant_types must include authorization_code"));
    }
    let response_types = req.response_types.unwrap_or_else(|| vec!["code".into()]);
    if response_types != ["code"] {
        return Err(bad(
            "response_types must be [\"code\"] with the authorization_code grant",
        ));
    }

    let scope = match req.scope {
        Some(raw) => {
            let parsed = Scope::parse(&raw).map_err(bad)?;
            (!parsed.is_empty()).then(|| parsed.to_string())
        }
        None => None,
    };
    let contacts = req.contacts.unwrap_or_default();
    if contacts.len() > 10 || contacts.iter().any(|c| c.len() > 320) {
        return Err(bad("too many or too long contacts"));
    }

    Ok(ClientMetadata {
        redirect_uris,
        token_endpoint_auth_method: method,
        grant_types,
        response_types,
        client_name: bounded("client_name", req.client_name)?,
        client_uri: https_uri("client_uri", req.client_uri)?,
        logo_uri: https_uri("logo_uri", req.logo_uri)?,
        scope,
        contacts,
        software_id: bounded("software_id", req.software_id)?,
        software_version: bounded("software_version", req.software_version)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(body: &str) -> Option<&'static str> {
        validate(body.as_bytes()).err().map(|e| e.code.as_str())
    }

    #[test]
    fn a_claude_registration_is_accepted_with_its_method() -> Result<(), OAuthError> {
        let meta = validate(
            br#"{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],
                 "grant_types":["authorization_code","refresh_token"],"response_types":["code"],
                 "token_endpoint_auth_method":"none","scope":"memories:read memories:write"}"#,
        )?;
        assert_eq!(meta.token_endpoint_auth_method, "none");
        let default = validate(br#"{"redirect_uris":["http://127.0.0.1:4000/cb"]}"#)?;
        assert_eq!(default.token_endpoint_auth_method, "client_secret_basic");
        assert_eq!(default.grant_types, vec!["authorization_code"]);
        Ok(())
    }

    #[test]
    fn bad_metadata_gets_the_rfc_7591_error() {
        assert_eq!(code_of("{}"), Some("invalid_redirect_uri"));
        assert_eq!(
            code_of(r#"{"redirect_uris":["http://evil.example/cb"]}"#),
            Some("invalid_redirect_uri")
        );
        assert_eq!(
            code_of(r#"{"redirect_uris":["https://a.example/cb#x"]}"#),
            Some("invalid_redirect_uri")
        );
        assert_eq!(
            code_of(r#"{"redirect_uris":"https://a.example/cb"}"#),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            code_of(
                r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#
            ),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            code_of(r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]}"#),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            code_of(r#"{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}"#),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            code_of(r#"{"redirect_uris":["https://a.example/cb"],"scope":"admin"}"#),
            Some("invalid_client_metadata")
        );
        assert_eq!(code_of("[1]"), Some("invalid_request"));
        assert_eq!(code_of("not json"), Some("invalid_request"));
    }
}
