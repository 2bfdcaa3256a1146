//! The HTML pages of the authorization endpoint (sign-in, sign-up, consent, error) and of the
//! account page (connected applications). Plain
//! server-rendered forms (no script), every interpolated value escaped, served with a strict
//! Content-Security-Policy and framing forbidden (clickjacking defence, OAuth 2.1 §7.7).

use ::http::StatusCode;
use ::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use lambda_http::Body;

use crate::http::Response;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f5f5f4;color:#1c1917;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}\
main{background:#fff;border:1px solid #e7e5e4;border-radius:12px;padding:32px;width:100%;max-width:380px;box-shadow:0 1px 3px rgba(0,0,0,.06)}\
h1{font-size:1.35rem;margin:0 0 8px}p{line-height:1.45;margin:8px 0}.muted{color:#57534e;font-size:.92rem}\
label{display:block;font-weight:600;margin:16px 0 6px}input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:10px;border:1px solid #d6d3d1;border-radius:8px;font-size:1rem}\
button{font-size:1rem;padding:10px 16px;border-radius:8px;border:1px solid #1c1917;background:#1c1917;color:#fff;cursor:pointer;margin-top:20px}\
button.secondary{background:#fff;color:#1c1917}.row{display:flex;gap:12px}.row button{flex:1}\
.error{background:#fef2f2;border:1px solid #fecaca;color:#991b1b;padding:10px;border-radius:8px}\
ul{padding-left:20px}li{margin:6px 0}a{color:#1d4ed8}\
.app{border-top:1px solid #e7e5e4;padding:12px 0}.app form{margin:0}.app button{margin-top:8px;padding:6px 12px;font-size:.92rem}\
.notice{background:#f0fdf4;border:1px solid #bbf7d0;color:#166534;padding:10px;border-radius:8px}";

/// A page with the security headers; `form_action` lists the origins forms may submit or be
/// redirected to (CSP `form-action` also governs the redirect after the consent form).
pub fn page(status: StatusCode, title: &str, body: &str, form_action: &[String]) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    );
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = status;
    let mut actions = vec!["'self'".to_owned()];
    actions.extend(form_action.iter().cloned());
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        actions.join(" ")
    );
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert("content-security-policy", value);
    }
    response
}

/// The error page for a request that cannot be sent back to the client.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>This sign-in request cannot continue</h1><p class=\"error\" role=\"alert\">{}</p>\
         <p class=\"muted\">Return to the application you came from and connect again.</p>",
        escape(message)
    );
    page(status, "Sign-in error", &body, &[])
}

/// Hidden inputs carrying the authorization request and the CSRF token.
pub fn hidden_fields(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect()
}

/// What the sign-in and sign-up pages show about the request.
pub struct Context<'a> {
    /// The client's display name.
    pub client_name: &'a str,
    /// Hidden fields (request + CSRF).
    pub hidden: &'a str,
    /// An error to show, if the last attempt failed.
    pub error: Option<&'a str>,
    /// The e-mail address to prefill.
    pub email: &'a str,
    /// The redirect URI's origin: a sign-in can redirect there at once when consent is on
    /// record, and CSP `form-action` governs that redirect too.
    pub redirect_origin: String,
}

fn error_block(error: Option<&str>) -> String {
    error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))
    })
}

/// The sign-in page; `signup_link` (a URL) is shown when sign-up is allowed.
pub fn sign_in(ctx: &Context<'_>, signup_link: Option<&str>, status: StatusCode) -> Response {
    let signup = signup_link.map_or_else(String::new, |href| {
        format!(
            "<p class=\"muted\">No account yet? <a href=\"{}\">Create one</a></p>",
            escape(href)
        )
    });
    let body = format!(
        "<h1>Sign in to Memory</h1><p class=\"muted\"><strong>{client}</strong> wants to use your memories.</p>{error}\
         <form method=\"post\" action=\"/authorize\">{hidden}<input type=\"hidden\" name=\"action\" value=\"signin\">\
         <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{email}\">\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>{signup}",
        client = escape(ctx.client_name),
        error = error_block(ctx.error),
        hidden = ctx.hidden,
        email = escape(ctx.email),
    );
    page(
        status,
        "Sign in",
        &body,
        std::slice::from_ref(&ctx.redirect_origin),
    )
}

/// The sign-up page.
pub fn sign_up(ctx: &Context<'_>, signin_link: &str, status: StatusCode) -> Response {
    let body = format!(
        "<h1>Create your Memory account</h1><p class=\"muted\">Then <strong>{client}</strong> can ask to use your memories.</p>{error}\
         <form method=\"post\" action=\"/authorize\">{hidden}<input type=\"hidden\" name=\"action\" value=\"signup\">\
         <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required value=\"{email}\">\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"{min}\" required>\
         <p class=\"muted\">At least {min} characters.</p>\
         <button type=\"submit\">Create account</button></form>\
         <p class=\"muted\">Already have an account? <a href=\"{signin}\">Sign in</a></p>",
        client = escape(ctx.client_name),
        error = error_block(ctx.error),
        hidden = ctx.hidden,
        email = escape(ctx.email),
        min = super::password::MIN_LEN,
        signin = escape(signin_link),
    );
    page(
        status,
        "Create account",
        &body,
        std::slice::from_ref(&ctx.redirect_origin),
    )
}

