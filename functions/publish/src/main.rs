//! The publish function: configuration and clients once at cold start, then every event
//! goes through the shared handler.

use beacon_app::{Service, SystemClock};
use beacon_publish::{PublishOnChange, Publisher};
use beacon_site::PageConfig;
use beacon_store_dynamodb::DynamoDbStore;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    beacon_lambda_log::init();
    let table = env("BEACON_DYNAMODB_TABLE")?;
    let bucket = env("BEACON_SITE_BUCKET")?;
    let page = PageConfig::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))?;
    // Endpoints are only set to run the function against a local AWS-API server (tests
    // under `cargo lambda watch`); S3 is then addressed by path, not by host name.
    let dynamodb_endpoint = std::env::var("BEACON_DYNAMODB_ENDPOINT").ok();
    let s3_endpoint = std::env::var("BEACON_S3_ENDPOINT").ok();
    let shared = beacon_store_dynamodb::lambda_environment_config()?;
    let store = DynamoDbStore::from_config(&shared, table, dynamodb_endpoint.as_deref());
    let mut s3_config = aws_sdk_s3::config::Builder::from(&shared);
    if let Some(endpoint) = s3_endpoint {
        s3_config = s3_config.endpoint_url(endpoint).force_path_style(true);
    }
    let site = beacon_bucket_s3::S3Bucket::new(aws_sdk_s3::Client::from_conf(s3_config.build()), bucket, "");
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
