//! Request parameters of the OAuth endpoints: query strings and
//! `application/x-www-form-urlencoded` bodies. A repeated parameter is an error
//! (RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once").

use std::collections::HashMap;

/// Parsed parameters; empty values count as absent (RFC 6749 §3.1).
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses urlencoded `input`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(input).map_err(|_| "malformed form encoding".to_owned())?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if value.is_empty() {
                continue;
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(format!("parameter {key} is repeated"));
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}
