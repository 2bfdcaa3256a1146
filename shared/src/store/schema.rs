//! The DynamoDB tables, defined once. The DynamoDB backend, the local server (which creates
//! missing tables against a local endpoint), the tests and the template check all read this.

/// Attribute type of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// String (`S`).
    S,
}

/// A key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Attribute name.
    pub name: &'static str,
    /// Attribute type.
    pub kind: KeyType,
}

/// A global secondary index (projection: all attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    /// Index name.
    pub name: &'static str,
    /// Partition key.
    pub partition: Key,
}

/// One table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Logical name; the physical name is `TABLE_PREFIX` + this.
    pub name: &'static str,
    /// Partition key.
    pub partition: Key,
    /// Sort key, if any.
    pub sort: Option<Key>,
    /// TTL attribute (epoch seconds), if records expire.
    pub ttl: Option<&'static str>,
    /// Global secondary indexes.
    pub indexes: &'static [Index],
}

const fn s(name: &'static str) -> Key {
    Key {
        name,
        kind: KeyType::S,
    }
}

/// OAuth clients.
pub const CLIENTS: Table = Table {
    name: "clients",
    partition: s("client_id"),
    sort: None,
    ttl: Some("expires_at"),
    indexes: &[],
};
/// Authorization codes.
pub const CODES: Table = Table {
    name: "codes",
    partition: s("code_hash"),
    sort: None,
    ttl: Some("expires_at"),
    indexes: &[],
};
/// Grants (refresh-token families).
pub const GRANTS: Table = Table {
    name: "grants",
    partition: s("grant_id"),
    sort: None,
    ttl: Some("expires_at"),
    indexes: &[GRANTS_BY_USER],
};
/// Index of grants by user.
pub const GRANTS_BY_USER: Index = Index {
    name: "by_user",
    partition: s("user_id"),
};
/// Refresh tokens.
pub const REFRESH_TOKENS: Table = Table {
    name: "refresh_tokens",
    partition: s("token_hash"),
    sort: None,
    ttl: Some("expires_at"),
    indexes: &[],
};
/// Users, keyed by normalised e-mail so the address is unique.
pub const USERS: Table = Table {
    name: "users",
    partition: s("email"),
    sort: None,
    ttl: None,
    indexes: &[USERS_BY_ID],
};
/// Index of users by id.
pub const USERS_BY_ID: Index = Index {
    name: "by_id",
    partition: s("user_id"),
};
/// Consents per (user, client).
pub const CONSENTS: Table = Table {
    name: "consents",
    partition: s("user_id"),
    sort: Some(s("client_id")),
    ttl: None,
    indexes: &[],
};
/// Memories per user, sorted by time-ordered id.
pub const MEMORIES: Table = Table {
    name: "memories",
    partition: s("user_id"),
    sort: Some(s("memory_id")),
    ttl: None,
    indexes: &[],
};

/// Every table, in a fixed order.
pub const TABLES: &[Table] = &[
    CLIENTS,
    CODES,
    GRANTS,
    REFRESH_TOKENS,
    USERS,
    CONSENTS,
    MEMORIES,
];
