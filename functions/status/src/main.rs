//! Lambda function `status`: GET `/health` and GET `/status`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    memory_mcp::lambda::run(memory_mcp::Function::Status).await
}
