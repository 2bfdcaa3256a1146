//! The account page, GET/POST `/account`: a person signs in and sees the applications that
//! hold their consent or live tokens, and disconnects any of them (consent withdrawn, grants
//! revoked, so the client's refresh tokens fail and it must ask again). This is the user's way
//! to revoke a remembered consent; `admin revoke-grants` is the operator's.
//!
//! It shares the sign-in session cookie and the CSRF scheme of `/authorize` (same function,
//! same cookies), and answers every form with a 303 to `GET /account` so a reload never
//! resubmits.

use ::http::header::{HeaderValue, LOCATION};
use ::http::{Method, StatusCode};
use lambda_http::Body;

use super::browser::{Flow, add_cookies, store_down};
use crate::accounts::{self, SignIn};
use crate::http::{self, Request, Response};
use crate::memory::rfc3339;
use crate::oauth::cimd::is_document_url;
use crate::oauth::normalise_email;
use crate::oauth::pages::{self, ConnectedApp};
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::state::State;
use crate::store::User;

/// Where a disconnect sends the browser (the page then says it is done).
const DISCONNECTED: &str = "/account?done=disconnected";

/// A 303 to `location` (a path on this origin) with `cookies` set.
fn see_other(location: &'static str, cookies: &[String]) -> Response {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(location));
    add_cookies(&mut response, cookies);
    http::no_store(&mut response);
    response
}

impl Flow<'_> {
    fn account_sign_in_page(
        &self,
        error: Option<&str>,
        email: &str,
        status: StatusCode,
    ) -> Response {
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
        // (client id, scope, since, has a live grant), consents first; a grant adds a client
        // without consent.
        let mut entries: Vec<(String, String, i64, bool)> = consents
            .into_iter()
            .map(|c| (c.client_id, c.scope, c.created_at, false))
            .collect();
        for grant in grants {
            match entries.iter_mut().find(|e| e.0 == grant.client_id) {
                Some(entry) => {
                    entry.2 = entry.2.min(grant.created_at);
                    entry.3 = true;
                }
                None => entries.push((grant.client_id, grant.scope, grant.created_at, true)),
            }
        }
        // One client lookup per entry, all at once rather than one round trip after another.
        let found =
            futures_util::future::join_all(entries.iter().map(|e| self.client_name(&e.0))).await;
        let mut names = Vec::with_capacity(entries.len());
        let mut kept = Vec::with_capacity(entries.len());
        for (entry, name) in entries.into_iter().zip(found) {
            match (name, entry.3) {
                (Some(name), _) => names.push(name),
                (None, true) => names.push(format!("Application {} (registration ended)", entry.0)),
                // A consent for a registration that is gone can never be used again (client ids
                // are never reissued): Claude registers anew on every fresh connection, and
                // unused registrations lapse. Drop it rather than list it.
                (None, false) => {
                    if let Err(err) = store.delete_consent(&user.user_id, &entry.0).await {
                        tracing::warn!(error = %err, "account: could not drop a stale consent");
                    }
                    continue;
                }
            }
            kept.push(entry);
        }
        let entries = kept;
        let apps: Vec<ConnectedApp<'_>> = entries
            .iter()
            .zip(&names)
            .map(|((client_id, scope, since, _), name)| ConnectedApp {
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

    /// A client's display name, or `None` when its registration is gone. A URL client id
    /// (metadata document) is named by its host rather than fetched.
    async fn client_name(&self, client_id: &str) -> Option<String> {
        if is_document_url(client_id) {
            return Some(
                client_id
                    .parse::<::http::Uri>()
                    .ok()
                    .and_then(|u| u.host().map(str::to_owned))
                    .unwrap_or_else(|| client_id.to_owned()),
            );
        }
        match self.state.store.get_client(client_id, self.now).await {
            Ok(Some(client)) => Some(
                client
                    .metadata
                    .client_name
                    .unwrap_or_else(|| client_id.to_owned()),
            ),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, "account: client lookup failed");
                Some(client_id.to_owned())
            }
        }
    }
}

/// `GET /account` and `POST /account`.
pub async fn account(state: &State, req: &Request) -> Response {
    let flow = match Flow::start(state, req) {
        Ok(flow) => flow,
        Err(response) => return response,
    };
    let user = match flow.signed_in().await {
        Ok(signed_in) => signed_in.map(|(user, _)| user),
        Err(response) => return response,
    };

    if req.method() != Method::POST {
        let notice = (req.uri().query() == Some("done=disconnected"))
            .then_some("The application was disconnected.");
        return match &user {
            Some(user) => flow.apps_page(user, notice).await,
            None => flow.account_sign_in_page(None, "", StatusCode::OK),
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
    if !flow.csrf_ok(params.get("csrf")) {
        return flow.account_sign_in_page(
            Some("This form expired. Please try again."),
            "",
            StatusCode::FORBIDDEN,
        );
    }
    match (params.get("action"), user) {
        (Some("signin"), _) => sign_in(&flow, &params).await,
        (Some("signout"), _) => see_other("/account", &[flow.end_session_cookie()]),
        (Some("disconnect"), Some(user)) => {
            let Some(client_id) = params.get("client_id") else {
                return pages::error_page(StatusCode::BAD_REQUEST, "No application was named.");
            };
            match accounts::disconnect(state.store.as_ref(), &user.user_id, client_id, flow.now)
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
            flow.account_sign_in_page(Some("Please sign in first."), "", StatusCode::UNAUTHORIZED)
        }
        _ => pages::error_page(StatusCode::BAD_REQUEST, "The form was not recognised."),
    }
}

async fn sign_in(flow: &Flow<'_>, params: &Params) -> Response {
    let typed = params.get("email").unwrap_or_default();
    let Some(email) = normalise_email(typed) else {
        return flow.account_sign_in_page(
            Some("Enter a valid email address."),
            typed,
            StatusCode::BAD_REQUEST,
        );
    };
    let password = params.get("password").unwrap_or_default();
    match accounts::sign_in(flow.state.store.as_ref(), &email, password, flow.now).await {
        Ok(SignIn::Verified(user)) => {
            tracing::info!(user_id = %user.user_id, "signed in (account page)");
            see_other("/account", &[flow.session_cookie(&user)])
        }
        Ok(SignIn::Locked(minutes)) => {
            let message = format!("Too many failed sign-ins. Try again in {minutes} minute(s).");
            flow.account_sign_in_page(Some(&message), typed, StatusCode::TOO_MANY_REQUESTS)
        }
        Ok(SignIn::Refused) => flow.account_sign_in_page(
            Some("Wrong email or password."),
            typed,
            StatusCode::UNAUTHORIZED,
        ),
        Err(err) => store_down(&err),
    }
}
