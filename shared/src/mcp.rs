//! The MCP side: the bearer guard and the memory tool server (on rmcp).

pub mod guard;
pub mod server;
