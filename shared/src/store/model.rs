//! The entities the system keeps. Secrets never appear here in the clear: client secrets,
//! registration tokens, authorization codes and refresh tokens are stored as SHA-256 hashes,
//! passwords as argon2id PHC strings.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch. Every expiry is compared against a caller-supplied `now`, so
/// expired records are never returned, even before DynamoDB's lazy TTL deletion removes them.
pub type Timestamp = i64;

/// A registered OAuth client (RFC 7591).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// The `client_id` handed to the client.
    pub client_id: String,
    /// SHA-256 (hex) of the client secret, for secret-based authentication methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_hash: Option<String>,
    /// SHA-256 (hex) of the RFC 7592 registration access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_token_hash: Option<String>,
    /// The client's registered metadata.
    pub metadata: ClientMetadata,
    /// When it registered.
    pub created_at: Timestamp,
    /// When an unused dynamic registration lapses; `None` for clients that never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Client metadata as registered (RFC 7591 §2), already validated.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_post` or `client_secret_basic`.
    pub token_endpoint_auth_method: String,
    /// Grant types the client may use.
    pub grant_types: Vec<String>,
    /// Response types the client may use.
    pub response_types: Vec<String>,
    /// Human-readable name shown on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The client's home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// The client's logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Space-separated scopes the client may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Contact e-mail addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// Software identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

/// An issued authorization code, keyed by the hash of the code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthCode {
    /// SHA-256 (hex) of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who approved it.
    pub user_id: String,
    /// The exact redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The resource (RFC 8707) the tokens are for.
    pub resource: String,
    /// When the user authenticated.
    pub auth_time: Timestamp,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it lapses (a short lifetime).
    pub expires_at: Timestamp,
}

/// A grant: one user's authorization of one client; its refresh tokens form one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Identifier, carried in access tokens so a revoked grant can be detected.
    pub grant_id: String,
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The resource the grant is for.
    pub resource: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When the whole family lapses.
    pub expires_at: Timestamp,
}

/// One refresh token of a grant's family, keyed by its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// The grant (family) it belongs to.
    pub grant_id: String,
    /// Whether it was already exchanged; presenting a used token revokes the family.
    pub used: bool,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it lapses.
    pub expires_at: Timestamp,
}

/// The outcome of presenting a refresh token for rotation.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The token was current; the new one replaces it.
    Rotated {
        /// When the grant now lapses: with its newest refresh token.
        grant_expires_at: Timestamp,
    },
    /// The token had already been used: the whole family has been revoked.
    Reused {
        /// The revoked grant.
        grant_id: String,
    },
    /// Unknown, expired, or its grant is gone.
    Invalid,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Stable identifier, the `sub` of tokens.
    pub user_id: String,
    /// Normalised (lower-case) e-mail address, unique.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Failed sign-ins since the last success or lockout.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_sign_ins: u32,
    /// Until when sign-in is refused after too many failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<Timestamp>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A user's remembered approval of a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// Approved scopes, space-separated.
    pub scope: String,
    /// When it was given.
    pub created_at: Timestamp,
}

/// One memory of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// The owner (`sub`).
    pub user_id: String,
    /// Time-ordered identifier (UUIDv7), so key order is creation order.
    pub memory_id: String,
    /// The remembered text.
    pub text: String,
    /// When it was stored.
    pub created_at: Timestamp,
}

/// One page of a listing, with an opaque cursor for the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Present when more items follow.
    pub next_cursor: Option<String>,
}

/// A new time-ordered identifier (UUIDv7, lower-case hyphenated).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
