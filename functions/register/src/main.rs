//! Lambda function `register`: POST /register and /register/{client_id} (RFC 7591, RFC 7592).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    memory_mcp::lambda::run(memory_mcp::Function::Register).await
}
