//! The MCP server: five memory tools on rmcp (the official Rust MCP SDK). Each tool reads the
//! authenticated [`Principal`] that the bearer guard put into the HTTP request's extensions,
//! and only ever touches that principal's memories.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{ListToolsResult, PaginatedRequestParams, ProtocolVersion};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};

use super::guard::Principal;
use crate::clock::Clock;
use crate::memory::{self, MemoryError, MemoryView, SearchHit};
use crate::store::Store;

// Tools return `Result<Json<T>, String>` spelled out (not through an alias): rmcp's macro reads
// the return type to derive `outputSchema`. An `Err` becomes an `isError` result the model reads.

/// The per-request MCP server (cheap to build: two `Arc`s and the tool router).
#[derive(Clone)]
pub struct MemoryServer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tool_router: ToolRouter<Self>,
}

/// One memory or several.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single memory.
    One(String),
    /// Several memories, stored together (all or none).
    Many(Vec<String>),
}

/// `add_memories` input.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AddInput {
    /// The memory to store, or a list of memories (at most 25, each at most 8,000 characters).
    pub text: OneOrMany,
}

/// `add_memories` output.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AddOutput {
    /// The ids of the stored memories, in the order given.
    pub ids: Vec<String>,
}

/// `search_memory` input.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SearchInput {
    /// What to look for, in natural language or keywords.
    pub query: String,
    /// How many results at most (1 to 50, default 10).
    pub limit: Option<u32>,
}

/// `search_memory` output.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SearchOutput {
    /// Matching memories, most relevant first.
    pub results: Vec<SearchHit>,
}

/// `list_memories` input.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListInput {
    /// The `next_cursor` of the previous page, to continue.
    pub cursor: Option<String>,
    /// Page size (1 to 100, default 20).
    pub limit: Option<u32>,
}

/// `list_memories` output.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListOutput {
    /// Memories, newest first.
    pub memories: Vec<MemoryView>,
    /// Pass this as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `delete_memories` input.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DeleteInput {
    /// Ids of the memories to delete (at most 100).
    pub ids: Vec<String>,
}

/// `delete_memories` output.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DeleteOutput {
    /// The ids that were deleted (ids that did not exist are left out).
    pub deleted: Vec<String>,
}

/// `delete_all_memories` output.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DeleteAllOutput {
    /// How many memories were deleted.
    pub deleted: usize,
}

fn principal(parts: &http::request::Parts) -> Result<&Principal, String> {
    parts
        .extensions
        .get::<Principal>()
        .ok_or_else(|| "not authenticated".to_owned())
}

#[expect(clippy::needless_pass_by_value, reason = "used as a map_err function")]
fn shown(err: MemoryError) -> String {
    if let MemoryError::Store(cause) = &err {
        tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "memory tool: store failure");
    }
    err.to_string()
}

fn as_limit(limit: Option<u32>) -> Option<usize> {
    limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX))
}

#[tool_router]
impl MemoryServer {
    /// A server over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Store one memory, or a list of memories, about the user for later recall. Returns their ids.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false
        )
    )]
    async fn add_memories(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(input): Parameters<AddInput>,
    ) -> Result<Json<AddOutput>, String> {
        let who = principal(&parts)?;
        let texts = match input.text {
            OneOrMany::One(text) => vec![text],
            OneOrMany::Many(texts) => texts,
        };
        let ids = memory::add(self.store.as_ref(), &who.user_id, texts, self.clock.now())
            .await
            .map_err(shown)?;
        Ok(Json(AddOutput { ids }))
    }

    #[tool(
        description = "Search the user's memories by relevance to a query (BM25 ranking, newer first among equals). Returns id, text, score and created_at.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true
        )
    )]
    async fn search_memory(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(input): Parameters<SearchInput>,
    ) -> Result<Json<SearchOutput>, String> {
        let who = principal(&parts)?;
        let results = memory::search(
            self.store.as_ref(),
            &who.user_id,
            &input.query,
            as_limit(input.limit),
        )
        .await
        .map_err(shown)?;
        Ok(Json(SearchOutput { results }))
    }

    #[tool(
        description = "List the user's memories, newest first, one page at a time.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true
        )
    )]
    async fn list_memories(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(input): Parameters<ListInput>,
    ) -> Result<Json<ListOutput>, String> {
        let who = principal(&parts)?;
        let (memories, next_cursor) = memory::list(
            self.store.as_ref(),
            &who.user_id,
            input.cursor.as_deref(),
            as_limit(input.limit),
        )
        .await
        .map_err(shown)?;
        Ok(Json(ListOutput {
            memories,
            next_cursor,
        }))
    }

    #[tool(
        description = "Delete the user's memories with the given ids.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true
        )
    )]
    async fn delete_memories(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(input): Parameters<DeleteInput>,
    ) -> Result<Json<DeleteOutput>, String> {
        let who = principal(&parts)?;
        let deleted = memory::delete(self.store.as_ref(), &who.user_id, &input.ids)
            .await
            .map_err(shown)?;
        Ok(Json(DeleteOutput { deleted }))
    }

    #[tool(
        description = "Delete all of the user's memories. This cannot be undone.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true
        )
    )]
    async fn delete_all_memories(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<DeleteAllOutput>, String> {
        let who = principal(&parts)?;
        let deleted = memory::delete_all(self.store.as_ref(), &who.user_id)
            .await
            .map_err(shown)?;
        Ok(Json(DeleteAllOutput { deleted }))
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "memory-mcp",
    instructions = "Long-term memory for this user: search_memory before answering questions about them, add_memories when they share something worth remembering."
)]
impl ServerHandler for MemoryServer {
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        std::borrow::Cow::Borrowed(&[
            ProtocolVersion::V_2025_03_26,
            ProtocolVersion::V_2025_06_18,
            ProtocolVersion::V_2025_11_25,
            ProtocolVersion::V_2026_07_28,
        ])
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // Every tool fits on one page; a cursor can only come from a confused client.
        if request.as_ref().and_then(|r| r.cursor.as_ref()).is_some() {
            return Err(ErrorData::invalid_params(
                "unknown cursor: tools/list has one page",
                None,
            ));
        }
        Ok(ListToolsResult::with_all_items(self.tool_router.list_all()))
    }
}
