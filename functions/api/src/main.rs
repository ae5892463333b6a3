//! The API function: configuration from the environment, clients built once at cold
//! start, then every event goes through the shared router.

use beacon_api::{ApiState, ClientAddress, Subscriptions, api_router};
use beacon_app::{Service, SystemClock};
use beacon_notify::MessageConfig;
use beacon_notify_aws::SesMailer;
use beacon_site::PageConfig;
use beacon_store_dynamodb::DynamoDbStore;
use lambda_http::RequestExt as _;
use std::net::IpAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq as _;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Read once at cold start.
struct Config {
    table: String,
    endpoint: Option<String>,
    /// The value the CDN adds in `x-beacon-origin` to requests it forwards; only then is
    /// its `cloudfront-viewer-address` believed.
    cdn_secret: Option<String>,
}

impl Config {
    fn from_env() -> Result<Self, lambda_http::Error> {
        Ok(Self {
            table: var("BEACON_DYNAMODB_TABLE").ok_or("BEACON_DYNAMODB_TABLE is not set")?,
            endpoint: var("BEACON_DYNAMODB_ENDPOINT"),
            cdn_secret: var("BEACON_CDN_SECRET"),
        })
    }
}

/// The client's address: the viewer's, when the request came through our CDN; else the
/// address API Gateway saw.
fn client_address(request: &lambda_http::Request, cdn_secret: Option<&str>) -> Option<IpAddr> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(secret) = cdn_secret
        && header("x-beacon-origin").is_some_and(|given| bool::from(given.as_bytes().ct_eq(secret.as_bytes())))
        && let Some(viewer) = header("cloudfront-viewer-address")
    {
        // `ip:port`, IPv6 without brackets: the port is after the last colon.
        let ip = viewer.rsplit_once(':').map_or(viewer, |(ip, _)| ip).trim_matches(|c| c == '[' || c == ']');
        if let Ok(ip) = ip.parse() {
            return Some(ip);
        }
    }
    match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.http.source_ip.as_deref().and_then(|ip| ip.parse().ok())
        }
        _ => None,
    }
}

/// Subscriptions need a sender; without `BEACON_MAIL_FROM` the public endpoints are off.
async fn subscriptions(shared: &beacon_store_dynamodb::SdkConfig) -> Result<Option<Subscriptions>, lambda_http::Error> {
    let Some(from) = var("BEACON_MAIL_FROM") else { return Ok(None) };
    let page = PageConfig::from_vars(var)?;
    let page_url = page.url.clone();
    let from = from.parse().map_err(|e| format!("BEACON_MAIL_FROM {from:?}: {e}"))?;
    let mut config = aws_sdk_sesv2::config::Builder::from(shared);
    if let Some(endpoint) = var("BEACON_SES_ENDPOINT") {
        config = config.endpoint_url(endpoint);
    }
    // Confirmation mails are few; the rate bound is the fan-out's business.
    let mail =
        SesMailer::new(aws_sdk_sesv2::Client::from_conf(config.build()), var("BEACON_SES_CONFIGURATION_SET"), 1.0, 1.0)
            .await;
    Ok(Some(Subscriptions { mail: Arc::new(mail), messages: MessageConfig { page, api_url: page_url, from } }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    beacon_lambda_log::init();
    let config = Config::from_env()?;
    let shared = beacon_store_dynamodb::lambda_environment_config()?;
    let store = DynamoDbStore::from_config(&shared, config.table, config.endpoint.as_deref());
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    // The regions probes run in (the stack's list), the choices a monitor has.
    let regions = var("BEACON_PROBE_REGIONS").unwrap_or_default();
    let mut state = ApiState::new(service)
        .with_probe_regions(regions.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect());
    if let Some(subscriptions) = subscriptions(&shared).await? {
        state = state.with_subscriptions(subscriptions);
    }
    let cdn_secret = config.cdn_secret;
    let app = tower::ServiceBuilder::new()
        .map_request(move |mut request: lambda_http::Request| {
            if let Some(ip) = client_address(&request, cdn_secret.as_deref()) {
                request.extensions_mut().insert(ClientAddress(ip));
            }
            request
        })
        // The hook URLs are the hooks function's.
        .service(api_router(state));
    lambda_http::run(app).await
}
