//! Lambda function `discovery`: GET /.well-known/* (RFC 8414 and RFC 9728 metadata, JWKS).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    memory_mcp::lambda::run(memory_mcp::Function::Discovery).await
}
