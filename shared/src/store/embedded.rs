//! The embedded backend: one [redb](https://docs.rs/redb) file, for the local server.
//!
//! redb gives ACID transactions with a single writer, which is what makes a code's consumption
//! and a refresh token's rotation atomic here: each is one write transaction. Records are JSON
//! values under string keys; composite keys join their parts with a NUL byte, which no id,
//! e-mail address or URL that the system accepts can contain. Every call runs on tokio's
//! blocking pool, since redb's I/O is synchronous.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    AuthCode, Client, Consent, Grant, MAX_BATCH, Memory, Page, RefreshToken, Rotation, Store,
    StoreError, StoreResult, Timestamp, User,
};

type Def = TableDefinition<'static, &'static str, &'static [u8]>;

const CLIENTS: Def = TableDefinition::new("clients");
const CODES: Def = TableDefinition::new("codes");
const GRANTS: Def = TableDefinition::new("grants");
const GRANTS_BY_USER: Def = TableDefinition::new("grants_by_user");
const REFRESH_TOKENS: Def = TableDefinition::new("refresh_tokens");
const USERS: Def = TableDefinition::new("users");
const USERS_BY_ID: Def = TableDefinition::new("users_by_id");
const CONSENTS: Def = TableDefinition::new("consents");
const MEMORIES: Def = TableDefinition::new("memories");
const ALL: [Def; 9] = [
    CLIENTS,
    CODES,
    GRANTS,
    GRANTS_BY_USER,
    REFRESH_TOKENS,
    USERS,
    USERS_BY_ID,
    CONSENTS,
    MEMORIES,
];

/// The embedded store (a redb database file).
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

fn fail(err: impl Into<redb::Error>) -> StoreError {
    StoreError::backend(err.into())
}

fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(StoreError::backend)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(StoreError::backend)
}

fn pair(a: &str, b: &str) -> String {
    format!("{a}\0{b}")
}

/// The half-open key range of every composite key starting with `a`.
fn prefix_range(a: &str) -> (String, String) {
    (format!("{a}\0"), format!("{a}\u{1}"))
}

pub(super) fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

pub(super) fn decode_cursor(cursor: &str) -> StoreResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| !key.is_empty() && !key.contains('\0'))
        .ok_or(StoreError::InvalidCursor)
}

fn live(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    expires_at.is_none_or(|at| at > now)
}

