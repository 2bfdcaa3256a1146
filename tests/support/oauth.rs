//! Helpers that play an OAuth client and a person's browser against the local server.

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::TestApp;

/// Claude's callback.
pub const CLAUDE_CALLBACK: &str = "https://claude.ai/api/mcp/auth_callback";

/// A registered client.
#[derive(Debug, Clone)]
pub struct Registered {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, for secret methods.
    pub client_secret: Option<String>,
    /// The whole registration response.
    pub body: Value,
}

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// The verifier.
    pub verifier: String,
    /// The challenge.
    pub challenge: String,
}

/// A fresh PKCE pair.
pub fn pkce() -> Pkce {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

/// A Claude-shaped registration body for `method` and `redirect`.
pub fn claude_registration(method: &str, redirect: &str) -> Value {
    json!({
        "client_name": "Claude",
        "redirect_uris": [redirect],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    })
}

/// A page as a browser received it.
#[derive(Debug)]
pub struct Page {
    /// Status.
    pub status: u16,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub body: String,
}

impl Page {
    /// The query parameters of the redirect.
    pub fn redirect_params(&self) -> anyhow::Result<Vec<(String, String)>> {
        let location = self.location.as_deref().context("not a redirect")?;
        let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
        Ok(serde_urlencoded::from_str(query)?)
    }

    /// One query parameter of the redirect.
    pub fn redirect_param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub use local::smoke::hidden_inputs;

/// A browser: keeps cookies, does not follow redirects.
pub struct Browser {
    http: reqwest::Client,
    base_url: String,
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new(app: &TestApp) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base_url: app.base_url.clone(),
        })
    }

    async fn page(response: reqwest::Response) -> anyhow::Result<Page> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await?;
        Ok(Page {
            status,
            location,
            headers,
            body,
        })
    }

    /// GET a URL (absolute, or a path on the server).
    pub async fn get(&self, url: &str) -> anyhow::Result<Page> {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.base_url)
        } else {
            url.to_owned()
        };
        Self::page(self.http.get(url).send().await?).await
    }

    /// POSTs `form` to `path` on the server, as a page's form would.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .form(form)
            .send()
            .await?;
        Self::page(response).await
    }

    /// Submits the first form of `page` (to its `action`) with its hidden inputs plus `fields`.
    pub async fn submit(&self, page: &Page, fields: &[(&str, &str)]) -> anyhow::Result<Page> {
        let action = page
            .body
            .split("<form")
            .nth(1)
            .and_then(|tag| tag.split('>').next())
            .and_then(|tag| tag.split("action=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .context("the form has no action")?
            .to_owned();
        let mut form = hidden_inputs(&page.body);
        if form.is_empty() {
            bail!(
                "no form on the page (status {}): {}",
                page.status,
                page.body
            );
        }
        for (k, v) in fields {
            form.retain(|(name, _)| name != k);
            form.push(((*k).to_owned(), (*v).to_owned()));
        }
        let response = self
            .http
            .post(format!("{}{action}", self.base_url))
            .form(&form)
            .send()
            .await?;
        Self::page(response).await
    }
}

impl TestApp {
    /// Registers a client with `body`; fails unless it is 201.
    pub async fn register(&self, body: &Value) -> anyhow::Result<Registered> {
        let response = self
            .http
            .post(self.url("/register"))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if status != 201 {
            bail!("registration failed with {status}: {body}");
        }
        Ok(Registered {
            client_id: body["client_id"]
                .as_str()
                .context("no client_id")?
                .to_owned(),
            client_secret: body["client_secret"].as_str().map(str::to_owned),
            body,
        })
    }

    /// Registers a public client shaped like Claude's (`none`, Claude's callback).
    pub async fn register_claude(&self) -> anyhow::Result<Registered> {
        self.register(&claude_registration("none", CLAUDE_CALLBACK))
            .await
    }

    /// The authorization URL for `client` with PKCE `pkce` and extra parameters.
    pub fn authorize_url(
        &self,
        client: &Registered,
        redirect: &str,
        pkce: &Pkce,
        extra: &[(&str, &str)],
    ) -> String {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", redirect),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "st4te"),
        ];
        params.extend_from_slice(extra);
        let query = serde_urlencoded::to_string(&params).unwrap_or_default();
        self.url(&format!("/authorize?{query}"))
    }

    /// A person signs up on the real pages and approves: the redirect back to the client.
    pub async fn sign_up_and_approve(
        &self,
        browser: &Browser,
        url: &str,
        email: &str,
    ) -> anyhow::Result<Page> {
        let sign_in = browser.get(url).await?;
        anyhow::ensure!(
            sign_in.status == 200,
            "authorize page: {} {}",
            sign_in.status,
            sign_in.body
        );
        let sign_up = browser.get(&self.signup_link(&sign_in)?).await?;
        let consent = browser
            .submit(
                &sign_up,
                &[("email", email), ("password", "correct horse battery")],
            )
            .await?;
        anyhow::ensure!(
            consent.status == 200 && consent.body.contains("decision"),
            "consent page: {} {}",
            consent.status,
            consent.body
        );
        let back = browser.submit(&consent, &[("decision", "allow")]).await?;
        anyhow::ensure!(
            back.status == 302,
            "after consent: {} {}",
            back.status,
            back.body
        );
        Ok(back)
    }

    /// The sign-up link of a sign-in page.
    pub fn signup_link(&self, page: &Page) -> anyhow::Result<String> {
        let start = page
            .body
            .find("href=\"/authorize?")
            .context("no sign-up link")?
            + 6;
        let end = page.body[start..].find('"').context("unterminated link")? + start;
        Ok(unescape(&page.body[start..end]))
    }

    /// Exchanges a code at the token endpoint (client_secret_post for secret clients).
    pub async fn exchange(
        &self,
        client: &Registered,
        code: &str,
        redirect: &str,
        verifier: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("client_id", client.client_id.as_str()),
        ];
        if let Some(secret) = &client.client_secret {
            form.push(("client_secret", secret));
        }
        Ok(self
            .http
            .post(self.url("/token"))
            .form(&form)
            .send()
            .await?)
    }

    /// Exchanges a refresh token of the public `client`: (status, body).
    pub async fn refresh(
        &self,
        client: &Registered,
        refresh_token: &str,
    ) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(self.url("/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client.client_id.as_str()),
            ])
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// Registers a Claude-like public client, signs an existing user in, approves, and returns
    /// the client with the token response body.
    pub async fn full_flow_as(
        &self,
        email: &str,
        password: &str,
    ) -> anyhow::Result<(Registered, Value)> {
        let client = self.register_claude().await?;
        let pkce = pkce();
        let browser = Browser::new(self)?;
        let sign_in = browser
            .get(&self.authorize_url(&client, CLAUDE_CALLBACK, &pkce, &[]))
            .await?;
        let consent = browser
            .submit(&sign_in, &[("email", email), ("password", password)])
            .await?;
        anyhow::ensure!(
            consent.status == 200,
            "sign-in: {} {}",
            consent.status,
            consent.body
        );
        let back = browser.submit(&consent, &[("decision", "allow")]).await?;
        let code = back.redirect_param("code").context("no code")?;
        let response = self
            .exchange(&client, &code, CLAUDE_CALLBACK, &pkce.verifier)
            .await?;
        anyhow::ensure!(response.status() == 200, "token: {}", response.status());
        Ok((client, response.json().await?))
    }

    /// Registers a Claude-like public client, signs a new user up and returns the token
    /// response body with the client.
    pub async fn full_flow(&self, email: &str) -> anyhow::Result<(Registered, Value)> {
        self.full_flow_in(&Browser::new(self)?, email).await
    }

    /// Like [`TestApp::full_flow`] in `browser`, which keeps the session cookie afterwards.
    pub async fn full_flow_in(
        &self,
        browser: &Browser,
        email: &str,
    ) -> anyhow::Result<(Registered, Value)> {
        let client = self.register_claude().await?;
        let pkce = pkce();
        let url = self.authorize_url(&client, CLAUDE_CALLBACK, &pkce, &[]);
        let back = self.sign_up_and_approve(browser, &url, email).await?;
        let code = back.redirect_param("code").context("no code")?;
        let response = self
            .exchange(&client, &code, CLAUDE_CALLBACK, &pkce.verifier)
            .await?;
        anyhow::ensure!(response.status() == 200, "token: {}", response.status());
        Ok((client, response.json().await?))
    }
}

/// A raw JSON-RPC client for `/mcp` with a bearer token.
pub struct Mcp<'a> {
    app: &'a TestApp,
    /// The access token.
    pub token: String,
}

impl<'a> Mcp<'a> {
    /// A client using `token`.
    pub fn new(app: &'a TestApp, token: &str) -> Self {
        Self {
            app,
            token: token.to_owned(),
        }
    }

    /// POSTs one message with `MCP-Protocol-Version: 2025-06-18`; (status, body).
    pub async fn send(&self, message: &Value) -> anyhow::Result<(u16, Value)> {
        self.send_as(message, "2025-06-18").await
    }

    /// POSTs one message with the given `MCP-Protocol-Version`; (status, body).
    pub async fn send_as(&self, message: &Value, version: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .app
            .http
            .post(self.app.url("/mcp"))
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version)
            .json(message)
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        };
        Ok((status, body))
    }

    /// Calls a tool and returns its result (`structuredContent`, `isError`, ...).
    pub async fn call(&self, tool: &str, arguments: Value) -> anyhow::Result<Value> {
        let (status, body) = self
            .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}))
            .await?;
        anyhow::ensure!(status == 200, "{tool}: HTTP {status} {body}");
        Ok(body["result"].clone())
    }
}
