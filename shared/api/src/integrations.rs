//! Integrations: admins manage them (`/api/v1/integrations`); alerting tools post to
//! their hook URL (`/api/v1/hooks/<secret>`), whose secret is the only credential.
//!
//! A hook answers 404 for an unknown URL (as for a wrong secret: secrets cannot be
//! probed), 401 for a bad or stale signature, 400 for a body it cannot read, 422 for one
//! that is not an alert, 413 over 64 KiB; every delivery to a known URL is logged.

use crate::ApiState;
use crate::dto::PageQuery;
use crate::extract::{ApiJson, ApiQuery, Authenticated, etag, if_match};
use crate::problem::Problem;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beacon_app::{AppError, CreatedIntegration, DeliveryOutcome, DeliveryRecord, IntegrationPatch, NewIntegration};
use beacon_domain::{
    ImpactMapping, IncidentId, Integration, IntegrationComponent, IntegrationId, IntegrationKind, ResolveTo, Role,
};
use beacon_integrations::{Delivery, PayloadError, SnsMessage};
use beacon_store::Cursor;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

type ApiResult = Result<Response, Problem>;

/// The signature header of signed generic deliveries (the scheme of beacon's own
/// outgoing webhooks).
pub const SIGNATURE_HEADER: &str = "x-beacon-signature";

fn integration_id(raw: &str) -> Result<IntegrationId, Problem> {
    raw.parse().map_err(|_| Problem::not_found(format!("integration {raw} does not exist")))
}

/// An integration as admins see it: never its secrets, except the ones just made.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    #[serde(flatten)]
    pub integration: Integration,
    /// The hook URL's path, only in the answer that made its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_path: Option<String>,
    /// The generic kind's signing secret, only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl From<CreatedIntegration> for IntegrationView {
    fn from(c: CreatedIntegration) -> Self {
        let mut integration = c.integration;
        integration.signing_secret = None;
        integration.secret_hash = String::new();
        Self {
            integration,
            hook_path: c.hook_secret.map(|s| format!("/api/v1/hooks/{s}")),
            signing_secret: c.signing_secret,
        }
    }
}

