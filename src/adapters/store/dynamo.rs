//! The DynamoDB store (`GATEBOT_STORE=dynamodb:TABLE`). One table, string
//! keys `pk`/`sk`; records as JSON in `data`. See docs/DESIGN.md for the
//! item layout.
//!
//! | item | pk | sk | other attributes |
//! |---|---|---|---|
//! | gate | `GATE#<repo>#<pr>` | `GATE` | `version`, `data`, sparse GSI keys `pending_key`, `watch_key`, `head_key` |
//! | dedupe claim | `DEDUPE#<key>` | `DEDUPE` | `expires_at` (the table's TTL attribute), `done` |
//! | dispatch | `DISPATCH#<repo>#<id>` | `DISPATCH` | `data`, `run_id` (set once, conditionally), `sent` |
//! | run → dispatch | `RUN#<repo>#<run id>` | `RUN` | `dispatch_id` (trusted only when that dispatch's `run_id` agrees) |
//! | deploy | `DEPLOYS#<repo>#<env>` | `<finished at>#<id>` | `data` (+ marker `DEPLOYID#<repo>#<env>#<id>`) |
//! | audit | `AUDIT#<repo>` and `AUDIT#<repo>#<pr>` | `<at>#<nonce>` | `data` |
//! | environment | `ENVS#<repo>` | `ENV#<env>` | `version`, `data` (what runs there; written in the transaction of the PR record that changed it) |
//!
//! Every state change is a conditional put on `version`; a lost race is
//! [`StoreError::Conflict`], which the caller retries from a fresh,
//! strongly consistent read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::last_seen::LastSeen;
use super::{
    AuditEntry, Begin, DeployRecord, DispatchRecord, EnvWrite, GateRecord, JudgedOn, Store,
    StoreError, TransitionSaved, TransitionWrite, Versioned,
};
use crate::adapters::aws::Tally;
use crate::core::domain::{DispatchId, Environment, PrKey, RepoName, Sha};
use crate::core::gate::EnvRecord;

type Item = HashMap<String, AttributeValue>;

pub(crate) const PENDING_INDEX: &str = "pending";
pub(crate) const WATCH_INDEX: &str = "watch";
pub(crate) const HEAD_INDEX: &str = "head";

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    nonce: std::sync::Arc<AtomicU64>,
    /// First guesses for the outbox's clean-up (see [`LastSeen`]).
    seen: std::sync::Arc<LastSeen>,
    /// This store's own requests, when it counts them ([`DynamoStore::local`]).
    tally: Option<std::sync::Arc<Tally>>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DynamoStore({})", self.table)
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The full error chain (the SDK's `Display` alone says only "service error").
fn sdk_error<E: std::error::Error>(e: E) -> StoreError {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    StoreError::Unavailable(text)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("item lacks string attribute {name}")))
}

fn get_n(item: &Item, name: &str) -> Result<u64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("item lacks number attribute {name}")))
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_str(get_s(item, "data")?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The cancellation reasons of a transaction DynamoDB cancelled (it wrote
/// nothing), one code per item in order (`None` for an item that was not
/// the cause); `None` for any other error.
fn cancellation(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    >,
) -> Option<Vec<Option<&str>>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => Some(
            t.cancellation_reasons()
                .iter()
                .map(|r| r.code().filter(|c| *c != "None"))
                .collect(),
        ),
        _ => None,
    }
}

/// Whether a transaction was cancelled because a condition failed.
fn condition_failed(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    >,
) -> bool {
    cancellation(e).is_some_and(|reasons| reasons.contains(&Some("ConditionalCheckFailed")))
}

fn dispatch_pk(repo: &RepoName, dispatch_id: &DispatchId) -> String {
    format!("DISPATCH#{repo}#{dispatch_id}")
}

/// A dispatch item: its JSON, with the conditionally written `run_id` and
/// `sent` attributes taking precedence.
fn dispatch_from_item(item: &Item) -> Result<DispatchRecord, StoreError> {
    let mut record: DispatchRecord = from_item(item)?;
    if item.contains_key("run_id") {
        record.run_id = Some(get_n(item, "run_id")?);
    }
    if let Some(sent) = item.get("sent").and_then(|v| v.as_bool().ok()) {
        record.sent = *sent;
    }
    Ok(record)
}

