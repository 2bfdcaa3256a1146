//! The `Store` conformance suite: every test runs against the embedded backend and against
//! DynamoDB (a moto server), as `embedded::<name>` and `dynamodb::<name>`.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::ensure;
use memory_mcp::store::{
    AuthCode, Client, ClientMetadata, Consent, Grant, Memory, RefreshToken, Rotation, Store,
    StoreError, User, new_id,
};
use tests::{Backend, on_both_backends, store};

const NOW: i64 = 1_800_000_000;

on_both_backends!(
    clients_are_created_once_found_updated_listed_and_deleted,
    a_lapsed_client_is_never_returned,
    an_authorization_code_is_consumed_at_most_once_when_50_tasks_race,
    an_expired_code_is_never_returned_even_before_ttl_deletion,
    a_refresh_token_is_rotated_at_most_once_when_50_tasks_race,
    a_reused_refresh_token_revokes_the_whole_family,
    a_rotation_extends_the_grant_to_the_new_tokens_expiry,
    a_token_rotates_only_into_its_own_grant,
    expired_refresh_tokens_and_grants_are_never_returned,
    grants_are_listed_per_user_and_revocable,
    users_are_unique_by_email_and_found_by_id,
    consents_are_kept_per_user_and_client,
    memories_are_listed_newest_first_with_a_cursor,
    deleting_a_users_memories_never_touches_another_users,
    a_forged_cursor_is_rejected,
);

fn client(id: &str, expires_at: Option<i64>) -> Client {
    Client {
        client_id: id.to_owned(),
        client_secret_hash: Some("ab".repeat(32)),
        registration_token_hash: None,
        metadata: ClientMetadata {
            redirect_uris: vec!["https://claude.ai/api/mcp/auth_callback".into()],
            token_endpoint_auth_method: "client_secret_post".into(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            response_types: vec!["code".into()],
            client_name: Some("Claude".into()),
            ..ClientMetadata::default()
        },
        created_at: NOW,
        expires_at,
    }
}

fn code(hash: &str, expires_at: i64) -> AuthCode {
    AuthCode {
        code_hash: hash.to_owned(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        redirect_uri: "https://claude.ai/api/mcp/auth_callback".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        scope: "memories:read memories:write".into(),
        resource: "https://example.com/mcp".into(),
        auth_time: NOW,
        created_at: NOW,
        expires_at,
    }
}

fn grant(user: &str, expires_at: i64) -> Grant {
    Grant {
        grant_id: new_id(),
        user_id: user.to_owned(),
        client_id: "c1".into(),
        scope: "memories:read".into(),
        resource: "https://example.com/mcp".into(),
        created_at: NOW,
        expires_at,
    }
}

fn token(grant: &Grant, hash: &str, expires_at: i64) -> RefreshToken {
    RefreshToken {
        token_hash: hash.to_owned(),
        grant_id: grant.grant_id.clone(),
        used: false,
        created_at: NOW,
        expires_at,
    }
}

fn memory(user: &str, text: &str) -> Memory {
    Memory {
        user_id: user.to_owned(),
        memory_id: new_id(),
        text: text.to_owned(),
        created_at: NOW,
    }
}

async fn clients_are_created_once_found_updated_listed_and_deleted(
    backend: Backend,
) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    for i in 0..5 {
        store
            .create_client(&client(&format!("client-{i}"), None))
            .await?;
    }
    let again = store.create_client(&client("client-0", None)).await;
    ensure!(
        matches!(again, Err(StoreError::Conflict)),
        "duplicate id: {again:?}"
    );

    let mut changed = client("client-1", None);
    changed.metadata.client_name = Some("Renamed".into());
    store.update_client(&changed).await?;
    ensure!(store.get_client("client-1", NOW).await? == Some(changed));
    let missing = store.update_client(&client("nobody", None)).await;
    ensure!(
        matches!(missing, Err(StoreError::NotFound)),
        "update of absent: {missing:?}"
    );

    let mut seen = HashSet::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = store.list_clients(cursor.as_deref(), 2).await?;
        ensure!(page.items.len() <= 2, "page larger than the limit");
        seen.extend(page.items.into_iter().map(|c| c.client_id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    ensure!(seen.len() == 5, "listing saw {seen:?}");

    ensure!(store.delete_client("client-2").await?);
    ensure!(!store.delete_client("client-2").await?);
    ensure!(store.get_client("client-2", NOW).await?.is_none());
    Ok(())
}

async fn a_lapsed_client_is_never_returned(backend: Backend) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    store.create_client(&client("dyn", Some(NOW + 60))).await?;
    ensure!(store.get_client("dyn", NOW + 59).await?.is_some());
    ensure!(store.get_client("dyn", NOW + 60).await?.is_none());
    Ok(())
}

async fn an_authorization_code_is_consumed_at_most_once_when_50_tasks_race(
    backend: Backend,
) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    store.put_code(&code("race", NOW + 60)).await?;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.consume_code("race", NOW).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if task.await??.is_some() {
            winners += 1;
        }
    }
    ensure!(winners == 1, "{winners} tasks received the code");
    ensure!(store.consume_code("race", NOW).await?.is_none());
    Ok(())
}

