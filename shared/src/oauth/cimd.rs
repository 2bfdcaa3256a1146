//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a `client_id`
//! that is an HTTPS URL names a JSON document of client metadata, which the server fetches
//! instead of requiring registration. Claude uses them when the server advertises support.
//!
//! The fetch is an SSRF risk, so: `https` only (plain `http` on loopback only when the local
//! profile's `CIMD_ALLOW_HTTP_LOOPBACK` is set, for tests), no user information, fragment or
//! bare origin; every address the host resolves to must be public (no loopback, private,
//! link-local, CGNAT, unique-local, multicast or unspecified address), and the connection is
//! pinned to the checked address so a second DNS answer cannot swap it; no redirects; a 5 s
//! timeout and a 16 KiB body limit. Documents are cached per container for their
//! `Cache-Control: max-age` (between 5 minutes and a day; 1 hour when absent).
//!
//! Only public clients (`token_endpoint_auth_method: none`) can be described this way: a
//! document cannot carry a secret, and this server does not implement `private_key_jwt`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::client_metadata;
use crate::store::{Client, Timestamp};

/// Largest document accepted.
const MAX_BYTES: usize = 16 * 1024;
/// How long a fetch may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Cache lifetime bounds and default.
const MIN_TTL: u64 = 300;
const MAX_TTL: u64 = 86_400;
const DEFAULT_TTL: u64 = 3_600;
/// Entries kept at most.
const CACHE_CAPACITY: usize = 1_000;

/// Why a metadata document could not be used (shown on the error page and in `invalid_client`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CimdError {
    /// The URL is not one the server will fetch.
    #[error("the client_id URL is not allowed: {0}")]
    Url(String),
    /// The host resolves to an address the server will not contact.
    #[error("the client_id host resolves to a non-public address")]
    Address,
    /// The fetch failed.
    #[error("the client metadata document could not be fetched: {0}")]
    Fetch(String),
    /// The document is not valid client metadata.
    #[error("the client metadata document is invalid: {0}")]
    Document(String),
}

/// Whether `client_id` names a metadata document rather than a registered client.
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Whether the server may connect to `ip` to fetch a document.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// A URL the server may fetch: (scheme, host, port, whether the host is loopback).
fn check_url(url: &str, allow_http_loopback: bool) -> Result<(String, u16, bool), CimdError> {
    let bad = |why: &str| CimdError::Url(why.to_owned());
    if url.len() > 2000 || url.contains('#') {
        return Err(bad("too long, or has a fragment"));
    }
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let host = uri.host().ok_or_else(|| bad("no host"))?.to_owned();
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad("has user information"));
    }
    if uri.path() == "/" || uri.path().is_empty() {
        return Err(bad("must have a path"));
    }
    let loopback = crate::config::is_loopback_host(&host);
    let port = match (uri.scheme_str(), uri.port_u16()) {
        (Some("https"), port) => port.unwrap_or(443),
        (Some("http"), Some(port)) if loopback && allow_http_loopback => port,
        _ => return Err(bad("must be https")),
    };
    Ok((host, port, loopback))
}

/// Validates a fetched document for `url` into client metadata.
pub fn parse_document(url: &str, body: &[u8]) -> Result<crate::store::ClientMetadata, CimdError> {
    let invalid = |why: String| CimdError::Document(why);
    let mut doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| invalid("not JSON".into()))?;
    if doc["client_id"] != url {
        return Err(invalid(
            "its client_id is not the URL it was fetched from".into(),
        ));
    }
    if doc.get("client_secret").is_some() || doc.get("client_secret_expires_at").is_some() {
        return Err(invalid("it must not carry a secret".into()));
    }
    match doc
        .get("token_endpoint_auth_method")
        .and_then(|m| m.as_str())
    {
        None => doc["token_endpoint_auth_method"] = "none".into(),
        Some("none") => {}
        Some(other) => {
            return Err(invalid(format!(
                "token_endpoint_auth_method {other:?} is not supported; use none"
            )));
        }
    }
    if let Some(map) = doc.as_object_mut() {
        map.remove("client_id");
        // A document is written for many servers: where registration would refuse a field,
        // drop what this server does not need rather than refuse the client.
        map.entry("grant_types")
            .or_insert(serde_json::json!(["authorization_code", "refresh_token"]));
        let bad_scope = map
            .get("scope")
            .and_then(|s| s.as_str())
            .is_some_and(|s| super::scope::Scope::parse(s).is_err());
        if bad_scope {
            map.remove("scope");
        }
        for field in ["client_uri", "logo_uri", "policy_uri", "tos_uri"] {
            let https = map
                .get(field)
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.starts_with("https://"));
            if !https {
                map.remove(field);
            }
        }
    }
    let bytes = serde_json::to_vec(&doc).map_err(|e| invalid(e.to_string()))?;
    client_metadata::validate(&bytes).map_err(|e| invalid(e.description.into_owned()))
}

