//! The DynamoDB adapter of the storage port.
//!
//! Conditions become condition expressions on the `pk` attribute (existence) or on a
//! named attribute (equality); transactions become `TransactWriteItems`, whose
//! cancellation reasons tell which write's condition failed. Every read is strongly
//! consistent, matching the embedded store.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem,
    Update as DynamoUpdate,
};
use beacon_store::{
    Condition, Cursor, Item, Key, Page, Query, SortKeyRange, Store, StoreError, StoreResult, Update, Value, Write,
    validate,
};
use std::collections::HashMap;

/// The attribute DynamoDB's TTL reads (seconds since the epoch).
pub const TTL_ATTRIBUTE: &str = "ttl";

/// Where the table is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamoDbConfig {
    pub table: String,
    /// Only for an emulator or a VPC endpoint; unset on AWS.
    pub endpoint: Option<String>,
    /// Falls back to the standard AWS region chain when unset.
    pub region: Option<String>,
}

/// The store on one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

/// Why the Lambda environment gave no usable AWS configuration.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not set (Lambda sets it for every function)")]
pub struct MissingEnvironment(&'static str);

/// The AWS configuration every client of a function is made from.
pub use aws_types::SdkConfig;

/// The AWS configuration of a Lambda function, from the environment Lambda gives it: the
/// region and the execution role's session credentials. This is what aws-config's chain
/// would find first there, without carrying the chain (and its STS client) in the zip.
pub fn lambda_environment_config() -> Result<aws_types::SdkConfig, MissingEnvironment> {
    let var = |name: &'static str| std::env::var(name).map_err(|_| MissingEnvironment(name));
    let credentials = aws_credential_types::Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        std::env::var("AWS_SESSION_TOKEN").ok(),
        None,
        "lambda-environment",
    );
    Ok(aws_types::SdkConfig::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new(var("AWS_REGION")?))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
        .http_client(https_client())
        .build())
}

/// The HTTPS client every AWS client of the system uses: rustls with ring's crypto and
/// the platform's root certificates. Chosen over the SDK's default (rustls on aws-lc) for
/// a much smaller binary: the Lambda zips must stay small for fast cold starts.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// A store on `table` with a client made from `shared`; `endpoint` only for an
    /// emulator or a VPC endpoint.
    pub fn from_config(shared: &aws_types::SdkConfig, table: impl Into<String>, endpoint: Option<&str>) -> Self {
        let mut config = aws_sdk_dynamodb::config::Builder::from(shared);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        Self::new(Client::from_conf(config.build()), table)
    }

    /// Builds a client from the standard AWS configuration chain (environment, profile,
    /// instance role) with the overrides of `config`.
    #[cfg(feature = "config-chain")]
    pub async fn connect(config: &DynamoDbConfig) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client());
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &config.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = loader.load().await;
        Self::new(Client::new(&shared), config.table.clone())
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table as the CDK stack defines it (keys, on-demand, stream, TTL)
    /// unless it exists. For local use against an emulator and for tests; on AWS the
    /// stack owns the table.
    pub async fn ensure_table(&self) -> StoreResult<()> {
        let exists = self.client.describe_table().table_name(&self.table).send().await;
        if exists.is_ok() {
            return Ok(());
        }
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(classify(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            )
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = err.message().unwrap_or_default().to_owned();
    match err.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed { index: None },
        Some("TransactionConflictException" | "TransactionInProgressException") => StoreError::TransactionConflict,
        Some("ValidationException" | "ItemCollectionSizeLimitExceededException") => StoreError::Invalid(message),
        Some(code) => StoreError::Unavailable(format!("{code}: {message}")),
        None => StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string()),
    }
}

fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::S(s) => AttributeValue::S(s.clone()),
        Value::N(n) => AttributeValue::N(n.to_string()),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::B(b) => AttributeValue::B(Blob::new(b.clone())),
    }
}

fn from_attribute(name: &str, value: &AttributeValue) -> StoreResult<Value> {
    match value {
        AttributeValue::S(s) => Ok(Value::S(s.clone())),
        AttributeValue::N(n) => n
            .parse()
            .map(Value::N)
            .map_err(|_| StoreError::Corrupt(format!("attribute {name} holds a number outside i64: {n}"))),
        AttributeValue::Bool(b) => Ok(Value::Bool(*b)),
        AttributeValue::B(b) => Ok(Value::B(b.clone().into_inner())),
        other => Err(StoreError::Corrupt(format!("attribute {name} has an unsupported type: {other:?}"))),
    }
}

