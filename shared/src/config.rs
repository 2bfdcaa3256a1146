//! Typed configuration, read once at cold start.
//!
//! Every setting comes from one environment variable (the README's configuration table lists
//! them). Reading fails fast and names the variable that was wrong, so a bad deployment is
//! visible in the first log line instead of in the first user's request.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::store::StoreSettings;

/// A configuration error: which variable, and what was wrong with its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable was set to a value that does not parse.
    #[error("{name}: {reason} (got {value:?})")]
    Invalid {
        /// The environment variable.
        name: &'static str,
        /// The value that was read.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A variable that this profile needs was not set.
    #[error("{name} must be set: {reason}")]
    Missing {
        /// The environment variable.
        name: &'static str,
        /// Why it is needed.
        reason: &'static str,
    },
}

/// Where the process runs; this only chooses defaults, every default can be overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A Lambda function behind API Gateway: DynamoDB, JSON logs.
    Lambda,
    /// The local server: embedded store under `./.data`, readable logs.
    Local,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (CloudWatch Logs Insights can query it).
    Json,
    /// Human-readable lines.
    Text,
}

/// The whole configuration of one process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The public origin (`https://example.com`, no path, no trailing slash). When unset, it is
    /// taken from API Gateway's request context, never from a client-supplied `Host` header.
    pub public_base_url: Option<BaseUrl>,
    /// Which store backend to use and how to reach it.
    pub store: StoreSettings,
    /// Where signing keys come from.
    pub signing_keys: KeySource,
    /// Log format.
    pub log_format: LogFormat,
    /// Who may sign up, and token lifetimes.
    pub oauth: OAuthSettings,
    /// The MCP endpoint's settings.
    pub mcp: McpSettings,
}

/// Settings of the MCP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpSettings {
    /// Browser origins allowed to call `/mcp` besides the server's own (`Origin` is checked only
    /// when a request carries one).
    pub allowed_origins: Vec<String>,
    /// How long a grant's liveness is cached per container, seconds.
    pub grant_cache_seconds: u64,
}

/// Who may create an account on the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupPolicy {
    /// Anyone.
    Open,
    /// Only the listed addresses (`ada@example.com`) and domains (`@example.com`).
    AllowList(Vec<String>),
    /// Nobody; operators create users with the admin command.
    Closed,
}

impl SignupPolicy {
    /// Whether sign-up is offered at all.
    pub fn offers_signup(&self) -> bool {
        match self {
            Self::Open => true,
            Self::AllowList(list) => !list.is_empty(),
            Self::Closed => false,
        }
    }

    /// Whether `email` (normalised) may sign up.
    pub fn allows(&self, email: &str) -> bool {
        match self {
            Self::Open => true,
            Self::Closed => false,
            Self::AllowList(list) => list.iter().any(|entry| {
                if entry.starts_with('@') {
                    email.ends_with(entry.as_str())
                } else {
                    email == entry
                }
            }),
        }
    }
}

/// Authorization-server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// Who may sign up.
    pub signup: SignupPolicy,
    /// Access-token lifetime, seconds.
    pub access_token_ttl: i64,
    /// Refresh-token lifetime, seconds (each rotation starts it anew).
    pub refresh_token_ttl: i64,
    /// Authorization-code lifetime, seconds.
    pub code_ttl: i64,
    /// Sign-in session lifetime, seconds.
    pub session_ttl: i64,
    /// How long a dynamically registered client that never obtained a token is kept, seconds.
    pub unused_client_ttl: i64,
    /// Whether client metadata documents may be fetched over plain `http` from loopback
    /// (local tests only; refused in the Lambda profile).
    pub cimd_allow_http_loopback: bool,
}

fn seconds(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    match raw.parse::<i64>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(ConfigError::Invalid {
            name,
            value: raw,
            reason: format!(
                "expected whole seconds between {} and {}",
                range.start(),
                range.end()
            ),
        }),
    }
}

/// Where the token-signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JSON key file, generated on first run when missing (local use).
    File(PathBuf),
    /// An AWS Secrets Manager secret (ARN or name) holding the key document.
    Secret(String),
}

