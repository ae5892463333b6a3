//! Planned maintenance, recurring series, postmortems and backfilled incidents: the same
//! roles, errors, ETag and idempotency rules as incidents.

use crate::ApiState;
use crate::extract::{ApiJson, ApiQuery, Authenticated, etag, if_match};
use crate::idempotent::idempotent;
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beacon_app::{MaintenancePatch, MaintenanceState, NewSeries, ScheduleMaintenance, WindowInput};
use beacon_domain::{
    AffectedComponent, Automation, ComponentId, FieldError, Impact, Incident, IncidentStatus, Maintenance,
    MaintenanceId, MaintenanceSeries, MaintenanceStatus, MaintenanceUpdate, PublicUpdate, Role,
};
use beacon_store::Cursor;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

type ApiResult = Result<Response, Problem>;

fn id<T: std::str::FromStr>(raw: &str, kind: &str) -> Result<T, Problem> {
    raw.parse().map_err(|_| Problem::not_found(format!("{kind} {raw} does not exist")))
}

fn with_etag<T: Serialize>(status: StatusCode, body: &T, version: u64, location: Option<String>) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::try_from(etag(version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    if let Some(value) = location.and_then(|l| HeaderValue::try_from(l).ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A window: each end an RFC 3339 instant (`2027-03-28T01:00:00Z`) or a local date and
/// time (`2027-03-28T03:00`) in `time_zone` (an IANA name; `Etc/UTC` when absent).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    pub starts_at: String,
    pub ends_at: String,
    pub time_zone: Option<String>,
}

impl From<WindowBody> for WindowInput {
    fn from(w: WindowBody) -> Self {
        Self { starts_at: w.starts_at, ends_at: w.ends_at, time_zone: w.time_zone }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMaintenance {
    pub title: String,
    /// The announcement (Markdown).
    pub message: String,
    #[serde(flatten)]
    pub window: WindowBody,
    #[serde(default)]
    pub components: Vec<ComponentId>,
    /// What runs on its own; every step on by default (start, complete, remind
    /// subscribers 60 minutes before, remind the team 3 hours before).
    pub automation: Option<Automation>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMaintenance {
    pub title: Option<String>,
    pub components: Option<Vec<ComponentId>>,
    pub automation: Option<Automation>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceUpdateBody {
    pub message: String,
    /// Moves the status forward: `in_progress`, `verifying`, `completed`.
    pub status: Option<MaintenanceStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    #[serde(flatten)]
    pub window: WindowBody,
    /// Why it moved; a default sentence when absent.
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub message: Option<String>,
}

/// A maintenance with its public updates in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceView {
    #[serde(flatten)]
    pub maintenance: Maintenance,
    pub updates: Vec<MaintenanceUpdate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenancePage {
    pub items: Vec<Maintenance>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceQuery {
    /// `upcoming` (scheduled), `active` (in progress or verifying), `past` (completed
    /// or cancelled) or `all` (default).
    pub state: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSeries {
    pub title: String,
    pub message: String,
    /// An RFC 5545 RRULE: `FREQ=DAILY|WEEKLY|MONTHLY`, `INTERVAL`, `BYDAY` (with
    /// ordinals for monthly rules), `COUNT`, `UNTIL`.
    pub recurrence: String,
    /// The first window's start in local time (`2027-01-03T02:00`).
    pub first_start: String,
    pub time_zone: String,
    pub duration_minutes: u32,
    #[serde(default)]
    pub components: Vec<ComponentId>,
    pub automation: Option<Automation>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSeries {
    pub series: MaintenanceSeries,
    /// The occurrences created ahead.
    pub occurrences: Vec<Maintenance>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostmortemBody {
    /// Markdown.
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishPostmortemBody {
    /// Tell subscribers (default `true`).
    pub notify: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillUpdateBody {
    /// When it was posted (RFC 3339).
    pub at: String,
    pub status: IncidentStatus,
    pub message: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillBody {
    pub title: String,
    pub impact: Impact,
    #[serde(default)]
    pub components: Vec<AffectedComponent>,
    /// In time order, the last one `resolved`.
    pub updates: Vec<BackfillUpdateBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BackfilledView {
    #[serde(flatten)]
    pub incident: Incident,
    pub updates: Vec<PublicUpdate>,
}

// ---------------------------------------------------------------- maintenances

#[utoipa::path(get, path = "/api/v1/maintenances", tag = "maintenance", security(("bearer" = [])),
    params(MaintenanceQuery),
    responses((status = 200, description = "Maintenances, newest first", body = MaintenancePage), (status = 422, description = "Invalid filter", body = Problem)))]
pub async fn list_maintenances(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<MaintenanceQuery>,
) -> ApiResult {
    auth.require(Role::Viewer)?;
    let filter = match q.state.as_deref() {
        None | Some("all") => MaintenanceState::All,
        Some("upcoming") => MaintenanceState::Upcoming,
        Some("active") => MaintenanceState::Active,
        Some("past") => MaintenanceState::Past,
        Some(other) => {
            return Err(Problem::invalid(vec![FieldError::new(
                "state",
                format!("unknown state {other:?}; expected upcoming, active, past or all"),
            )]));
        }
    };
    let page = state.service.list_maintenances(filter, q.cursor.map(Cursor::from_token), q.limit.unwrap_or(50)).await?;
    Ok(Json(MaintenancePage { items: page.items, next_cursor: page.next.map(|c| c.as_str().to_owned()) })
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/maintenances", tag = "maintenance", security(("bearer" = [])), request_body = CreateMaintenance,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses((status = 201, description = "Scheduled", body = MaintenanceView), (status = 403, description = "The token's role does not allow this", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_maintenance(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<CreateMaintenance>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?.clone();
    let b = body.value;
    Ok(idempotent(&state, &caller, &headers, "POST /api/v1/maintenances", &body.raw, async {
        let input = ScheduleMaintenance {
            title: b.title,
            message: b.message,
            window: b.window.into(),
            components: b.components,
            automation: b.automation,
        };
        let detail = state.service.schedule_maintenance(caller.actor(), input).await?;
        let version = detail.maintenance.version;
        let location = format!("/api/v1/maintenances/{}", detail.maintenance.id);
        let view = MaintenanceView { maintenance: detail.maintenance, updates: detail.updates };
        Ok(with_etag(StatusCode::CREATED, &view, version, Some(location)))
    })
    .await)
}

#[utoipa::path(get, path = "/api/v1/maintenances/{id}", tag = "maintenance", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = MaintenanceView), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_maintenance(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    let detail = state.service.maintenance(id(&raw, "maintenance")?).await?;
    let version = detail.maintenance.version;
    Ok(with_etag(
        StatusCode::OK,
        &MaintenanceView { maintenance: detail.maintenance, updates: detail.updates },
        version,
        None,
    ))
}

#[utoipa::path(patch, path = "/api/v1/maintenances/{id}", tag = "maintenance", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = PatchMaintenance,
    responses((status = 200, description = "OK", body = Maintenance), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn patch_maintenance(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<PatchMaintenance>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let patch = MaintenancePatch { title: b.title, components: b.components, automation: b.automation };
    let m = state
        .service
        .edit_maintenance(caller.actor(), id(&raw, "maintenance")?, expected, patch)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(StatusCode::OK, &m, m.version, None))
}

#[utoipa::path(post, path = "/api/v1/maintenances/{id}/updates", tag = "maintenance", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)), request_body = MaintenanceUpdateBody,
    responses((status = 201, description = "Posted", body = MaintenanceView), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid input or a backward move", body = Problem)))]
pub async fn post_maintenance_update(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<MaintenanceUpdateBody>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?.clone();
    let maintenance_id: MaintenanceId = id(&raw, "maintenance")?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let route = format!("POST /api/v1/maintenances/{maintenance_id}/updates");
    Ok(idempotent(&state, &caller, &headers, &route, &body.raw, async {
        let detail = state
            .service
            .post_maintenance_update(caller.actor(), maintenance_id, expected, b.message, b.status)
            .await
            .map_err(|e| Problem::from_app(e, expected.is_some()))?;
        let version = detail.maintenance.version;
        let view = MaintenanceView { maintenance: detail.maintenance, updates: detail.updates };
        Ok(with_etag(StatusCode::CREATED, &view, version, Some(format!("/api/v1/maintenances/{maintenance_id}"))))
    })
    .await)
}

#[utoipa::path(post, path = "/api/v1/maintenances/{id}/reschedule", tag = "maintenance", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = RescheduleBody,
    responses((status = 200, description = "Moved; subscribers are told", body = MaintenanceView), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid window, or it has started", body = Problem)))]
pub async fn reschedule_maintenance(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<RescheduleBody>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let detail = state
        .service
        .reschedule_maintenance(caller.actor(), id(&raw, "maintenance")?, expected, b.window.into(), b.message)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    let version = detail.maintenance.version;
    Ok(with_etag(
        StatusCode::OK,
        &MaintenanceView { maintenance: detail.maintenance, updates: detail.updates },
        version,
        None,
    ))
}

#[utoipa::path(post, path = "/api/v1/maintenances/{id}/cancel", tag = "maintenance", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = CancelBody,
    responses((status = 200, description = "Cancelled; kept in history, subscribers are told", body = MaintenanceView), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "It has started", body = Problem)))]
pub async fn cancel_maintenance(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<CancelBody>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let expected = if_match(&headers)?;
    let detail = state
        .service
        .cancel_maintenance(caller.actor(), id(&raw, "maintenance")?, expected, body.value.message)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    let version = detail.maintenance.version;
    Ok(with_etag(
        StatusCode::OK,
        &MaintenanceView { maintenance: detail.maintenance, updates: detail.updates },
        version,
        None,
    ))
}

// ---------------------------------------------------------------- series

#[utoipa::path(get, path = "/api/v1/maintenance-series", tag = "maintenance", security(("bearer" = [])),
    responses((status = 200, description = "Every recurring series", body = Vec<MaintenanceSeries>)))]
pub async fn list_series(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(state.service.list_series().await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/maintenance-series", tag = "maintenance", security(("bearer" = [])), request_body = CreateSeries,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "Created, with its first occurrences", body = CreatedSeries), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_series(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<CreateSeries>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?.clone();
    let b = body.value;
    Ok(idempotent(&state, &caller, &headers, "POST /api/v1/maintenance-series", &body.raw, async {
        let input = NewSeries {
            title: b.title,
            message: b.message,
            recurrence: b.recurrence,
            first_start: b.first_start,
            time_zone: b.time_zone,
            duration_minutes: b.duration_minutes,
            components: b.components,
            automation: b.automation,
        };
        let (series, occurrences) = state.service.create_series(caller.actor(), input).await?;
        let version = series.version;
        let location = format!("/api/v1/maintenance-series/{}", series.id);
        Ok(with_etag(StatusCode::CREATED, &CreatedSeries { series, occurrences }, version, Some(location)))
    })
    .await)
}

#[utoipa::path(get, path = "/api/v1/maintenance-series/{id}", tag = "maintenance", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = MaintenanceSeries), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_series(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    let series = state.service.series(id(&raw, "series")?).await?;
    Ok(with_etag(StatusCode::OK, &series, series.version, None))
}

#[utoipa::path(delete, path = "/api/v1/maintenance-series/{id}", tag = "maintenance", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "Stopped: no more occurrences, its scheduled ones cancelled", body = MaintenanceSeries), (status = 404, description = "No such resource", body = Problem)))]
pub async fn stop_series(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let series = state.service.stop_series(caller.actor(), id(&raw, "series")?).await?;
    Ok(Json(series).into_response())
}

// ---------------------------------------------------------------- postmortems, backfill

#[utoipa::path(put, path = "/api/v1/incidents/{id}/postmortem", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = PostmortemBody,
    responses((status = 200, description = "Saved (a draft stays private until published)", body = Incident), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid, or the incident is not resolved", body = Problem)))]
pub async fn write_postmortem(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<PostmortemBody>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let expected = if_match(&headers)?;
    let incident = state
        .service
        .write_postmortem(caller.actor(), id(&raw, "incident")?, expected, body.value.body)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(StatusCode::OK, &incident, incident.version, None))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/postmortem/publish", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = PublishPostmortemBody,
    responses((status = 200, description = "Published on the page and in the feeds", body = Incident), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "No draft, or already published", body = Problem)))]
pub async fn publish_postmortem(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<PublishPostmortemBody>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let expected = if_match(&headers)?;
    let notify = body.value.notify.unwrap_or(true);
    let incident = state
        .service
        .publish_postmortem(caller.actor(), id(&raw, "incident")?, expected, notify)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(StatusCode::OK, &incident, incident.version, None))
}

#[utoipa::path(post, path = "/api/v1/incidents/backfill", tag = "incidents", security(("bearer" = [])), request_body = BackfillBody,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "Recorded at its real times; nobody is notified", body = BackfilledView), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn backfill_incident(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<BackfillBody>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?.clone();
    let b = body.value;
    Ok(idempotent(&state, &caller, &headers, "POST /api/v1/incidents/backfill", &body.raw, async {
        let mut errors = Vec::new();
        let mut updates = Vec::new();
        for (n, u) in b.updates.into_iter().enumerate() {
            match u.at.parse::<jiff::Timestamp>() {
                Ok(at) => updates.push(beacon_app::BackfillUpdate { at, status: u.status, message: u.message }),
                Err(e) => {
                    errors.push(FieldError::new(format!("updates[{n}].at"), format!("not an RFC 3339 time: {e}")))
                }
            }
        }
        if !errors.is_empty() {
            return Err(Problem::invalid(errors));
        }
        let input =
            beacon_app::BackfillIncident { title: b.title, impact: b.impact, components: b.components, updates };
        let detail = state.service.backfill_incident(caller.actor(), input).await?;
        let version = detail.incident.version;
        let location = format!("/api/v1/incidents/{}", detail.incident.id);
        let view = BackfilledView { incident: detail.incident, updates: detail.updates };
        Ok(with_etag(StatusCode::CREATED, &view, version, Some(location)))
    })
    .await)
}
