//! The authorization endpoint (OAuth 2.1 §4.1.1–4.1.2): request validation, sign-in, sign-up
//! where the policy allows it, consent, and the redirect with `code`, `state` and `iss`
//! (RFC 9207).
//!
//! Until the client and its redirect URI are validated, every error is a local HTML page and
//! never a redirect ([`Rejection::Page`]); afterwards errors go back to the client
//! ([`Rejection::Redirect`]). The pages' forms post the whole request back, and every POST
//! validates it again, so no server-side state is kept between steps besides the signed session
//! cookie and the consent record.

use ::http::header::{HeaderValue, LOCATION};
use ::http::{Method, StatusCode};
use lambda_http::Body;

use super::browser::{Flow, add_cookies, store_down};
use crate::accounts::{self, AccountError, SignIn};
use crate::config::BaseUrl;
use crate::crypto::{random_token, sha256_hex};
use crate::http::{self, Request, Response};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::pages::{self, Context};
use crate::oauth::params::Params;
use crate::oauth::pkce::CodeChallenge;
use crate::oauth::prompt::Prompt;
use crate::oauth::scope::{self, Scope};
use crate::oauth::{metadata, normalise_email, redirect, resource_matches};
use crate::state::{ClientLookupError, State};
use crate::store::{AuthCode, Client, Consent, StoreError, User};

/// Why an authorization request cannot proceed.
enum Rejection {
    /// Before the redirect URI is trusted: shown locally, never redirected.
    Page(StatusCode, String),
    /// After: sent back to the client.
    Redirect {
        to: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// A validated authorization request.
struct AuthRequest {
    client: Client,
    redirect_uri: String,
    state: Option<String>,
    challenge: CodeChallenge,
    scope: Scope,
    resource: String,
    prompt: Prompt,
    /// The request's own parameters, re-sent by every form.
    echo: Vec<(&'static str, String)>,
}

impl AuthRequest {
    fn client_name(&self) -> &str {
        self.client
            .metadata
            .client_name
            .as_deref()
            .unwrap_or(&self.client.client_id)
    }

    fn query(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> =
            self.echo.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.extend_from_slice(extra);
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

fn page_error(status: StatusCode, message: impl Into<String>) -> Rejection {
    Rejection::Page(status, message.into())
}

async fn validate(
    state: &State,
    base: &BaseUrl,
    params: &Params,
) -> Result<AuthRequest, Rejection> {
    let client_id = params.get("client_id").ok_or_else(|| {
        page_error(
            StatusCode::BAD_REQUEST,
            "The request names no application (client_id is missing).",
        )
    })?;
    let client = match state.find_client(client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(page_error(
                StatusCode::BAD_REQUEST,
                "This application is not registered here (unknown client_id). Remove the connection and add it again.",
            ));
        }
        Err(ClientLookupError::Document(err)) => {
            return Err(page_error(
                StatusCode::BAD_REQUEST,
                format!("This application cannot be used: {err}."),
            ));
        }
        Err(ClientLookupError::Store(err)) => {
            tracing::error!(error = %err, "authorize: store failure");
            return Err(page_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Try again in a moment.",
            ));
        }
    };
    let registered = &client.metadata.redirect_uris;
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) if registered.iter().any(|r| redirect::matches(r, uri)) => uri.to_owned(),
        Some(_) => {
            return Err(page_error(
                StatusCode::BAD_REQUEST,
                "The redirect URI does not match the ones this application registered.",
            ));
        }
        None => match registered.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(page_error(
                    StatusCode::BAD_REQUEST,
                    "The request has no redirect_uri.",
                ));
            }
        },
    };
    let state_param = params.get("state").map(str::to_owned);
    let back = |code: ErrorCode, description: String| Rejection::Redirect {
        to: redirect_uri.clone(),
        state: state_param.clone(),
        error: OAuthError::new(code, description),
    };

    match params.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(back(
                ErrorCode::UnsupportedResponseType,
                format!("response_type {other:?} is not supported; use code"),
            ));
        }
        None => {
            return Err(back(
                ErrorCode::InvalidRequest,
                "response_type is required".into(),
            ));
        }
    }
    let challenge = CodeChallenge::parse(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    )
    .map_err(|e| back(ErrorCode::InvalidRequest, e.into()))?;
    let mcp_url = metadata::mcp_url(base);
    let resource = match params.get("resource") {
        Some(r) if resource_matches(r, &mcp_url) => mcp_url,
        Some(r) => {
            return Err(back(
                ErrorCode::InvalidTarget,
                format!("resource {r:?} is not served here; use {mcp_url}"),
            ));
        }
        None => mcp_url,
    };
    let allowed = match &client.metadata.scope {
        Some(registered) => Scope::parse(registered).unwrap_or_default(),
        None => Scope::all(),
    };
    let scope = match params.get("scope") {
        Some(raw) => Scope::parse(raw).map_err(|e| back(ErrorCode::InvalidScope, e))?,
        None => allowed.clone(),
    };
    let scope = if scope.is_empty() {
        allowed.clone()
    } else {
        scope
    };
    if !allowed.contains_all(&scope) {
        return Err(back(
            ErrorCode::InvalidScope,
            "the requested scope exceeds what the client registered".into(),
        ));
    }

    let prompt =
        Prompt::parse(params.get("prompt")).map_err(|e| back(ErrorCode::InvalidRequest, e))?;

    let mut echo = vec![
        ("response_type", "code".to_owned()),
        ("client_id", client.client_id.clone()),
        ("redirect_uri", redirect_uri.clone()),
        ("code_challenge", challenge.as_str().to_owned()),
        ("code_challenge_method", "S256".to_owned()),
    ];
    for name in ["state", "scope", "resource", "prompt"] {
        if let Some(value) = params.get(name) {
            echo.push((name, value.to_owned()));
        }
    }
    Ok(AuthRequest {
        client,
        redirect_uri,
        state: state_param,
        challenge,
        scope,
        resource,
        prompt,
        echo,
    })
}

