//! Scopes (RFC 6749 §3.3): space-delimited, from a fixed set this server understands.

use std::collections::BTreeSet;

/// Read memories.
pub const READ: &str = "memories:read";
/// Add and delete memories.
pub const WRITE: &str = "memories:write";
/// Accepted for clients that ask for it; refresh tokens are issued regardless.
pub const OFFLINE_ACCESS: &str = "offline_access";
/// The scopes advertised in metadata.
pub const SUPPORTED: &[&str] = &[READ, WRITE];

/// A set of known scopes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(BTreeSet<&'static str>);

impl Scope {
    /// Every memory scope: the default when a request names none.
    pub fn all() -> Self {
        Self(SUPPORTED.iter().copied().collect())
    }

    /// Parses a space-delimited scope string; unknown scopes are an error naming them.
    /// `offline_access` is accepted and dropped (refresh tokens are always issued).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut set = BTreeSet::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            match SUPPORTED.iter().find(|s| **s == token) {
                Some(known) => {
                    set.insert(*known);
                }
                None if token == OFFLINE_ACCESS => {}
                None => return Err(format!("unknown scope {token:?}")),
            }
        }
        Ok(Self(set))
    }

    /// Whether no scope is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every scope of `other` is in this set.
    pub fn contains_all(&self, other: &Scope) -> bool {
        other.0.is_subset(&self.0)
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// The scopes, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().copied()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let joined: Vec<&str> = self.0.iter().copied().collect();
        f.write_str(&joined.join(" "))
    }
}

/// What a scope lets a client do, in words for the consent and account pages.
pub fn describe(name: &str) -> &'static str {
    match name {
        READ => "Read and search your memories",
        WRITE => "Add and delete your memories",
        _ => "Other access",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_dedupe_and_print_in_order() {
        let scope = Scope::parse("memories:write  memories:read memories:write offline_access");
        assert_eq!(
            scope.map(|s| s.to_string()),
            Ok("memories:read memories:write".into())
        );
        assert!(Scope::parse("openid").is_err());
        assert!(Scope::parse("").is_ok_and(|s| s.is_empty()));
    }
}
