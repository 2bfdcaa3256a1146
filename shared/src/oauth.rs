//! The OAuth 2.1 authorization server's pure logic: one module per RFC concern. Nothing here
//! touches HTTP routing or the store directly except [`client_auth`]; `endpoints/` does.

pub mod cimd;
pub mod client_auth;
pub mod client_metadata;
pub mod error;
pub mod jwt;
pub mod metadata;
pub mod pages;
pub mod params;
pub mod password;
pub mod pkce;
pub mod prompt;
pub mod redirect;
pub mod scope;
pub mod session;

/// Normalises a `resource` indicator (RFC 8707) for comparison with the canonical MCP URL:
/// one trailing slash is ignored, the scheme and host compare case-insensitively.
pub fn resource_matches(requested: &str, canonical: &str) -> bool {
    let normalise = |s: &str| -> String {
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        match trimmed.split_once("://") {
            Some((scheme, rest)) => {
                let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
                let path = if path.is_empty() {
                    String::new()
                } else {
                    format!("/{path}")
                };
                format!(
                    "{}://{}{path}",
                    scheme.to_ascii_lowercase(),
                    host.to_ascii_lowercase()
                )
            }
            None => trimmed.to_owned(),
        }
    };
    normalise(requested) == normalise(canonical)
}

/// Normalises an e-mail address for storage and comparison (trimmed, lower-case), or `None`
/// when it is not a plausible address.
pub fn normalise_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_compare_without_a_trailing_slash() {
        let mcp = "https://api.example.com/mcp";
        assert!(resource_matches("https://api.example.com/mcp/", mcp));
        assert!(resource_matches("https://API.example.com/mcp", mcp));
        assert!(!resource_matches("https://api.example.com/", mcp));
        assert!(!resource_matches("https://api.example.com/mcp/x", mcp));
        assert!(!resource_matches("https://evil.example.com/mcp", mcp));
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(
            normalise_email(" Ada@Example.COM "),
            Some("ada@example.com".into())
        );
        assert_eq!(normalise_email("no-at-sign"), None);
        assert_eq!(normalise_email("a@localhost"), None);
        assert_eq!(normalise_email("a b@example.com"), None);
    }
}