fn key_map(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn item_map(item: &Item) -> HashMap<String, AttributeValue> {
    let mut map = key_map(&item.key);
    map.extend(item.attrs.iter().map(|(k, v)| (k.clone(), to_attribute(v))));
    map
}

/// Converts a DynamoDB item (from a read or a stream image) into a port item.
pub fn item_from_map(map: &HashMap<String, AttributeValue>) -> StoreResult<Item> {
    let key_part = |name: &str| match map.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(StoreError::Corrupt(format!("item without a string {name}"))),
    };
    let mut item = Item::new(Key::new(key_part("pk")?, key_part("sk")?));
    for (name, value) in map {
        if name != "pk" && name != "sk" {
            item.attrs.insert(name.clone(), from_attribute(name, value)?);
        }
    }
    Ok(item)
}

/// A condition expression with its placeholders.
#[derive(Default)]
struct Expression {
    text: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn condition(condition: &Condition) -> Self {
        let mut e = Self::default();
        e.add_condition(condition);
        e
    }

    fn add_condition(&mut self, condition: &Condition) {
        self.text = match condition {
            Condition::None => None,
            Condition::NotExists => {
                self.names.insert("#cpk".into(), "pk".into());
                Some("attribute_not_exists(#cpk)".into())
            }
            Condition::Exists => {
                self.names.insert("#cpk".into(), "pk".into());
                Some("attribute_exists(#cpk)".into())
            }
            Condition::Equals(name, value) => {
                self.names.insert("#cattr".into(), name.clone());
                self.values.insert(":cvalue".into(), to_attribute(value));
                Some("#cattr = :cvalue".into())
            }
        };
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// `SET`, `REMOVE` and `ADD` clauses of an update, plus its condition.
fn update_expression(update: &Update) -> (String, Expression) {
    let mut e = Expression::condition(&update.condition);
    let mut clauses = Vec::new();
    let set: Vec<String> = update
        .set
        .iter()
        .enumerate()
        .map(|(i, (name, value))| {
            e.names.insert(format!("#s{i}"), name.clone());
            e.values.insert(format!(":s{i}"), to_attribute(value));
            format!("#s{i} = :s{i}")
        })
        .collect();
    if !set.is_empty() {
        clauses.push(format!("SET {}", set.join(", ")));
    }
    let remove: Vec<String> = update
        .remove
        .iter()
        .enumerate()
        .map(|(i, name)| {
            e.names.insert(format!("#r{i}"), name.clone());
            format!("#r{i}")
        })
        .collect();
    if !remove.is_empty() {
        clauses.push(format!("REMOVE {}", remove.join(", ")));
    }
    let add: Vec<String> = update
        .add
        .iter()
        .enumerate()
        .map(|(i, (name, by))| {
            e.names.insert(format!("#a{i}"), name.clone());
            e.values.insert(format!(":a{i}"), AttributeValue::N(by.to_string()));
            format!("#a{i} :a{i}")
        })
        .collect();
    if !add.is_empty() {
        clauses.push(format!("ADD {}", add.join(", ")));
    }
    (clauses.join(" "), e)
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

/// The SDK's request builders (PutItem, UpdateItem, the transaction's Put, …) are
/// unrelated types that set a condition through methods of the same names; this applies
/// an [`Expression`] to any of them.
macro_rules! conditioned {
    ($builder:expr, $e:expr) => {
        $builder
            .set_condition_expression($e.text.clone())
            .set_expression_attribute_names($e.names())
            .set_expression_attribute_values($e.values())
    };
}

impl DynamoDbStore {
    fn transact_item(&self, write: &Write) -> StoreResult<TransactWriteItem> {
        let builder = TransactWriteItem::builder();
        Ok(match write {
            Write::Put { item, condition } => {
                let e = Expression::condition(condition);
                let put = Put::builder().table_name(&self.table).set_item(Some(item_map(item)));
                builder.put(conditioned!(put, e).build().map_err(build_error)?).build()
            }
            Write::Update(update) => {
                let (text, e) = update_expression(update);
                let change = DynamoUpdate::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(&update.key)))
                    .update_expression(text);
                builder.update(conditioned!(change, e).build().map_err(build_error)?).build()
            }
            Write::Delete { key, condition } => {
                let e = Expression::condition(condition);
                let delete = Delete::builder().table_name(&self.table).set_key(Some(key_map(key)));
                builder.delete(conditioned!(delete, e).build().map_err(build_error)?).build()
            }
            Write::Check { key, condition } => {
                // DynamoDB requires a condition on a check; "no condition" is a check
                // that always holds, so an always-true expression stands in.
                let mut e = Expression::condition(condition);
                if e.text.is_none() {
                    e.names.insert("#cpk".into(), "pk".into());
                    e.text = Some("attribute_exists(#cpk) OR attribute_not_exists(#cpk)".into());
                }
                let check = ConditionCheck::builder().table_name(&self.table).set_key(Some(key_map(key)));
                builder.condition_check(conditioned!(check, e).build().map_err(build_error)?).build()
            }
        })
    }
}

#[async_trait::async_trait]
impl Store for DynamoDbStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        validate::key(key)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item().map(item_from_map).transpose()
    }

    #[tracing::instrument(level = "debug", skip(self, item), fields(pk = %item.key.pk, sk = %item.key.sk))]
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<()> {
        validate::item(&item)?;
        let e = Expression::condition(&condition);
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item_map(&item)));
        conditioned!(request, e).send().await.map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self, update), fields(pk = %update.key.pk, sk = %update.key.sk))]
    async fn update(&self, update: Update) -> StoreResult<Item> {
        validate::update(&update)?;
        let (text, e) = update_expression(&update);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&update.key)))
            .update_expression(text)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let out = conditioned!(request, e).send().await.map_err(classify)?;
        let attrs = out.attributes().ok_or_else(|| StoreError::Corrupt("update returned no item".into()))?;
        let mut full = attrs.clone();
        full.extend(key_map(&update.key));
        item_from_map(&full)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        validate::key(key)?;
        let e = Expression::condition(&condition);
        let request = self.client.delete_item().table_name(&self.table).set_key(Some(key_map(key)));
        conditioned!(request, e).send().await.map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self, writes), fields(writes = writes.len()))]
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        validate::transaction(&writes)?;
        let items = writes.iter().map(|w| self.transact_item(w)).collect::<StoreResult<Vec<_>>>()?;
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let reasons = cancelled.cancellation_reasons();
                    let code_at = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
                    if let Some(index) = (0..reasons.len()).find(|i| code_at(*i) == "ConditionalCheckFailed") {
                        return Err(StoreError::ConditionFailed { index: Some(index) });
                    }
                    if (0..reasons.len()).any(|i| code_at(i) == "ValidationError") {
                        return Err(StoreError::Invalid(cancelled.message().unwrap_or_default().to_owned()));
                    }
                    Err(StoreError::TransactionConflict)
                }
                TransactWriteItemsError::TransactionInProgressException(_) => Err(StoreError::TransactionConflict),
                other => Err(match other.code() {
                    Some("ValidationException") => StoreError::Invalid(other.message().unwrap_or_default().to_owned()),
                    Some(code) => StoreError::Unavailable(format!("{code}: {}", other.message().unwrap_or_default())),
                    None => StoreError::Unavailable(other.to_string()),
                }),
            },
        }
    }

    #[tracing::instrument(level = "debug", skip(self, query), fields(pk = %query.pk))]
    async fn query(&self, query: Query) -> StoreResult<Page> {
        validate::query(&query)?;
        let mut names = HashMap::from([("#pk".to_owned(), "pk".to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(query.pk.clone()))]);
        let condition = match &query.range {
            SortKeyRange::All => "#pk = :pk".to_owned(),
            SortKeyRange::Prefix(p) => {
                names.insert("#sk".into(), "sk".into());
                values.insert(":prefix".into(), AttributeValue::S(p.clone()));
                "#pk = :pk AND begins_with(#sk, :prefix)".to_owned()
            }
            SortKeyRange::Between(a, b) => {
                if a > b {
                    return Ok(Page::default());
                }
                names.insert("#sk".into(), "sk".into());
                values.insert(":from".into(), AttributeValue::S(a.clone()));
                values.insert(":to".into(), AttributeValue::S(b.clone()));
                "#pk = :pk AND #sk BETWEEN :from AND :to".to_owned()
            }
        };
        if matches!(&query.range, SortKeyRange::Prefix(p) if p.is_empty()) {
            // begins_with on "" is refused by DynamoDB; it means the whole partition.
            return self.query(Query { range: SortKeyRange::All, ..query }).await;
        }
        // One more than asked tells exactly whether another page exists; DynamoDB may
        // stop early at 1 MB, so keep reading until that many arrived or none are left.
        let wanted = query.limit + 1;
        let mut start = match &query.cursor {
            Some(cursor) => Some(key_map(&Key::new(query.pk.clone(), cursor.sort_key()?))),
            None => None,
        };
        let mut items = Vec::with_capacity(wanted.min(64));
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(&condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!query.descending)
                .consistent_read(true)
                .limit(i32::try_from(wanted - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for map in out.items() {
                items.push(item_from_map(map)?);
            }
            match out.last_evaluated_key() {
                Some(last) if items.len() < wanted => start = Some(last.clone()),
                _ => break,
            }
        }
        let more = items.len() > query.limit;
        items.truncate(query.limit);
        let next = if more { items.last().map(|i| Cursor::after(&i.key.sk)) } else { None };
        Ok(Page { items, next })
    }
}
