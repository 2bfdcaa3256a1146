//! Lambda function `mcp`: POST `/mcp` and `/mcp/` (MCP Streamable HTTP with the memory tools).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    memory_mcp::lambda::run(memory_mcp::Function::Mcp).await
}