/// An origin URL: scheme, host and optional port; no path, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Parses `https://host[:port]` or `http://loopback[:port]`, dropping one trailing slash.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim().trim_end_matches('/');
        let uri: http::Uri = trimmed.parse().map_err(|e| format!("not a URL: {e}"))?;
        let scheme = uri.scheme_str().ok_or("missing scheme")?;
        let host = uri.host().ok_or("missing host")?;
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err("must be an origin without a path".into());
        }
        if uri.query().is_some() || trimmed.contains('#') {
            return Err("must not have a query or fragment".into());
        }
        match scheme {
            "https" => {}
            "http" if is_loopback_host(host) => {}
            "http" => return Err("http is only allowed for loopback hosts".into()),
            _ => return Err("scheme must be https".into()),
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The origin as a string, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the host is a loopback address (cookies may then omit `Secure`).
    pub fn is_loopback(&self) -> bool {
        self.0
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(is_loopback_host))
            .unwrap_or(false)
    }

    /// The URL of `path` (which starts with `/`) on this origin.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `host` names the loopback interface (RFC 8252 §7.3 treats these as loopback).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env(profile: Profile) -> Result<Self, ConfigError> {
        Self::from_vars(profile, &std::env::vars().collect())
    }

    /// Reads the configuration from `vars` (the environment, or a test's map).
    pub fn from_vars(
        profile: Profile,
        vars: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let public_base_url = get("PUBLIC_BASE_URL")
            .map(|raw| {
                BaseUrl::parse(raw).map_err(|reason| ConfigError::Invalid {
                    name: "PUBLIC_BASE_URL",
                    value: raw.to_owned(),
                    reason,
                })
            })
            .transpose()?;

        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or(".data"));
        let store = StoreSettings::from_vars(profile, &get, &data_dir)?;

        let signing_keys = match (get("SIGNING_KEY_SECRET_ARN"), get("SIGNING_KEY_FILE")) {
            (Some(arn), _) => KeySource::Secret(arn.to_owned()),
            (None, Some(path)) => KeySource::File(PathBuf::from(path)),
            (None, None) if profile == Profile::Local => {
                KeySource::File(data_dir.join("signing-keys.json"))
            }
            (None, None) => {
                return Err(ConfigError::Missing {
                    name: "SIGNING_KEY_SECRET_ARN",
                    reason: "a Lambda function reads its signing keys from Secrets Manager",
                });
            }
        };

        let log_format = match get("LOG_FORMAT") {
            None if profile == Profile::Lambda => LogFormat::Json,
            None => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "LOG_FORMAT",
                    value: other.to_owned(),
                    reason: "expected json or text".into(),
                });
            }
        };

        let owned = |name: &str| get(name).map(str::to_owned);
        let signup = match (get("SIGNUP_POLICY"), profile) {
            (Some("open"), _) | (None, Profile::Local) => SignupPolicy::Open,
            (Some("closed"), _) => SignupPolicy::Closed,
            (Some("allowlist"), _) | (None, Profile::Lambda) => SignupPolicy::AllowList(
                get("ALLOWED_EMAILS")
                    .unwrap_or_default()
                    .split(',')
                    .map(|e| e.trim().to_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect(),
            ),
            (Some(other), _) => {
                return Err(ConfigError::Invalid {
                    name: "SIGNUP_POLICY",
                    value: other.to_owned(),
                    reason: "expected open, allowlist or closed".into(),
                });
            }
        };
        let day = 86_400;
        let oauth = OAuthSettings {
            signup,
            access_token_ttl: seconds(&owned, "ACCESS_TOKEN_TTL_SECONDS", 3600, 60..=day)?,
            refresh_token_ttl: seconds(
                &owned,
                "REFRESH_TOKEN_TTL_SECONDS",
                30 * day,
                300..=365 * day,
            )?,
            code_ttl: seconds(&owned, "AUTH_CODE_TTL_SECONDS", 60, 10..=600)?,
            session_ttl: seconds(&owned, "SESSION_TTL_SECONDS", 7 * day, 60..=90 * day)?,
            unused_client_ttl: seconds(&owned, "UNUSED_CLIENT_TTL_SECONDS", day, 300..=365 * day)?,
            cimd_allow_http_loopback: match (get("CIMD_ALLOW_HTTP_LOOPBACK"), profile) {
                (None | Some("false"), _) => false,
                (Some("true"), Profile::Local) => true,
                (Some(other), _) => {
                    return Err(ConfigError::Invalid {
                        name: "CIMD_ALLOW_HTTP_LOOPBACK",
                        value: other.to_owned(),
                        reason: "only true or false, and true only for the local server".into(),
                    });
                }
            },
        };

        let mcp = McpSettings {
            allowed_origins: get("ALLOWED_ORIGINS")
                .unwrap_or_default()
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            grant_cache_seconds: seconds(&owned, "GRANT_CACHE_SECONDS", 30, 0..=300)?
                .unsigned_abs(),
        };

        Ok(Self {
            public_base_url,
            store,
            signing_keys,
            log_format,
            oauth,
            mcp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn base_url_drops_a_trailing_slash_and_rejects_paths() {
        assert_eq!(
            BaseUrl::parse("https://mcp.example.com/").map(|u| u.0),
            Ok("https://mcp.example.com".to_owned())
        );
        assert!(BaseUrl::parse("https://mcp.example.com/mcp").is_err());
        assert!(BaseUrl::parse("https://mcp.example.com?x=1").is_err());
        assert!(BaseUrl::parse("http://mcp.example.com").is_err());
        assert!(BaseUrl::parse("http://127.0.0.1:8788").is_ok());
        assert!(BaseUrl::parse("http://[::1]:8788").is_ok());
    }

    #[test]
    fn a_bad_variable_is_named_in_the_error() {
        let err = Config::from_vars(Profile::Local, &vars(&[("LOG_FORMAT", "xml")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("LOG_FORMAT:"), "{err}");

        let err = Config::from_vars(Profile::Local, &vars(&[("STORE", "postgres")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("STORE:"), "{err}");
    }

    #[test]
    fn signup_policy_and_lifetimes_parse() -> Result<(), ConfigError> {
        let config = Config::from_vars(
            Profile::Local,
            &vars(&[
                ("SIGNUP_POLICY", "allowlist"),
                ("ALLOWED_EMAILS", "Ada@Example.com, @team.example"),
                ("ACCESS_TOKEN_TTL_SECONDS", "600"),
            ]),
        )?;
        assert!(config.oauth.signup.allows("ada@example.com"));
        assert!(config.oauth.signup.allows("bob@team.example"));
        assert!(!config.oauth.signup.allows("eve@example.com"));
        assert_eq!(config.oauth.access_token_ttl, 600);
        let err = Config::from_vars(Profile::Local, &vars(&[("ACCESS_TOKEN_TTL_SECONDS", "-1")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("ACCESS_TOKEN_TTL_SECONDS:"), "{err}");
        Ok(())
    }

    #[test]
    fn profiles_choose_the_defaults() -> Result<(), ConfigError> {
        let local = Config::from_vars(Profile::Local, &HashMap::new())?;
        assert!(matches!(local.store, StoreSettings::Embedded { .. }));
        assert_eq!(local.log_format, LogFormat::Text);
        assert_eq!(local.oauth.signup, SignupPolicy::Open);

        let lambda = Config::from_vars(
            Profile::Lambda,
            &vars(&[
                ("TABLE_PREFIX", "stack-"),
                ("SIGNING_KEY_SECRET_ARN", "arn:x"),
            ]),
        )?;
        assert!(matches!(lambda.store, StoreSettings::DynamoDb { .. }));
        assert_eq!(lambda.log_format, LogFormat::Json);
        assert_eq!(lambda.signing_keys, KeySource::Secret("arn:x".into()));
        assert_eq!(lambda.oauth.signup, SignupPolicy::AllowList(vec![]));

        let err = Config::from_vars(Profile::Lambda, &HashMap::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("SIGNING_KEY_SECRET_ARN"), "{err}");
        Ok(())
    }
}
