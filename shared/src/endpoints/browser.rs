//! What the two page endpoints (`/authorize` and `/account`) share for one request from a
//! person's browser: the origin's cookie names, the sealer for the session cookie and CSRF
//! tokens, the clock reading, and the signed-in user.

use ::http::StatusCode;
use ::http::header::{COOKIE, HeaderValue, SET_COOKIE};

use crate::config::BaseUrl;
use crate::http::{self, Request, Response};
use crate::oauth::pages;
use crate::oauth::session::{CookieNames, Sealer, Session, cookie, set_cookie};
use crate::state::State;
use crate::store::{StoreError, User};

/// One request's view of the browser's cookies. Each endpoint adds its own page methods.
pub(crate) struct Flow<'a> {
    pub(crate) state: &'a State,
    pub(crate) base: BaseUrl,
    pub(crate) sealer: Sealer,
    pub(crate) names: CookieNames,
    pub(crate) now: i64,
    /// The request's `Cookie` header.
    cookies: Option<&'a str>,
    /// The nonce of the request's authentic CSRF cookie, reused by every form rendered.
    csrf_nonce: Option<String>,
}

/// The page for a store failure (the cause is logged, the person sees a generic message).
pub(crate) fn store_down(err: &StoreError) -> Response {
    tracing::error!(error = %err, source = ?std::error::Error::source(err), "page: store failure");
    pages::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable. Try again in a moment.",
    )
}

/// Appends `Set-Cookie` headers.
pub(crate) fn add_cookies(response: &mut Response, cookies: &[String]) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
}

impl<'a> Flow<'a> {
    /// The request's flow, or the error page when the origin is unknown or the signing key
    /// (which keys the cookies) is not loaded.
    pub(crate) fn start(state: &'a State, req: &'a Request) -> Result<Self, Response> {
        let base = http::require_base_url(state, req)?;
        let Ok(keys) = &state.keys else {
            return Err(pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable: the server's signing key is not loaded.",
            ));
        };
        let names = CookieNames::for_origin(base.is_loopback());
        let sealer = Sealer::new(keys);
        let cookies = http::header(req, COOKIE);
        Ok(Self {
            state,
            csrf_nonce: sealer.csrf_nonce(cookie(cookies, names.csrf)),
            cookies,
            names,
            base,
            sealer,
            now: state.clock.now(),
        })
    }

    /// The user of a valid session cookie, with when they signed in.
    pub(crate) async fn signed_in(&self) -> Result<Option<(User, i64)>, Response> {
        let Some(session) = cookie(self.cookies, self.names.session)
            .and_then(|v| self.sealer.open_session(v, self.now))
        else {
            return Ok(None);
        };
        match self.state.store.get_user(&session.uid).await {
            Ok(user) => Ok(user.map(|u| (u, session.auth_time))),
            Err(err) => Err(store_down(&err)),
        }
    }

    /// Whether a form's `csrf` value matches the request's CSRF cookie.
    pub(crate) fn csrf_ok(&self, form: Option<&str>) -> bool {
        self.sealer
            .check_csrf(cookie(self.cookies, self.names.csrf), form)
    }

    /// The CSRF cookies to set (none when the request's cookie is reused) and the form value.
    fn csrf(&self) -> Option<(Vec<String>, String)> {
        if let Some(nonce) = &self.csrf_nonce {
            return Some((Vec::new(), nonce.clone()));
        }
        let (cookie_value, form_value) = self.sealer.new_csrf()?;
        let cookie = set_cookie(&self.names, self.names.csrf, &cookie_value, 3600, "Strict");
        Some((vec![cookie], form_value))
    }

    /// A page rendered with the CSRF form value, its cookie set when new.
    pub(crate) fn with_csrf(&self, render: impl FnOnce(&str) -> Response) -> Response {
        let Some((cookies, csrf)) = self.csrf() else {
            return http::unavailable();
        };
        let mut response = render(&csrf);
        add_cookies(&mut response, &cookies);
        response
    }

    /// A new session cookie for `user`, signed in now.
    pub(crate) fn session_cookie(&self, user: &User) -> String {
        let ttl = self.state.config.oauth.session_ttl;
        let session = Session {
            uid: user.user_id.clone(),
            auth_time: self.now,
            exp: self.now + ttl,
        };
        let sealed = self.sealer.seal_session(&session);
        set_cookie(&self.names, self.names.session, &sealed, ttl, "Lax")
    }

    /// The cookie that ends the session.
    pub(crate) fn end_session_cookie(&self) -> String {
        set_cookie(&self.names, self.names.session, "", 0, "Lax")
    }
}
