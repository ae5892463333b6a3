//! The API function: configuration from the environment, clients built once at cold
//! start, then every event goes through the shared router.

use beacon_api::{ApiState, router};
use beacon_app::{Service, SystemClock};
use beacon_store_dynamodb::{DynamoDbConfig, DynamoDbStore};
use std::sync::Arc;

/// Read once at cold start.
struct Config {
    table: String,
    endpoint: Option<String>,
}

impl Config {
    fn from_env() -> Result<Self, lambda_http::Error> {
        Ok(Self {
            table: std::env::var("BEACON_DYNAMODB_TABLE").map_err(|_| "BEACON_DYNAMODB_TABLE is not set")?,
            endpoint: std::env::var("BEACON_DYNAMODB_ENDPOINT").ok(),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // JSON lines without a timestamp: CloudWatch stamps each line itself.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let config = Config::from_env()?;
    let store =
        DynamoDbStore::connect(&DynamoDbConfig { table: config.table, endpoint: config.endpoint, region: None }).await;
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    lambda_http::run(router(ApiState { service })).await
}
