//! OAuth error responses: RFC 6749 §5.2 (token endpoint), §4.1.2.1 (authorization endpoint),
//! RFC 7591 §3.2.2 (registration), RFC 8707 §2 (`invalid_target`), RFC 7009 §2.2.1.
//! Every error response carries `Cache-Control: no-store`.

use std::borrow::Cow;

use ::http::StatusCode;
use ::http::header::HeaderValue;

use crate::http::{self, Response};

/// The error codes this server sends, with the RFC's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// "The request is missing a required parameter, includes an unsupported parameter value
    /// (other than grant type), repeats a parameter, includes multiple credentials, ... or is
    /// otherwise malformed."
    InvalidRequest,
    /// "Client authentication failed (e.g., unknown client, no client authentication included,
    /// or unsupported authentication method)."
    InvalidClient,
    /// "The provided authorization grant (e.g., authorization code, resource owner credentials)
    /// or refresh token is invalid, expired, revoked, does not match the redirection URI used in
    /// the authorization request, or was issued to another client."
    InvalidGrant,
    /// "The authenticated client is not authorized to use this authorization grant type."
    UnauthorizedClient,
    /// "The authorization grant type is not supported by the authorization server."
    UnsupportedGrantType,
    /// "The requested scope is invalid, unknown, malformed, or exceeds the scope granted by the
    /// resource owner."
    InvalidScope,
    /// RFC 8707: "The requested resource is invalid, missing, unknown, or malformed."
    InvalidTarget,
    /// "The resource owner or authorization server denied the request."
    AccessDenied,
    /// "The authorization server does not support obtaining an authorization code using this
    /// method."
    UnsupportedResponseType,
    /// RFC 7009: "The authorization server does not support the revocation of the presented
    /// token type."
    UnsupportedTokenType,
    /// RFC 7591: "The value of one or more redirection URIs is invalid."
    InvalidRedirectUri,
    /// RFC 7591: "The value of one of the client metadata fields is invalid and the server has
    /// rejected this request."
    InvalidClientMetadata,
    /// RFC 6750: "The access token provided is expired, revoked, malformed, or invalid."
    InvalidToken,
    /// "The authorization server encountered an unexpected condition that prevented it from
    /// fulfilling the request."
    ServerError,
    /// "The authorization server is currently unable to handle the request due to a temporary
    /// overloading or maintenance of the server."
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidToken => "invalid_token",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An OAuth error with a human-readable description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The code.
    pub code: ErrorCode,
    /// `error_description`: for the developer, never containing secrets.
    pub description: Cow<'static, str>,
}

impl OAuthError {
    /// An error with `code` and `description`.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// The store failed: 503 `temporarily_unavailable` (the cause is logged here).
    pub fn unavailable(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, source = ?cause.source(), "store failure");
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable, try again",
        )
    }

    /// The JSON error response, readable cross-origin like every endpoint that sends it
    /// (registration, token, revocation, introspection). `invalid_client` after HTTP Basic
    /// authentication also gets a `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2).
    pub fn into_response(self, basic_challenge: bool) -> Response {
        let mut response = http::error(self.code.status(), self.code.as_str(), &self.description);
        if self.code == ErrorCode::InvalidClient && basic_challenge {
            response.headers_mut().insert(
                ::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"token\", charset=\"UTF-8\""),
            );
        }
        response
            .headers_mut()
            .insert(::http::header::PRAGMA, HeaderValue::from_static("no-cache"));
        http::cors(&mut response);
        response
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}