/// The error response to the client (RFC 6749 §4.1.2.1), with `state` and `iss` (RFC 9207).
fn error_redirect(
    base: &BaseUrl,
    to: &str,
    state: Option<&str>,
    code: &str,
    description: &str,
) -> Response {
    let mut back = vec![("error", code), ("error_description", description)];
    if let Some(s) = state {
        back.push(("state", s));
    }
    back.push(("iss", base.as_str()));
    redirect_to(to, &back, &[])
}

/// The redirect to the client with `params` added to its query (RFC 6749 §4.1.2).
fn redirect_to(uri: &str, params: &[(&str, &str)], cookies: &[String]) -> Response {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let separator = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{separator}{query}");
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::FOUND;
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(LOCATION, value);
        }
        Err(_) => {
            return pages::error_page(StatusCode::BAD_REQUEST, "The redirect URI is not usable.");
        }
    }
    http::no_store(&mut response);
    add_cookies(&mut response, cookies);
    response
}

fn origin_of(uri: &str) -> String {
    uri.parse::<::http::Uri>()
        .ok()
        .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)))
        .unwrap_or_default()
}

impl Flow<'_> {
    fn hidden(&self, auth: &AuthRequest, csrf: &str) -> String {
        let mut fields: Vec<(&str, &str)> =
            auth.echo.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fields.push(("csrf", csrf));
        pages::hidden_fields(&fields)
    }

    fn sign_in_page(
        &self,
        auth: &AuthRequest,
        error: Option<&str>,
        email: &str,
        status: StatusCode,
    ) -> Response {
        let signup = self
            .state
            .config
            .oauth
            .signup
            .offers_signup()
            .then(|| format!("/authorize?{}", auth.query(&[("screen", "signup")])));
        self.credentials_page(auth, error, email, |ctx| {
            pages::sign_in(ctx, signup.as_deref(), status)
        })
    }

    fn sign_up_page(
        &self,
        auth: &AuthRequest,
        error: Option<&str>,
        email: &str,
        status: StatusCode,
    ) -> Response {
        let signin = format!("/authorize?{}", auth.query(&[]));
        self.credentials_page(auth, error, email, |ctx| {
            pages::sign_up(ctx, &signin, status)
        })
    }

    /// A sign-in or sign-up page: its form carries the request and a CSRF token.
    fn credentials_page(
        &self,
        auth: &AuthRequest,
        error: Option<&str>,
        email: &str,
        render: impl FnOnce(&Context<'_>) -> Response,
    ) -> Response {
        self.with_csrf(|csrf| {
            let hidden = self.hidden(auth, csrf);
            render(&Context {
                client_name: auth.client_name(),
                hidden: &hidden,
                error,
                email,
                redirect_origin: origin_of(&auth.redirect_uri),
            })
        })
    }

    fn consent_page(&self, auth: &AuthRequest, user: &User, cookies: &[String]) -> Response {
        let scopes: Vec<(&str, &str)> =
            auth.scope.iter().map(|s| (s, scope::describe(s))).collect();
        let host = auth
            .redirect_uri
            .parse::<::http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_owned))
            .unwrap_or_default();
        let mut response = self.with_csrf(|csrf| {
            pages::consent(&pages::Consent {
                client_name: auth.client_name(),
                redirect_host: &host,
                scopes: &scopes,
                email: &user.email,
                hidden: &self.hidden(auth, csrf),
                redirect_origin: origin_of(&auth.redirect_uri),
            })
        });
        add_cookies(&mut response, cookies);
        response
    }

    /// Issues the code and redirects back to the client.
    async fn approve(
        &self,
        auth: &AuthRequest,
        user: &User,
        auth_time: i64,
        cookies: &[String],
    ) -> Response {
        let Ok(code) = random_token() else {
            return http::unavailable();
        };
        let record = AuthCode {
            code_hash: sha256_hex(&code),
            client_id: auth.client.client_id.clone(),
            user_id: user.user_id.clone(),
            redirect_uri: auth.redirect_uri.clone(),
            code_challenge: auth.challenge.as_str().to_owned(),
            scope: auth.scope.to_string(),
            resource: auth.resource.clone(),
            auth_time,
            created_at: self.now,
            expires_at: self.now + self.state.config.oauth.code_ttl,
        };
        if let Err(err) = self.state.store.put_code(&record).await {
            return store_down(&err);
        }
        tracing::info!(client_id = %auth.client.client_id, user_id = %user.user_id, "authorization code issued");
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = &auth.state {
            params.push(("state", state));
        }
        params.push(("iss", self.base.as_str()));
        redirect_to(&auth.redirect_uri, &params, cookies)
    }

    async fn consent_covers(&self, user: &User, auth: &AuthRequest) -> Result<bool, StoreError> {
        let consent = self
            .state
            .store
            .get_consent(&user.user_id, &auth.client.client_id)
            .await?;
        Ok(consent.is_some_and(|c| {
            Scope::parse(&c.scope).is_ok_and(|granted| granted.contains_all(&auth.scope))
        }))
    }

    /// An error back to the client of a validated request.
    fn back(&self, auth: &AuthRequest, code: &str, description: &str) -> Response {
        error_redirect(
            &self.base,
            &auth.redirect_uri,
            auth.state.as_deref(),
            code,
            description,
        )
    }

    /// `prompt=none`: the code at once, or the error saying which page would have shown.
    async fn without_pages(&self, auth: &AuthRequest, signed_in: Option<(User, i64)>) -> Response {
        let Some((user, auth_time)) = signed_in else {
            return self.back(auth, "login_required", "the user is not signed in");
        };
        match self.consent_covers(&user, auth).await {
            Ok(true) => self.approve(auth, &user, auth_time, &[]).await,
            Ok(false) => self.back(
                auth,
                "consent_required",
                "the user has not approved this application",
            ),
            Err(err) => store_down(&err),
        }
    }

    /// Signed in: approve at once if consent is on record (and `prompt=consent` was not
    /// asked), else ask.
    async fn after_sign_in(
        &self,
        auth: &AuthRequest,
        user: &User,
        auth_time: i64,
        cookies: &[String],
    ) -> Response {
        if auth.prompt.consent {
            return self.consent_page(auth, user, cookies);
        }
        match self.consent_covers(user, auth).await {
            Ok(true) => self.approve(auth, user, auth_time, cookies).await,
            Ok(false) => self.consent_page(auth, user, cookies),
            Err(err) => store_down(&err),
        }
    }
}

