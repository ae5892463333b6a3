//! The hooks function: alerting tools' deliveries to `/api/v1/hooks/<secret>`, on a
//! function of its own so that an alert storm (Alertmanager resending a large group,
//! every alarm of a region flapping) has its own concurrency and never takes the API's,
//! and the API's cold start carries no alert parsing or SNS verification.

use beacon_api::{ApiState, hooks_router};
use beacon_app::{Service, SystemClock};
use beacon_store_dynamodb::DynamoDbStore;
use std::sync::Arc;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    beacon_lambda_log::init();
    let table = var("BEACON_DYNAMODB_TABLE").ok_or("BEACON_DYNAMODB_TABLE is not set")?;
    let shared = beacon_store_dynamodb::lambda_environment_config()?;
    let store = DynamoDbStore::from_config(&shared, table, var("BEACON_DYNAMODB_ENDPOINT").as_deref());
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    // SNS integrations: signing certificates and confirmations, only from SNS's own hosts.
    let sns = beacon_api::integrations::HttpSnsFetch::new(false).map_err(lambda_http::Error::from)?;
    lambda_http::run(hooks_router(ApiState::new(service).with_sns(Arc::new(sns)))).await
}
