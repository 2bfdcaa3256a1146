//! The account page, GET/POST `/account`: a person signs in and sees the applications that
//! hold their consent or live tokens, and disconnects any of them (consent withdrawn, grants
//! revoked, so the client's refresh tokens fail and it must ask again). This is the user's way
//! to revoke a remembered consent; `admin revoke-grants` is the operator's.
//!
//! It shares the sign-in session cookie and the CSRF scheme of `/authorize` (same function,
//! same cookies), and answers every form with a 303 to `GET /account` so a reload never
//! resubmits.

use ::http::header::{COOKIE, HeaderValue, LOCATION, SET_COOKIE};
use ::http::{Method, StatusCode};
use lambda_http::Body;

use crate::accounts::{self, SignIn};
use crate::http::{self, Request, Response};
use crate::memory::rfc3339;
use crate::oauth::cimd::is_document_url;
use crate::oauth::normalise_email;
use crate::oauth::pages::{self, ConnectedApp};
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::oauth::session::{CookieNames, Sealer, Session, cookie, set_cookie};
use crate::state::State;
use crate::store::{StoreError, User};

/// Where a disconnect sends the browser (the page then says it is done).
const DISCONNECTED: &str = "/account?done=disconnected";

fn store_down(err: &StoreError) -> Response {
    tracing::error!(error = %err, source = ?std::error::Error::source(err), "account: store failure");
    pages::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable. Try again in a moment.",
    )
}

/// A 303 to `location` (a path on this origin) with `cookies` set.
fn see_other(location: &'static str, cookies: &[String]) -> Response {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(location));
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    http::no_store(&mut response);
    response
}

struct Page<'a> {
    state: &'a State,
    sealer: Sealer,
    names: CookieNames,
    now: i64,
    /// The nonce of the request's authentic CSRF cookie, if any.
    csrf_nonce: Option<String>,
}

impl Page<'_> {
    /// Renders with a CSRF token: the request's own, or a new one (and its cookie).
    fn with_csrf(&self, render: impl FnOnce(&str) -> Response) -> Response {
        let (cookie, csrf) = match &self.csrf_nonce {
            Some(nonce) => (None, nonce.clone()),
            None => {
                let Some((cookie_value, form_value)) = self.sealer.new_csrf() else {
                    return http::unavailable();
                };
                let cookie =
                    set_cookie(&self.names, self.names.csrf, &cookie_value, 3600, "Strict");
                (Some(cookie), form_value)
            }
        };
        let mut response = render(&csrf);
        if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().append(SET_COOKIE, value);
        }
        response
    }

    fn sign_in_page(&self, error: Option<&str>, email: &str, status: StatusCode) -> Response {
        self.with_csrf(|csrf| pages::account_sign_in(csrf, error, email, status))
    }

    /// The applications of `user`: one entry per client with a consent or a live grant.
    async fn apps_page(&self, user: &User, notice: Option<&str>) -> Response {
        let store = self.state.store.as_ref();
        let (consents, grants) = match tokio::try_join!(
            store.list_consents(&user.user_id),
            store.list_grants(&user.user_id, self.now)
        ) {
            Ok(found) => found,
            Err(err) => return store_down(&err),
        };
        // (client id, scope, since), consents first; a grant adds a client without consent.
        let mut entries: Vec<(String, String, i64)> = consents
            .into_iter()
            .map(|c| (c.client_id, c.scope, c.created_at))
            .collect();
        for grant in grants {
            match entries.iter_mut().find(|(id, _, _)| *id == grant.client_id) {
                Some(entry) => entry.2 = entry.2.min(grant.created_at),
                None => entries.push((grant.client_id, grant.scope, grant.created_at)),
            }
        }
        let mut names = Vec::with_capacity(entries.len());
        for (client_id, _, _) in &entries {
            names.push(self.client_name(client_id).await);
        }
        let apps: Vec<ConnectedApp<'_>> = entries
            .iter()
            .zip(&names)
            .map(|((client_id, scope, since), name)| ConnectedApp {
                client_id,
                name,
                permissions: scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(scope::describe)
                    .collect(),
                since: rfc3339(*since)[..10].to_owned(),
            })
            .collect();
        let lag = self.state.config.mcp.grant_cache_seconds;
        self.with_csrf(|csrf| pages::account(&user.email, &apps, csrf, notice, lag))
    }

    /// A client's display name. A URL client id (metadata document) is named by its host
    /// rather than fetched; a registration that lapsed is named by its id.
    async fn client_name(&self, client_id: &str) -> String {
        if is_document_url(client_id) {
            return client_id
                .parse::<::http::Uri>()
                .ok()
                .and_then(|u| u.host().map(str::to_owned))
                .unwrap_or_else(|| client_id.to_owned());
        }
        match self.state.store.get_client(client_id, self.now).await {
            Ok(Some(client)) => client
                .metadata
                .client_name
                .unwrap_or_else(|| client_id.to_owned()),
            Ok(None) => format!("Application {client_id} (registration ended)"),
            Err(err) => {
                tracing::warn!(error = %err, "account: client lookup failed");
                client_id.to_owned()
            }
        }
    }

    fn session_cookie(&self, user: &User) -> String {
        let ttl = self.state.config.oauth.session_ttl;
        let session = Session {
            uid: user.user_id.clone(),
            auth_time: self.now,
            exp: self.now + ttl,
        };
        let sealed = self.sealer.seal_session(&session);
        set_cookie(&self.names, self.names.session, &sealed, ttl, "Lax")
    }
}