async fn an_expired_code_is_never_returned_even_before_ttl_deletion(
    backend: Backend,
) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    store.put_code(&code("old", NOW + 60)).await?;
    ensure!(store.consume_code("old", NOW + 60).await?.is_none());
    store.put_code(&code("fresh", NOW + 60)).await?;
    let consumed = store.consume_code("fresh", NOW + 59).await?;
    ensure!(consumed == Some(code("fresh", NOW + 60)));
    let duplicate = store.put_code(&code("old2", NOW + 60)).await;
    ensure!(duplicate.is_ok());
    ensure!(matches!(
        store.put_code(&code("old2", NOW + 60)).await,
        Err(StoreError::Conflict)
    ));
    Ok(())
}

async fn a_refresh_token_is_rotated_at_most_once_when_50_tasks_race(
    backend: Backend,
) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let g = grant("u1", NOW + 3600);
    store
        .create_grant(&g, &token(&g, "rt0", NOW + 3600))
        .await?;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            let next = token(&g, &format!("rt1-{i}"), NOW + 3600);
            tokio::spawn(async move { store.rotate_refresh_token("rt0", &next, NOW).await })
        })
        .collect();
    let (mut rotated, mut reused) = (0, 0);
    for task in tasks {
        match task.await?? {
            Rotation::Rotated { grant_expires_at } => {
                ensure!(grant_expires_at == NOW + 3600, "{grant_expires_at}");
                rotated += 1;
            }
            Rotation::Reused { grant_id } => {
                ensure!(grant_id == g.grant_id);
                reused += 1;
            }
            Rotation::Invalid => {}
        }
    }
    ensure!(rotated <= 1, "{rotated} rotations of one refresh token");
    if reused > 0 {
        ensure!(
            store.get_grant(&g.grant_id, NOW).await?.is_none(),
            "a racing reuse did not revoke the family"
        );
    }
    Ok(())
}

async fn a_reused_refresh_token_revokes_the_whole_family(backend: Backend) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let g = grant("u1", NOW + 3600);
    store.create_grant(&g, &token(&g, "t1", NOW + 3600)).await?;
    let first = store
        .rotate_refresh_token("t1", &token(&g, "t2", NOW + 3600), NOW)
        .await?;
    ensure!(
        first
            == Rotation::Rotated {
                grant_expires_at: NOW + 3600
            },
        "{first:?}"
    );
    ensure!(
        store
            .get_refresh_token("t1", NOW)
            .await?
            .is_some_and(|t| t.used)
    );

    let replay = store
        .rotate_refresh_token("t1", &token(&g, "t3", NOW + 3600), NOW)
        .await?;
    ensure!(
        replay
            == Rotation::Reused {
                grant_id: g.grant_id.clone()
            },
        "{replay:?}"
    );
    ensure!(
        store.get_grant(&g.grant_id, NOW).await?.is_none(),
        "grant survived reuse"
    );
    let after = store
        .rotate_refresh_token("t2", &token(&g, "t4", NOW + 3600), NOW)
        .await?;
    ensure!(
        after == Rotation::Invalid,
        "current token still works: {after:?}"
    );
    ensure!(
        store.get_refresh_token("t3", NOW).await?.is_none(),
        "replay wrote a token"
    );
    Ok(())
}

async fn a_rotation_extends_the_grant_to_the_new_tokens_expiry(
    backend: Backend,
) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let g = grant("u1", NOW + 100);
    store.create_grant(&g, &token(&g, "e1", NOW + 100)).await?;
    let rotated = store
        .rotate_refresh_token("e1", &token(&g, "e2", NOW + 5000), NOW + 50)
        .await?;
    let Rotation::Rotated { grant_expires_at } = rotated else {
        anyhow::bail!("not rotated: {rotated:?}");
    };
    ensure!(grant_expires_at == NOW + 5000, "{grant_expires_at}");
    ensure!(
        store.get_grant(&g.grant_id, NOW + 4000).await?.is_some(),
        "grant not extended"
    );
    Ok(())
}