fn gate_pk(pr: &PrKey) -> String {
    format!("GATE#{}#{}", pr.repo, pr.number)
}

fn parse_gate_pk(pk: &str) -> Result<PrKey, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("bad gate key {pk}"));
    let rest = pk.strip_prefix("GATE#").ok_or_else(corrupt)?;
    let (repo, number) = rest.rsplit_once('#').ok_or_else(corrupt)?;
    Ok(PrKey {
        repo: RepoName::parse(repo).map_err(|_| corrupt())?,
        number: number.parse().map_err(|_| corrupt())?,
    })
}

fn head_key(repo: &RepoName, sha: &Sha) -> String {
    format!("{repo}#{sha}")
}

/// A dedupe key's item once its work is done, kept for `keep`.
fn finished_item(key: &str, keep: Duration, now: DateTime<Utc>) -> Item {
    HashMap::from([
        ("pk".to_string(), s(format!("DEDUPE#{key}"))),
        ("sk".to_string(), s("DEDUPE")),
        (
            "expires_at".to_string(),
            n(now.timestamp() + keep.as_secs() as i64),
        ),
        ("done".to_string(), AttributeValue::Bool(true)),
    ])
}

/// A 32-bit FNV-1a hash: a short, stable tag of a key.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Items one `TransactWriteItems` request takes at most.
const TRANSACTION_MAX: usize = 100;

/// A gate record's item at `version`, with the sparse index keys of the
/// indexes it belongs in.
fn gate_item(record: &GateRecord, version: u64) -> Result<Item, StoreError> {
    let state = &record.state;
    let mut item = HashMap::from([
        ("pk".to_string(), s(gate_pk(&state.pr))),
        ("sk".to_string(), s("GATE")),
        ("version".to_string(), n(version)),
        ("data".to_string(), s(to_json(record)?)),
    ]);
    // Sparse index keys: present only while the gate belongs there.
    if !record.pending.is_empty() {
        item.insert("pending_key".into(), s("PENDING"));
    }
    if state.needs_watch() {
        item.insert("watch_key".into(), s("WATCH"));
    }
    if state.open {
        item.insert(
            "head_key".into(),
            s(head_key(&state.pr.repo, &state.head_sha)),
        );
    }
    Ok(item)
}

/// The size of a gate item's encoded record.
fn data_len(item: &Item) -> usize {
    item.get("data")
        .and_then(|v| v.as_s().ok())
        .map_or(usize::MAX, String::len)
}

fn envs_pk(repo: &RepoName) -> String {
    format!("ENVS#{repo}")
}

/// The conditional put of an environment's record (see [`EnvWrite`]).
fn env_put(table: &str, w: &EnvWrite<'_>) -> Result<TransactWriteItem, StoreError> {
    let version = w.expected.map_or(1, |v| v + 1);
    let put = Put::builder()
        .table_name(table)
        .item("pk", s(envs_pk(&w.record.repo)))
        .item("sk", s(format!("ENV#{}", w.record.environment)))
        .item("version", n(version))
        .item("data", s(to_json(w.record)?));
    put_item(match w.expected {
        None => put.condition_expression("attribute_not_exists(pk)"),
        Some(v) => put
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(v)),
    })
}

/// Whether the first `guarded` items of a cancelled transaction hold a
/// failed condition (or another transaction in the way): the records
/// changed since they were read.
fn guarded_conflict(reasons: &[Option<&str>], guarded: usize) -> bool {
    reasons
        .iter()
        .take(guarded)
        .any(|r| matches!(r, Some("ConditionalCheckFailed" | "TransactionConflict")))
}

/// The conditional put that begins dedupe key `key` (see [`Store::begin`]).
fn claim_put(
    table: &str,
    key: &str,
    lease: Duration,
    now: DateTime<Utc>,
) -> aws_sdk_dynamodb::types::builders::PutBuilder {
    Put::builder()
        .table_name(table)
        .item("pk", s(format!("DEDUPE#{key}")))
        .item("sk", s("DEDUPE"))
        .item("expires_at", n(now.timestamp() + lease.as_secs() as i64))
        .item("done", AttributeValue::Bool(false))
        .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
        .expression_attribute_values(":now", n(now.timestamp()))
}

fn put_item(
    put: aws_sdk_dynamodb::types::builders::PutBuilder,
) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .put(put.build().map_err(unavailable)?)
        .build())
}

