//! The probe function: configuration and clients once at cold start; each scheduled
//! invocation runs the region's due checks for up to [`WINDOW`], so monitors with
//! intervals under a minute get every round although the schedule fires once a minute.

use beacon_app::{Service, SystemClock};
use beacon_notify::OutboundPolicy;
use beacon_probe::Prober;
use beacon_store_dynamodb::DynamoDbStore;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use std::time::Duration;

/// How long one invocation keeps starting rounds: long enough for the second round of a
/// 30-second monitor, so an invocation usually ends about 30 s in. A check started at
/// the end may take its own timeout (30 s at most) on top, inside the function's 90 s.
/// Tests shorten it with `BEACON_PROBE_WINDOW_SECONDS`.
const WINDOW: Duration = Duration::from_secs(35);

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    beacon_lambda_log::init();
    let table = env("BEACON_DYNAMODB_TABLE")?;
    // The region this function probes from (its own), and where the table lives (the
    // home region, which may be another one).
    let region = env("BEACON_PROBE_REGION").or_else(|_| env("AWS_REGION"))?;
    let shared = beacon_store_dynamodb::lambda_environment_config()?;
    let mut config = aws_sdk_dynamodb::config::Builder::from(&shared);
    if let Ok(home) = env("BEACON_DYNAMODB_REGION") {
        config = config.region(aws_types::region::Region::new(home));
    }
    // Only set to run the function against a local AWS-API server (tests).
    if let Ok(endpoint) = env("BEACON_DYNAMODB_ENDPOINT") {
        config = config.endpoint_url(endpoint);
    }
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config.build()), table);
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    // Plain HTTP sites are monitored too; inside addresses never (tests set the
    // loopback switch to reach the servers they start).
    let allow_loopback = env("BEACON_PROBE_ALLOW_LOOPBACK").is_ok_and(|v| v == "true");
    let prober = Prober::new(service, region, OutboundPolicy { allow_plain_http: true, allow_loopback })?;
    let window = env("BEACON_PROBE_WINDOW_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(WINDOW, Duration::from_secs)
        .min(WINDOW);
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let prober = prober.clone();
        async move {
            let report = prober.run_window(window).await?;
            tracing::info!(region = %prober.region(), ?report, "probed");
            if report.failed > 0 {
                // The alarm on this function's errors is how an operator hears of it.
                return Err::<serde_json::Value, Error>(
                    format!("{} results could not be stored", report.failed).into(),
                );
            }
            Ok(serde_json::json!({
                "region": prober.region(),
                "checked": report.checked,
                "rounds_closed": report.rounds_closed,
                "opened": report.opened,
                "resolved": report.resolved,
            }))
        }
    }))
    .await
}