impl From<Integration> for IntegrationView {
    fn from(integration: Integration) -> Self {
        Self::from(CreatedIntegration { integration, hook_secret: None, signing_secret: None })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    pub name: String,
    /// `generic`, `alertmanager`, `grafana` or `sns`.
    pub kind: IntegrationKind,
    /// Generic only: the field (dotted path) alerts are deduplicated by.
    pub key_field: Option<String>,
    #[serde(default)]
    pub components: Vec<IntegrationComponent>,
    /// Default: the `severity` label (critical, error/major, warning, info).
    pub impact: Option<ImpactMapping>,
    pub title_template: Option<String>,
    pub message_template: Option<String>,
    pub resolved_message: Option<String>,
    /// Default `true`; `false` opens incidents internally.
    pub publish: Option<bool>,
    pub resolve_to: Option<ResolveTo>,
    /// Default 3600; at most a week.
    pub reopen_window_seconds: Option<u32>,
    /// Generic only: refuse deliveries without a valid signature.
    pub require_signature: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    pub name: Option<String>,
    pub key_field: Option<String>,
    pub components: Option<Vec<IntegrationComponent>>,
    pub impact: Option<ImpactMapping>,
    pub title_template: Option<String>,
    pub message_template: Option<String>,
    pub resolved_message: Option<String>,
    pub publish: Option<bool>,
    pub resolve_to: Option<ResolveTo>,
    pub reopen_window_seconds: Option<u32>,
    pub require_signature: Option<bool>,
    /// A new hook URL; the old one stops working at once.
    #[serde(default)]
    pub rotate_secret: bool,
    /// A new signing secret (generic only).
    #[serde(default)]
    pub rotate_signing_secret: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationDeliveryPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<DeliveryRecord>,
    pub next_cursor: Option<String>,
}

fn with_etag(view: &IntegrationView, status: StatusCode) -> Response {
    let mut response = (status, Json(view)).into_response();
    if let Ok(tag) = HeaderValue::try_from(etag(view.integration.version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations", security(("bearer" = [])),
    responses((status = 200, description = "Integrations, oldest first", body = Vec<IntegrationView>)))]
pub async fn list_integrations(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Admin)?;
    let views: Vec<IntegrationView> =
        state.service.integrations().await?.into_iter().map(IntegrationView::from).collect();
    Ok(Json(views).into_response())
}

#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations", security(("bearer" = [])), request_body = CreateIntegration,
    responses((status = 201, description = "Created; its hook path (and signing secret) are shown only now", body = IntegrationView), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_integration(
    State(state): State<ApiState>,
    auth: Authenticated,
    body: ApiJson<CreateIntegration>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let b = body.value;
    let input = NewIntegration {
        name: b.name,
        kind: Some(b.kind),
        key_field: b.key_field,
        components: b.components,
        impact: b.impact,
        title_template: b.title_template,
        message_template: b.message_template,
        resolved_message: b.resolved_message,
        publish: b.publish,
        resolve_to: b.resolve_to,
        reopen_window_seconds: b.reopen_window_seconds,
        require_signature: b.require_signature,
    };
    let view = IntegrationView::from(state.service.create_integration(caller.actor(), input).await?);
    let mut response = with_etag(&view, StatusCode::CREATED);
    if let Ok(location) = HeaderValue::try_from(format!("/api/v1/integrations/{}", view.integration.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = IntegrationView), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_integration(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Admin)?;
    let view = IntegrationView::from(state.service.integration(integration_id(&raw)?).await?);
    Ok(with_etag(&view, StatusCode::OK))
}

#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateIntegration,
    responses((status = 200, description = "OK; a rotated secret is shown only now", body = IntegrationView), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn update_integration(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateIntegration>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let patch = IntegrationPatch {
        name: b.name,
        key_field: b.key_field,
        components: b.components,
        impact: b.impact,
        title_template: b.title_template,
        message_template: b.message_template,
        resolved_message: b.resolved_message,
        publish: b.publish,
        resolve_to: b.resolve_to,
        reopen_window_seconds: b.reopen_window_seconds,
        require_signature: b.require_signature,
        rotate_secret: b.rotate_secret,
        rotate_signing_secret: b.rotate_signing_secret,
    };
    let updated = state
        .service
        .update_integration(caller.actor(), integration_id(&raw)?, expected, patch)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(&IntegrationView::from(updated), StatusCode::OK))
}

#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Deleted; its URL stops working"), (status = 404, description = "No such resource", body = Problem)))]
pub async fn delete_integration(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    state.service.delete_integration(caller.actor(), integration_id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}/deliveries", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery), responses((status = 200, description = "Deliveries, newest first (kept 30 days)", body = IntegrationDeliveryPage), (status = 404, description = "No such resource", body = Problem)))]
pub async fn integration_deliveries(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    let page = state
        .service
        .integration_deliveries(integration_id(&raw)?, q.cursor.map(Cursor::from_token), q.limit.unwrap_or(50))
        .await?;
    Ok(Json(IntegrationDeliveryPage { items: page.items, next_cursor: page.next.map(|c| c.as_str().to_owned()) })
        .into_response())
}

/// What a hook answers when it took the delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookAnswer {
    #[schema(value_type = String)]
    pub outcome: DeliveryOutcome,
    pub alerts: usize,
    #[schema(value_type = Vec<String>)]
    pub incidents: Vec<IncidentId>,
}

/// Where SNS's signing certificates come from and where subscriptions are confirmed:
/// the network in production, fixtures in tests. Only URLs on SNS's own host are ever
/// given to it.
#[async_trait::async_trait]
pub trait SnsFetch: Send + Sync + std::fmt::Debug {
    /// The PEM certificate at `url`.
    async fn certificate(&self, url: &str) -> Result<Vec<u8>, String>;
    /// Visits a subscription's `SubscribeURL`, which confirms it.
    async fn confirm(&self, subscribe_url: &str) -> Result<(), String>;
}

/// A refused delivery: its problem, and the line the log keeps.
struct Refusal {
    problem: Problem,
    logged: Option<String>,
}

impl Refusal {
    fn logged(problem: Problem) -> Self {
        let logged = Some(problem.detail.clone());
        Self { problem, logged }
    }
}

fn payload_problem(e: PayloadError) -> Problem {
    match e {
        PayloadError::Malformed(detail) => Problem::new(StatusCode::BAD_REQUEST, "malformed", detail),
        PayloadError::Invalid(detail) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-alert", detail),
    }
}

fn bad_signature(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "bad-signature", detail)
}

#[utoipa::path(post, path = "/api/v1/hooks/{secret}", tag = "integrations",
    params(("secret" = String, Path)), request_body(content = String, description = "The tool's own payload (Alertmanager, Grafana, SNS, or JSON)"),
    responses((status = 202, description = "Applied", body = HookAnswer), (status = 200, description = "An SNS subscription confirmed, or a message carrying no alert", body = HookAnswer),
        (status = 400, description = "Not readable", body = Problem), (status = 401, description = "Bad or stale signature", body = Problem),
        (status = 404, description = "No integration has this URL", body = Problem), (status = 413, description = "Over 64 KiB", body = Problem),
        (status = 422, description = "Readable, but not an alert", body = Problem)))]
