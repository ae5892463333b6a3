//! The admin's subscriber API: list, count, get, create (confirmed: an admin vouches
//! for the address), delete, reactivate after quarantine, the delivery log, and CSV
//! export and import. Admins only: subscriber data is personal.

use crate::ApiState;
use crate::dto::PageQuery;
use crate::extract::{ApiJson, ApiQuery, Authenticated, if_match};
use crate::problem::Problem;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beacon_app::subscribers::{DeliveryAttempt, parse_channel};
use beacon_app::{NewSubscriber, SubscriberFilter};
use beacon_domain::{
    Actor, Channel, ChannelKind, ComponentId, Email, Events, FieldError, GroupId, IncidentId, Interest, Role,
    Subscriber, SubscriberId, SubscriberState,
};
use beacon_store::Cursor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

type ApiResult = Result<Response, Problem>;

/// Most rows one import takes (the body limit bounds it too).
pub const MAX_IMPORT_ROWS: usize = 1000;

/// A subscriber as admins see it: never its tokens or signing secret; chat webhook
/// URLs (whose path is their secret) shown redacted.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberView {
    pub id: SubscriberId,
    pub kind: ChannelKind,
    /// The address or endpoint.
    pub target: String,
    pub interest: Interest,
    pub events: Events,
    pub state: SubscriberState,
    #[schema(value_type = Option<String>)]
    pub contact: Option<Email>,
    pub consecutive_failures: u32,
    #[schema(value_type = String)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = Option<String>)]
    pub confirmed_at: Option<jiff::Timestamp>,
    pub version: u64,
}

/// The target as listings show it: chat webhook URLs redacted.
fn target(channel: &Channel) -> String {
    match channel {
        Channel::Slack { url } | Channel::Teams { url } | Channel::Discord { url } => url.redacted(),
        other => full_target(other),
    }
}

