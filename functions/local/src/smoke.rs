//! The post-deploy smoke check: the whole checklist an operator would otherwise run by hand,
//! against any base URL (a deployment or the local server), printed as pass/fail lines.
//!
//! health, status ready, discovery documents valid and consistent (issuer, resource,
//! endpoints on the same origin), the MCP 401 challenge, registration, sign-in and consent on
//! the real pages, the token exchange, MCP initialize and tools/list, a memory round trip, a
//! refresh, the account page disconnecting the client (its refresh token then fails), then
//! clean-up: the grant is revoked (if still live) and the client deregistered.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What to check, and as whom.
#[derive(Debug, Clone)]
pub struct Options {
    /// The origin, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com`.
    pub base_url: String,
    /// The test user's e-mail address.
    pub email: String,
    /// The test user's password.
    pub password: String,
    /// Create the user through the sign-up page when signing in fails.
    pub sign_up: bool,
}

/// One checklist line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What was checked.
    pub name: &'static str,
    /// `Ok(detail)` or `Err(why)`; `None` when skipped after an earlier failure.
    pub outcome: Option<Result<String, String>>,
}

/// The checklist's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every item, in order.
    pub items: Vec<Item>,
}

impl Report {
    /// Whether every item passed.
    pub fn passed(&self) -> bool {
        self.items.iter().all(|i| matches!(i.outcome, Some(Ok(_))))
    }

    /// The checklist as text, one line per item, and a closing line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            let line = match &item.outcome {
                Some(Ok(detail)) => format!("[PASS] {:<34} {detail}", item.name),
                Some(Err(why)) => format!("[FAIL] {:<34} {why}", item.name),
                None => format!("[SKIP] {:<34} (an earlier check failed)", item.name),
            };
            let _ = writeln!(out, "{line}");
        }
        let passed = self
            .items
            .iter()
            .filter(|i| matches!(i.outcome, Some(Ok(_))))
            .count();
        let failed = self
            .items
            .iter()
            .filter(|i| matches!(i.outcome, Some(Err(_))))
            .count();
        let skipped = self.items.len() - passed - failed;
        let _ = writeln!(
            out,
            "smoke: {passed} passed, {failed} failed, {skipped} skipped"
        );
        out
    }
}

/// The hidden inputs of the first form of a page (the sign-in, sign-up and consent forms).
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let unescape = |t: &str| {
        t.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let form = html
        .split("<form")
        .nth(1)
        .and_then(|f| f.split("</form>").next())
        .unwrap_or_default();
    form.split("<input")
        .skip(1)
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| {
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
                let end = tag[start..].find('"')? + start;
                Some(unescape(&tag[start..end]))
            };
            Some((attr("name")?, attr("value")?))
        })
        .collect()
}

struct Smoke {
    http: reqwest::Client,
    opts: Options,
    base: String,
    mcp: String,
    client_id: String,
    registration: (String, String),
    access_token: String,
    refresh_token: String,
    kid: String,
}

const CALLBACK: &str = "http://127.0.0.1:1/smoke-callback";