async fn a_token_rotates_only_into_its_own_grant(backend: Backend) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let (mine, other) = (grant("u1", NOW + 100), grant("u2", NOW + 100));
    store
        .create_grant(&mine, &token(&mine, "m1", NOW + 100))
        .await?;
    store
        .create_grant(&other, &token(&other, "o1", NOW + 100))
        .await?;
    let crossed = store
        .rotate_refresh_token("m1", &token(&other, "o2", NOW + 100), NOW)
        .await?;
    ensure!(crossed == Rotation::Invalid, "{crossed:?}");
    ensure!(
        store.get_refresh_token("o2", NOW).await?.is_none(),
        "a refused rotation wrote a token"
    );
    let unused = store.get_refresh_token("m1", NOW).await?;
    ensure!(
        unused.is_some_and(|t| !t.used),
        "a refused rotation used the token"
    );
    let proper = store
        .rotate_refresh_token("m1", &token(&mine, "m2", NOW + 200), NOW)
        .await?;
    ensure!(
        proper
            == Rotation::Rotated {
                grant_expires_at: NOW + 200
            },
        "{proper:?}"
    );
    Ok(())
}

async fn expired_refresh_tokens_and_grants_are_never_returned(
    backend: Backend,
) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let g = grant("u1", NOW + 100);
    store
        .create_grant(&g, &token(&g, "short", NOW + 10))
        .await?;
    ensure!(store.get_refresh_token("short", NOW + 10).await?.is_none());
    let late = store
        .rotate_refresh_token("short", &token(&g, "next", NOW + 100), NOW + 10)
        .await?;
    ensure!(late == Rotation::Invalid, "{late:?}");
    ensure!(store.get_grant(&g.grant_id, NOW + 99).await?.is_some());
    ensure!(store.get_grant(&g.grant_id, NOW + 100).await?.is_none());

    let h = grant("u1", NOW + 100);
    store
        .create_grant(&h, &token(&h, "long", NOW + 1000))
        .await?;
    let lapsed_grant = store
        .rotate_refresh_token("long", &token(&h, "long2", NOW + 1000), NOW + 200)
        .await?;
    ensure!(lapsed_grant == Rotation::Invalid, "{lapsed_grant:?}");
    Ok(())
}

async fn grants_are_listed_per_user_and_revocable(backend: Backend) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let (a1, a2, b1) = (
        grant("ua", NOW + 100),
        grant("ua", NOW + 100),
        grant("ub", NOW + 100),
    );
    for (g, t) in [(&a1, "a1"), (&a2, "a2"), (&b1, "b1")] {
        store.create_grant(g, &token(g, t, NOW + 100)).await?;
    }
    let duplicate = store
        .create_grant(&a1, &token(&a1, "a1-again", NOW + 100))
        .await;
    ensure!(
        matches!(duplicate, Err(StoreError::Conflict)),
        "{duplicate:?}"
    );
    ensure!(
        store.get_refresh_token("a1-again", NOW).await?.is_none(),
        "half-written grant"
    );

    let mut ids: Vec<String> = store
        .list_grants("ua", NOW)
        .await?
        .into_iter()
        .map(|g| g.grant_id)
        .collect();
    ids.sort();
    let mut want = vec![a1.grant_id.clone(), a2.grant_id.clone()];
    want.sort();
    ensure!(ids == want, "grants of ua: {ids:?}");

    ensure!(store.revoke_grant(&a1.grant_id).await?);
    ensure!(!store.revoke_grant(&a1.grant_id).await?);
    let rotation = store
        .rotate_refresh_token("a1", &token(&a1, "a1-next", NOW + 100), NOW)
        .await?;
    ensure!(
        rotation == Rotation::Invalid,
        "revoked family rotated: {rotation:?}"
    );
    ensure!(store.list_grants("ua", NOW).await?.len() == 1);
    ensure!(store.list_grants("ub", NOW).await?.len() == 1);
    Ok(())
}

async fn users_are_unique_by_email_and_found_by_id(backend: Backend) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let user = User {
        user_id: new_id(),
        email: "ada@example.com".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: NOW,
        updated_at: NOW,
        failed_sign_ins: 0,
        locked_until: None,
    };
    store.create_user(&user).await?;
    let twin = User {
        user_id: new_id(),
        ..user.clone()
    };
    ensure!(matches!(
        store.create_user(&twin).await,
        Err(StoreError::Conflict)
    ));
    ensure!(store.get_user_by_email("ada@example.com").await? == Some(user.clone()));
    ensure!(store.get_user(&user.user_id).await? == Some(user.clone()));
    ensure!(store.get_user("nobody").await?.is_none());

    let changed = User {
        password_hash: "$argon2id$changed".into(),
        updated_at: NOW + 1,
        ..user.clone()
    };
    store.update_user(&changed).await?;
    ensure!(store.get_user(&user.user_id).await? == Some(changed));
    ensure!(matches!(
        store.update_user(&twin).await,
        Err(StoreError::NotFound)
    ));
    Ok(())
}

