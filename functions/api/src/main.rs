//! The API function: configuration from the environment, clients built once at cold
//! start, then every event goes through the shared router.

use beacon_api::{ApiState, router};
use beacon_app::{Service, SystemClock};
use beacon_store_dynamodb::DynamoDbStore;
use std::sync::Arc;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

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
    // `RUST_LOG` as targets and levels (`info`, `beacon_app=debug,info`): the regex-based
    // env filter would add a megabyte to the zip for nothing a function needs.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().json().with_current_span(false).without_time())
        .with(filter)
        .init();
    let config = Config::from_env()?;
    let shared = beacon_store_dynamodb::lambda_environment_config()?;
    let store = DynamoDbStore::from_config(&shared, config.table, config.endpoint.as_deref());
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    lambda_http::run(router(ApiState::new(service))).await
}