/// What the consent page shows.
pub struct Consent<'a> {
    /// The client's display name.
    pub client_name: &'a str,
    /// The host the user will be sent back to.
    pub redirect_host: &'a str,
    /// (scope, description) pairs.
    pub scopes: &'a [(&'a str, &'a str)],
    /// Who is signed in.
    pub email: &'a str,
    /// Hidden fields (request + CSRF).
    pub hidden: &'a str,
    /// The redirect URI's origin, allowed as a form target.
    pub redirect_origin: String,
}

/// The consent page with `decision=allow` / `decision=deny`.
pub fn consent(c: &Consent<'_>) -> Response {
    let scopes: String = c
        .scopes
        .iter()
        .map(|(name, text)| {
            format!(
                "<li><strong>{}</strong>: {}</li>",
                escape(text),
                escape(name)
            )
        })
        .collect();
    let body = format!(
        "<h1>Allow {client} to use your memories?</h1>\
         <p class=\"muted\">Signed in as <strong>{email}</strong>.</p>\
         <p>{client} will be able to:</p><ul>{scopes}</ul>\
         <p class=\"muted\">After you decide you will be sent to <strong>{host}</strong>. \
         You can disconnect it later under <a href=\"/account\">Connected applications</a>.</p>\
         <form method=\"post\" action=\"/authorize\">{hidden}<input type=\"hidden\" name=\"action\" value=\"consent\">\
         <div class=\"row\"><button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button></div></form>",
        client = escape(c.client_name),
        email = escape(c.email),
        host = escape(c.redirect_host),
        hidden = c.hidden,
    );
    page(
        StatusCode::OK,
        "Allow access",
        &body,
        std::slice::from_ref(&c.redirect_origin),
    )
}

/// The account page's sign-in form (no authorization request behind it).
pub fn account_sign_in(
    csrf: &str,
    error: Option<&str>,
    email: &str,
    status: StatusCode,
) -> Response {
    let body = format!(
        "<h1>Connected applications</h1>\
         <p class=\"muted\">Sign in to see and disconnect the applications that use your memories.</p>{error}\
         <form method=\"post\" action=\"/account\">{hidden}\
         <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" value=\"{email}\" required autofocus>\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        error = error_block(error),
        hidden = hidden_fields(&[("csrf", csrf), ("action", "signin")]),
        email = escape(email),
    );
    page(status, "Connected applications", &body, &[])
}

/// One connected application on the account page.
pub struct ConnectedApp<'a> {
    /// The client id (what the Disconnect button sends).
    pub client_id: &'a str,
    /// The display name.
    pub name: &'a str,
    /// What it may do, in words.
    pub permissions: Vec<&'a str>,
    /// Since when (a date).
    pub since: String,
}

/// The list of connected applications, each with a Disconnect button, and a Sign-out button.
/// `lag_seconds` is how long the MCP endpoint may still accept a disconnected application's
/// access token (its per-container grant cache).
pub fn account(
    email: &str,
    apps: &[ConnectedApp<'_>],
    csrf: &str,
    notice: Option<&str>,
    lag_seconds: u64,
) -> Response {
    let list: String = if apps.is_empty() {
        "<p>No application is connected to your memories.</p>".to_owned()
    } else {
        apps.iter()
            .map(|app| {
                format!(
                    "<div class=\"app\"><strong>{name}</strong>\
                     <p class=\"muted\">{permissions}. Connected since {since}.</p>\
                     <form method=\"post\" action=\"/account\">{hidden}\
                     <button type=\"submit\" class=\"secondary\">Disconnect</button></form></div>",
                    name = escape(app.name),
                    permissions = escape(&app.permissions.join("; ")),
                    since = escape(&app.since),
                    hidden = hidden_fields(&[
                        ("csrf", csrf),
                        ("action", "disconnect"),
                        ("client_id", app.client_id),
                    ]),
                )
            })
            .collect()
    };
    let notice = notice.map_or_else(String::new, |n| {
        format!("<p class=\"notice\" role=\"status\">{}</p>", escape(n))
    });
    let body = format!(
        "<h1>Connected applications</h1><p class=\"muted\">Signed in as <strong>{email}</strong>.</p>\
         {notice}{list}\
         <p class=\"muted\">Disconnecting ends the application's access (within {lag_seconds} seconds) \
         and it must ask you again to reconnect. Your memories stay.</p>\
         <form method=\"post\" action=\"/account\">{hidden}<button type=\"submit\" class=\"secondary\">Sign out</button></form>",
        email = escape(email),
        hidden = hidden_fields(&[("csrf", csrf), ("action", "signout")]),
    );
    page(StatusCode::OK, "Connected applications", &body, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }

    #[test]
    fn pages_forbid_framing() {
        let response = error_page(StatusCode::BAD_REQUEST, "nope");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    }
}