/// The two puts of a deploy history line: the marker that makes it
/// idempotent per dispatch id, and the line itself (its sort key orders by
/// completion time).
fn deploy_puts(table: &str, record: &DeployRecord) -> Result<(PutBuilder, PutBuilder), StoreError> {
    let env = record.environment.as_str();
    let marker = Put::builder()
        .table_name(table)
        .item(
            "pk",
            s(format!(
                "DEPLOYID#{}#{env}#{}",
                record.repo, record.dispatch_id
            )),
        )
        .item("sk", s("DEPLOYID"));
    let entry = Put::builder()
        .table_name(table)
        .item("pk", s(format!("DEPLOYS#{}#{env}", record.repo)))
        .item("sk", s(time_sk(record.at, record.dispatch_id.as_str())))
        .item("data", s(to_json(record)?));
    Ok((marker, entry))
}

/// Items one `BatchWriteItem` request takes at most.
const BATCH_MAX: usize = 25;
/// Rounds of re-sending what DynamoDB left unprocessed (throttling).
const BATCH_ROUNDS: u32 = 5;

/// A sort key that orders by time (nanoseconds) and never collides.
fn time_sk(at: DateTime<Utc>, suffix: &str) -> String {
    format!("{}#{suffix}", at.format("%Y%m%dT%H%M%S%.9f"))
}

/// A DynamoDB client from the AWS configuration, its requests counted.
pub(crate) fn client(config: &aws_config::SdkConfig) -> Client {
    Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(crate::adapters::aws::CountRequests::default())
            .build(),
    )
}

/// A client for a local DynamoDB-compatible server (moto in tests), with
/// static credentials; tests also use it to write items as an older
/// version (or someone with table access) would.
pub fn local_client(endpoint: &str) -> Client {
    local_client_tallied(endpoint, None)
}

