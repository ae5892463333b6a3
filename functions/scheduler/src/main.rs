//! The scheduler function: each scheduled invocation (every minute) runs one step of
//! the maintenance scheduler. A run that comes twice or late is harmless: every step is
//! recorded on its maintenance under a version guard, so it is taken exactly once, and a
//! late run takes whatever it missed.

use beacon_app::{Service, SystemClock};
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
    let shared = beacon_store_dynamodb::lambda_environment_config()?;
    let mut config = aws_sdk_dynamodb::config::Builder::from(&shared);
    // Only set to run the function against a local AWS-API server (tests).
    if let Ok(endpoint) = env("BEACON_DYNAMODB_ENDPOINT") {
        config = config.endpoint_url(endpoint);
    }
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config.build()), table);
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let service = service.clone();
        async move {
            let run = service.run_maintenance_scheduler().await?;
            tracing::info!(steps = run.taken.len(), created = run.created.len(), "maintenance scheduler ran");
            let steps: Vec<_> = run.taken.iter().map(|(id, due)| format!("{id} {due:?}")).collect();
            let created: Vec<_> = run.created.iter().map(ToString::to_string).collect();
            Ok::<_, Error>(serde_json::json!({ "steps": steps, "created": created }))
        }
    }))
    .await
}
