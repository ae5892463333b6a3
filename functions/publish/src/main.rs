//! The publish function: configuration and clients once at cold start, then every event
//! goes through the shared handler.

use beacon_app::{Service, SystemClock};
use beacon_publish::{PublishOnChange, Publisher};
use beacon_site::PageConfig;
use beacon_store_dynamodb::{DynamoDbConfig, DynamoDbStore};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .init();
    let table = env("BEACON_DYNAMODB_TABLE")?;
    let bucket = env("BEACON_SITE_BUCKET")?;
    let page = PageConfig {
        id: "beacon".into(),
        name: std::env::var("BEACON_PAGE_NAME").unwrap_or_else(|_| "Status".into()),
        url: env("BEACON_PUBLIC_URL")?.trim_end_matches('/').to_owned(),
        time_zone: std::env::var("BEACON_TIME_ZONE").unwrap_or_else(|_| "Etc/UTC".into()),
        logo_url: None,
        links: Vec::new(),
    };
    let store = DynamoDbStore::connect(&DynamoDbConfig { table, endpoint: None, region: None }).await;
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let site = beacon_bucket_s3::S3Bucket::new(aws_sdk_s3::Client::new(&shared), bucket, "");
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    let handler = Arc::new(PublishOnChange::new(service, Publisher::new(Arc::new(site)), page));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let handler = handler.clone();
        async move {
            let outcome = beacon_publish::lambda::handle_event(&event.payload, &handler).await?;
            tracing::info!(?outcome, "handled");
            // Partial batch response: a failure fails the whole batch (returned as Err above).
            Ok::<_, Error>(serde_json::json!({ "batchItemFailures": [] }))
        }
    }))
    .await
}