/// `GET /authorize` and `POST /authorize`.
pub async fn authorize(state: &State, req: &Request) -> Response {
    let flow = match Flow::start(state, req) {
        Ok(flow) => flow,
        Err(response) => return response,
    };
    let base = &flow.base;
    let is_post = req.method() == Method::POST;
    let raw = if is_post {
        if !http::content_type_is(req, "application/x-www-form-urlencoded") {
            return pages::error_page(StatusCode::BAD_REQUEST, "The form was not sent as a form.");
        }
        String::from_utf8_lossy(req.body().as_ref()).into_owned()
    } else {
        req.uri().query().unwrap_or_default().to_owned()
    };
    let params = match Params::parse(&raw) {
        Ok(params) => params,
        Err(e) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                &format!("The request is malformed: {e}."),
            );
        }
    };
    let auth = match validate(state, base, &params).await {
        Ok(auth) => auth,
        Err(Rejection::Page(status, message)) => return pages::error_page(status, &message),
        Err(Rejection::Redirect {
            to,
            state: s,
            error,
        }) => {
            return error_redirect(
                base,
                &to,
                s.as_deref(),
                error.code.as_str(),
                &error.description,
            );
        }
    };
    let signed_in = match flow.signed_in().await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };

    if !is_post {
        if auth.prompt.none {
            return flow.without_pages(&auth, signed_in).await;
        }
        let wants_signup =
            params.get("screen") == Some("signup") && state.config.oauth.signup.offers_signup();
        // `prompt=login`: the session is not reused (a new sign-in replaces it).
        return match signed_in.filter(|_| !auth.prompt.login) {
            Some((user, auth_time)) => flow.after_sign_in(&auth, &user, auth_time, &[]).await,
            None if wants_signup => flow.sign_up_page(&auth, None, "", StatusCode::OK),
            None => flow.sign_in_page(&auth, None, "", StatusCode::OK),
        };
    }

    if !flow.csrf_ok(params.get("csrf")) {
        return flow.sign_in_page(
            &auth,
            Some("This form expired. Please sign in again."),
            "",
            StatusCode::FORBIDDEN,
        );
    }
    match params.get("action") {
        Some("signin") => sign_in(&flow, &auth, &params).await,
        Some("signup") => sign_up(&flow, &auth, &params).await,
        Some("consent") => match signed_in {
            Some((user, auth_time)) => {
                decide(&flow, &auth, &user, auth_time, params.get("decision")).await
            }
            None => flow.sign_in_page(
                &auth,
                Some("Please sign in first."),
                "",
                StatusCode::UNAUTHORIZED,
            ),
        },
        _ => pages::error_page(StatusCode::BAD_REQUEST, "The form was not recognised."),
    }
}

