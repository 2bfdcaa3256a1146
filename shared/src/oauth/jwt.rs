//! JWT access tokens (RFC 9068): `typ: at+jwt`, signed with the active Ed25519 key (`EdDSA`),
//! verified against every live key by `kid`. Expiry is checked against the caller's clock (so
//! tests can move time), with a small leeway for clock skew between containers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::SigningKeys;
use crate::store::Timestamp;

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const TYP: &str = "at+jwt";
/// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY: i64 = 30;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: this authorization server.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience: the canonical MCP URL (RFC 8707).
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Expiry.
    pub exp: Timestamp,
    /// Issued at.
    pub iat: Timestamp,
    /// Not before.
    pub nbf: Timestamp,
    /// Unique token id.
    pub jti: String,
    /// The grant the token belongs to, so a revoked grant's tokens can be refused.
    pub gid: String,
}

/// Why a token was refused (for logs; the client only ever sees `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a JWT, a wrong `typ` or `alg`, an unknown `kid`, or a bad signature.
    #[error("malformed or badly signed token: {0}")]
    Invalid(String),
    /// Issued by someone else.
    #[error("issuer mismatch: expected {expected}, got {got}")]
    Issuer {
        /// Our issuer.
        expected: String,
        /// The token's.
        got: String,
    },
    /// For another resource.
    #[error("audience mismatch: expected {expected}, got {got}")]
    Audience {
        /// Our MCP URL.
        expected: String,
        /// The token's.
        got: String,
    },
    /// Past `exp`, or before `nbf`.
    #[error("token expired or not yet valid")]
    Expired,
}

/// Signs `claims` with the active key.
pub fn sign(
    keys: &SigningKeys,
    claims: &AccessClaims,
) -> Result<String, jsonwebtoken::errors::Error> {
    let key = keys.active();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(TYP.into());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(key.pkcs8_der()))
}

/// Verifies signature, `typ`, `alg`, `iss`, `aud`, `exp` and `nbf`.
pub fn verify(
    keys: &SigningKeys,
    token: &str,
    issuer: &str,
    audience: &str,
    now: Timestamp,
) -> Result<AccessClaims, Rejection> {
    let invalid = |e: &dyn std::fmt::Display| Rejection::Invalid(e.to_string());
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(&e))?;
    if header.alg != Algorithm::EdDSA {
        return Err(Rejection::Invalid(format!(
            "alg {:?} is not accepted",
            header.alg
        )));
    }
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(Rejection::Invalid("typ is not at+jwt".into()));
    }
    let key = keys
        .all()
        .iter()
        .find(|k| header.kid.as_deref() == Some(k.kid.as_str()))
        .ok_or_else(|| Rejection::Invalid("unknown kid".into()))?;
    let decoding = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(&key.public_key))
        .map_err(|e| invalid(&e))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<AccessClaims>(token, &decoding, &validation)
        .map_err(|e| invalid(&e))?
        .claims;
    if claims.iss != issuer {
        return Err(Rejection::Issuer {
            expected: issuer.into(),
            got: claims.iss,
        });
    }
    if claims.aud != audience {
        return Err(Rejection::Audience {
            expected: audience.into(),
            got: claims.aud,
        });
    }
    if now >= claims.exp + LEEWAY || now + LEEWAY < claims.nbf {
        return Err(Rejection::Expired);
    }
    Ok(claims)
}

/// The JWKS (RFC 7517) of every live key, as OKP/Ed25519 keys (RFC 8037).
pub fn jwks(keys: &SigningKeys) -> serde_json::Value {
    let keys: Vec<serde_json::Value> = keys
        .all()
        .iter()
        .map(|k| {
            serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(&k.public_key),
                "kid": k.kid,
                "alg": "EdDSA",
                "use": "sig",
            })
        })
        .collect();
    serde_json::json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(seed: &str) -> SigningKeys {
        SigningKeys::from_json(&format!(r#"{{"seed":"{seed}"}}"#)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn claims(now: Timestamp) -> AccessClaims {
        AccessClaims {
            iss: "https://as.example".into(),
            sub: "user-1".into(),
            aud: "https://as.example/mcp".into(),
            client_id: "client-1".into(),
            scope: "memories:read".into(),
            exp: now + 3600,
            iat: now,
            nbf: now,
            jti: "j1".into(),
            gid: "g1".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_and_carries_at_jwt() -> Result<(), Box<dyn std::error::Error>> {
        let keys = keys("a seed for the tests that is long enough");
        let token = sign(&keys, &claims(1000))?;
        let header = jsonwebtoken::decode_header(&token)?;
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(keys.active().kid.as_str()));
        let verified = verify(
            &keys,
            &token,
            "https://as.example",
            "https://as.example/mcp",
            1000,
        );
        assert_eq!(verified, Ok(claims(1000)));
        Ok(())
    }

    #[test]
    fn wrong_audience_issuer_expiry_and_key_are_rejected() -> Result<(), Box<dyn std::error::Error>>
    {
        let keys1 = keys("a seed for the tests that is long enough");
        let keys2 = keys("another seed for the tests, long enough");
        let token = sign(&keys1, &claims(1000))?;
        let (iss, aud) = ("https://as.example", "https://as.example/mcp");
        assert!(matches!(
            verify(&keys1, &token, iss, "https://other/mcp", 1000),
            Err(Rejection::Audience { .. })
        ));
        assert!(matches!(
            verify(&keys1, &token, "https://evil", aud, 1000),
            Err(Rejection::Issuer { .. })
        ));
        assert_eq!(
            verify(&keys1, &token, iss, aud, 1000 + 3600 + LEEWAY),
            Err(Rejection::Expired)
        );
        assert!(verify(&keys1, &token, iss, aud, 1000 + 3600 + LEEWAY - 1).is_ok());
        assert!(matches!(
            verify(&keys2, &token, iss, aud, 1000),
            Err(Rejection::Invalid(_))
        ));
        Ok(())
    }
}
