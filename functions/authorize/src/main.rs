//! Lambda function `authorize`: GET/POST /authorize (sign-in, sign-up, consent).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    memory_mcp::lambda::run(memory_mcp::Function::Authorize).await
}
