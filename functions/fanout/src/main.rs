//! The fan-out function: clients built once at cold start from the environment, each
//! role present when its settings are, then every event goes through the shared
//! handler (see `beacon_notify_aws::lambda`).

use beacon_app::{Service, SystemClock};
use beacon_notify::{Deliverer, GuardedHttp, MessageConfig, OutboundPolicy, Planner};
use beacon_notify_aws::lambda::{Fanout, handle};
use beacon_notify_aws::{BusRelay, SesMailer, SqsQueue};
use beacon_site::PageConfig;
use beacon_store_dynamodb::DynamoDbStore;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    beacon_lambda_log::init();
    let shared = beacon_store_dynamodb::lambda_environment_config()?;
    let mut fanout = Fanout::default();

    // Endpoints are only set to run against a local AWS-API server (tests).
    if let Some(bus) = var("BEACON_EVENT_BUS") {
        let mut config = aws_sdk_eventbridge::config::Builder::from(&shared);
        if let Some(endpoint) = var("BEACON_EVENTBRIDGE_ENDPOINT") {
            config = config.endpoint_url(endpoint);
        }
        fanout.relay = Some(BusRelay::new(aws_sdk_eventbridge::Client::from_conf(config.build()), bus));
    }
    if let Some(table) = var("BEACON_DYNAMODB_TABLE") {
        let store = DynamoDbStore::from_config(&shared, table, var("BEACON_DYNAMODB_ENDPOINT").as_deref());
        let service = Service::new(Arc::new(store), Arc::new(SystemClock));
        if let Some(url) = var("BEACON_JOBS_QUEUE_URL") {
            let mut config = aws_sdk_sqs::config::Builder::from(&shared);
            if let Some(endpoint) = var("BEACON_SQS_ENDPOINT") {
                config = config.endpoint_url(endpoint);
            }
            let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::from_conf(config.build()), url));
            fanout.planner = Some(Planner::new(service.clone(), queue.clone()));
            if let Some(from) = var("BEACON_MAIL_FROM") {
                let page = PageConfig::from_vars(var)?;
                let page_url = page.url.clone();
                let from = from.parse().map_err(|e| format!("BEACON_MAIL_FROM {from:?}: {e}"))?;
                let messages = MessageConfig { page, api_url: page_url, from };
                let mut config = aws_sdk_sesv2::config::Builder::from(&shared);
                if let Some(endpoint) = var("BEACON_SES_ENDPOINT") {
                    config = config.endpoint_url(endpoint);
                }
                // This instance's share of the account's rate: the queue trigger runs at
                // most BEACON_DELIVERERS instances at once.
                let deliverers: f64 = var("BEACON_DELIVERERS").and_then(|v| v.parse().ok()).unwrap_or(2.0);
                let mail = SesMailer::new(
                    aws_sdk_sesv2::Client::from_conf(config.build()),
                    var("BEACON_SES_CONFIGURATION_SET"),
                    1.0 / deliverers.max(1.0),
                    1.0,
                )
                .await;
                let http = GuardedHttp::new(OutboundPolicy::default())?;
                fanout.deliverer =
                    Some(Deliverer::new(service.clone(), queue, Arc::new(mail), Arc::new(http), messages));
            }
        }
        fanout.service = Some(service);
    }

    let fanout = Arc::new(fanout);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let fanout = fanout.clone();
        async move {
            let handled = handle(&event.payload, &fanout).await?;
            tracing::info!(?handled, "handled");
            Ok::<_, Error>(handled.response())
        }
    }))
    .await
}