async fn sign_in(flow: &Flow<'_>, auth: &AuthRequest, params: &Params) -> Response {
    let typed = params.get("email").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    let Some(email) = normalise_email(typed) else {
        return flow.sign_in_page(
            auth,
            Some("Enter a valid email address."),
            typed,
            StatusCode::BAD_REQUEST,
        );
    };
    let outcome =
        match accounts::sign_in(flow.state.store.as_ref(), &email, password, flow.now).await {
            Ok(outcome) => outcome,
            Err(err) => return store_down(&err),
        };
    match outcome {
        SignIn::Verified(user) => {
            tracing::info!(user_id = %user.user_id, "signed in");
            let cookie = flow.session_cookie(&user);
            flow.after_sign_in(auth, &user, flow.now, &[cookie]).await
        }
        SignIn::Locked(minutes) => {
            let message = format!("Too many failed sign-ins. Try again in {minutes} minute(s).");
            flow.sign_in_page(auth, Some(&message), typed, StatusCode::TOO_MANY_REQUESTS)
        }
        SignIn::Refused => flow.sign_in_page(
            auth,
            Some("Wrong email or password."),
            typed,
            StatusCode::UNAUTHORIZED,
        ),
    }
}

async fn sign_up(flow: &Flow<'_>, auth: &AuthRequest, params: &Params) -> Response {
    let policy = &flow.state.config.oauth.signup;
    let typed = params.get("email").unwrap_or_default();
    if !policy.offers_signup() {
        return flow.sign_in_page(
            auth,
            Some("New accounts cannot be created here."),
            typed,
            StatusCode::FORBIDDEN,
        );
    }
    let Some(email) = normalise_email(typed) else {
        return flow.sign_up_page(
            auth,
            Some("Enter a valid email address."),
            typed,
            StatusCode::BAD_REQUEST,
        );
    };
    if !policy.allows(&email) {
        return flow.sign_up_page(
            auth,
            Some("This email address is not allowed to create an account here."),
            typed,
            StatusCode::FORBIDDEN,
        );
    }
    let password = params.get("password").unwrap_or_default();
    match accounts::create_user(flow.state.store.as_ref(), &email, password, flow.now).await {
        Ok(user) => {
            tracing::info!(user_id = %user.user_id, "account created");
            let cookie = flow.session_cookie(&user);
            flow.consent_page(auth, &user, &[cookie])
        }
        Err(AccountError::WeakPassword) => {
            let message = AccountError::WeakPassword.to_string();
            flow.sign_up_page(auth, Some(&message), typed, StatusCode::BAD_REQUEST)
        }
        Err(AccountError::Exists) => flow.sign_in_page(
            auth,
            Some("An account with this email already exists. Sign in instead."),
            typed,
            StatusCode::CONFLICT,
        ),
        Err(err) => {
            tracing::error!(error = %err, "sign-up failed");
            pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Try again.",
            )
        }
    }
}

async fn decide(
    flow: &Flow<'_>,
    auth: &AuthRequest,
    user: &User,
    auth_time: i64,
    decision: Option<&str>,
) -> Response {
    match decision {
        Some("allow") => {
            let consent = Consent {
                user_id: user.user_id.clone(),
                client_id: auth.client.client_id.clone(),
                scope: auth.scope.to_string(),
                created_at: flow.now,
            };
            if let Err(err) = flow.state.store.put_consent(&consent).await {
                return store_down(&err);
            }
            flow.approve(auth, user, auth_time, &[]).await
        }
        Some("deny") => {
            tracing::info!(client_id = %auth.client.client_id, user_id = %user.user_id, "access denied by the user");
            flow.back(auth, "access_denied", "the user denied access")
        }
        _ => pages::error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
    }
}
