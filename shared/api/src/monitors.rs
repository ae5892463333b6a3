//! Monitors: list, create, get, update, pause, resume, delete, "check now", recent
//! results per region and daily figures; and the public heartbeat URL their jobs call.
//!
//! Viewers read; responders pause, resume and check now (the moves of an incident in
//! progress); admins create, change and delete.

use crate::ApiState;
use crate::extract::{ApiJson, ApiQuery, Authenticated, if_match};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beacon_app::{CreatedMonitor, DailyStats, MonitorPatch, MonitorSettings};
use beacon_domain::{Monitor, MonitorId, MonitorKind, MonitoredComponent, RegionResult, Role, Thresholds};
use beacon_store::Cursor;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

type ApiResult = Result<Response, Problem>;

fn monitor_id(raw: &str) -> Result<MonitorId, Problem> {
    raw.parse().map_err(|_| Problem::not_found(format!("monitor {raw} does not exist")))
}

fn with_etag<T: Serialize>(status: StatusCode, body: &T, version: u64) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::try_from(crate::extract::etag(version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMonitor {
    pub name: String,
    /// What to check: `{"kind": "http", "url": ...}`, `tls`, `tcp` or `heartbeat`.
    pub check: MonitorKind,
    /// 30 to 3600 seconds; 60 by default.
    pub interval_seconds: Option<u32>,
    /// Regions to probe from; every region probes run in by default.
    pub regions: Option<Vec<String>>,
    /// Consecutive failing rounds before an incident opens, passing ones before it
    /// resolves; 2 and 2 by default.
    pub thresholds: Option<Thresholds>,
    /// Components and the status each outcome imposes on them.
    #[serde(default)]
    pub components: Vec<MonitoredComponent>,
    /// The title of its incidents; `{monitor}` and `{state}` are filled in.
    pub incident_title: Option<String>,
    /// The first public update of its incidents (Markdown), with the same fields.
    pub incident_message: Option<String>,
    /// `false` opens its incidents internally, for a responder to publish
    /// (`POST /api/v1/incidents/{id}/publish`); `true` by default.
    pub publish: Option<bool>,
    #[serde(default)]
    pub paused: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMonitor {
    pub name: Option<String>,
    pub check: Option<MonitorKind>,
    pub interval_seconds: Option<u32>,
    pub regions: Option<Vec<String>>,
    pub thresholds: Option<Thresholds>,
    pub components: Option<Vec<MonitoredComponent>>,
    pub incident_title: Option<String>,
    pub incident_message: Option<String>,
    pub publish: Option<bool>,
    /// A heartbeat monitor gets a new URL; the old one stops working.
    #[serde(default)]
    pub rotate_heartbeat_secret: bool,
}

/// A monitor, with its heartbeat URL when one was just made (shown only then).
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorWithSecret {
    pub monitor: Monitor,
    /// The path the team's job calls (GET or POST), relative to the API's address.
    pub heartbeat_path: Option<String>,
}

impl From<CreatedMonitor> for MonitorWithSecret {
    fn from(c: CreatedMonitor) -> Self {
        Self {
            monitor: c.monitor,
            heartbeat_path: c.heartbeat_secret.map(|secret| format!("/api/v1/heartbeats/{secret}")),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    /// The region; the monitor's first region by default.
    pub region: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResultPage {
    pub region: String,
    pub items: Vec<RegionResult>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// How many days back, 1 to 400; 90 by default.
    pub days: Option<u32>,
}

/// A day of checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayView {
    /// `yyyy-mm-dd`, UTC.
    pub day: String,
    pub checks: u64,
    pub failures: u64,
    /// Seconds the round verdict was down, degraded, and judged at all.
    pub down_seconds: u64,
    pub degraded_seconds: u64,
    pub observed_seconds: u64,
    /// Latency quantiles, to the precision of the stored histogram's buckets.
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

impl From<DailyStats> for DayView {
    fn from(d: DailyStats) -> Self {
        Self {
            day: d.day,
            checks: d.checks,
            failures: d.failures,
            down_seconds: d.down_seconds,
            degraded_seconds: d.degraded_seconds,
            observed_seconds: d.observed_seconds,
            p50_ms: d.p50_ms,
            p95_ms: d.p95_ms,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/monitors", tag = "monitors", security(("bearer" = [])),
    responses((status = 200, description = "Monitors by name", body = Vec<Monitor>), (status = 401, description = "No valid bearer token", body = Problem)))]
pub async fn list_monitors(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(state.service.monitors().await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/monitors", tag = "monitors", security(("bearer" = [])), request_body = CreateMonitor,
    responses((status = 201, description = "Created; a heartbeat monitor's URL is shown only now", body = MonitorWithSecret), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_monitor(
    State(state): State<ApiState>,
    auth: Authenticated,
    body: ApiJson<CreateMonitor>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let b = body.value;
    let settings = MonitorSettings {
        name: b.name,
        check: b.check,
        interval_seconds: b.interval_seconds,
        regions: b.regions,
        thresholds: b.thresholds,
        components: b.components,
        incident_title: b.incident_title,
        incident_message: b.incident_message,
        publish: b.publish.unwrap_or(true),
        paused: b.paused,
    };
    let created = state.service.create_monitor(caller.actor(), settings, &state.probe_regions).await?;
    let view = MonitorWithSecret::from(created);
    let mut response = with_etag(StatusCode::CREATED, &view, view.monitor.version);
    if let Ok(location) = HeaderValue::try_from(format!("/api/v1/monitors/{}", view.monitor.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/monitors/{id}", tag = "monitors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = Monitor), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_monitor(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    let monitor = state.service.monitor(monitor_id(&raw)?).await?;
    Ok(with_etag(StatusCode::OK, &monitor, monitor.version))
}

#[utoipa::path(patch, path = "/api/v1/monitors/{id}", tag = "monitors", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateMonitor,
    responses((status = 200, description = "OK", body = MonitorWithSecret), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn update_monitor(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateMonitor>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let patch = MonitorPatch {
        name: b.name,
        check: b.check,
        interval_seconds: b.interval_seconds,
        regions: b.regions,
        thresholds: b.thresholds,
        components: b.components,
        incident_title: b.incident_title,
        incident_message: b.incident_message,
        publish: b.publish,
    };
    let updated = state
        .service
        .update_monitor(
            caller.actor(),
            monitor_id(&raw)?,
            expected,
            patch,
            &state.probe_regions,
            b.rotate_heartbeat_secret,
        )
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    let view = MonitorWithSecret::from(updated);
    Ok(with_etag(StatusCode::OK, &view, view.monitor.version))
}

#[utoipa::path(delete, path = "/api/v1/monitors/{id}", tag = "monitors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Deleted; an open incident it opened stays open"), (status = 404, description = "No such resource", body = Problem)))]
pub async fn delete_monitor(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    state.service.delete_monitor(caller.actor(), monitor_id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/api/v1/monitors/{id}/pause", tag = "monitors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "Paused", body = Monitor), (status = 404, description = "No such resource", body = Problem)))]
pub async fn pause_monitor(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let monitor = state.service.set_monitor_paused(caller.actor(), monitor_id(&raw)?, true).await?;
    Ok(with_etag(StatusCode::OK, &monitor, monitor.version))
}

#[utoipa::path(post, path = "/api/v1/monitors/{id}/resume", tag = "monitors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "Resumed; its next round is due at once", body = Monitor), (status = 404, description = "No such resource", body = Problem)))]
pub async fn resume_monitor(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let monitor = state.service.set_monitor_paused(caller.actor(), monitor_id(&raw)?, false).await?;
    Ok(with_etag(StatusCode::OK, &monitor, monitor.version))
}

#[utoipa::path(post, path = "/api/v1/monitors/{id}/check", tag = "monitors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 202, description = "A round is due now: every region checks at its next tick", body = Monitor), (status = 422, description = "The monitor is paused", body = Problem)))]
pub async fn check_now(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let monitor = state.service.check_monitor_now(caller.actor(), monitor_id(&raw)?).await?;
    Ok(with_etag(StatusCode::ACCEPTED, &monitor, monitor.version))
}

#[utoipa::path(get, path = "/api/v1/monitors/{id}/results", tag = "monitors", security(("bearer" = [])),
    params(("id" = String, Path), ResultsQuery), responses((status = 200, description = "A region's results, newest first", body = ResultPage), (status = 404, description = "No such resource", body = Problem)))]
pub async fn results(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> ApiResult {
    auth.require(Role::Viewer)?;
    let id = monitor_id(&raw)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid(vec![beacon_domain::FieldError::new("limit", "limit must be 1 to 500")]));
    }
    let monitor = state.service.monitor(id).await?;
    let region = match q.region {
        Some(region) if monitor.regions.contains(&region) => region,
        Some(region) => {
            return Err(Problem::invalid(vec![beacon_domain::FieldError::new(
                "region",
                format!("the monitor does not run in {region:?}; it runs in {}", monitor.regions.join(", ")),
            )]));
        }
        None => monitor.regions.first().cloned().unwrap_or_default(),
    };
    let page = state.service.monitor_results(id, &region, q.cursor.map(Cursor::from_token), limit).await?;
    let next_cursor = page.next.map(|c| c.as_str().to_owned());
    Ok(Json(ResultPage { region, items: page.items, next_cursor }).into_response())
}

#[utoipa::path(get, path = "/api/v1/monitors/{id}/stats", tag = "monitors", security(("bearer" = [])),
    params(("id" = String, Path), StatsQuery), responses((status = 200, description = "Daily figures, oldest first", body = Vec<DayView>), (status = 404, description = "No such resource", body = Problem)))]
pub async fn stats(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult {
    auth.require(Role::Viewer)?;
    let days = q.days.unwrap_or(90);
    if !(1..=400).contains(&days) {
        return Err(Problem::invalid(vec![beacon_domain::FieldError::new("days", "days must be 1 to 400")]));
    }
    let id = monitor_id(&raw)?;
    state.service.monitor(id).await?;
    let since = state
        .service
        .clock()
        .now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * i64::from(days - 1)))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let stats = state.service.monitor_days(id, since).await?;
    Ok(Json(stats.into_iter().map(DayView::from).collect::<Vec<_>>()).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatReceived {
    pub ok: bool,
}

/// The URL a team's job calls; the secret in it is the only credential.
#[utoipa::path(post, path = "/api/v1/heartbeats/{secret}", tag = "monitors",
    params(("secret" = String, Path)), responses((status = 200, description = "Recorded", body = HeartbeatReceived), (status = 404, description = "No heartbeat has this URL", body = Problem)))]
pub async fn heartbeat(State(state): State<ApiState>, Path(secret): Path<String>) -> ApiResult {
    state.service.record_heartbeat(&secret).await?;
    Ok(Json(HeartbeatReceived { ok: true }).into_response())
}

/// The same call by GET, for jobs that can only fetch a URL.
#[utoipa::path(get, path = "/api/v1/heartbeats/{secret}", tag = "monitors",
    params(("secret" = String, Path)), responses((status = 200, description = "Recorded", body = HeartbeatReceived), (status = 404, description = "No heartbeat has this URL", body = Problem)))]
pub async fn heartbeat_by_get(state: State<ApiState>, secret: Path<String>) -> ApiResult {
    heartbeat(state, secret).await
}
