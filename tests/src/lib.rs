//! Helpers shared by the end-to-end tests: stores on each adapter, fresh and isolated.

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use beacon_app::{Service, SystemClock};
use beacon_store::Store;
use beacon_store_dynamodb::DynamoDbStore;
use beacon_store_redb::RedbStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Keeps whatever a store needs alive (a temporary folder) for as long as the test runs.
pub type Guard = Option<tempfile::TempDir>;

/// The moto server's address; the suite fails (never skips) without it.
pub fn moto_url() -> String {
    std::env::var("BEACON_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!("BEACON_TEST_MOTO_URL is not set: run the suite with tests/run.sh, which starts the moto server")
    })
}

/// A DynamoDB client for the moto server, with throwaway credentials.
pub fn moto_client() -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto_url())
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A table of its own on the moto server.
pub async fn dynamodb() -> DynamoDbStore {
    static TABLES: AtomicU32 = AtomicU32::new(0);
    let table = format!("e2e-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::Relaxed));
    let store = DynamoDbStore::new(moto_client(), table);
    store.ensure_table().await.unwrap_or_else(|e| panic!("create table on moto: {e}"));
    store
}

/// [`dynamodb`] behind the port.
pub async fn dynamodb_store() -> (Arc<dyn Store>, Guard) {
    (Arc::new(dynamodb().await), None)
}

/// An embedded store in a temporary folder.
pub async fn redb_store() -> (Arc<dyn Store>, Guard) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("open redb: {e}"));
    (Arc::new(store), Some(dir))
}

pub fn service(store: Arc<dyn Store>) -> Service {
    Service::new(store, Arc::new(SystemClock))
}

/// An S3 client for the moto server, with throwaway credentials and path-style
/// addressing (moto serves every bucket on one host).
pub fn moto_s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(moto_url())
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A bucket of its own on the moto server.
pub async fn s3_bucket() -> (beacon_bucket_s3::S3Bucket, aws_sdk_s3::Client, String) {
    static BUCKETS: AtomicU32 = AtomicU32::new(0);
    let name = format!("site-{}-{}", std::process::id(), BUCKETS.fetch_add(1, Ordering::Relaxed));
    let client = moto_s3();
    client.create_bucket().bucket(&name).send().await.unwrap_or_else(|e| panic!("create bucket on moto: {e}"));
    (beacon_bucket_s3::S3Bucket::new(client.clone(), name.clone(), ""), client, name)
}