fn query_param(location: &str, name: &str) -> Option<String> {
    let query = location.split_once('?')?.1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

impl Smoke {
    async fn get_json(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = response.status().as_u16();
        let body = response.json().await.context("the body is not JSON")?;
        Ok((status, body))
    }

    async fn health(&mut self) -> anyhow::Result<String> {
        let started = Instant::now();
        let (status, body) = self.get_json("/health").await?;
        ensure!(
            status == 200 && body["status"] == "ok",
            "HTTP {status}: {body}"
        );
        Ok(format!("200 in {} ms", started.elapsed().as_millis()))
    }

    async fn status(&mut self) -> anyhow::Result<String> {
        let (status, body) = self.get_json("/status").await?;
        ensure!(
            status == 200 && body["status"] == "ready",
            "HTTP {status}: {body}"
        );
        ensure!(
            body["issuer"] == self.base.as_str(),
            "issuer {} is not {}",
            body["issuer"],
            self.base
        );
        self.kid = body["checks"]["signing_key"]["kid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(format!(
            "ready, version {}, {} store in {} ms",
            body["version"].as_str().unwrap_or("?"),
            body["checks"]["store"]["backend"].as_str().unwrap_or("?"),
            body["checks"]["store"]["latency_ms"]
        ))
    }

    async fn authorization_server(&mut self) -> anyhow::Result<String> {
        let (status, m) = self
            .get_json("/.well-known/oauth-authorization-server")
            .await?;
        ensure!(status == 200, "HTTP {status}");
        ensure!(
            m["issuer"] == self.base.as_str(),
            "issuer {} is not {}",
            m["issuer"],
            self.base
        );
        for field in [
            "authorization_endpoint",
            "token_endpoint",
            "registration_endpoint",
            "revocation_endpoint",
            "jwks_uri",
        ] {
            let url = m[field]
                .as_str()
                .with_context(|| format!("{field} is missing"))?;
            ensure!(
                url.starts_with(&format!("{}/", self.base)),
                "{field} {url} is not on {}",
                self.base
            );
        }
        let s256 = m["code_challenge_methods_supported"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "S256"));
        ensure!(s256, "S256 is not advertised");
        let (_, oidc) = self.get_json("/.well-known/openid-configuration").await?;
        ensure!(
            oidc == m,
            "the OpenID configuration differs from the RFC 8414 document"
        );
        Ok("RFC 8414 and OpenID documents agree, endpoints on the origin".into())
    }

    async fn protected_resource(&mut self) -> anyhow::Result<String> {
        for path in [
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
        ] {
            let (status, prm) = self.get_json(path).await?;
            ensure!(status == 200, "{path}: HTTP {status}");
            ensure!(
                prm["resource"] == self.mcp.as_str(),
                "{path}: resource {} is not {}",
                prm["resource"],
                self.mcp
            );
            let listed = prm["authorization_servers"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == self.base.as_str()));
            ensure!(
                listed,
                "{path}: authorization_servers does not list {}",
                self.base
            );
        }
        Ok(format!("resource {}", self.mcp))
    }

    async fn jwks(&mut self) -> anyhow::Result<String> {
        let (status, jwks) = self.get_json("/.well-known/jwks.json").await?;
        ensure!(status == 200, "HTTP {status}");
        let keys = jwks["keys"].as_array().context("no keys")?;
        ensure!(
            keys.iter().any(|k| k["kid"] == self.kid.as_str()),
            "the signing key {} is not published",
            self.kid
        );
        Ok(format!("{} key(s), signing kid {}", keys.len(), self.kid))
    }

    async fn challenge(&mut self) -> anyhow::Result<String> {
        let response = self
            .http
            .post(&self.mcp)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize"}))
            .send()
            .await?;
        ensure!(
            response.status() == 401,
            "HTTP {} without a token",
            response.status()
        );
        let header = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .context("no WWW-Authenticate")?;
        let prm = format!("{}/.well-known/oauth-protected-resource/mcp", self.base);
        ensure!(
            header.contains(&format!("resource_metadata=\"{prm}\"")),
            "challenge without the metadata URL: {header}"
        );
        Ok("401 with resource_metadata".into())
    }

    async fn register(&mut self) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!("{}/register", self.base))
            .json(&json!({
                "client_name": "memory-mcp smoke check",
                "redirect_uris": ["http://127.0.0.1/smoke-callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        ensure!(status == 201, "HTTP {status}: {body}");
        self.client_id = body["client_id"]
            .as_str()
            .context("no client_id")?
            .to_owned();
        self.registration = (
            body["registration_client_uri"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            body["registration_access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        Ok(format!("client {}", self.client_id))
    }

    async fn post_form(
        &self,
        page: &str,
        fields: &[(&str, &str)],
    ) -> anyhow::Result<reqwest::Response> {
        let mut form = hidden_inputs(page);
        ensure!(!form.is_empty(), "the page has no form");
        for (k, v) in fields {
            form.retain(|(name, _)| name != k);
            form.push(((*k).to_owned(), (*v).to_owned()));
        }
        Ok(self
            .http
            .post(format!("{}/authorize", self.base))
            .form(&form)
            .send()
            .await?)
    }

    async fn sign_in_and_consent(&mut self) -> anyhow::Result<String> {
        let verifier = URL_SAFE_NO_PAD.encode(Sha256::digest(uuid::Uuid::new_v4().as_bytes()));
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "smoke"),
            ("resource", self.mcp.as_str()),
        ])?;
        let page = self
            .http
            .get(format!("{}/authorize?{query}", self.base))
            .send()
            .await?;
        ensure!(
            page.status() == 200,
            "the sign-in page answered {}",
            page.status()
        );
        let page = page.text().await?;
        let credentials = [
            ("email", self.opts.email.as_str()),
            ("password", self.opts.password.as_str()),
        ];
        let mut response = self.post_form(&page, &credentials).await?;
        let mut how = "signed in";
        if response.status() == 401 && self.opts.sign_up {
            let signup = self
                .http
                .get(format!("{}/authorize?{query}&screen=signup", self.base))
                .send()
                .await?
                .text()
                .await?;
            response = self.post_form(&signup, &credentials).await?;
            how = "signed up";
        }
        if response.status() == 200 {
            let consent = response.text().await?;
            ensure!(consent.contains("decision"), "expected the consent page");
            response = self.post_form(&consent, &[("decision", "allow")]).await?;
        }
        match response.status().as_u16() {
            302 => {}
            401 => bail!(
                "the test user could not sign in: wrong email or password (create it with `admin create-user`, or pass --sign-up)"
            ),
            403 => bail!("sign-up is not allowed for this address (SignupPolicy / AllowedEmails)"),
            other => bail!("sign-in or consent answered HTTP {other}"),
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("no Location")?
            .to_owned();
        ensure!(location.starts_with(CALLBACK), "redirected to {location}");
        ensure!(
            query_param(&location, "iss").as_deref() == Some(self.base.as_str()),
            "no or wrong iss"
        );
        ensure!(
            query_param(&location, "state").as_deref() == Some("smoke"),
            "state lost"
        );
        let code = query_param(&location, "code").context("no code in the redirect")?;

        let token = self
            .http
            .post(format!("{}/token", self.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CALLBACK),
                ("code_verifier", verifier.as_str()),
                ("client_id", self.client_id.as_str()),
            ])
            .send()
            .await?;
        let status = token.status();
        let body: Value = token.json().await?;
        ensure!(status == 200, "token endpoint: HTTP {status}: {body}");
        self.access_token = body["access_token"]
            .as_str()
            .context("no access_token")?
            .to_owned();
        self.refresh_token = body["refresh_token"]
            .as_str()
            .context("no refresh_token")?
            .to_owned();
        let payload = self
            .access_token
            .split('.')
            .nth(1)
            .context("the access token is not a JWT")?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?;
        ensure!(
            claims["aud"] == self.mcp.as_str(),
            "token audience {} is not {}",
            claims["aud"],
            self.mcp
        );
        Ok(format!(
            "{how}, consent given, tokens issued for {}",
            claims["aud"]
        ))
    }

    async fn rpc(&self, message: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.mcp)
            .bearer_auth(&self.access_token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&message)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        if body.get("error").is_some() {
            bail!("JSON-RPC error: {}", body["error"]);
        }
        Ok(body["result"].clone())
    }

    async fn initialize(&mut self) -> anyhow::Result<String> {
        let result = self
            .rpc(
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "memory-mcp-smoke", "version": env!("CARGO_PKG_VERSION")}}}),
            )
            .await?;
        let tools = self
            .rpc(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
            .await?;
        let count = tools["tools"].as_array().map_or(0, Vec::len);
        ensure!(count == 5, "{count} tools listed");
        Ok(format!(
            "protocol {}, {count} tools",
            result["protocolVersion"].as_str().unwrap_or("?")
        ))
    }

    async fn call(&self, tool: &str, arguments: Value) -> anyhow::Result<Value> {
        let result = self
            .rpc(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}))
            .await?;
        ensure!(
            result["isError"] != true,
            "{tool}: {}",
            result["content"][0]["text"]
        );
        Ok(result["structuredContent"].clone())
    }

    async fn memory_round_trip(&mut self) -> anyhow::Result<String> {
        let marker = format!("smokecheck{}", uuid::Uuid::new_v4().simple());
        let added = self
            .call(
                "add_memories",
                json!({"text": format!("The smoke check left {marker} here")}),
            )
            .await?;
        let id = added["ids"][0].as_str().context("no id")?.to_owned();
        let found = self.call("search_memory", json!({"query": marker})).await?;
        ensure!(
            found["results"][0]["id"] == id.as_str(),
            "search did not find the new memory: {found}"
        );
        let deleted = self.call("delete_memories", json!({"ids": [id]})).await?;
        ensure!(
            deleted["deleted"].as_array().is_some_and(|d| d.len() == 1),
            "delete: {deleted}"
        );
        Ok("add -> search -> delete".into())
    }

    /// A refresh-token grant with the current refresh token.
    async fn refresh_request(&self) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}/token", self.base))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", self.refresh_token.as_str()),
                ("client_id", self.client_id.as_str()),
            ])
            .send()
            .await
    }

    async fn refresh(&mut self) -> anyhow::Result<String> {
        let response = self.refresh_request().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        let rotated = body["refresh_token"].as_str().context("no refresh_token")?;
        ensure!(
            rotated != self.refresh_token,
            "the refresh token was not rotated"
        );
        self.refresh_token = rotated.to_owned();
        Ok("rotated".into())
    }

    /// The account page, signed in by the session of the sign-in step, lists the client and
    /// disconnects it; the client's refresh token must then be refused.
    async fn account(&mut self) -> anyhow::Result<String> {
        let page = self
            .http
            .get(format!("{}/account", self.base))
            .send()
            .await?;
        ensure!(page.status() == 200, "GET /account: HTTP {}", page.status());
        let page = page.text().await?;
        ensure!(
            page.contains(&self.client_id),
            "the account page does not list the client (signed out?)"
        );
        let csrf = hidden_inputs(&page)
            .into_iter()
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value)
            .context("the account page has no CSRF token")?;
        let done = self
            .http
            .post(format!("{}/account", self.base))
            .form(&[
                ("action", "disconnect"),
                ("client_id", self.client_id.as_str()),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await?;
        ensure!(done.status() == 303, "disconnect: HTTP {}", done.status());
        let refused = self.refresh_request().await?;
        ensure!(
            refused.status() == 400,
            "the disconnected client's refresh token still works (HTTP {})",
            refused.status()
        );
        Ok("listed, disconnected, refresh refused".into())
    }

    /// Runs even after a failure, once a client exists: nothing the check made is left behind.
    async fn clean_up(&mut self) -> anyhow::Result<String> {
        if !self.refresh_token.is_empty() {
            let revoked = self
                .http
                .post(format!("{}/revoke", self.base))
                .form(&[
                    ("token", self.refresh_token.as_str()),
                    ("client_id", self.client_id.as_str()),
                ])
                .send()
                .await?;
            ensure!(revoked.status() == 200, "revoke: HTTP {}", revoked.status());
        }
        let (uri, token) = &self.registration;
        let deleted = self.http.delete(uri).bearer_auth(token).send().await?;
        ensure!(
            deleted.status() == 204,
            "deregistration: HTTP {}",
            deleted.status()
        );
        Ok(if self.refresh_token.is_empty() {
            "client deleted"
        } else {
            "grant revoked, client deleted"
        }
        .into())
    }
}