impl From<&Subscriber> for SubscriberView {
    fn from(s: &Subscriber) -> Self {
        Self {
            id: s.id,
            kind: s.channel.kind(),
            target: target(&s.channel),
            interest: s.interest.clone(),
            events: s.events,
            state: s.state,
            contact: s.contact.clone(),
            consecutive_failures: s.consecutive_failures,
            created_at: s.created_at,
            confirmed_at: s.confirmed_at,
            version: s.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberPage {
    pub items: Vec<SubscriberView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubscriberQuery {
    /// `pending`, `active` or `quarantined`.
    pub state: Option<String>,
    /// `email`, `webhook`, `slack`, `teams` or `discord`.
    pub channel: Option<String>,
    /// Words the address (an endpoint's scheme and host) or the contact must contain.
    pub q: Option<String>,
    /// 1 to 1000, default 50.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriber {
    pub kind: ChannelKind,
    /// An email address, or the endpoint's HTTPS URL.
    pub target: String,
    /// What it follows; the whole page by default.
    pub interest: Option<Interest>,
    /// Which news; all by default.
    pub events: Option<Events>,
    /// Who is told if a webhook-like subscriber is quarantined.
    pub contact: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSubscriberView {
    pub subscriber: SubscriberView,
    /// The webhook's signing secret: shown only in this response.
    pub signing_secret: Option<String>,
    /// A manage link for the subscriber (shown once).
    pub manage_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    pub count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<DeliveryAttempt>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub created: usize,
    /// The signing secrets of the webhook subscribers created, shown only here.
    pub secrets: Vec<ImportedSecret>,
    /// Rows whose target already subscribes.
    pub duplicates: usize,
    pub errors: Vec<ImportError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedSecret {
    pub line: usize,
    pub id: SubscriberId,
    pub signing_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportError {
    /// The CSV line (1 is the header).
    pub line: usize,
    pub message: String,
}

pub(crate) fn filter(
    state: Option<&str>,
    channel: Option<&str>,
    search: Option<&str>,
) -> Result<SubscriberFilter, Problem> {
    let mut errors = Vec::new();
    let state = state.and_then(|s| s.parse().map_err(|e: String| errors.push(FieldError::new("state", e))).ok());
    let channel = channel.and_then(|c| c.parse().map_err(|e: String| errors.push(FieldError::new("channel", e))).ok());
    let search = search.map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
    if errors.is_empty() { Ok(SubscriberFilter { state, channel, search }) } else { Err(Problem::invalid(errors)) }
}

fn subscriber_id(raw: &str) -> Result<SubscriberId, Problem> {
    raw.parse().map_err(|_| Problem::not_found(format!("subscriber {raw} does not exist")))
}

#[utoipa::path(get, path = "/api/v1/subscribers", tag = "subscribers", security(("bearer" = [])), params(SubscriberQuery),
    responses((status = 200, description = "Subscribers in creation order", body = SubscriberPage), (status = 403, description = "Admins only", body = Problem)))]
pub async fn list_subscribers(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<SubscriberQuery>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    let f = filter(q.state.as_deref(), q.channel.as_deref(), q.q.as_deref())?;
    let page = state.service.subscribers(f, q.cursor.map(Cursor::from_token), q.limit.unwrap_or(50)).await?;
    Ok(Json(SubscriberPage {
        items: page.items.iter().map(SubscriberView::from).collect(),
        next_cursor: page.next.map(|c| c.as_str().to_owned()),
    })
    .into_response())
}

#[utoipa::path(get, path = "/api/v1/subscribers/count", tag = "subscribers", security(("bearer" = [])), params(SubscriberQuery),
    responses((status = 200, description = "How many match", body = Count)))]
pub async fn count_subscribers(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<SubscriberQuery>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    let f = filter(q.state.as_deref(), q.channel.as_deref(), q.q.as_deref())?;
    Ok(Json(Count { count: state.service.count_subscribers(f).await? }).into_response())
}

fn new_subscriber(state: &ApiState, body: CreateSubscriber) -> Result<NewSubscriber, Vec<FieldError>> {
    let mut errors = Vec::new();
    let channel = parse_channel(body.kind, &body.target, state.allow_plain_http)
        .map_err(|e| errors.push(FieldError::new("target", e.message)))
        .ok();
    let contact = match body.contact.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(c) => Email::parse(c).map_err(|e| errors.push(FieldError::new("contact", e.message))).ok(),
        None => None,
    };
    match channel {
        Some(channel) if errors.is_empty() => Ok(NewSubscriber {
            channel,
            interest: body.interest.unwrap_or(Interest::Page),
            events: body.events.unwrap_or_default(),
            contact,
        }),
        _ => Err(errors),
    }
}

#[utoipa::path(post, path = "/api/v1/subscribers", tag = "subscribers", security(("bearer" = [])), request_body = CreateSubscriber,
    responses((status = 201, description = "Created, confirmed", body = CreatedSubscriberView), (status = 409, description = "The target already subscribes", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_subscriber(
    State(state): State<ApiState>,
    auth: Authenticated,
    body: ApiJson<CreateSubscriber>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?.clone();
    let input = new_subscriber(&state, body.value).map_err(Problem::invalid)?;
    let created = state.service.create_subscriber(caller.actor(), input).await?;
    let manage_url = state.subscriptions.as_ref().map(|s| s.messages.manage_url(created.manage.expose()));
    let body = CreatedSubscriberView {
        subscriber: SubscriberView::from(&created.subscriber),
        signing_secret: created.signing_secret,
        manage_url,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::try_from(format!("/api/v1/subscribers/{}", created.subscriber.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/subscribers/{id}", tag = "subscribers", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = SubscriberView), (status = 404, description = "No such subscriber", body = Problem)))]
pub async fn get_subscriber(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Admin)?;
    let s = state.service.subscriber(subscriber_id(&raw)?).await?;
    Ok(Json(SubscriberView::from(&s)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/subscribers/{id}", tag = "subscribers", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Removed"), (status = 404, description = "No such subscriber", body = Problem)))]
pub async fn delete_subscriber(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    state.service.remove_subscriber(&caller.actor(), subscriber_id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/api/v1/subscribers/{id}/reactivate", tag = "subscribers", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, description = "Active again, failures reset", body = SubscriberView), (status = 404, description = "No such subscriber", body = Problem)))]
pub async fn reactivate_subscriber(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    let s = state
        .service
        .reactivate_subscriber(&caller.actor(), subscriber_id(&raw)?, expected)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(Json(SubscriberView::from(&s)).into_response())
}

#[utoipa::path(get, path = "/api/v1/subscribers/{id}/deliveries", tag = "subscribers", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, description = "Delivery attempts, newest first", body = DeliveryPage), (status = 404, description = "No such subscriber", body = Problem)))]
pub async fn deliveries(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    let page = state
        .service
        .delivery_log(subscriber_id(&raw)?, q.cursor.map(Cursor::from_token), q.limit.unwrap_or(50))
        .await?;
    Ok(Json(DeliveryPage { items: page.items, next_cursor: page.next.map(|c| c.as_str().to_owned()) }).into_response())
}

const CSV_COLUMNS: [&str; 11] = [
    "id",
    "kind",
    "target",
    "scope",
    "components",
    "groups",
    "incident_id",
    "events",
    "state",
    "contact",
    "created_at",
];

fn events_text(e: Events) -> String {
    [("created", e.created), ("updated", e.updated), ("resolved", e.resolved), ("maintenance", e.maintenance)]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole target, chat webhook URLs included: the export exists to move subscribers
/// between pages, so it is as secret as those URLs (admins only, never cached).
fn full_target(channel: &Channel) -> String {
    match channel {
        Channel::Email { address } => address.to_string(),
        other => other.url().map(ToString::to_string).unwrap_or_default(),
    }
}

fn csv_row(s: &Subscriber) -> Vec<String> {
    let (scope, components, groups, incident) = match &s.interest {
        Interest::Page => ("page", String::new(), String::new(), String::new()),
        Interest::Components { components, groups } => (
            "components",
            components.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
            groups.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
            String::new(),
        ),
        Interest::Incident { incident_id } => ("incident", String::new(), String::new(), incident_id.to_string()),
        // Not exported (listings leave team recipients out); named for completeness.
        Interest::Team { .. } => ("team", String::new(), String::new(), String::new()),
    };
    vec![
        s.id.to_string(),
        s.channel.kind().to_string(),
        full_target(&s.channel),
        scope.into(),
        components,
        groups,
        incident,
        events_text(s.events),
        s.state.as_str().into(),
        s.contact.as_ref().map(ToString::to_string).unwrap_or_default(),
        s.created_at.to_string(),
    ]
}

#[utoipa::path(get, path = "/api/v1/subscribers/export", tag = "subscribers", security(("bearer" = [])),
    responses((status = 200, description = "Every subscriber as CSV, whole targets included (chat webhook URLs are secrets: keep the file safe)", content_type = "text/csv")))]
pub async fn export_subscribers(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(csv_download(export_csv(&state).await?))
}

/// Every subscriber as CSV, whole targets included (what the export answers).
pub(crate) async fn export_csv(state: &ApiState) -> Result<Vec<u8>, Problem> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS).map_err(|_| Problem::internal())?;
    let mut cursor = None;
    loop {
        let page = state.service.subscribers(SubscriberFilter::default(), cursor, 1000).await?;
        for s in &page.items {
            writer.write_record(csv_row(s)).map_err(|_| Problem::internal())?;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    writer.into_inner().map_err(|_| Problem::internal())
}

/// The export as a download nobody caches.
pub(crate) fn csv_download(bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"subscribers.csv\""));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn parse_row(state: &ApiState, row: &csv::StringRecord, columns: &csv::StringRecord) -> Result<NewSubscriber, String> {
    let get = |name: &str| columns.iter().position(|c| c == name).and_then(|i| row.get(i)).unwrap_or("").trim();
    // An export's unconfirmed subscriptions never said yes: importing them would skip
    // the double opt-in.
    if get("state") == "pending" {
        return Err("an unconfirmed subscription is not imported; it must subscribe and confirm itself".into());
    }
    let kind: ChannelKind = if get("kind").is_empty() { ChannelKind::Email } else { get("kind").parse()? };
    let channel = parse_channel(kind, get("target"), state.allow_plain_http).map_err(|e| e.message)?;
    let ids = |raw: &str, what: &str| -> Result<Vec<String>, String> {
        Ok(raw.split_whitespace().map(str::to_owned).collect::<Vec<_>>()).and_then(|v| {
            if v.iter().all(|s| s.len() == 26) { Ok(v) } else { Err(format!("{what} must be ids separated by spaces")) }
        })
    };
    let interest = match get("scope") {
        "" | "page" => Interest::Page,
        "components" => {
            let components: BTreeSet<ComponentId> = ids(get("components"), "components")?
                .iter()
                .map(|s| s.parse().map_err(|_| format!("{s} is not a component id")))
                .collect::<Result<_, _>>()?;
            let groups: BTreeSet<GroupId> = ids(get("groups"), "groups")?
                .iter()
                .map(|s| s.parse().map_err(|_| format!("{s} is not a group id")))
                .collect::<Result<_, _>>()?;
            Interest::Components { components, groups }
        }
        "incident" => {
            let incident_id: IncidentId =
                get("incident_id").parse().map_err(|_| "incident_id must be an incident id".to_owned())?;
            Interest::Incident { incident_id }
        }
        other => return Err(format!("unknown scope {other:?}; one of page, components, incident")),
    };
    let events = match get("events") {
        "" => Events::default(),
        raw => {
            let words: Vec<&str> = raw.split_whitespace().collect();
            if let Some(bad) = words.iter().find(|w| !["created", "updated", "resolved", "maintenance"].contains(w)) {
                return Err(format!("unknown event {bad:?}"));
            }
            let has = |n: &str| words.contains(&n);
            Events {
                created: has("created"),
                updated: has("updated"),
                resolved: has("resolved"),
                maintenance: has("maintenance"),
            }
        }
    };
    let contact = match get("contact") {
        "" => None,
        c => Some(Email::parse(c).map_err(|e| e.message)?),
    };
    Ok(NewSubscriber { channel, interest, events, contact })
}

#[utoipa::path(post, path = "/api/v1/subscribers/import", tag = "subscribers", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv", description = "A header row naming at least `target` (and `kind`, default email); the export's columns are accepted. Subscribers are created confirmed."),
    responses((status = 200, description = "What was created, and why rows were not", body = ImportReport), (status = 415, description = "Not CSV", body = Problem)))]
pub async fn import_subscribers(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?.clone();
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/csv"));
    if !is_csv {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the rows as text/csv",
        ));
    }
    let report = import_csv(&state, &caller.actor(), body.as_ref()).await?;
    let mut response = Json(report).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Creates the subscribers a CSV names (confirmed): what the import answers. A row that
/// cannot be read or is refused is reported by its line and changes nothing; the store
/// failing stops the import (rows before it stay created, and importing again counts
/// them as duplicates).
pub(crate) async fn import_csv(state: &ApiState, actor: &Actor, body: &[u8]) -> Result<ImportReport, Problem> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(body);
    let columns = reader
        .headers()
        .map_err(|e| Problem::invalid(vec![FieldError::new("body", format!("the header row is not CSV: {e}"))]))?
        .clone();
    if !columns.iter().any(|c| c == "target") {
        return Err(Problem::invalid(vec![FieldError::new("body", "the header row must name a `target` column")]));
    }
    let mut report = ImportReport { created: 0, secrets: Vec::new(), duplicates: 0, errors: Vec::new() };
    for (index, row) in reader.records().enumerate() {
        let line = index + 2;
        if index >= MAX_IMPORT_ROWS {
            report.errors.push(ImportError { line, message: format!("at most {MAX_IMPORT_ROWS} rows per import") });
            break;
        }
        let parsed = row.map_err(|e| e.to_string()).and_then(|row| parse_row(state, &row, &columns));
        match parsed {
            Ok(input) => match state.service.create_subscriber(actor.clone(), input).await {
                Ok(created) => {
                    report.created += 1;
                    if let Some(signing_secret) = created.signing_secret {
                        report.secrets.push(ImportedSecret { line, id: created.subscriber.id, signing_secret });
                    }
                }
                Err(beacon_app::AppError::Duplicate(_)) => report.duplicates += 1,
                Err(beacon_app::AppError::Domain(e)) => {
                    report.errors.push(ImportError { line, message: e.to_string() })
                }
                Err(e) => return Err(e.into()),
            },
            Err(message) => report.errors.push(ImportError { line, message }),
        }
    }
    Ok(report)
}