pub async fn hook(
    State(state): State<ApiState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let integration = state.service.integration_by_secret(&secret).await?;
    let started = state.service.now();
    let result = match body {
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Refusal::logged(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "the body is over the 64 KiB limit",
        ))),
        Err(e) => Err(Refusal::logged(Problem::new(StatusCode::BAD_REQUEST, "bad-request", e.body_text()))),
        Ok(body) => take(&state, &integration, &headers, &body).await,
    };
    match result {
        Ok((status, record)) => {
            state.service.log_integration_delivery(integration.id, &record).await?;
            let answer = HookAnswer { outcome: record.outcome, alerts: record.alerts, incidents: record.incidents };
            Ok((status, Json(answer)).into_response())
        }
        Err(refusal) => {
            if let Some(error) = refusal.logged {
                let record = DeliveryRecord {
                    at: started,
                    outcome: DeliveryOutcome::Rejected,
                    alerts: 0,
                    incidents: Vec::new(),
                    error: Some(error),
                };
                state.service.log_integration_delivery(integration.id, &record).await?;
            }
            Err(refusal.problem)
        }
    }
}

/// Reads, checks and applies one delivery.
async fn take(
    state: &ApiState,
    integration: &Integration,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, DeliveryRecord), Refusal> {
    let now = state.service.now();
    let delivery = match integration.kind {
        IntegrationKind::Alertmanager => beacon_integrations::alertmanager(body),
        IntegrationKind::Grafana => beacon_integrations::grafana(body),
        IntegrationKind::Generic => {
            let signature = headers.get(SIGNATURE_HEADER).map(|v| v.to_str().unwrap_or_default());
            match (signature, &integration.signing_secret) {
                (Some(signature), Some(secret)) => {
                    beacon_integrations::verify_generic_signature(secret, signature, body, now)
                        .map_err(|e| Refusal::logged(bad_signature(e)))?;
                }
                (None, _) if integration.require_signature => {
                    return Err(Refusal::logged(bad_signature(format!(
                        "this integration requires the {SIGNATURE_HEADER} header"
                    ))));
                }
                _ => {}
            }
            beacon_integrations::generic(body, integration.key_field.as_deref().unwrap_or("id"))
        }
        IntegrationKind::Sns => return take_sns(state, integration, body).await,
    };
    let delivery = delivery.map_err(|e| Refusal::logged(payload_problem(e)))?;
    apply(state, integration, &delivery).await
}

async fn apply(
    state: &ApiState,
    integration: &Integration,
    delivery: &Delivery,
) -> Result<(StatusCode, DeliveryRecord), Refusal> {
    match state.service.receive_alerts(integration, delivery).await {
        Ok(record) => Ok((StatusCode::ACCEPTED, record)),
        Err(e @ AppError::Domain(_)) => Err(Refusal::logged(Problem::from(e))),
        // Storage trouble: the tool retries; nothing to log that the next try won't.
        Err(e) => Err(Refusal { problem: Problem::from(e), logged: None }),
    }
}