/// `GET /account` and `POST /account`.
pub async fn account(state: &State, req: &Request) -> Response {
    let base = match http::require_base_url(state, req) {
        Ok(base) => base,
        Err(response) => return response,
    };
    let Ok(keys) = &state.keys else {
        return pages::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable: the server's signing key is not loaded.",
        );
    };
    let names = CookieNames::for_origin(base.is_loopback());
    let sealer = Sealer::new(keys);
    let cookies = http::header(req, COOKIE);
    let page = Page {
        state,
        csrf_nonce: sealer.csrf_nonce(cookie(cookies, names.csrf)),
        names,
        sealer,
        now: state.clock.now(),
    };
    let session =
        cookie(cookies, names.session).and_then(|v| page.sealer.open_session(v, page.now));
    let user = match &session {
        Some(s) => match state.store.get_user(&s.uid).await {
            Ok(user) => user,
            Err(err) => return store_down(&err),
        },
        None => None,
    };

    if req.method() != Method::POST {
        let notice = (req.uri().query() == Some("done=disconnected"))
            .then_some("The application was disconnected.");
        return match &user {
            Some(user) => page.apps_page(user, notice).await,
            None => page.sign_in_page(None, "", StatusCode::OK),
        };
    }

    if !http::content_type_is(req, "application/x-www-form-urlencoded") {
        return pages::error_page(StatusCode::BAD_REQUEST, "The form was not sent as a form.");
    }
    let params = match Params::parse(&String::from_utf8_lossy(req.body().as_ref())) {
        Ok(params) => params,
        Err(e) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                &format!("The request is malformed: {e}."),
            );
        }
    };
    if !page
        .sealer
        .check_csrf(cookie(cookies, names.csrf), params.get("csrf"))
    {
        return page.sign_in_page(
            Some("This form expired. Please try again."),
            "",
            StatusCode::FORBIDDEN,
        );
    }
    match (params.get("action"), user) {
        (Some("signin"), _) => sign_in(&page, &params).await,
        (Some("signout"), _) => {
            let cleared = set_cookie(&names, names.session, "", 0, "Lax");
            see_other("/account", &[cleared])
        }
        (Some("disconnect"), Some(user)) => {
            let Some(client_id) = params.get("client_id") else {
                return pages::error_page(StatusCode::BAD_REQUEST, "No application was named.");
            };
            match accounts::disconnect(state.store.as_ref(), &user.user_id, client_id, page.now)
                .await
            {
                Ok((revoked, _)) => {
                    for grant_id in &revoked {
                        state.grant_cache.forget(grant_id);
                    }
                    tracing::info!(user_id = %user.user_id, %client_id, grants = revoked.len(), "application disconnected by the user");
                    see_other(DISCONNECTED, &[])
                }
                Err(err) => store_down(&err),
            }
        }
        (Some("disconnect"), None) => {
            page.sign_in_page(Some("Please sign in first."), "", StatusCode::UNAUTHORIZED)
        }
        _ => pages::error_page(StatusCode::BAD_REQUEST, "The form was not recognised."),
    }
}

async fn sign_in(page: &Page<'_>, params: &Params) -> Response {
    let typed = params.get("email").unwrap_or_default();
    let Some(email) = normalise_email(typed) else {
        return page.sign_in_page(
            Some("Enter a valid email address."),
            typed,
            StatusCode::BAD_REQUEST,
        );
    };
    let password = params.get("password").unwrap_or_default();
    match accounts::sign_in(page.state.store.as_ref(), &email, password, page.now).await {
        Ok(SignIn::Verified(user)) => {
            tracing::info!(user_id = %user.user_id, "signed in (account page)");
            see_other("/account", &[page.session_cookie(&user)])
        }
        Ok(SignIn::Locked(minutes)) => {
            let message = format!("Too many failed sign-ins. Try again in {minutes} minute(s).");
            page.sign_in_page(Some(&message), typed, StatusCode::TOO_MANY_REQUESTS)
        }
        Ok(SignIn::Refused) => page.sign_in_page(
            Some("Wrong email or password."),
            typed,
            StatusCode::UNAUTHORIZED,
        ),
        Err(err) => store_down(&err),
    }
}