impl EmbeddedStore {
    /// Opens (creating when missing) the database file and its tables.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(StoreError::backend)?;
        }
        let db = Database::create(path).map_err(fail)?;
        let tx = db.begin_write().map_err(fail)?;
        for def in ALL {
            tx.open_table(def).map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        Ok(Self { db: Arc::new(db) })
    }

    async fn blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(StoreError::backend)?
    }

    async fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        def: Def,
        key: String,
    ) -> StoreResult<Option<T>> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(fail)?;
            let table = tx.open_table(def).map_err(fail)?;
            let value = table.get(key.as_str()).map_err(fail)?;
            value.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    /// Inserts `value` at `key`; with `must_be_new`, a present key is a conflict.
    async fn put<T: Serialize>(
        &self,
        def: Def,
        key: String,
        value: &T,
        must_be_new: bool,
    ) -> StoreResult<()> {
        let bytes = encode(value)?;
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            {
                let mut table = tx.open_table(def).map_err(fail)?;
                if must_be_new && table.get(key.as_str()).map_err(fail)?.is_some() {
                    return Err(StoreError::Conflict);
                }
                table.insert(key.as_str(), bytes.as_slice()).map_err(fail)?;
            }
            tx.commit().map_err(fail)
        })
        .await
    }

    async fn replace<T: Serialize>(&self, def: Def, key: String, value: &T) -> StoreResult<()> {
        let bytes = encode(value)?;
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            {
                let mut table = tx.open_table(def).map_err(fail)?;
                if table.get(key.as_str()).map_err(fail)?.is_none() {
                    return Err(StoreError::NotFound);
                }
                table.insert(key.as_str(), bytes.as_slice()).map_err(fail)?;
            }
            tx.commit().map_err(fail)
        })
        .await
    }

    async fn remove(&self, def: Def, key: String) -> StoreResult<bool> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            let existed = {
                let mut table = tx.open_table(def).map_err(fail)?;
                table.remove(key.as_str()).map_err(fail)?.is_some()
            };
            tx.commit().map_err(fail)?;
            Ok(existed)
        })
        .await
    }

    /// The values under composite keys starting with `prefix`, in key order.
    async fn scan_prefix<T: DeserializeOwned + Send + 'static>(
        &self,
        def: Def,
        prefix: String,
    ) -> StoreResult<Vec<T>> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(fail)?;
            let table = tx.open_table(def).map_err(fail)?;
            let (start, end) = prefix_range(&prefix);
            let mut out = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(fail)? {
                let (_, value) = entry.map_err(fail)?;
                out.push(decode(value.value())?);
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.blocking(|db| {
            let tx = db.begin_read().map_err(fail)?;
            for def in ALL {
                tx.open_table(def).map_err(fail)?.len().map_err(fail)?;
            }
            Ok(())
        })
        .await
    }

    async fn create_client(&self, client: &Client) -> StoreResult<()> {
        self.put(CLIENTS, client.client_id.clone(), client, true)
            .await
    }

    async fn get_client(&self, client_id: &str, now: Timestamp) -> StoreResult<Option<Client>> {
        let client: Option<Client> = self.get(CLIENTS, client_id.to_owned()).await?;
        Ok(client.filter(|c| live(c.expires_at, now)))
    }

    async fn update_client(&self, client: &Client) -> StoreResult<()> {
        self.replace(CLIENTS, client.client_id.clone(), client)
            .await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        self.remove(CLIENTS, client_id.to_owned()).await
    }

    async fn list_clients(&self, cursor: Option<&str>, limit: usize) -> StoreResult<Page<Client>> {
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.max(1);
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(fail)?;
            let table = tx.open_table(CLIENTS).map_err(fail)?;
            let mut items = Vec::new();
            let range = match &after {
                Some(key) => table.range::<&str>(key.as_str()..),
                None => table.range::<&str>(..),
            }
            .map_err(fail)?;
            let mut more = false;
            for entry in range {
                let (key, value) = entry.map_err(fail)?;
                if after.as_deref() == Some(key.value()) {
                    continue;
                }
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(decode::<Client>(value.value())?);
            }
            let next_cursor = match items.last() {
                Some(last) if more => Some(encode_cursor(&last.client_id)),
                _ => None,
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn put_code(&self, code: &AuthCode) -> StoreResult<()> {
        self.put(CODES, code.code_hash.clone(), code, true).await
    }

    async fn consume_code(&self, code_hash: &str, now: Timestamp) -> StoreResult<Option<AuthCode>> {
        let key = code_hash.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            let removed = {
                let mut table = tx.open_table(CODES).map_err(fail)?;
                let removed = table.remove(key.as_str()).map_err(fail)?;
                removed.map(|v| decode::<AuthCode>(v.value())).transpose()?
            };
            tx.commit().map_err(fail)?;
            Ok(removed.filter(|code| code.expires_at > now))
        })
        .await
    }

    async fn create_grant(&self, grant: &Grant, token: &RefreshToken) -> StoreResult<()> {
        let (grant_bytes, token_bytes) = (encode(grant)?, encode(token)?);
        let (grant_id, user_id, token_hash) = (
            grant.grant_id.clone(),
            grant.user_id.clone(),
            token.token_hash.clone(),
        );
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            {
                let mut grants = tx.open_table(GRANTS).map_err(fail)?;
                let mut tokens = tx.open_table(REFRESH_TOKENS).map_err(fail)?;
                if grants.get(grant_id.as_str()).map_err(fail)?.is_some()
                    || tokens.get(token_hash.as_str()).map_err(fail)?.is_some()
                {
                    return Err(StoreError::Conflict);
                }
                grants
                    .insert(grant_id.as_str(), grant_bytes.as_slice())
                    .map_err(fail)?;
                tokens
                    .insert(token_hash.as_str(), token_bytes.as_slice())
                    .map_err(fail)?;
                let mut by_user = tx.open_table(GRANTS_BY_USER).map_err(fail)?;
                by_user
                    .insert(pair(&user_id, &grant_id).as_str(), grant_id.as_bytes())
                    .map_err(fail)?;
            }
            tx.commit().map_err(fail)
        })
        .await
    }

    async fn get_grant(&self, grant_id: &str, now: Timestamp) -> StoreResult<Option<Grant>> {
        let grant: Option<Grant> = self.get(GRANTS, grant_id.to_owned()).await?;
        Ok(grant.filter(|g| g.expires_at > now))
    }

    async fn list_grants(&self, user_id: &str, now: Timestamp) -> StoreResult<Vec<Grant>> {
        let user_id = user_id.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(fail)?;
            let by_user = tx.open_table(GRANTS_BY_USER).map_err(fail)?;
            let grants = tx.open_table(GRANTS).map_err(fail)?;
            let (start, end) = prefix_range(&user_id);
            let mut out = Vec::new();
            for entry in by_user.range(start.as_str()..end.as_str()).map_err(fail)? {
                let (_, grant_id) = entry.map_err(fail)?;
                let id = String::from_utf8_lossy(grant_id.value()).into_owned();
                if let Some(value) = grants.get(id.as_str()).map_err(fail)? {
                    let grant: Grant = decode(value.value())?;
                    if grant.expires_at > now {
                        out.push(grant);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn get_refresh_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<RefreshToken>> {
        let token: Option<RefreshToken> = self.get(REFRESH_TOKENS, token_hash.to_owned()).await?;
        Ok(token.filter(|t| t.expires_at > now))
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshToken,
        now: Timestamp,
    ) -> StoreResult<Rotation> {
        let old_hash = old_hash.to_owned();
        let new = new.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            let outcome = {
                let mut tokens = tx.open_table(REFRESH_TOKENS).map_err(fail)?;
                let mut grants = tx.open_table(GRANTS).map_err(fail)?;
                let old = tokens
                    .get(old_hash.as_str())
                    .map_err(fail)?
                    .map(|v| decode::<RefreshToken>(v.value()))
                    .transpose()?;
                let grant = match &old {
                    Some(old) => grants
                        .get(old.grant_id.as_str())
                        .map_err(fail)?
                        .map(|v| decode::<Grant>(v.value()))
                        .transpose()?,
                    None => None,
                };
                match (old, grant) {
                    (Some(old), _) if old.expires_at <= now => Rotation::Invalid,
                    (Some(old), _) if old.used => {
                        grants.remove(old.grant_id.as_str()).map_err(fail)?;
                        Rotation::Reused {
                            grant_id: old.grant_id,
                        }
                    }
                    (Some(mut old), Some(mut grant))
                        if grant.expires_at > now && new.grant_id == grant.grant_id =>
                    {
                        grant.expires_at = new.expires_at;
                        grants
                            .insert(grant.grant_id.as_str(), encode(&grant)?.as_slice())
                            .map_err(fail)?;
                        old.used = true;
                        tokens
                            .insert(old_hash.as_str(), encode(&old)?.as_slice())
                            .map_err(fail)?;
                        tokens
                            .insert(new.token_hash.as_str(), encode(&new)?.as_slice())
                            .map_err(fail)?;
                        Rotation::Rotated {
                            grant_expires_at: grant.expires_at,
                        }
                    }
                    _ => Rotation::Invalid,
                }
            };
            tx.commit().map_err(fail)?;
            Ok(outcome)
        })
        .await
    }

    async fn revoke_grant(&self, grant_id: &str) -> StoreResult<bool> {
        self.remove(GRANTS, grant_id.to_owned()).await
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let bytes = encode(user)?;
        let (email, user_id) = (user.email.clone(), user.user_id.clone());
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            {
                let mut users = tx.open_table(USERS).map_err(fail)?;
                let mut by_id = tx.open_table(USERS_BY_ID).map_err(fail)?;
                if users.get(email.as_str()).map_err(fail)?.is_some()
                    || by_id.get(user_id.as_str()).map_err(fail)?.is_some()
                {
                    return Err(StoreError::Conflict);
                }
                users
                    .insert(email.as_str(), bytes.as_slice())
                    .map_err(fail)?;
                by_id
                    .insert(user_id.as_str(), email.as_bytes())
                    .map_err(fail)?;
            }
            tx.commit().map_err(fail)
        })
        .await
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.get(USERS, email.to_owned()).await
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let user_id = user_id.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(fail)?;
            let by_id = tx.open_table(USERS_BY_ID).map_err(fail)?;
            let users = tx.open_table(USERS).map_err(fail)?;
            let Some(email) = by_id.get(user_id.as_str()).map_err(fail)? else {
                return Ok(None);
            };
            let email = String::from_utf8_lossy(email.value()).into_owned();
            let user = users.get(email.as_str()).map_err(fail)?;
            user.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        let existing = self.get_user_by_email(&user.email).await?;
        match existing {
            Some(old) if old.user_id == user.user_id => {
                self.replace(USERS, user.email.clone(), user).await
            }
            _ => Err(StoreError::NotFound),
        }
    }

    async fn put_consent(&self, consent: &Consent) -> StoreResult<()> {
        let key = pair(&consent.user_id, &consent.client_id);
        self.put(CONSENTS, key, consent, false).await
    }

    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        self.get(CONSENTS, pair(user_id, client_id)).await
    }

    async fn list_consents(&self, user_id: &str) -> StoreResult<Vec<Consent>> {
        self.scan_prefix(CONSENTS, user_id.to_owned()).await
    }

    async fn delete_consent(&self, user_id: &str, client_id: &str) -> StoreResult<bool> {
        self.remove(CONSENTS, pair(user_id, client_id)).await
    }

    async fn add_memories(&self, memories: &[Memory]) -> StoreResult<()> {
        if memories.len() > MAX_BATCH {
            return Err(StoreError::backend(format!(
                "at most {MAX_BATCH} memories per call"
            )));
        }
        let rows = memories
            .iter()
            .map(|m| Ok((pair(&m.user_id, &m.memory_id), encode(m)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            {
                let mut table = tx.open_table(MEMORIES).map_err(fail)?;
                for (key, bytes) in &rows {
                    if table.get(key.as_str()).map_err(fail)?.is_some() {
                        return Err(StoreError::Conflict);
                    }
                    table.insert(key.as_str(), bytes.as_slice()).map_err(fail)?;
                }
            }
            tx.commit().map_err(fail)
        })
        .await
    }

    async fn list_memories(
        &self,
        user_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Memory>> {
        let before = cursor.map(decode_cursor).transpose()?;
        let (start, end) = prefix_range(user_id);
        let end = before.map_or(end, |id| pair(user_id, &id));
        let limit = limit.max(1);
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(fail)?;
            let table = tx.open_table(MEMORIES).map_err(fail)?;
            let mut items = Vec::new();
            let mut more = false;
            for entry in table
                .range(start.as_str()..end.as_str())
                .map_err(fail)?
                .rev()
            {
                let (_, value) = entry.map_err(fail)?;
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(decode::<Memory>(value.value())?);
            }
            let next_cursor = match items.last() {
                Some(last) if more => Some(encode_cursor(&last.memory_id)),
                _ => None,
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn all_memories(&self, user_id: &str) -> StoreResult<Vec<Memory>> {
        let mut all: Vec<Memory> = self.scan_prefix(MEMORIES, user_id.to_owned()).await?;
        all.reverse();
        Ok(all)
    }

    async fn delete_memories(
        &self,
        user_id: &str,
        memory_ids: &[String],
    ) -> StoreResult<Vec<String>> {
        let user_id = user_id.to_owned();
        let ids = memory_ids.to_vec();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            let mut deleted = Vec::new();
            {
                let mut table = tx.open_table(MEMORIES).map_err(fail)?;
                for id in ids {
                    if table
                        .remove(pair(&user_id, &id).as_str())
                        .map_err(fail)?
                        .is_some()
                    {
                        deleted.push(id);
                    }
                }
            }
            tx.commit().map_err(fail)?;
            Ok(deleted)
        })
        .await
    }

    async fn delete_all_memories(&self, user_id: &str) -> StoreResult<usize> {
        let (start, end) = prefix_range(user_id);
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(fail)?;
            let count = {
                let mut table = tx.open_table(MEMORIES).map_err(fail)?;
                let removed = table
                    .extract_from_if(start.as_str()..end.as_str(), |_, _| true)
                    .map_err(fail)?;
                let mut count = 0;
                for entry in removed {
                    entry.map_err(fail)?;
                    count += 1;
                }
                count
            };
            tx.commit().map_err(fail)?;
            Ok(count)
        })
        .await
    }
}