async fn take_sns(
    state: &ApiState,
    integration: &Integration,
    body: &[u8],
) -> Result<(StatusCode, DeliveryRecord), Refusal> {
    let message = beacon_integrations::sns(body).map_err(|e| Refusal::logged(payload_problem(e)))?;
    if !beacon_integrations::genuine_sns_url(&message.signing_cert_url) {
        return Err(Refusal::logged(bad_signature("the signing certificate is not on an SNS host")));
    }
    let Some(fetch) = &state.sns else {
        return Err(Refusal::logged(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this host cannot fetch SNS certificates",
        )));
    };
    let certificate = fetch.certificate(&message.signing_cert_url).await.map_err(|e| {
        tracing::warn!(error = %e, "fetching an SNS signing certificate failed");
        Refusal::logged(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the signing certificate could not be fetched; SNS will retry",
        ))
    })?;
    let now = state.service.now();
    beacon_integrations::verify_sns_signature(&message, &certificate).map_err(|e| Refusal::logged(bad_signature(e)))?;
    let record =
        |outcome, error: Option<String>| DeliveryRecord { at: now, outcome, alerts: 0, incidents: Vec::new(), error };
    match message.message {
        SnsMessage::SubscriptionConfirmation { subscribe_url, .. } => {
            if !beacon_integrations::genuine_sns_host(&subscribe_url) {
                return Err(Refusal::logged(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-alert",
                    "the subscription's confirmation URL is not on an SNS host",
                )));
            }
            fetch.confirm(&subscribe_url).await.map_err(|e| {
                Refusal::logged(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("confirming the subscription failed: {e}"),
                ))
            })?;
            tracing::info!(integration = %integration.id, "SNS subscription confirmed");
            Ok((StatusCode::OK, record(DeliveryOutcome::Confirmed, None)))
        }
        SnsMessage::UnsubscribeConfirmation { .. } => {
            Ok((StatusCode::OK, record(DeliveryOutcome::Ignored, Some("the topic unsubscribed this URL".into()))))
        }
        SnsMessage::Notification { delivery: None, .. } => Ok((
            StatusCode::OK,
            record(DeliveryOutcome::Ignored, Some("the notification carries no CloudWatch alarm state change".into())),
        )),
        SnsMessage::Notification { delivery: Some(delivery), .. } => apply(state, integration, &delivery).await,
    }
}

/// SNS certificates and confirmations over HTTPS, certificates cached by URL (SNS signs
/// with a handful, for months).
#[derive(Debug)]
pub struct HttpSnsFetch {
    client: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        http_body_util::Empty<Bytes>,
    >,
    cache: std::sync::Mutex<std::collections::HashMap<String, Cached>>,
}

/// A certificate, and when it was fetched.
type Cached = (std::time::Instant, Arc<Vec<u8>>);

/// How long a fetched certificate is trusted without fetching it again.
const CERTIFICATE_CACHE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

impl HttpSnsFetch {
    /// HTTPS only, with the platform's roots. `allow_plain_http` is for tests that serve
    /// certificates from a loopback server they start.
    pub fn new(allow_plain_http: bool) -> Result<Self, String> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("loading the platform's root certificates: {e}"))?;
        let builder = if allow_plain_http { builder.https_or_http() } else { builder.https_only() };
        let connector = builder.enable_http1().build();
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        Ok(Self { client, cache: std::sync::Mutex::default() })
    }

    async fn get(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, String> {
        use http_body_util::BodyExt as _;
        let uri: axum::http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        let request = tokio::time::timeout(std::time::Duration::from_secs(5), self.client.get(uri));
        let response = request.await.map_err(|_| "no answer within 5 s".to_owned())?.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let limited = http_body_util::Limited::new(response.into_body(), max_bytes);
        let body = tokio::time::timeout(std::time::Duration::from_secs(5), limited.collect())
            .await
            .map_err(|_| "the body took over 5 s".to_owned())?
            .map_err(|e| e.to_string())?;
        Ok(body.to_bytes().to_vec())
    }
}

#[async_trait::async_trait]
impl SnsFetch for HttpSnsFetch {
    async fn certificate(&self, url: &str) -> Result<Vec<u8>, String> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, pem)) = cache.get(url)
            && at.elapsed() < CERTIFICATE_CACHE
        {
            return Ok(pem.as_ref().clone());
        }
        let pem = self.get(url, MAX_CERTIFICATE_BYTES).await?;
        if let Ok(mut cache) = self.cache.lock() {
            // SNS uses few certificates: anything beyond a handful is noise to drop.
            if cache.len() >= 16 {
                cache.clear();
            }
            cache.insert(url.to_owned(), (std::time::Instant::now(), Arc::new(pem.clone())));
        }
        Ok(pem)
    }

    async fn confirm(&self, subscribe_url: &str) -> Result<(), String> {
        self.get(subscribe_url, 64 * 1024).await.map(|_| ())
    }
}
