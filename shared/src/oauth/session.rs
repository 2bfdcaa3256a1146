//! The sign-in session cookie and the CSRF token of the sign-in and consent forms.
//!
//! Both are HMAC-SHA256 tagged with a key derived from the active signing key, so they need no
//! store and survive across Lambda containers. The session cookie is `HttpOnly`,
//! `SameSite=Lax`, `Secure` (except on a loopback origin, where browsers would drop it) and
//! `__Host-` prefixed when secure. The CSRF token is a double-submit value: a random nonce in a
//! `SameSite=Strict` cookie, tagged, that must equal the form's hidden `csrf` field.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::crypto::{SigningKeys, random_token};
use crate::store::Timestamp;

/// Cookie names for an origin.
#[derive(Debug, Clone, Copy)]
pub struct CookieNames {
    /// The session cookie.
    pub session: &'static str,
    /// The CSRF cookie.
    pub csrf: &'static str,
    /// Whether cookies get `Secure`.
    pub secure: bool,
}

impl CookieNames {
    /// Names for an origin: `__Host-` prefixed and `Secure` unless it is loopback.
    pub fn for_origin(loopback: bool) -> Self {
        if loopback {
            Self {
                session: "mcp_session",
                csrf: "mcp_csrf",
                secure: false,
            }
        } else {
            Self {
                session: "__Host-mcp_session",
                csrf: "__Host-mcp_csrf",
                secure: true,
            }
        }
    }
}

/// A signed-in user, as carried by the session cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user id.
    pub uid: String,
    /// When they signed in.
    pub auth_time: Timestamp,
    /// When the session ends.
    pub exp: Timestamp,
}

/// Signs and checks session cookies and CSRF tokens.
pub struct Sealer {
    key: hmac::Key,
}

impl Sealer {
    /// A sealer keyed from the active signing key.
    pub fn new(keys: &SigningKeys) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"memory-mcp cookies v1\0");
        hasher.update(keys.active().pkcs8_der());
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &hasher.finalize()),
        }
    }

    fn tag(&self, purpose: &str, payload: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(purpose.as_bytes());
        ctx.update(b"\0");
        ctx.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
    }

    fn check(&self, purpose: &str, sealed: &str) -> Option<String> {
        let (payload, tag) = sealed.rsplit_once('.')?;
        let want = self.tag(purpose, payload);
        bool::from(want.as_bytes().ct_eq(tag.as_bytes())).then(|| payload.to_owned())
    }

    /// The cookie value for `session`.
    pub fn seal_session(&self, session: &Session) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(session).unwrap_or_default());
        let tag = self.tag("session", &payload);
        format!("{payload}.{tag}")
    }

    /// The session in a cookie value, if authentic and not expired.
    pub fn open_session(&self, value: &str, now: Timestamp) -> Option<Session> {
        let payload = self.check("session", value)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let session: Session = serde_json::from_slice(&bytes).ok()?;
        (session.exp > now).then_some(session)
    }

    /// A new CSRF pair: (cookie value, form value).
    pub fn new_csrf(&self) -> Option<(String, String)> {
        let nonce = random_token().ok()?;
        let tag = self.tag("csrf", &nonce);
        Some((format!("{nonce}.{tag}"), nonce))
    }

    /// The nonce of an authentic CSRF cookie, so a page can reuse it (several tabs, or a
    /// re-rendered form, keep working).
    pub fn csrf_nonce(&self, cookie: Option<&str>) -> Option<String> {
        self.check("csrf", cookie?)
    }

    /// Whether the form's CSRF value matches the authentic cookie.
    pub fn check_csrf(&self, cookie: Option<&str>, form: Option<&str>) -> bool {
        let (Some(cookie), Some(form)) = (cookie, form) else {
            return false;
        };
        self.check("csrf", cookie)
            .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(form.as_bytes())))
    }
}

/// A `Set-Cookie` value.
pub fn set_cookie(
    names: &CookieNames,
    name: &str,
    value: &str,
    max_age: i64,
    same_site: &str,
) -> String {
    let secure = if names.secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}")
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        let keys = SigningKeys::from_json(r#"{"seed":"cookie test seed that is long enough"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        Sealer::new(&keys)
    }

    #[test]
    fn a_session_round_trips_until_it_expires_and_resists_tampering() {
        let sealer = sealer();
        let session = Session {
            uid: "u1".into(),
            auth_time: 10,
            exp: 100,
        };
        let sealed = sealer.seal_session(&session);
        assert_eq!(sealer.open_session(&sealed, 99), Some(session));
        assert_eq!(sealer.open_session(&sealed, 100), None);
        let forged = format!("{sealed}x");
        assert_eq!(sealer.open_session(&forged, 50), None);
    }

    #[test]
    fn csrf_needs_the_matching_authentic_cookie() {
        let sealer = sealer();
        let Some((cookie, form)) = sealer.new_csrf() else {
            panic!("no csrf token")
        };
        assert!(sealer.check_csrf(Some(&cookie), Some(&form)));
        assert!(!sealer.check_csrf(Some(&cookie), Some("other")));
        assert!(!sealer.check_csrf(None, Some(&form)));
        assert!(!sealer.check_csrf(Some(&format!("{form}.forged")), Some(&form)));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let header = Some("a=1; mcp_session=xyz; mcp_session_old=no");
        assert_eq!(cookie(header, "mcp_session"), Some("xyz"));
        assert_eq!(cookie(header, "missing"), None);
    }
}
