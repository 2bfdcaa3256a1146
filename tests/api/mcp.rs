//! MCP Streamable HTTP (stateless JSON), the bearer guard (MCP authorization, RFC 6750,
//! RFC 9728 §5.1), and the memory tools, over HTTP on both backends.

use anyhow::{Context as _, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tests::oauth::Mcp;
use tests::{Backend, TestApp, on_both_backends};

on_both_backends!(
    initialize_negotiates_each_supported_protocol_version,
    server_discover_answers_the_2026_07_28_protocol_without_a_session,
    a_request_without_a_token_gets_401_with_the_resource_metadata,
    bad_tokens_are_401_never_500,
    a_read_only_token_is_403_insufficient_scope_on_write_tools,
    tools_declare_schemas_and_annotations,
    memories_round_trip_through_the_tools,
    one_user_can_never_reach_another_users_memories,
    tool_limits_are_tool_errors_not_transport_errors,
    get_delete_and_disallowed_origins_are_refused,
    a_revoked_grant_is_refused_at_once,
    mcp_and_mcp_slash_are_the_same_endpoint_without_a_redirect,
);

async fn token_for(app: &TestApp, email: &str) -> anyhow::Result<String> {
    let (_, token) = app.full_flow(email).await?;
    Ok(token["access_token"]
        .as_str()
        .context("no access token")?
        .to_owned())
}

async fn initialize_negotiates_each_supported_protocol_version(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let mcp = Mcp::new(&app, &token_for(&app, "init@example.com").await?);
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let (status, body) = mcp
            .send_as(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
                version,
            )
            .await?;
        ensure!(status == 200, "{version}: {status} {body}");
        ensure!(
            body["result"]["protocolVersion"] == version,
            "{version}: {body}"
        );
        ensure!(
            body["result"]["serverInfo"]["name"] == "memory-mcp",
            "{body}"
        );
        ensure!(
            body["result"]["capabilities"]["tools"].is_object(),
            "{body}"
        );
    }
    let (status, _) = mcp
        .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await?;
    ensure!(status == 202, "notification: {status}");
    let (status, body) = mcp
        .send(&json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}))
        .await?;
    ensure!(
        status == 200 && body["id"] == 7 && body["result"].is_object(),
        "{body}"
    );
    Ok(())
}

async fn server_discover_answers_the_2026_07_28_protocol_without_a_session(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let token = token_for(&app, "discover@example.com").await?;
    let response = app
        .http
        .post(app.url("/mcp"))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}}}),
        )
        .send()
        .await?;
    let status = response.status();
    ensure!(
        response.headers().get("mcp-session-id").is_none(),
        "a session was created"
    );
    let body: Value = response.json().await?;
    ensure!(status == 200, "{status} {body}");
    let versions = body["result"]["supportedVersions"]
        .as_array()
        .context("no supportedVersions")?;
    let versions: Vec<&str> = versions.iter().filter_map(Value::as_str).collect();
    ensure!(
        versions == ["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"],
        "{body}"
    );
    let info = &body["result"]["_meta"]["io.modelcontextprotocol/serverInfo"];
    ensure!(info["name"] == "memory-mcp", "{body}");
    Ok(())
}

async fn a_request_without_a_token_gets_401_with_the_resource_metadata(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let query_token = token_for(&app, "query@example.com").await?;
    for (name, url) in [
        ("no token", app.url("/mcp")),
        (
            "token in the query string",
            app.url(&format!("/mcp?access_token={query_token}")),
        ),
    ] {
        let response = app
            .http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .send()
            .await?;
        ensure!(response.status() == 401, "{name}: {}", response.status());
        let challenge = response.headers()["www-authenticate"].to_str()?.to_owned();
        let prm = app.url("/.well-known/oauth-protected-resource/mcp");
        ensure!(
            challenge.starts_with("Bearer ")
                && challenge.contains(&format!("resource_metadata=\"{prm}\"")),
            "{name}: {challenge}"
        );
        ensure!(
            challenge.contains("scope=\"memories:read memories:write\""),
            "{challenge}"
        );
        ensure!(
            !challenge.contains("invalid_token"),
            "{name}: no token was sent: {challenge}"
        );
        let body: Value = response.json().await?;
        ensure!(
            body["error"]["code"].is_i64(),
            "{name}: not a JSON-RPC error: {body}"
        );
    }
    Ok(())
}

fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