fn max_age(headers: &reqwest::header::HeaderMap) -> u64 {
    headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok())
        })
        .unwrap_or(DEFAULT_TTL)
        .clamp(MIN_TTL, MAX_TTL)
}

/// Fetches, checks and caches metadata documents.
pub struct Resolver {
    allow_http_loopback: bool,
    cache: Mutex<HashMap<String, (Client, Instant)>>,
}

impl Resolver {
    /// A resolver; `allow_http_loopback` only for local tests.
    pub fn new(allow_http_loopback: bool) -> Self {
        Self {
            allow_http_loopback,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client a document URL describes (from the cache, or fetched now).
    pub async fn resolve(&self, url: &str, now: Timestamp) -> Result<Client, CimdError> {
        if let Some(client) = self.cached(url) {
            return Ok(client);
        }
        let (host, port, loopback) = check_url(url, self.allow_http_loopback)?;
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| CimdError::Fetch(format!("cannot resolve {host}: {e}")))?
            .collect();
        let allowed = |a: &SocketAddr| is_public(a.ip()) || (loopback && self.allow_http_loopback);
        let Some(address) = addresses.first().copied() else {
            return Err(CimdError::Fetch(format!("{host} has no address")));
        };
        if !addresses.iter().all(allowed) {
            tracing::warn!(%url, "client metadata document host resolves to a non-public address");
            return Err(CimdError::Address);
        }
        crate::crypto::install_tls_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .resolve(&host, address)
            .build()
            .map_err(|e| CimdError::Fetch(e.to_string()))?;
        let mut response = http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| CimdError::Fetch(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(CimdError::Fetch(format!("HTTP {}", response.status())));
        }
        let ttl = max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| CimdError::Fetch(e.without_url().to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BYTES {
                return Err(CimdError::Fetch(
                    "the document is larger than 16 KiB".into(),
                ));
            }
        }
        let metadata = parse_document(url, &body)?;
        let client = Client {
            client_id: url.to_owned(),
            client_secret_hash: None,
            registration_token_hash: None,
            metadata,
            created_at: now,
            expires_at: None,
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(
                url.to_owned(),
                (client.clone(), Instant::now() + Duration::from_secs(ttl)),
            );
        }
        tracing::info!(%url, ttl, "client metadata document fetched");
        Ok(client)
    }

    fn cached(&self, url: &str) -> Option<Client> {
        let cache = self.cache.lock().ok()?;
        let (client, until) = cache.get(url)?;
        (Instant::now() < *until).then(|| client.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_may_be_fetched() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            let ip: IpAddr = private.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
            assert!(!is_public(ip), "{private} must be refused");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            let ip: IpAddr = public.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
            assert!(is_public(ip), "{public} must be allowed");
        }
    }

    #[test]
    fn only_https_urls_with_a_path_may_be_fetched() {
        assert!(check_url("https://claude.ai/oauth/mcp-oauth-client-metadata", false).is_ok());
        assert!(check_url("https://claude.ai/", false).is_err());
        assert!(check_url("http://claude.ai/meta", false).is_err());
        assert!(check_url("https://user@claude.ai/meta", false).is_err());
        assert!(check_url("https://claude.ai/meta#x", false).is_err());
        assert!(check_url("http://127.0.0.1:8080/meta", false).is_err());
        assert!(check_url("http://127.0.0.1:8080/meta", true).is_ok());
    }

    #[test]
    fn a_document_must_name_itself_and_be_public() {
        let url = "https://claude.ai/oauth/mcp-oauth-client-metadata";
        let good = format!(
            r#"{{"client_id":"{url}","client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"grant_types":["authorization_code","refresh_token"]}}"#
        );
        let meta = parse_document(url, good.as_bytes());
        assert!(
            meta.as_ref()
                .is_ok_and(|m| m.token_endpoint_auth_method == "none"),
            "{meta:?}"
        );
        let other = good.replace(url, "https://evil.example/meta");
        assert!(parse_document(url, other.as_bytes()).is_err());
        let secret = good.replace(
            r#""client_name""#,
            r#""token_endpoint_auth_method":"client_secret_basic","client_name""#,
        );
        assert!(parse_document(url, secret.as_bytes()).is_err());
        assert!(parse_document(url, b"not json").is_err());
    }

    #[test]
    fn a_document_for_other_servers_too_is_read_leniently() {
        let url = "https://claude.ai/oauth/mcp-oauth-client-metadata";
        let doc = format!(
            r#"{{"client_id":"{url}","client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"scope":"openid profile","logo_uri":"http://x/l.png"}}"#
        );
        let meta = parse_document(url, doc.as_bytes());
        let Ok(meta) = meta else { panic!("{meta:?}") };
        assert_eq!(
            meta.grant_types,
            vec!["authorization_code", "refresh_token"]
        );
        assert_eq!(meta.scope, None);
        assert_eq!(meta.logo_uri, None);
    }
}
