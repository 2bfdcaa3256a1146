//! The DynamoDB backend (production), one table per entity as [`super::schema`] defines.
//!
//! Atomicity comes from DynamoDB itself: a code is consumed by a conditional `DeleteItem`
//! (`expires_at > now`), a refresh token is rotated by one `TransactWriteItems` that marks the
//! old token used, writes the new one and checks the grant, so either all of it happens or none.
//! Every read filters on `expires_at`, because TTL deletion lags by up to days.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client as Dynamo;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType as DynamoKeyType, Projection, ProjectionType, Put, ReturnValue,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TransactWriteItem, Update,
    WriteRequest,
};
use futures_util::future::join_all;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::embedded::{decode_cursor, encode_cursor};
use super::schema::{self, Table};
use super::{
    AuthCode, Client, Consent, Grant, MAX_BATCH, Memory, Page, RefreshToken, Rotation, Store,
    StoreError, StoreResult, Timestamp, User,
};

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB store.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Dynamo,
    prefix: String,
}

fn fail<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::backend(err)
}

/// Whether the error is a failed condition (the expected outcome of a lost race).
fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// The cancellation reason codes of a cancelled transaction, one per item; `None` otherwise.
fn cancellation_codes<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Option<Vec<String>> {
    match err.as_service_error()? {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

fn to_item<T: Serialize>(value: &T) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(StoreError::backend)
}

fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(StoreError::backend)
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: Timestamp) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(name: &str, value: &str) -> Item {
    HashMap::from([(name.to_owned(), s(value))])
}

fn key2(a: (&str, &str), b: (&str, &str)) -> Item {
    HashMap::from([(a.0.to_owned(), s(a.1)), (b.0.to_owned(), s(b.1))])
}

fn string_attr(item: &Item, name: &str) -> Option<String> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(ToOwned::to_owned)
}

impl DynamoStore {
    /// Connects with the default AWS configuration chain. With `endpoint_url` (a local or test
    /// server) it falls back to region `us-east-1` and, when the environment holds no access key,
    /// to static local credentials, which such servers accept.
    pub async fn connect(prefix: &str, endpoint_url: Option<&str>) -> Self {
        let Some(url) = endpoint_url else {
            return Self {
                client: Dynamo::new(crate::aws::defaults().await),
                prefix: prefix.to_owned(),
            };
        };
        let region = aws_config::meta::region::RegionProviderChain::default_provider()
            .or_else(aws_config::Region::new("us-east-1"));
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(region);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "local",
            ));
        }
        Self {
            client: Dynamo::new(&loader.load().await),
            prefix: prefix.to_owned(),
        }
    }

    /// The physical name of a table.
    pub fn table_name(&self, table: &Table) -> String {
        format!("{}{}", self.prefix, table.name)
    }

    /// Creates every missing table (with its indexes and TTL) and waits until all are active.
    /// For local servers and tests; a deployment's tables come from `template.yaml`.
    pub async fn ensure_tables(&self) -> StoreResult<()> {
        for table in schema::TABLES {
            let name = self.table_name(table);
            let exists = match self.client.describe_table().table_name(&name).send().await {
                Ok(_) => true,
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    false
                }
                Err(err) => return Err(fail(err)),
            };
            if exists {
                continue;
            }
            self.create_table(table, &name).await?;
        }
        Ok(())
    }

    async fn create_table(&self, table: &Table, name: &str) -> StoreResult<()> {
        let element = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(StoreError::backend)
        };
        let mut attributes = vec![table.partition.name];
        let mut request = self
            .client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(element(table.partition.name, DynamoKeyType::Hash)?);
        if let Some(sort) = table.sort {
            attributes.push(sort.name);
            request = request.key_schema(element(sort.name, DynamoKeyType::Range)?);
        }
        for index in table.indexes {
            attributes.push(index.partition.name);
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(element(index.partition.name, DynamoKeyType::Hash)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(StoreError::backend)?,
            );
        }
        for attribute in attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(StoreError::backend)?,
            );
        }
        request.send().await.map_err(fail)?;
        for _ in 0..120 {
            let described = self.client.describe_table().table_name(name).send().await;
            let status = described.map_err(fail)?.table.and_then(|t| t.table_status);
            if status == Some(TableStatus::Active) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        if let Some(ttl) = table.ttl {
            self.client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(ttl)
                        .enabled(true)
                        .build()
                        .map_err(StoreError::backend)?,
                )
                .send()
                .await
                .map_err(fail)?;
        }
        Ok(())
    }

    async fn get<T: DeserializeOwned>(&self, table: &Table, key: Item) -> StoreResult<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(self.table_name(table))
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(fail)?;
        out.item.map(from_item).transpose()
    }

    /// Puts `value` under `condition` (if any); a failed condition maps to `on_condition`.
    async fn put<T: Serialize>(
        &self,
        table: &Table,
        value: &T,
        condition: Option<&str>,
        on_condition: StoreError,
    ) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(self.table_name(table))
            .set_item(Some(to_item(value)?))
            .set_condition_expression(condition.map(str::to_owned))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Err(on_condition),
            Err(err) => Err(fail(err)),
        }
    }

    async fn delete(&self, table: &Table, key: Item) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(self.table_name(table))
            .set_key(Some(key))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(fail)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// Every item of a query, following pagination.
    async fn query_all<T: DeserializeOwned>(
        &self,
        table: &Table,
        index: Option<&str>,
        partition: (&str, &str),
        newest_first: bool,
    ) -> StoreResult<Vec<T>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(self.table_name(table))
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", partition.0)
                .expression_attribute_values(":pk", s(partition.1))
                .scan_index_forward(!newest_first)
                .set_consistent_read(index.is_none().then_some(true))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(fail)?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<Option<Vec<String>>> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(err) => match cancellation_codes(&err) {
                Some(codes) => Ok(Some(codes)),
                None => Err(fail(err)),
            },
        }
    }

    fn put_new(&self, table: &Table, item: Item) -> StoreResult<TransactWriteItem> {
        Ok(TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(self.table_name(table))
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", table.partition.name)
                    .build()
                    .map_err(StoreError::backend)?,
            )
            .build())
    }
}

