//! The memory operations behind the MCP tools, scoped to one user: every call takes the
//! token's subject and the store keys every memory by it, so no call can reach another user's.

pub mod search;

use serde::Serialize;

use crate::store::{MAX_BATCH, Memory, Store, StoreError, Timestamp, new_id};

/// Longest memory, in characters.
pub const MAX_TEXT_CHARS: usize = 8_000;
/// Most memories one `add_memories` call stores.
pub const MAX_ADD: usize = MAX_BATCH;
/// Most results one search returns.
pub const MAX_SEARCH_RESULTS: usize = 50;
/// Default number of search results.
pub const DEFAULT_SEARCH_RESULTS: usize = 10;
/// Most memories one page of `list_memories` holds.
pub const MAX_PAGE: usize = 100;
/// Default page size.
pub const DEFAULT_PAGE: usize = 20;
/// Most ids one `delete_memories` call takes.
pub const MAX_DELETE: usize = 100;
/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 1_000;

/// Why a memory operation failed; the message is shown to the model.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The arguments break a limit or are empty.
    #[error("{0}")]
    Invalid(String),
    /// The store failed (logged; the client sees a generic message).
    #[error("the memory store is temporarily unavailable; try again")]
    Store(#[from] StoreError),
}

/// A memory as tools return it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MemoryView {
    /// The memory's id.
    pub id: String,
    /// The remembered text.
    pub text: String,
    /// When it was stored (RFC 3339, UTC).
    pub created_at: String,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SearchHit {
    /// The memory's id.
    pub id: String,
    /// The remembered text.
    pub text: String,
    /// BM25 relevance score (higher is better).
    pub score: f64,
    /// When it was stored (RFC 3339, UTC).
    pub created_at: String,
}

/// Formats epoch seconds as RFC 3339 UTC (days-from-civil, Howard Hinnant's algorithm).
pub fn rfc3339(ts: Timestamp) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn view(m: Memory) -> MemoryView {
    MemoryView {
        id: m.memory_id,
        created_at: rfc3339(m.created_at),
        text: m.text,
    }
}

/// Stores `texts` for `user`; all or none. Returns the new ids in order.
pub async fn add(
    store: &dyn Store,
    user: &str,
    texts: Vec<String>,
    now: Timestamp,
) -> Result<Vec<String>, MemoryError> {
    if texts.is_empty() {
        return Err(MemoryError::Invalid("give at least one memory".into()));
    }
    if texts.len() > MAX_ADD {
        return Err(MemoryError::Invalid(format!(
            "at most {MAX_ADD} memories per call (got {})",
            texts.len()
        )));
    }
    let mut memories = Vec::with_capacity(texts.len());
    for (i, text) in texts.into_iter().enumerate() {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(MemoryError::Invalid(format!("memory {i} is empty")));
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(MemoryError::Invalid(format!(
                "memory {i} has {chars} characters; the limit is {MAX_TEXT_CHARS}"
            )));
        }
        memories.push(Memory {
            user_id: user.to_owned(),
            memory_id: new_id(),
            text,
            created_at: now,
        });
    }
    store.add_memories(&memories).await?;
    Ok(memories.into_iter().map(|m| m.memory_id).collect())
}

/// The `limit` memories of `user` most relevant to `query`.
pub async fn search(
    store: &dyn Store,
    user: &str,
    query: &str,
    limit: Option<usize>,
) -> Result<Vec<SearchHit>, MemoryError> {
    let limit = limit.unwrap_or(DEFAULT_SEARCH_RESULTS);
    if !(1..=MAX_SEARCH_RESULTS).contains(&limit) {
        return Err(MemoryError::Invalid(format!(
            "limit must be between 1 and {MAX_SEARCH_RESULTS}"
        )));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(MemoryError::Invalid(format!(
            "the query is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    if search::tokenize(query).is_empty() {
        return Err(MemoryError::Invalid(
            "the query has no words to search for".into(),
        ));
    }
    let memories = store.all_memories(user).await?;
    let texts: Vec<&str> = memories.iter().map(|m| m.text.as_str()).collect();
    let ranked = search::rank(query, &texts, limit);
    Ok(ranked
        .into_iter()
        .filter_map(|(i, score)| {
            let m = memories.get(i)?;
            Some(SearchHit {
                id: m.memory_id.clone(),
                text: m.text.clone(),
                score: (score * 1000.0).round() / 1000.0,
                created_at: rfc3339(m.created_at),
            })
        })
        .collect())
}

/// One page of `user`'s memories, newest first.
pub async fn list(
    store: &dyn Store,
    user: &str,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<(Vec<MemoryView>, Option<String>), MemoryError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(MemoryError::Invalid(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    match store.list_memories(user, cursor, limit).await {
        Ok(page) => Ok((page.items.into_iter().map(view).collect(), page.next_cursor)),
        Err(StoreError::InvalidCursor) => Err(MemoryError::Invalid(
            "the cursor is not one list_memories returned".into(),
        )),
        Err(err) => Err(err.into()),
    }
}

/// Deletes those of `ids` that are `user`'s; the ids deleted.
pub async fn delete(
    store: &dyn Store,
    user: &str,
    ids: &[String],
) -> Result<Vec<String>, MemoryError> {
    if ids.is_empty() {
        return Err(MemoryError::Invalid("give at least one id".into()));
    }
    if ids.len() > MAX_DELETE {
        return Err(MemoryError::Invalid(format!(
            "at most {MAX_DELETE} ids per call"
        )));
    }
    Ok(store.delete_memories(user, ids).await?)
}

/// Deletes every memory of `user`; how many.
pub async fn delete_all(store: &dyn Store, user: &str) -> Result<usize, MemoryError> {
    Ok(store.delete_all_memories(user).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
