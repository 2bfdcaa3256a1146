//! Lambda function `token`: POST /token, /revoke, /introspect.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    memory_mcp::lambda::run(memory_mcp::Function::Token).await
}
