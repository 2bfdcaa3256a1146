//! The `prompt` request parameter (OpenID Connect Core 1.0 §3.1.2.1, registered for OAuth
//! authorization requests too): whether the person must sign in again, see the consent page
//! again, or must not see any page at all.

/// The values this server acts on. A request without `prompt` gets the default: a session is
/// reused and remembered consent skips the consent page.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: answer at once, with `login_required` or `consent_required` if a page would show.
    pub none: bool,
    /// `login` (or `select_account`, which needs the sign-in page to pick another account):
    /// ask for the password even with a session.
    pub login: bool,
    /// `consent`: show the consent page even when consent is on record.
    pub consent: bool,
}

/// The values advertised as `prompt_values_supported`.
pub const SUPPORTED: [&str; 4] = ["none", "login", "consent", "select_account"];

impl Prompt {
    /// Parses the space-separated list; an unknown value or `none` with another value is
    /// refused (`invalid_request`), as OpenID Connect asks.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut prompt = Self::default();
        let values: Vec<&str> = raw
            .unwrap_or_default()
            .split(' ')
            .filter(|v| !v.is_empty())
            .collect();
        for value in &values {
            match *value {
                "none" => prompt.none = true,
                "login" | "select_account" => prompt.login = true,
                "consent" => prompt.consent = true,
                other => {
                    return Err(format!(
                        "prompt value {other:?} is not supported; use {}",
                        SUPPORTED.join(", ")
                    ));
                }
            }
        }
        if prompt.none && values.len() > 1 {
            return Err("prompt=none cannot be combined with other values".into());
        }
        Ok(prompt)
    }
}

#[cfg(test)]
mod tests {
    use super::Prompt;

    #[test]
    fn parses_each_value_and_refuses_bad_combinations() {
        assert_eq!(Prompt::parse(None), Ok(Prompt::default()));
        assert_eq!(Prompt::parse(Some("")), Ok(Prompt::default()));
        let both = Prompt::parse(Some("login consent"));
        assert_eq!(
            both,
            Ok(Prompt {
                none: false,
                login: true,
                consent: true
            })
        );
        assert_eq!(
            Prompt::parse(Some("select_account")).map(|p| p.login),
            Ok(true)
        );
        assert_eq!(Prompt::parse(Some("none")).map(|p| p.none), Ok(true));
        assert!(Prompt::parse(Some("none consent")).is_err());
        assert!(Prompt::parse(Some("create")).is_err());
    }
}