async fn bad_tokens_are_401_never_500(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let good = token_for(&app, "bad@example.com").await?;
    let parts: Vec<&str> = good.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0])?)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1])?)?;
    let now = app.state.clock.now();
    let jwks: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await?
        .json()
        .await?;
    let public_x = jwks["keys"][0]["x"].as_str().unwrap_or_default().to_owned();
    let with = |field: &str, value: Value| {
        let mut c = claims.clone();
        c[field] = value;
        c
    };
    let resign = |c: &Value| {
        let keys = app
            .state
            .keys
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let claims: memory_mcp::oauth::jwt::AccessClaims = serde_json::from_value(c.clone())?;
        anyhow::Ok(memory_mcp::oauth::jwt::sign(keys, &claims)?)
    };
    let hs256 = {
        use aws_lc_rs::hmac;
        let h = json!({"alg": "HS256", "typ": "at+jwt", "kid": header["kid"]});
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(h.to_string()), parts[1]);
        let key = hmac::Key::new(hmac::HMAC_SHA256, public_x.as_bytes());
        let tag = hmac::sign(&key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-jwt".into()),
        (
            "another audience",
            resign(&with("aud", json!("https://other.example/mcp")))?,
        ),
        (
            "another issuer",
            resign(&with("iss", json!("https://evil.example")))?,
        ),
        ("expired", resign(&with("exp", json!(now - 3600)))?),
        ("not yet valid", resign(&with("nbf", json!(now + 3600)))?),
        (
            "tampered claims",
            format!(
                "{}.{}.{}",
                parts[0],
                URL_SAFE_NO_PAD.encode(with("sub", json!("someone-else")).to_string()),
                parts[2]
            ),
        ),
        (
            "bad signature",
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                URL_SAFE_NO_PAD.encode([0u8; 64])
            ),
        ),
        (
            "alg none",
            forge(&json!({"alg": "none", "typ": "at+jwt"}), &claims, b""),
        ),
        ("HS256 with the public key", hs256),
        (
            "wrong typ",
            forge(
                &json!({"alg": "EdDSA", "typ": "JWT", "kid": header["kid"]}),
                &claims,
                b"x",
            ),
        ),
        (
            "unknown grant",
            resign(&with("gid", json!("no-such-grant")))?,
        ),
    ];
    for (name, token) in cases {
        let (status, body) = Mcp::new(&app, &token)
            .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .await?;
        ensure!(status == 401, "{name}: {status} {body}");
        ensure!(body["error"]["code"].is_i64(), "{name}: {body}");
    }
    let (status, _) = Mcp::new(&app, &good)
        .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await?;
    ensure!(status == 200, "the good token: {status}");
    Ok(())
}

async fn a_read_only_token_is_403_insufficient_scope_on_write_tools(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let (client, token) = app.full_flow("scope@example.com").await?;
    let refresh = token["refresh_token"]
        .as_str()
        .context("no refresh token")?;
    let narrowed: Value = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client.client_id),
            ("scope", "memories:read"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let read_only = narrowed["access_token"].as_str().context("no token")?;
    let response = app
        .http
        .post(app.url("/mcp"))
        .bearer_auth(read_only)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add_memories", "arguments": {"text": "x"}}}))
        .send()
        .await?;
    ensure!(response.status() == 403, "{}", response.status());
    let challenge = response.headers()["www-authenticate"].to_str()?.to_owned();
    ensure!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"memories:write\""),
        "{challenge}"
    );
    let mcp = Mcp::new(&app, read_only);
    let listed = mcp.call("list_memories", json!({})).await?;
    ensure!(
        listed["isError"] == false,
        "reading with a read-only token: {listed}"
    );
    Ok(())
}

async fn tools_declare_schemas_and_annotations(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let mcp = Mcp::new(&app, &token_for(&app, "tools@example.com").await?);
    let (status, body) = mcp
        .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await?;
    ensure!(status == 200, "{body}");
    let tools = body["result"]["tools"].as_array().context("no tools")?;
    let mut names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort_unstable();
    ensure!(
        names
            == [
                "add_memories",
                "delete_all_memories",
                "delete_memories",
                "list_memories",
                "search_memory"
            ],
        "{names:?}"
    );
    for tool in tools {
        let name = tool["name"].as_str().unwrap_or_default();
        ensure!(tool["inputSchema"]["type"] == "object", "{name}: {tool}");
        ensure!(tool["outputSchema"]["type"] == "object", "{name}: {tool}");
        let a = &tool["annotations"];
        let read_only = matches!(name, "search_memory" | "list_memories");
        ensure!(a["readOnlyHint"] == read_only, "{name}: {a}");
        ensure!(
            a["destructiveHint"] == name.starts_with("delete"),
            "{name}: {a}"
        );
        ensure!(a["idempotentHint"].is_boolean(), "{name}: {a}");
    }
    ensure!(
        body["result"].get("nextCursor").is_none_or(Value::is_null),
        "{body}"
    );
    let (_, paged) = mcp
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"cursor": "bogus"}}))
        .await?;
    ensure!(paged["error"]["code"] == -32602, "a bogus cursor: {paged}");
    Ok(())
}

