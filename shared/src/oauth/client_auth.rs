//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3.1):
//! `client_secret_basic` (HTTP Basic with form-urlencoded id and secret), `client_secret_post`
//! (body parameters) and `none` (public clients name themselves with `client_id`).
//!
//! A client registered with a secret must present it, by either secret method: clients
//! disagree about which one they registered, and both carry the same secret. Secrets are compared
//! as SHA-256 digests in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq as _;

use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use crate::crypto::sha256_hex;
use crate::state::{ClientLookupError, State};
use crate::store::Client;

/// A failed authentication, and whether the client tried HTTP Basic (it then gets a
/// `WWW-Authenticate: Basic` challenge).
pub struct AuthFailure {
    /// The error.
    pub error: OAuthError,
    /// Whether Basic was used.
    pub basic: bool,
}

fn invalid_client(basic: bool) -> AuthFailure {
    AuthFailure {
        error: OAuthError::new(ErrorCode::InvalidClient, "client authentication failed"),
        basic,
    }
}

fn parse_basic(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|mut v| v.pop())
            .map(|(_, v)| v)
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// Authenticates the client of a token-endpoint style request.
pub async fn authenticate(
    state: &State,
    authorization: Option<&str>,
    params: &Params,
) -> Result<Client, AuthFailure> {
    let basic = match authorization {
        Some(header) if header.len() > 6 && header[..6].eq_ignore_ascii_case("basic ") => {
            Some(parse_basic(header).ok_or_else(|| invalid_client(true))?)
        }
        _ => None,
    };
    let used_basic = basic.is_some();
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if params.get("client_secret").is_some() {
                return Err(AuthFailure {
                    error: OAuthError::invalid_request(
                        "more than one client authentication method",
                    ),
                    basic: true,
                });
            }
            if params.get("client_id").is_some_and(|p| p != id) {
                return Err(invalid_client(true));
            }
            (id, Some(secret))
        }
        None => match params.get("client_id") {
            Some(id) => (
                id.to_owned(),
                params.get("client_secret").map(str::to_owned),
            ),
            None => {
                return Err(AuthFailure {
                    error: OAuthError::new(ErrorCode::InvalidClient, "client_id is required"),
                    basic: false,
                });
            }
        },
    };
    let client = match state.find_client(&client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(invalid_client(used_basic)),
        Err(ClientLookupError::Document(err)) => {
            return Err(AuthFailure {
                error: OAuthError::new(ErrorCode::InvalidClient, err.to_string()),
                basic: used_basic,
            });
        }
        Err(ClientLookupError::Store(err)) => {
            return Err(AuthFailure {
                error: OAuthError::unavailable(&err),
                basic: used_basic,
            });
        }
    };
    match (&client.client_secret_hash, secret) {
        (Some(stored), Some(given)) => {
            let matches: bool = sha256_hex(&given)
                .as_bytes()
                .ct_eq(stored.as_bytes())
                .into();
            if matches {
                Ok(client)
            } else {
                Err(invalid_client(used_basic))
            }
        }
        (Some(_), None) => Err(invalid_client(used_basic)),
        // A public client: there is nothing to check beyond its id.
        (None, _) => Ok(client),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret"));
        assert_eq!(
            parse_basic(&header),
            Some(("my client".into(), "s:cret".into()))
        );
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
