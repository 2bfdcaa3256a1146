//! Redirect URIs: registration rules (HTTPS or loopback, no fragment; RFC 7591 §2, OAuth 2.1
//! §2.3.1) and matching (exact, except that a loopback URI matches on any port, RFC 8252 §7.3).

use crate::config::is_loopback_host;

/// Longest redirect URI accepted.
pub const MAX_LEN: usize = 2000;

/// Checks that `uri` may be registered as a redirect URI.
pub fn validate(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_LEN {
        return Err(format!("redirect URI longer than {MAX_LEN} characters"));
    }
    if uri.contains('#') {
        return Err(format!("redirect URI {uri:?} has a fragment"));
    }
    let parsed: http::Uri = uri
        .parse()
        .map_err(|_| format!("redirect URI {uri:?} is not an absolute URI"))?;
    let host = parsed
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("redirect URI {uri:?} has no host"))?;
    if parsed.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!("redirect URI {uri:?} carries user information"));
    }
    match parsed.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback_host(host) => Ok(()),
        _ => Err(format!(
            "redirect URI {uri:?} must use https, or http on a loopback address"
        )),
    }
}

/// Whether the requested `uri` matches the `registered` one: exactly, or for loopback
/// `http` URIs, everything but the port.
pub fn matches(registered: &str, uri: &str) -> bool {
    if registered == uri {
        return true;
    }
    let (Ok(a), Ok(b)) = (registered.parse::<http::Uri>(), uri.parse::<http::Uri>()) else {
        return false;
    };
    let loopback = a.scheme_str() == Some("http") && a.host().is_some_and(is_loopback_host);
    loopback
        && a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.path_and_query() == b.path_and_query()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_https_and_loopback_only() {
        assert!(validate("https://claude.ai/api/mcp/auth_callback").is_ok());
        assert!(validate("http://localhost:3000/callback").is_ok());
        assert!(validate("http://127.0.0.1/callback").is_ok());
        assert!(validate("http://[::1]:8080/cb").is_ok());
        assert!(validate("http://example.com/cb").is_err());
        assert!(validate("https://example.com/cb#frag").is_err());
        assert!(validate("/relative").is_err());
        assert!(validate("javascript:alert(1)").is_err());
        assert!(validate("https://user@example.com/cb").is_err());
    }

    #[test]
    fn loopback_matches_any_port_and_nothing_else_does() {
        assert!(matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53124/callback"
        ));
        assert!(matches(
            "http://localhost:1/callback",
            "http://localhost:2/callback"
        ));
        assert!(!matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:5/other"
        ));
        assert!(!matches(
            "http://127.0.0.1/callback",
            "http://localhost:5/callback"
        ));
        assert!(!matches("https://claude.ai/cb", "https://claude.ai:444/cb"));
        assert!(!matches("https://claude.ai/cb", "https://claude.ai/cb/"));
        assert!(matches("https://claude.ai/cb", "https://claude.ai/cb"));
    }
}