async fn memories_round_trip_through_the_tools(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let mcp = Mcp::new(&app, &token_for(&app, "trip@example.com").await?);
    let one = mcp
        .call(
            "add_memories",
            json!({"text": "My dentist appointment is on Friday at 3pm"}),
        )
        .await?;
    ensure!(
        one["isError"] == false
            && one["structuredContent"]["ids"]
                .as_array()
                .is_some_and(|a| a.len() == 1),
        "{one}"
    );
    let text: Value = serde_json::from_str(one["content"][0]["text"].as_str().unwrap_or_default())?;
    ensure!(
        text == one["structuredContent"],
        "the text content is not the same JSON: {one}"
    );
    let many = mcp
        .call("add_memories", json!({"text": ["I prefer green tea over coffee", "My cat is called Babbage", "The project deadline is March 3"]}))
        .await?;
    let ids = many["structuredContent"]["ids"]
        .as_array()
        .context("no ids")?
        .clone();
    ensure!(ids.len() == 3, "{many}");

    let found = mcp
        .call(
            "search_memory",
            json!({"query": "what tea do I like", "limit": 2}),
        )
        .await?;
    let results = found["structuredContent"]["results"]
        .as_array()
        .context("no results")?;
    ensure!(
        results
            .first()
            .is_some_and(|r| r["text"] == "I prefer green tea over coffee"),
        "{found}"
    );
    ensure!(
        results.len() <= 2 && results[0]["score"].as_f64().is_some_and(|s| s > 0.0),
        "{found}"
    );
    ensure!(
        results[0]["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{found}"
    );

    let page = mcp.call("list_memories", json!({"limit": 3})).await?;
    let memories = page["structuredContent"]["memories"]
        .as_array()
        .context("no memories")?;
    ensure!(
        memories.len() == 3 && memories[0]["text"] == "The project deadline is March 3",
        "newest first: {page}"
    );
    let cursor = page["structuredContent"]["next_cursor"]
        .as_str()
        .context("no cursor")?;
    let rest = mcp.call("list_memories", json!({"cursor": cursor})).await?;
    ensure!(
        rest["structuredContent"]["memories"][0]["text"]
            == "My dentist appointment is on Friday at 3pm",
        "{rest}"
    );

    let deleted = mcp
        .call("delete_memories", json!({"ids": [ids[1], "no-such-id"]}))
        .await?;
    ensure!(
        deleted["structuredContent"]["deleted"] == json!([ids[1]]),
        "{deleted}"
    );
    let gone = mcp
        .call("search_memory", json!({"query": "Babbage"}))
        .await?;
    ensure!(gone["structuredContent"]["results"] == json!([]), "{gone}");
    let all = mcp.call("delete_all_memories", json!({})).await?;
    ensure!(all["structuredContent"]["deleted"] == 3, "{all}");
    let empty = mcp.call("list_memories", json!({})).await?;
    ensure!(
        empty["structuredContent"]["memories"] == json!([]),
        "{empty}"
    );
    Ok(())
}

async fn one_user_can_never_reach_another_users_memories(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let alice = Mcp::new(&app, &token_for(&app, "alice@example.com").await?);
    let bob = Mcp::new(&app, &token_for(&app, "bob@example.com").await?);
    let added = alice
        .call(
            "add_memories",
            json!({"text": ["Alice's secret recipe uses saffron", "Alice lives in Lisbon"]}),
        )
        .await?;
    let ids = added["structuredContent"]["ids"].clone();

    let search = bob
        .call("search_memory", json!({"query": "saffron recipe Lisbon"}))
        .await?;
    ensure!(
        search["structuredContent"]["results"] == json!([]),
        "bob found alice's: {search}"
    );
    let list = bob.call("list_memories", json!({})).await?;
    ensure!(
        list["structuredContent"]["memories"] == json!([]),
        "bob listed alice's: {list}"
    );
    let delete = bob.call("delete_memories", json!({"ids": ids})).await?;
    ensure!(
        delete["structuredContent"]["deleted"] == json!([]),
        "bob deleted alice's: {delete}"
    );
    let all = bob.call("delete_all_memories", json!({})).await?;
    ensure!(all["structuredContent"]["deleted"] == 0, "{all}");
    let alice_list = alice.call("list_memories", json!({"limit": 1})).await?;
    let cursor = alice_list["structuredContent"]["next_cursor"]
        .as_str()
        .context("no cursor")?;
    let with_cursor = bob.call("list_memories", json!({"cursor": cursor})).await?;
    ensure!(
        with_cursor["structuredContent"]["memories"] == json!([]),
        "alice's cursor leaked: {with_cursor}"
    );

    let still = alice
        .call("search_memory", json!({"query": "saffron"}))
        .await?;
    ensure!(
        still["structuredContent"]["results"]
            .as_array()
            .is_some_and(|r| r.len() == 1),
        "{still}"
    );
    Ok(())
}

async fn tool_limits_are_tool_errors_not_transport_errors(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let mcp = Mcp::new(&app, &token_for(&app, "limits@example.com").await?);
    let long = "x".repeat(8_001);
    let many: Vec<String> = (0..26).map(|i| format!("memory {i}")).collect();
    let ids: Vec<String> = (0..101).map(|i| format!("id{i}")).collect();
    let cases = [
        ("too long", "add_memories", json!({"text": long})),
        ("too many", "add_memories", json!({"text": many})),
        ("empty", "add_memories", json!({"text": "   "})),
        ("empty list", "add_memories", json!({"text": []})),
        (
            "limit too high",
            "search_memory",
            json!({"query": "x", "limit": 51}),
        ),
        ("no words", "search_memory", json!({"query": "  ?! "})),
        ("page too large", "list_memories", json!({"limit": 101})),
        ("forged cursor", "list_memories", json!({"cursor": "%%%"})),
        ("too many ids", "delete_memories", json!({"ids": ids})),
    ];
    for (name, tool, args) in cases {
        let result = mcp.call(tool, args).await?;
        ensure!(result["isError"] == true, "{name}: {result}");
        ensure!(
            result["content"][0]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{name}: {result}"
        );
    }
    for (name, tool, args) in [
        ("wrong type", "add_memories", json!({"text": 5})),
        ("missing argument", "search_memory", json!({})),
    ] {
        let (status, body) = mcp
            .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}))
            .await?;
        let invalid_params = body["error"]["code"] == -32602;
        let tool_error = body["result"]["isError"] == true
            && body["result"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("parameters"));
        ensure!(
            status == 200 && (invalid_params || tool_error),
            "{name}: {status} {body}"
        );
    }
    let (status, body) = mcp
        .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "no_such_tool", "arguments": {}}}))
        .await?;
    ensure!(
        status == 200 && body["error"]["code"].is_i64(),
        "unknown tool: {status} {body}"
    );
    Ok(())
}