fn live(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    expires_at.is_none_or(|at| at > now)
}

#[async_trait]
impl Store for DynamoStore {
    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    async fn ping(&self) -> StoreResult<()> {
        let checks = schema::TABLES.iter().map(|table| {
            self.client
                .describe_table()
                .table_name(self.table_name(table))
                .send()
        });
        for result in join_all(checks).await {
            result.map_err(fail)?;
        }
        Ok(())
    }

    async fn create_client(&self, client: &Client) -> StoreResult<()> {
        self.put(
            &schema::CLIENTS,
            client,
            Some("attribute_not_exists(client_id)"),
            StoreError::Conflict,
        )
        .await
    }

    async fn get_client(&self, client_id: &str, now: Timestamp) -> StoreResult<Option<Client>> {
        let client: Option<Client> = self
            .get(&schema::CLIENTS, key("client_id", client_id))
            .await?;
        Ok(client.filter(|c| live(c.expires_at, now)))
    }

    async fn update_client(&self, client: &Client) -> StoreResult<()> {
        self.put(
            &schema::CLIENTS,
            client,
            Some("attribute_exists(client_id)"),
            StoreError::NotFound,
        )
        .await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        self.delete(&schema::CLIENTS, key("client_id", client_id))
            .await
    }

    async fn list_clients(&self, cursor: Option<&str>, limit: usize) -> StoreResult<Page<Client>> {
        let start = cursor
            .map(decode_cursor)
            .transpose()?
            .map(|id| key("client_id", &id));
        let page = self
            .client
            .scan()
            .table_name(self.table_name(&schema::CLIENTS))
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(fail)?;
        let items = page
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<StoreResult<Vec<Client>>>()?;
        let next_cursor = page
            .last_evaluated_key
            .and_then(|k| string_attr(&k, "client_id"))
            .map(|id| encode_cursor(&id));
        Ok(Page { items, next_cursor })
    }

    async fn put_code(&self, code: &AuthCode) -> StoreResult<()> {
        self.put(
            &schema::CODES,
            code,
            Some("attribute_not_exists(code_hash)"),
            StoreError::Conflict,
        )
        .await
    }