/// Runs the whole checklist.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    memory_mcp::crypto::install_tls_provider();
    let base = opts.base_url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut smoke = Smoke {
        http,
        mcp: format!("{base}/mcp"),
        base,
        opts,
        client_id: String::new(),
        registration: (String::new(), String::new()),
        access_token: String::new(),
        refresh_token: String::new(),
        kid: String::new(),
    };
    let names = [
        "GET /health",
        "GET /status is ready",
        "authorization server metadata",
        "protected resource metadata",
        "JWKS has the signing key",
        "MCP answers 401 with the challenge",
        "dynamic client registration",
        "sign-in, consent and token",
        "MCP initialize and tools/list",
        "memory round trip",
        "refresh token rotation",
        "account page disconnects the client",
        "clean-up (revoke, deregister)",
    ];
    let mut items = Vec::new();
    let mut failed = false;
    let mut registered = false;
    for (i, name) in names.iter().enumerate() {
        if failed && i != names.len() - 1 {
            items.push(Item {
                name,
                outcome: None,
            });
            continue;
        }
        if i == names.len() - 1 && !registered {
            items.push(Item {
                name,
                outcome: None,
            });
            continue;
        }
        let result = match i {
            0 => smoke.health().await,
            1 => smoke.status().await,
            2 => smoke.authorization_server().await,
            3 => smoke.protected_resource().await,
            4 => smoke.jwks().await,
            5 => smoke.challenge().await,
            6 => smoke.register().await,
            7 => smoke.sign_in_and_consent().await,
            8 => smoke.initialize().await,
            9 => smoke.memory_round_trip().await,
            10 => smoke.refresh().await,
            11 => smoke.account().await,
            _ => smoke.clean_up().await,
        };
        if i == 6 && result.is_ok() {
            registered = true;
        }
        failed |= result.is_err();
        items.push(Item {
            name,
            outcome: Some(result.map_err(|e| format!("{e:#}"))),
        });
    }
    Ok(Report { items })
}