async fn consents_are_kept_per_user_and_client(backend: Backend) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let consent = |user: &str, client: &str| Consent {
        user_id: user.into(),
        client_id: client.into(),
        scope: "memories:read".into(),
        created_at: NOW,
    };
    store.put_consent(&consent("u1", "c1")).await?;
    store.put_consent(&consent("u1", "c2")).await?;
    store.put_consent(&consent("u2", "c1")).await?;
    ensure!(store.get_consent("u1", "c1").await? == Some(consent("u1", "c1")));
    ensure!(store.list_consents("u1").await?.len() == 2);
    ensure!(store.delete_consent("u1", "c1").await?);
    ensure!(!store.delete_consent("u1", "c1").await?);
    ensure!(store.get_consent("u1", "c1").await?.is_none());
    ensure!(store.get_consent("u2", "c1").await?.is_some());
    Ok(())
}

async fn memories_are_listed_newest_first_with_a_cursor(backend: Backend) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let mut written = Vec::new();
    for batch in 0..3 {
        let memories: Vec<Memory> = (0..4)
            .map(|i| memory("u1", &format!("m{batch}-{i}")))
            .collect();
        store.add_memories(&memories).await?;
        written.extend(memories);
    }
    written.reverse();
    let all = store.all_memories("u1").await?;
    ensure!(all == written, "all_memories is not newest first");

    let mut listed = Vec::new();
    let mut cursor = None;
    for _ in 0..20 {
        let page = store.list_memories("u1", cursor.as_deref(), 5).await?;
        ensure!(page.items.len() <= 5);
        listed.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    ensure!(
        listed == written,
        "paged listing differs from newest-first order"
    );

    let first = written[0].clone();
    let clash = store.add_memories(&[memory("u1", "new"), first]).await;
    ensure!(matches!(clash, Err(StoreError::Conflict)), "{clash:?}");
    ensure!(
        store.all_memories("u1").await?.len() == 12,
        "a failed batch was half-written"
    );
    Ok(())
}

async fn deleting_a_users_memories_never_touches_another_users(
    backend: Backend,
) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let alice: Vec<Memory> = (0..5).map(|i| memory("alice", &format!("a{i}"))).collect();
    let bob: Vec<Memory> = (0..3).map(|i| memory("bob", &format!("b{i}"))).collect();
    store.add_memories(&alice).await?;
    store.add_memories(&bob).await?;

    let alice_ids: Vec<String> = alice.iter().map(|m| m.memory_id.clone()).collect();
    let stolen = store.delete_memories("bob", &alice_ids).await?;
    ensure!(
        stolen.is_empty(),
        "bob deleted alice's memories: {stolen:?}"
    );
    ensure!(store.all_memories("alice").await?.len() == 5);

    let mixed = vec![bob[0].memory_id.clone(), alice_ids[0].clone()];
    let deleted = store.delete_memories("bob", &mixed).await?;
    ensure!(deleted == vec![bob[0].memory_id.clone()], "{deleted:?}");

    ensure!(store.delete_all_memories("bob").await? == 2);
    ensure!(store.all_memories("bob").await?.is_empty());
    ensure!(
        store.all_memories("alice").await?.len() == 5,
        "delete_all crossed users"
    );
    Ok(())
}

async fn a_forged_cursor_is_rejected(backend: Backend) -> anyhow::Result<()> {
    let (store, _keep) = store(backend).await?;
    let bad = store.list_memories("u1", Some("%%%not-base64"), 5).await;
    ensure!(matches!(bad, Err(StoreError::InvalidCursor)), "{bad:?}");
    let bad = store.list_clients(Some("%%%"), 5).await;
    ensure!(matches!(bad, Err(StoreError::InvalidCursor)), "{bad:?}");
    Ok(())
}

#[tokio::test]
async fn embedded_data_survives_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.redb");
    let kept = memory("u1", "remember me");
    {
        let store = memory_mcp::store::EmbeddedStore::open(&path)?;
        store.add_memories(std::slice::from_ref(&kept)).await?;
    }
    let reopened = memory_mcp::store::EmbeddedStore::open(&path)?;
    ensure!(reopened.all_memories("u1").await? == vec![kept]);
    Ok(())
}