    async fn consume_code(&self, code_hash: &str, now: Timestamp) -> StoreResult<Option<AuthCode>> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table_name(&schema::CODES))
            .set_key(Some(key("code_hash", code_hash)))
            .condition_expression("attribute_exists(code_hash) AND expires_at > :now")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.map(from_item).transpose(),
            Err(err) if condition_failed(&err) => Ok(None),
            Err(err) => Err(fail(err)),
        }
    }

    async fn create_grant(&self, grant: &Grant, token: &RefreshToken) -> StoreResult<()> {
        let items = vec![
            self.put_new(&schema::GRANTS, to_item(grant)?)?,
            self.put_new(&schema::REFRESH_TOKENS, to_item(token)?)?,
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::Conflict),
        }
    }

    async fn get_grant(&self, grant_id: &str, now: Timestamp) -> StoreResult<Option<Grant>> {
        let grant: Option<Grant> = self.get(&schema::GRANTS, key("grant_id", grant_id)).await?;
        Ok(grant.filter(|g| g.expires_at > now))
    }

    async fn list_grants(&self, user_id: &str, now: Timestamp) -> StoreResult<Vec<Grant>> {
        let grants: Vec<Grant> = self
            .query_all(
                &schema::GRANTS,
                Some(schema::GRANTS_BY_USER.name),
                ("user_id", user_id),
                false,
            )
            .await?;
        Ok(grants.into_iter().filter(|g| g.expires_at > now).collect())
    }

    async fn get_refresh_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<RefreshToken>> {
        let token: Option<RefreshToken> = self
            .get(&schema::REFRESH_TOKENS, key("token_hash", token_hash))
            .await?;
        Ok(token.filter(|t| t.expires_at > now))
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshToken,
        now: Timestamp,
    ) -> StoreResult<Rotation> {
        // One transaction and no reads on the way that succeeds: its conditions decide. The
        // old token must be unused, live and of the new token's grant; the grant must exist
        // and be live. Only a refused rotation reads the old token, to tell reuse from junk.
        let mark_used = Update::builder()
            .table_name(self.table_name(&schema::REFRESH_TOKENS))
            .set_key(Some(key("token_hash", old_hash)))
            .update_expression("SET used = :true")
            .condition_expression("used = :false AND expires_at > :now AND grant_id = :grant")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":grant", AttributeValue::S(new.grant_id.clone()))
            .build()
            .map_err(StoreError::backend)?;
        let extend_grant = Update::builder()
            .table_name(self.table_name(&schema::GRANTS))
            .set_key(Some(key("grant_id", &new.grant_id)))
            .update_expression("SET expires_at = :exp")
            .condition_expression("attribute_exists(grant_id) AND expires_at > :now")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":exp", n(new.expires_at))
            .build()
            .map_err(StoreError::backend)?;
        let items = vec![
            TransactWriteItem::builder().update(mark_used).build(),
            self.put_new(&schema::REFRESH_TOKENS, to_item(new)?)?,
            TransactWriteItem::builder().update(extend_grant).build(),
        ];
        let Some(codes) = self.transact(items).await? else {
            return Ok(Rotation::Rotated {
                grant_expires_at: new.expires_at,
            });
        };
        let first = codes.first().map(String::as_str);
        if matches!(first, Some("None") | None) {
            // The old token's condition held; the grant is gone or lapsed.
            return Ok(Rotation::Invalid);
        }
        let Some(old) = self.get_refresh_token(old_hash, now).await? else {
            return Ok(Rotation::Invalid);
        };
        // Used already, or being used by another request right now (a transaction
        // conflict): both are reuse.
        if !old.used && first == Some("ConditionalCheckFailed") {
            return Ok(Rotation::Invalid);
        }
        let grant_id = old.grant_id;
        self.revoke_grant(&grant_id).await?;
        Ok(Rotation::Reused { grant_id })
    }

    async fn revoke_grant(&self, grant_id: &str) -> StoreResult<bool> {
        self.delete(&schema::GRANTS, key("grant_id", grant_id))
            .await
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.put(
            &schema::USERS,
            user,
            Some("attribute_not_exists(email)"),
            StoreError::Conflict,
        )
        .await
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.get(&schema::USERS, key("email", email)).await
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let users: Vec<User> = self
            .query_all(
                &schema::USERS,
                Some(schema::USERS_BY_ID.name),
                ("user_id", user_id),
                false,
            )
            .await?;
        // The index is eventually consistent: re-read the base item for the current version.
        match users.into_iter().next() {
            Some(user) => self.get_user_by_email(&user.email).await,
            None => Ok(None),
        }
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(self.table_name(&schema::USERS))
            .set_item(Some(to_item(user)?))
            .condition_expression("attribute_exists(email) AND user_id = :id")
            .expression_attribute_values(":id", s(&user.user_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Err(StoreError::NotFound),
            Err(err) => Err(fail(err)),
        }
    }

    async fn put_consent(&self, consent: &Consent) -> StoreResult<()> {
        self.put(&schema::CONSENTS, consent, None, StoreError::Conflict)
            .await
    }

    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        self.get(
            &schema::CONSENTS,
            key2(("user_id", user_id), ("client_id", client_id)),
        )
        .await
    }

    async fn list_consents(&self, user_id: &str) -> StoreResult<Vec<Consent>> {
        self.query_all(&schema::CONSENTS, None, ("user_id", user_id), false)
            .await
    }

    async fn delete_consent(&self, user_id: &str, client_id: &str) -> StoreResult<bool> {
        self.delete(
            &schema::CONSENTS,
            key2(("user_id", user_id), ("client_id", client_id)),
        )
        .await
    }

    async fn add_memories(&self, memories: &[Memory]) -> StoreResult<()> {
        if memories.is_empty() {
            return Ok(());
        }
        if memories.len() > MAX_BATCH {
            return Err(StoreError::backend(format!(
                "at most {MAX_BATCH} memories per call"
            )));
        }
        let items = memories
            .iter()
            .map(|m| self.put_new(&schema::MEMORIES, to_item(m)?))
            .collect::<StoreResult<Vec<_>>>()?;
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::Conflict),
        }
    }

    async fn list_memories(
        &self,
        user_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Memory>> {
        let start = cursor
            .map(decode_cursor)
            .transpose()?
            .map(|id| key2(("user_id", user_id), ("memory_id", &id)));
        let page = self
            .client
            .query()
            .table_name(self.table_name(&schema::MEMORIES))
            .key_condition_expression("user_id = :u")
            .expression_attribute_values(":u", s(user_id))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(fail)?;
        let items = page
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<StoreResult<Vec<Memory>>>()?;
        let next_cursor = page
            .last_evaluated_key
            .and_then(|k| string_attr(&k, "memory_id"))
            .map(|id| encode_cursor(&id));
        Ok(Page { items, next_cursor })
    }

    async fn all_memories(&self, user_id: &str) -> StoreResult<Vec<Memory>> {
        self.query_all(&schema::MEMORIES, None, ("user_id", user_id), true)
            .await
    }

    async fn delete_memories(
        &self,
        user_id: &str,
        memory_ids: &[String],
    ) -> StoreResult<Vec<String>> {
        let deletions = memory_ids.iter().map(|id| async move {
            let result = self
                .client
                .delete_item()
                .table_name(self.table_name(&schema::MEMORIES))
                .set_key(Some(key2(("user_id", user_id), ("memory_id", id))))
                .condition_expression("attribute_exists(memory_id)")
                .send()
                .await;
            match result {
                Ok(_) => Ok(Some(id.clone())),
                Err(err) if condition_failed(&err) => Ok(None),
                Err(err) => Err(fail(err)),
            }
        });
        let mut deleted = Vec::new();
        for result in join_all(deletions).await {
            deleted.extend(result?);
        }
        Ok(deleted)
    }

    async fn delete_all_memories(&self, user_id: &str) -> StoreResult<usize> {
        let memories: Vec<Memory> = self
            .query_all(&schema::MEMORIES, None, ("user_id", user_id), false)
            .await?;
        let table = self.table_name(&schema::MEMORIES);
        for chunk in memories.chunks(MAX_BATCH) {
            let mut requests = chunk
                .iter()
                .map(|m| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key2(
                            ("user_id", user_id),
                            ("memory_id", &m.memory_id),
                        )))
                        .build()
                        .map_err(StoreError::backend)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            for attempt in 0..8u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&table, requests)
                    .send()
                    .await
                    .map_err(fail)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            if !requests.is_empty() {
                return Err(StoreError::backend("batch delete left unprocessed items"));
            }
        }
        Ok(memories.len())
    }
}