fn local_client_tallied(endpoint: &str, tally: Option<std::sync::Arc<Tally>>) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .http_client(crate::adapters::aws::http_client())
        .interceptor(crate::adapters::aws::CountRequests { tally })
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "static",
        ))
        .build();
    Client::from_conf(config)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let seed = Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64;
        DynamoStore {
            client,
            table: table.into(),
            nonce: std::sync::Arc::new(AtomicU64::new(seed)),
            seen: std::sync::Arc::default(),
            tally: None,
        }
    }

    /// A store on a local DynamoDB-compatible server (moto in tests),
    /// which tallies its own requests ([`DynamoStore::requests_sent`]).
    pub fn local(endpoint: &str, table: impl Into<String>) -> Self {
        let tally = std::sync::Arc::new(Tally::default());
        let mut store = Self::new(local_client_tallied(endpoint, Some(tally.clone())), table);
        store.tally = Some(tally);
        store
    }

    /// The requests this store sent, by operation (a local store's only;
    /// empty for others).
    pub fn requests_sent(&self) -> std::collections::BTreeMap<String, u64> {
        self.tally
            .as_ref()
            .map(|t| t.by_operation())
            .unwrap_or_default()
    }

    /// Creates the table (as `template.yaml` does) when it does not exist:
    /// for local use and tests. Production tables come from the template.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        if self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(unavailable)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(unavailable)
        };
        let index = |name: &str, hash: &str| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key("pk", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .map_err(unavailable)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("pending_key")?)
            .attribute_definitions(attr("watch_key")?)
            .attribute_definitions(attr("head_key")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(index(PENDING_INDEX, "pending_key")?)
            .global_secondary_indexes(index(WATCH_INDEX, "watch_key")?)
            .global_secondary_indexes(index(HEAD_INDEX, "head_key")?)
            .send()
            .await
            .map_err(sdk_error)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(unavailable)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item)
    }

    /// All `pk`s of an index partition (paginated).
    async fn index_keys(
        &self,
        index: &str,
        attr: &str,
        value: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", attr)
                .expression_attribute_values(":v", s(value))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items() {
                out.push(get_s(item, "pk")?.to_string());
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The gates in one partition of a sparse index, sorted.
    async fn gate_keys(
        &self,
        index: &str,
        attr: &str,
        value: &str,
    ) -> Result<Vec<PrKey>, StoreError> {
        let mut keys: Vec<PrKey> = self
            .index_keys(index, attr, value)
            .await?
            .iter()
            .map(|pk| parse_gate_pk(pk))
            .collect::<Result<_, _>>()?;
        keys.sort_by(|a, b| (a.repo.as_str(), a.number).cmp(&(b.repo.as_str(), b.number)));
        Ok(keys)
    }

    /// The newest `limit` items of a partition, newest first.
    /// An audit line's two items: one in the repository's partition, one
    /// in the PR's.
    fn audit_items(&self, entry: &AuditEntry) -> Result<Vec<Item>, StoreError> {
        let nonce = format!("{:016x}", self.nonce.fetch_add(1, Ordering::Relaxed));
        let sk = time_sk(entry.at, &nonce);
        let data = to_json(entry)?;
        let mut partitions = vec![format!("AUDIT#{}", entry.repo)];
        if let Some(pr) = entry.pr {
            partitions.push(format!("AUDIT#{}#{pr}", entry.repo));
        }
        Ok(partitions
            .into_iter()
            .map(|pk| {
                HashMap::from([
                    ("pk".to_string(), s(pk)),
                    ("sk".to_string(), s(&sk)),
                    ("data".to_string(), s(&data)),
                ])
            })
            .collect())
    }

    /// Unconditional puts of distinct items, 25 to a `BatchWriteItem`
    /// request (billed as the same puts one by one); what DynamoDB leaves
    /// unprocessed is sent again, a few times, after a short pause.
    async fn put_all(&self, items: Vec<Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut requests = Vec::with_capacity(items.len());
        for item in items {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(unavailable)?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        for chunk in requests.chunks(BATCH_MAX) {
            let mut pending = chunk.to_vec();
            for round in 0..=BATCH_ROUNDS {
                if pending.is_empty() {
                    break;
                }
                if round == BATCH_ROUNDS {
                    return Err(StoreError::Unavailable(format!(
                        "{} writes still unprocessed after {BATCH_ROUNDS} rounds",
                        pending.len()
                    )));
                }
                if round > 0 {
                    tokio::time::sleep(Duration::from_millis(25 << round)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    async fn newest(&self, pk: &str, limit: usize) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.items.unwrap_or_default())
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_error)
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("DEDUPE#{key}")))
            .key("sk", s("DEDUPE"))
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_error)
    }

    async fn begin(
        &self,
        key: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Begin, StoreError> {
        let pk = format!("DEDUPE#{key}");
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s("DEDUPE"))
            .item("expires_at", n(now.timestamp() + lease.as_secs() as i64))
            .item("done", AttributeValue::Bool(false))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match r {
            Ok(_) => Ok(Begin::Fresh),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // Held by someone: done, or still at work. An item gone
                // meanwhile was released by a failed holder: "try again".
                // An item without `done` predates it: finished work.
                let done = match self.get(&pk, "DEDUPE").await? {
                    Some(item) => item
                        .get("done")
                        .and_then(|v| v.as_bool().ok())
                        .copied()
                        .unwrap_or(true),
                    None => false,
                };
                Ok(if done { Begin::Done } else { Begin::InProgress })
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn begin_many(
        &self,
        keys: &[String],
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Begin>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        // One transaction of conditional puts per 100 keys: when every key
        // is free (the usual case: effects just queued), one request takes
        // them all. When any is held, the transaction writes nothing and
        // each key is begun on its own, for its own answer.
        for chunk in keys.chunks(100) {
            if chunk.len() > 1 {
                let mut tx = self.client.transact_write_items();
                for key in chunk {
                    tx = tx.transact_items(put_item(claim_put(&self.table, key, lease, now))?);
                }
                match tx.send().await {
                    Ok(_) => {
                        out.extend(chunk.iter().map(|_| Begin::Fresh));
                        continue;
                    }
                    // Cancelled (a key held, or another transaction on one
                    // of them): nothing was written; each key on its own.
                    Err(e) if cancellation(&e).is_some() => {}
                    Err(e) => return Err(sdk_error(e)),
                }
            }
            for key in chunk {
                out.push(self.begin(key, lease, now).await?);
            }
        }
        Ok(out)
    }

    async fn finish(
        &self,
        key: &str,
        keep: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(finished_item(key, keep, now)))
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_error)
    }

    async fn load_gate(&self, pr: &PrKey) -> Result<Option<Versioned<GateRecord>>, StoreError> {
        let pk = gate_pk(pr);
        let Some(item) = self.get(&pk, "GATE").await? else {
            self.seen.forget(&pk);
            return Ok(None);
        };
        let data = get_s(&item, "data")?;
        let version = get_n(&item, "version")?;
        let value = GateRecord::decode(data)?;
        self.seen.saw(&pk, version, &value, data.len());
        Ok(Some(Versioned { version, value }))
    }

    fn last_seen(&self, pr: &PrKey) -> Option<Versioned<GateRecord>> {
        self.seen
            .guess(&gate_pk(pr))
            .map(|(version, value)| Versioned { version, value })
    }

    async fn save_gate(
        &self,
        record: &GateRecord,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        let version = expected.map_or(1, |v| v + 1);
        let item = gate_item(record, version)?;
        let bytes = data_len(&item);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        let pk = gate_pk(&record.state.pr);
        match put.send().await {
            Ok(_) => {
                self.seen.saw(&pk, version, record, bytes);
                Ok(version)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.seen.forget(&pk);
                Err(StoreError::Conflict)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn save_gate_and_environments(
        &self,
        record: &GateRecord,
        expected: Option<u64>,
        environments: &[EnvWrite<'_>],
    ) -> Result<u64, StoreError> {
        if environments.is_empty() {
            return self.save_gate(record, expected).await;
        }
        let version = expected.map_or(1, |v| v + 1);
        let item = gate_item(record, version)?;
        let bytes = data_len(&item);
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(put_item(put)?);
        for w in environments {
            tx = tx.transact_items(env_put(&self.table, w)?);
        }
        let pk = gate_pk(&record.state.pr);
        match tx.send().await {
            Ok(_) => {
                self.seen.saw(&pk, version, record, bytes);
                Ok(version)
            }
            Err(e) => match cancellation(&e) {
                Some(reasons) if guarded_conflict(&reasons, reasons.len()) => {
                    self.seen.forget(&pk);
                    Err(StoreError::Conflict)
                }
                _ => Err(sdk_error(e)),
            },
        }
    }

    async fn load_environments(
        &self,
        repo: &RepoName,
    ) -> Result<Vec<Versioned<EnvRecord>>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(envs_pk(repo)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items() {
                out.push(Versioned {
                    version: get_n(item, "version")?,
                    value: from_item(item)?,
                });
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn commit_transition(
        &self,
        t: TransitionWrite<'_>,
    ) -> Result<TransitionSaved, StoreError> {
        let mut audits = Vec::new();
        for entry in t.audits {
            audits.extend(self.audit_items(entry)?);
        }
        let guarded = 1 + t.environments.len();
        let items = guarded
            + t.claims.len()
            + audits.len()
            + 2 * t.deploys.len()
            + usize::from(t.settles.is_some());
        if items > TRANSACTION_MAX {
            return super::commit_in_steps(self, t).await;
        }
        // One transaction: the record (conditional), the claims (taken
        // as `begin` takes a key), the audit lines and the settled key.
        // Billed at twice the write units of the same puts one by one; in
        // exchange the transition and its record are never apart.
        let version = t.expected.map_or(1, |v| v + 1);
        let item = gate_item(t.record, version)?;
        let bytes = data_len(&item);
        let record = Put::builder().table_name(&self.table).set_item(Some(item));
        let record = match t.expected {
            None => record.condition_expression("attribute_not_exists(pk)"),
            Some(v) => record
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        // A token of its own: should the SDK send the transaction again
        // (a timeout, a 5xx after DynamoDB acted), DynamoDB answers the
        // retry as it answered the first, instead of failing its
        // conditions against what the first attempt wrote. Unique per
        // record, version and call; 32 characters (DynamoDB takes 36).
        let token = format!(
            "{:08x}{:08x}{:016x}",
            fnv1a(&gate_pk(&t.record.state.pr)),
            version as u32,
            self.nonce.fetch_add(1, Ordering::Relaxed)
        );
        let mut tx = self
            .client
            .transact_write_items()
            .client_request_token(token)
            .transact_items(put_item(record)?);
        for w in t.environments {
            tx = tx.transact_items(env_put(&self.table, w)?);
        }
        for key in t.claims {
            tx = tx.transact_items(put_item(claim_put(&self.table, key, t.claim_lease, t.now))?);
        }
        for item in audits {
            tx = tx.transact_items(put_item(
                Put::builder().table_name(&self.table).set_item(Some(item)),
            )?);
        }
        // A deploy's line and its marker, unconditionally: the transition
        // that saw the deploy succeed is written once (its own condition),
        // and writing the same two items again changes nothing.
        for deploy in t.deploys {
            let (marker, entry) = deploy_puts(&self.table, deploy)?;
            tx = tx.transact_items(put_item(marker)?);
            tx = tx.transact_items(put_item(entry)?);
        }
        if let Some(key) = t.settles {
            tx = tx.transact_items(put_item(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(finished_item(key, t.keep, t.now))),
            )?);
        }
        let pk = gate_pk(&t.record.state.pr);
        match tx.send().await {
            Ok(_) => {
                self.seen.saw(&pk, version, t.record, bytes);
                Ok(TransitionSaved {
                    version,
                    claims: vec![Begin::Fresh; t.claims.len()],
                    settled: t.settles.is_some(),
                })
            }
            Err(e) => match cancellation(&e) {
                // The record or an environment's changed since it was
                // read (or another transaction is writing it): nothing
                // was written.
                Some(reasons) if guarded_conflict(&reasons, guarded) => {
                    self.seen.forget(&pk);
                    Err(StoreError::Conflict)
                }
                Some(reasons) if reasons.iter().take(guarded).any(Option::is_some) => {
                    Err(sdk_error(e))
                }
                None => Err(sdk_error(e)),
                // Something else was in the way (a claim held, say):
                // nothing was written; the steps one by one say what.
                Some(_) => super::commit_in_steps(self, t).await,
            },
        }
    }

    async fn gates_with_pending(&self) -> Result<Vec<PrKey>, StoreError> {
        self.gate_keys(PENDING_INDEX, "pending_key", "PENDING")
            .await
    }

    async fn gates_to_watch(&self) -> Result<Vec<PrKey>, StoreError> {
        self.gate_keys(WATCH_INDEX, "watch_key", "WATCH").await
    }

    async fn prs_with_head(&self, repo: &RepoName, sha: &Sha) -> Result<Vec<u64>, StoreError> {
        let mut prs: Vec<u64> = self
            .index_keys(HEAD_INDEX, "head_key", &head_key(repo, sha))
            .await?
            .iter()
            .map(|pk| parse_gate_pk(pk).map(|k| k.number))
            .collect::<Result<_, _>>()?;
        prs.sort_unstable();
        Ok(prs)
    }

    async fn create_dispatch(&self, record: &DispatchRecord) -> Result<DispatchRecord, StoreError> {
        let pk = dispatch_pk(&record.repo, &record.deploy.dispatch_id);
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s("DISPATCH"))
            .item(
                "data",
                s(to_json(&DispatchRecord {
                    run_id: None,
                    ..record.clone()
                })?),
            )
            .item("sent", AttributeValue::Bool(record.sent))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        match r {
            // Written as given: that is what is stored, unless a run is to
            // be linked too.
            Ok(_) if record.run_id.is_none() => return Ok(record.clone()),
            Ok(_) => {}
            Err(e) => match e.as_service_error() {
                // Recorded before: the stored item came back with the answer.
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    if let (Some(item), None) = (c.item(), record.run_id) {
                        return dispatch_from_item(item);
                    }
                }
                _ => return Err(sdk_error(e)),
            },
        }
        if let Some(run) = record.run_id {
            self.link_dispatch_run(&record.repo, &record.deploy.dispatch_id, run)
                .await?;
        }
        self.dispatch_by_id(&record.repo, &record.deploy.dispatch_id)
            .await?
            .ok_or_else(|| StoreError::Unavailable(format!("dispatch {pk} vanished")))
    }

    async fn create_dispatch_if(
        &self,
        record: &DispatchRecord,
        on: JudgedOn<'_>,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::types::ConditionCheck;
        if on.environments.len() + 2 > TRANSACTION_MAX {
            return Ok(false);
        }
        let gate = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(gate_pk(on.pr)))
            .key("sk", s("GATE"))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(on.gate_version))
            .build()
            .map_err(unavailable)?;
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(gate).build());
        for (env, version) in on.environments {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", s(envs_pk(&on.pr.repo)))
                .key("sk", s(format!("ENV#{env}")));
            let check = match version {
                Some(v) => check
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(v)),
                None => check.condition_expression("attribute_not_exists(pk)"),
            };
            tx = tx.transact_items(
                TransactWriteItem::builder()
                    .condition_check(check.build().map_err(unavailable)?)
                    .build(),
            );
        }
        let put = Put::builder()
            .table_name(&self.table)
            .item(
                "pk",
                s(dispatch_pk(&record.repo, &record.deploy.dispatch_id)),
            )
            .item("sk", s("DISPATCH"))
            .item(
                "data",
                s(to_json(&DispatchRecord {
                    run_id: None,
                    ..record.clone()
                })?),
            )
            .item("sent", AttributeValue::Bool(record.sent))
            .condition_expression("attribute_not_exists(pk)");
        tx = tx.transact_items(put_item(put)?);
        match tx.send().await {
            Ok(_) => Ok(true),
            // A record moved, or the dispatch is recorded: nothing written.
            Err(e) if cancellation(&e).is_some() => Ok(false),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn mark_dispatch_sent(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
    ) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(dispatch_pk(repo, dispatch_id)))
            .key("sk", s("DISPATCH"))
            .update_expression("SET sent = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn link_dispatch_run(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
        run_id: u64,
    ) -> Result<Option<u64>, StoreError> {
        let link = Update::builder()
            .table_name(&self.table)
            .key("pk", s(dispatch_pk(repo, dispatch_id)))
            .key("sk", s("DISPATCH"))
            .update_expression("SET run_id = :r, sent = :t")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(run_id) OR run_id = :r)",
            )
            .expression_attribute_values(":r", n(run_id))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .build()
            .map_err(unavailable)?;
        let index = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("RUN#{repo}#{run_id}")))
            .item("sk", s("RUN"))
            .item("dispatch_id", s(dispatch_id.as_str()))
            .build()
            .map_err(unavailable)?;
        let r = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(link).build())
            .transact_items(TransactWriteItem::builder().put(index).build())
            .send()
            .await;
        match r {
            Ok(_) => Ok(Some(run_id)),
            // Another run is linked, or there is no such dispatch.
            Err(e) if condition_failed(&e) => Ok(self
                .dispatch_by_id(repo, dispatch_id)
                .await?
                .and_then(|d| d.run_id)),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn dispatch_by_id(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
    ) -> Result<Option<DispatchRecord>, StoreError> {
        self.get(&dispatch_pk(repo, dispatch_id), "DISPATCH")
            .await?
            .map(|item| dispatch_from_item(&item))
            .transpose()
    }

    async fn dispatch_by_run(
        &self,
        repo: &RepoName,
        run_id: u64,
    ) -> Result<Option<DispatchRecord>, StoreError> {
        let Some(index) = self.get(&format!("RUN#{repo}#{run_id}"), "RUN").await? else {
            return Ok(None);
        };
        // The index item is only a pointer: the dispatch must agree.
        let Some(id) = DispatchId::parse(get_s(&index, "dispatch_id")?) else {
            return Ok(None);
        };
        Ok(self
            .dispatch_by_id(repo, &id)
            .await?
            .filter(|d| d.run_id == Some(run_id)))
    }

    async fn record_deploy(&self, record: &DeployRecord) -> Result<(), StoreError> {
        let (marker, entry) = deploy_puts(&self.table, record)?;
        let marker = marker
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unavailable)?;
        let entry = entry.build().map_err(unavailable)?;
        let r = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(TransactWriteItem::builder().put(entry).build())
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // The marker exists: this deploy is already in the history.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn deploy_history(
        &self,
        repo: &RepoName,
        env: &Environment,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, StoreError> {
        self.newest(&format!("DEPLOYS#{repo}#{}", env.as_str()), limit)
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.append_audits(std::slice::from_ref(entry)).await
    }

    async fn append_audits(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(entries.len() * 2);
        for entry in entries {
            items.extend(self.audit_items(entry)?);
        }
        self.put_all(items).await
    }

    async fn finish_with_audit(
        &self,
        key: &str,
        keep: Duration,
        now: DateTime<Utc>,
        entries: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let mut items = vec![finished_item(key, keep, now)];
        for entry in entries {
            items.extend(self.audit_items(entry)?);
        }
        self.put_all(items).await
    }

    /// One transaction: the keys marked done, their audit lines and the
    /// record without the actions `done` (conditional on the version just
    /// read; read again when it moved). Where it cannot be one (no record,
    /// one of a newer layout, too many items, a record that keeps moving),
    /// the keys and the lines are written as [`Store::finish_with_audit`]
    /// writes them, and the caller drops the actions.
    async fn finish_effect(
        &self,
        keys: &[String],
        keep: Duration,
        now: DateTime<Utc>,
        entries: &[AuditEntry],
        pr: &PrKey,
        done: &[u64],
    ) -> Result<bool, StoreError> {
        let mut audits = Vec::with_capacity(entries.len() * 2);
        for entry in entries {
            audits.extend(self.audit_items(entry)?);
        }
        // Whether the outbox holds none of `done` (no record, or dropped
        // already): then the key and its lines are all there is to write.
        let mut nothing_to_drop = false;
        if 1 + keys.len() + audits.len() <= TRANSACTION_MAX {
            let pk = gate_pk(pr);
            // The record as this store last saw it, if it did: no read
            // when nobody wrote it since (else the write's condition
            // fails, and it is read).
            let mut guess = self.seen.guess(&pk);
            for _ in 0..3 {
                let guessed = guess.is_some();
                let (version, mut record) = match guess.take() {
                    Some(seen) => seen,
                    None => match self.load_gate(pr).await {
                        Ok(Some(v)) => (v.version, v.value),
                        Ok(None) => {
                            nothing_to_drop = true;
                            break;
                        }
                        // A newer gatebot's record (or one it cannot
                        // read) keeps its outbox.
                        Err(StoreError::NewerSchema { .. } | StoreError::Corrupt(_)) => break,
                        Err(e) => return Err(e),
                    },
                };
                let before = record.pending.len();
                record.pending.retain(|p| !done.contains(&p.id));
                if record.pending.len() == before {
                    // A guess proves nothing it does not write: read.
                    if guessed {
                        continue;
                    }
                    nothing_to_drop = true;
                    break;
                }
                let item = gate_item(&record, version + 1)?;
                let bytes = data_len(&item);
                let gate = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(version));
                let mut tx = self
                    .client
                    .transact_write_items()
                    .transact_items(put_item(gate)?);
                for key in keys {
                    tx = tx.transact_items(put_item(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(finished_item(key, keep, now))),
                    )?);
                }
                for audit in &audits {
                    tx = tx.transact_items(put_item(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(audit.clone())),
                    )?);
                }
                match tx.send().await {
                    Ok(_) => {
                        self.seen.saw(&pk, version + 1, &record, bytes);
                        return Ok(true);
                    }
                    // The record moved since it was read: read it again.
                    Err(e) if cancellation(&e).is_some_and(|r| guarded_conflict(&r, 1)) => {
                        self.seen.forget(&pk);
                    }
                    Err(e) => return Err(sdk_error(e)),
                }
            }
        }
        let mut items: Vec<Item> = keys
            .iter()
            .map(|key| finished_item(key, keep, now))
            .collect();
        items.extend(audits);
        self.put_all(items).await?;
        Ok(nothing_to_drop)
    }

    async fn audit(
        &self,
        repo: &RepoName,
        pr: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let pk = match pr {
            Some(pr) => format!("AUDIT#{repo}#{pr}"),
            None => format!("AUDIT#{repo}"),
        };
        let mut entries: Vec<AuditEntry> = self
            .newest(&pk, limit)
            .await?
            .iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        entries.reverse();
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_keys_round_trip() {
        let pr = PrKey {
            repo: RepoName::parse("acme/widgets").unwrap(),
            number: 42,
        };
        assert_eq!(gate_pk(&pr), "GATE#acme/widgets#42");
        assert_eq!(parse_gate_pk(&gate_pk(&pr)).unwrap(), pr);
        assert!(parse_gate_pk("DEDUPE#x").is_err());
        assert!(parse_gate_pk("GATE#acme/widgets#x").is_err());
    }

    #[test]
    fn time_sort_keys_order_by_time() {
        let a = Utc::now();
        let b = a + chrono::Duration::nanoseconds(1);
        assert!(time_sk(a, "z") < time_sk(b, "a"));
    }
}