async fn get_delete_and_disallowed_origins_are_refused(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[("ALLOWED_ORIGINS", "http://localhost:6274")]).await?;
    let token = token_for(&app, "origin@example.com").await?;
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = app
            .http
            .request(method.clone(), app.url("/mcp"))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(response.status() == 405, "{method}: {}", response.status());
    }
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    for (origin, want) in [
        ("https://evil.example", 403),
        ("http://localhost:6274", 200),
        (app.base_url.as_str(), 200),
    ] {
        let response = app
            .http
            .post(app.url("/mcp"))
            .bearer_auth(&token)
            .header("origin", origin)
            .header("accept", "application/json, text/event-stream")
            .json(&list)
            .send()
            .await?;
        ensure!(response.status() == want, "{origin}: {}", response.status());
    }
    let bad_version = app
        .http
        .post(app.url("/mcp"))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "1999-01-01")
        .json(&list)
        .send()
        .await?;
    ensure!(
        bad_version.status() == 400,
        "unsupported MCP-Protocol-Version: {}",
        bad_version.status()
    );
    let body: Value = bad_version.json().await?;
    ensure!(body["error"]["code"].is_i64(), "{body}");
    let broken = app
        .http
        .post(app.url("/mcp"))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    ensure!(
        broken.status().is_client_error(),
        "malformed JSON: {}",
        broken.status()
    );
    let body: Value = broken.json().await?;
    ensure!(body["error"]["code"].is_i64(), "{body}");
    Ok(())
}

async fn a_revoked_grant_is_refused_at_once(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let (client, token) = app.full_flow("revoked@example.com").await?;
    let access = token["access_token"].as_str().context("no token")?;
    let mcp = Mcp::new(&app, access);
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    ensure!(mcp.send(&list).await?.0 == 200);
    let revoked = app
        .http
        .post(app.url("/revoke"))
        .form(&[("token", access), ("client_id", &client.client_id)])
        .send()
        .await?;
    ensure!(revoked.status() == 200);
    let (status, body) = mcp.send(&list).await?;
    ensure!(status == 401, "revoked token still works: {status} {body}");
    Ok(())
}

async fn mcp_and_mcp_slash_are_the_same_endpoint_without_a_redirect(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend, &[]).await?;
    let token = token_for(&app, "slash@example.com").await?;
    let response = app
        .http
        .post(app.url("/mcp/"))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await?;
    ensure!(response.status() == 200, "/mcp/: {}", response.status());
    let unauthenticated = app
        .http
        .post(app.url("/mcp/"))
        .json(&json!({}))
        .send()
        .await?;
    ensure!(unauthenticated.status() == 401);
    Ok(())
}
