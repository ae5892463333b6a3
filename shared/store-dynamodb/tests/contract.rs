//! The storage contract against a real AWS-API server: the moto server that
//! `tests/run.sh` starts. Without it these tests fail; they never skip.

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use beacon_store::Store;
use beacon_store_dynamodb::DynamoDbStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub async fn moto_store() -> (Arc<dyn Store>, ()) {
    let endpoint = std::env::var("BEACON_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!("BEACON_TEST_MOTO_URL is not set: run the suite with tests/run.sh, which starts the moto server")
    });
    static TABLES: AtomicU32 = AtomicU32::new(0);
    let table = format!("contract-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::Relaxed));
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .build();
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config), table);
    store.ensure_table().await.unwrap_or_else(|e| panic!("create table on moto: {e}"));
    (Arc::new(store), ())
}

beacon_store::store_contract_tests!(moto_store());
