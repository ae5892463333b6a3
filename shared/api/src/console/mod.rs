//! The admin console under `/admin`: sign-in by one-time link, server-side sessions,
//! and the team's incident workflow as plain HTML forms over the same use cases the API
//! calls, with the same role checks.
//!
//! Every state-changing form carries the session's CSRF token; the session cookie is
//! `HttpOnly`, `SameSite=Lax` and `Secure` (unless the runner serves plain HTTP on
//! loopback). Pages are never cached and may not be framed.

use crate::ApiState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use beacon_app::{
    AppError, EditIncident, IncidentFilter, IncidentState, MaintenanceState, PostUpdate, ReportIncident,
    ScheduleMaintenance, SignInRequest, SignedIn, WindowInput,
};
use beacon_domain::{
    AffectedComponent, Automation, ComponentEdit, ComponentId, ComponentStatus, EventKind, Impact, Incident,
    IncidentId, IncidentStatus, MaintenanceId, MaintenanceStatus, Role, TemplateId, TimelineEntry,
};
use beacon_site::console::{self as view, Choice, ComponentChoice, Frame, Notice, Viewer};
use std::collections::HashMap;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "beacon_session";

mod integrations;
mod people;
mod settings;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/sign-in", get(sign_in_form).post(sign_in_request))
        .route("/admin/sign-in/{secret}", get(sign_in_confirm).post(sign_in_redeem))
        .route("/admin/sign-out", post(sign_out))
        .route("/admin/assets/{file}", get(script))
        .route("/admin/preview", post(preview))
        .route("/admin/incidents", get(incident_list).post(report))
        .route("/admin/incidents/new", get(report_form))
        .route("/admin/incidents/{id}", get(incident_page))
        .route("/admin/incidents/{id}/updates", post(post_update))
        .route("/admin/incidents/{id}/comments", post(add_comment))
        .route("/admin/incidents/{id}/edit", post(edit_incident))
        .route("/admin/incidents/{id}/publish", post(publish_incident))
        .route("/admin/incidents/{id}/postmortem", post(save_postmortem))
        .route("/admin/incidents/{id}/postmortem/publish", post(publish_postmortem))
        .route("/admin/maintenance", get(maintenance_list).post(schedule))
        .route("/admin/maintenance/new", get(schedule_form))
        .route("/admin/maintenance/{id}", get(maintenance_page))
        .route("/admin/maintenance/{id}/updates", post(maintenance_update))
        .route("/admin/maintenance/{id}/reschedule", post(reschedule))
        .route("/admin/maintenance/{id}/cancel", post(cancel))
        .route("/admin/components", get(components_screen).post(add_component))
        .route("/admin/components/{id}", post(save_component))
        .route("/admin/groups", post(add_group))
        .route("/admin/groups/{id}", post(save_group))
        .route("/admin/monitors", get(monitors_screen))
        .route("/admin/monitors/{id}/{action}", post(monitor_action))
        .route("/admin/audit", get(audit_log))
        .route("/admin/templates", get(templates_screen).post(add_template))
        .route("/admin/templates/{id}", post(save_template))
        .merge(people::routes())
        .merge(integrations::routes())
        .merge(settings::routes())
}

// ---------------------------------------------------------------- plumbing

fn frame(state: &ApiState) -> Frame {
    match &state.subscriptions {
        Some(s) => Frame { page_name: s.messages.page.name.clone(), public_url: format!("{}/", s.messages.page.url) },
        None => Frame { page_name: "Status".into(), public_url: "/".into() },
    }
}

/// An HTML answer with the console's headers: never cached, never framed, no scripts
/// but the page's own, no form posting elsewhere.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn message(state: &ApiState, viewer: Option<&Viewer>, status: StatusCode, heading: &str, text: &str) -> Response {
    html(status, view::message(&frame(state), viewer, heading, &[text.to_owned()]))
}

fn failure(state: &ApiState, viewer: Option<&Viewer>, e: AppError) -> Response {
    match e {
        AppError::NotFound { kind, .. } => {
            message(state, viewer, StatusCode::NOT_FOUND, "Not found", &format!("There is no such {kind}."))
        }
        AppError::Store(_) => {
            tracing::error!(error = %e, "console: storage unavailable");
            message(
                state,
                viewer,
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "The store did not answer; try again in a moment.",
            )
        }
        other => message(state, viewer, StatusCode::UNPROCESSABLE_ENTITY, "Not done", &other.to_string()),
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn session_cookie(state: &ApiState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.console_secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("beacon_session=; Path=/admin; Max-Age=0"))
}

/// The signed-in member, or the answer to give instead (the sign-in page).
async fn signed_in(state: &ApiState, headers: &HeaderMap) -> Result<(SignedIn, Viewer), Response> {
    let Some(secret) = cookie_value(headers) else { return Err(Redirect::to("/admin/sign-in").into_response()) };
    match state.service.session(&secret).await {
        Ok(Some(signed)) => {
            let viewer = Viewer {
                name: signed.member.name.to_string(),
                role: signed.member.role.to_string(),
                csrf: signed.session.csrf.clone(),
                can_respond: signed.member.role >= Role::Responder,
                can_manage: signed.member.role >= Role::Admin,
            };
            Ok((signed, viewer))
        }
        Ok(None) => {
            let notice = Notice { kind: "warning", text: "Your session has ended; sign in again.".into() };
            let mut response = html(StatusCode::UNAUTHORIZED, view::sign_in(&frame(state), Some(&notice), false, None));
            response.headers_mut().insert(header::SET_COOKIE, session_cookie(state, "", 0));
            Err(response)
        }
        Err(e) => Err(failure(state, None, e)),
    }
}

/// A refused form: the notice and status to show it with beside the record as it now
/// stands, or a failure to answer on its own.
enum Refusal {
    Shown(Notice, StatusCode),
    Failed(AppError),
}

fn refusal(e: AppError, what: &str) -> Refusal {
    match e {
        AppError::Conflict { .. } => Refusal::Shown(
            Notice {
                kind: "warning",
                text: format!(
                    "Someone else changed this {what} meanwhile. Here it is as it stands now; nothing of yours was saved."
                ),
            },
            StatusCode::CONFLICT,
        ),
        AppError::Domain(e) => {
            Refusal::Shown(Notice { kind: "error", text: e.to_string() }, StatusCode::UNPROCESSABLE_ENTITY)
        }
        AppError::Duplicate(text) | AppError::InUse(text) => {
            Refusal::Shown(Notice { kind: "error", text }, StatusCode::CONFLICT)
        }
        other => Refusal::Failed(other),
    }
}

/// A submitted form's fields, in order (repeated names kept).
struct FormData(Vec<(String, String)>);

impl FormData {
    fn parse(body: &Bytes) -> Self {
        Self(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A state-changing form: a live session, its CSRF token, and at least `role`.
async fn form_action(
    state: &ApiState,
    headers: &HeaderMap,
    form: &FormData,
    role: Role,
) -> Result<(SignedIn, Viewer), Response> {
    let (signed, viewer) = signed_in(state, headers).await?;
    let sent = form.get("csrf").unwrap_or_default();
    let expected = signed.session.csrf.as_bytes();
    let matches: bool = subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), expected).into();
    if !matches {
        return Err(message(
            state,
            Some(&viewer),
            StatusCode::FORBIDDEN,
            "Refused",
            "This form did not come from your console session (its CSRF token is missing or stale). Reload the page and try again.",
        ));
    }
    if signed.member.role < role {
        return Err(message(
            state,
            Some(&viewer),
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!("This needs the {role} role; you are {}.", signed.member.role),
        ));
    }
    Ok((signed, viewer))
}

fn time_texts(t: jiff::Timestamp) -> (String, String) {
    (t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(), t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

fn choices<T: Copy + PartialEq>(
    all: &[T],
    selected: T,
    value: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Vec<Choice> {
    all.iter().map(|v| Choice { value: value(*v).into(), label: label(*v).into(), selected: *v == selected }).collect()
}

fn impact_label(i: Impact) -> &'static str {
    match i {
        Impact::None => "None",
        Impact::Minor => "Minor",
        Impact::Major => "Major",
        Impact::Critical => "Critical",
    }
}

/// The statuses a component may be given by an incident.
const IMPOSABLE: [ComponentStatus; 4] = [
    ComponentStatus::DegradedPerformance,
    ComponentStatus::PartialOutage,
    ComponentStatus::MajorOutage,
    ComponentStatus::UnderMaintenance,
];

fn component_choices(all: &[beacon_domain::Component], affected: &[AffectedComponent]) -> Vec<ComponentChoice> {
    all.iter()
        .map(|c| {
            let current = affected.iter().find(|a| a.id == c.id).map(|a| a.status);
            ComponentChoice {
                id: c.id.to_string(),
                name: c.name.to_string(),
                checked: current.is_some(),
                statuses: choices(
                    &IMPOSABLE,
                    current.unwrap_or(ComponentStatus::PartialOutage),
                    ComponentStatus::as_str,
                    ComponentStatus::label,
                ),
            }
        })
        .collect()
}

/// The ticked components of a form, each with its chosen status.
fn ticked(form: &FormData) -> Result<Vec<AffectedComponent>, String> {
    form.all("components")
        .map(|raw| {
            let id: ComponentId = raw.parse().map_err(|_| format!("{raw:?} is not a component"))?;
            let status = form
                .get(&format!("status_{raw}"))
                .unwrap_or("partial_outage")
                .parse::<ComponentStatus>()
                .map_err(|e| e.to_string())?;
            Ok(AffectedComponent { id, status })
        })
        .collect()
}

// ---------------------------------------------------------------- script and preview

/// The console's script, at its content-hashed address only.
async fn script(Path(file): Path<String>) -> Response {
    if format!("/admin/assets/{file}") != view::script_path() {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    }
    let mut response = view::SCRIPT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Markdown as the page will show it, for the script's preview: the page's own
/// renderer, so what is previewed is what is published.
async fn preview(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    if let Err(refused) = form_action(&state, &headers, &form, Role::Viewer).await {
        return refused;
    }
    html(StatusCode::OK, beacon_site::markdown::render(form.get("text").unwrap_or_default()))
}

// ---------------------------------------------------------------- sign-in

async fn sign_in_form(State(state): State<ApiState>) -> Response {
    html(StatusCode::OK, view::sign_in(&frame(&state), None, false, None))
}

/// Mails a sign-in link when the address is a member's; answers the same either way,
/// and the same when the address's hourly allowance is used up.
async fn sign_in_request(State(state): State<ApiState>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let address = form.get("email").unwrap_or_default().trim().to_owned();
    let sent = html(StatusCode::OK, view::sign_in(&frame(&state), None, true, None));
    let Some(subscriptions) = &state.subscriptions else {
        return message(
            &state,
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "No mail",
            "This server has no mailer configured; ask an owner to print a sign-in link with the command line.",
        );
    };
    match state.service.request_sign_in(&address).await {
        Ok(SignInRequest::Link { member, secret }) => {
            let url = format!("{}/admin/sign-in/{}", subscriptions.messages.api_url, secret.expose());
            let paragraphs = [
                format!("Hello {},", member.name),
                format!(
                    "use this link to sign in to the {} console. It works once, within 15 minutes.",
                    subscriptions.messages.page.name
                ),
                "If you did not ask for it, ignore this mail.".to_owned(),
            ];
            match beacon_notify::render::plain_mail(
                &subscriptions.messages,
                member.email.as_str(),
                "Your sign-in link",
                &paragraphs,
                Some(("Sign in", &url)),
            ) {
                Ok(mail) => {
                    if let Err(e) = subscriptions.mail.send(&mail).await {
                        tracing::warn!(error = %e, "console: the sign-in mail could not be sent");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "console: the sign-in mail could not be built"),
            }
            sent
        }
        Ok(SignInRequest::Unknown | SignInRequest::Limited) => sent,
        Err(e) => failure(&state, None, e),
    }
}

/// A mailed link opens a page with a button: mail scanners that fetch links cannot use
/// it up.
async fn sign_in_confirm(State(state): State<ApiState>, Path(secret): Path<String>) -> Response {
    let action = format!("/admin/sign-in/{secret}");
    html(StatusCode::OK, view::sign_in(&frame(&state), None, false, Some(&action)))
}

async fn sign_in_redeem(State(state): State<ApiState>, Path(secret): Path<String>) -> Response {
    match state.service.redeem_sign_in(&secret).await {
        Ok(Some((session, _))) => {
            let mut response = Redirect::to("/admin").into_response();
            let max_age = beacon_app::sessions::SESSION_VALID.as_secs();
            response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, session.expose(), max_age));
            response
        }
        Ok(None) => {
            let notice = Notice {
                kind: "error",
                text: "That sign-in link was used already or has expired. Ask for another.".into(),
            };
            html(StatusCode::UNAUTHORIZED, view::sign_in(&frame(&state), Some(&notice), false, None))
        }
        Err(e) => failure(&state, None, e),
    }
}

async fn sign_out(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    if let Err(refused) = form_action(&state, &headers, &form, Role::Viewer).await {
        return refused;
    }
    if let Some(secret) = cookie_value(&headers)
        && let Err(e) = state.service.end_session(&secret).await
    {
        return failure(&state, None, e);
    }
    let notice = Notice { kind: "ok", text: "You are signed out.".into() };
    let mut response = html(StatusCode::OK, view::sign_in(&frame(&state), Some(&notice), false, None));
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    response
}

// ---------------------------------------------------------------- pages

async fn overview(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match overview_data(&state).await {
        Ok(o) => html(StatusCode::OK, view::overview(&frame(&state), &viewer, None, &o)),
        Err(e) => failure(&state, Some(&viewer), e),
    }
}

fn window_words(w: &beacon_domain::Window) -> String {
    format!(
        "{} to {} ({})",
        w.starts_at.strftime("%Y-%m-%d %H:%M UTC"),
        w.ends_at.strftime("%Y-%m-%d %H:%M UTC"),
        beacon_site::window_text(w)
    )
}

fn maintenance_row(m: &beacon_domain::Maintenance) -> view::MaintenanceRow {
    view::MaintenanceRow {
        id: m.id.to_string(),
        title: m.title.to_string(),
        status: m.status.label().into(),
        window: window_words(&m.window),
    }
}

fn incident_row(s: &beacon_app::IncidentSummary) -> view::IncidentRow {
    let (iso, text) = time_texts(s.updated_at);
    view::IncidentRow {
        id: s.id.to_string(),
        title: s.title.to_string(),
        status: s.status.label().into(),
        impact: s.impact.as_str().into(),
        published: s.published,
        updated_iso: iso,
        updated_text: text,
    }
}

async fn overview_data(state: &ApiState) -> Result<view::Overview, AppError> {
    let service = &state.service;
    let open = service.open_incidents().await?.iter().map(|m| incident_row(&m.summary)).collect();
    let mut maintenances = service.open_maintenances().await?;
    maintenances.sort_by_key(|m| m.window.starts_at);
    let active_maintenance = maintenances.iter().filter(|m| m.status.is_active()).map(maintenance_row).collect();
    let upcoming_maintenance = maintenances.iter().filter(|m| !m.status.is_active()).map(maintenance_row).collect();
    let components = service.components().await?;
    let groups = service.groups().await?;
    let row = |c: &beacon_domain::Component| view::ComponentRow {
        name: c.name.to_string(),
        status: c.status.as_str().into(),
        status_label: c.status.label().into(),
    };
    let mut grouped: Vec<view::GroupRows> = groups
        .iter()
        .map(|g| view::GroupRows {
            name: Some(g.name.to_string()),
            components: components.iter().filter(|c| c.group_id == Some(g.id)).map(row).collect(),
        })
        .filter(|g| !g.components.is_empty())
        .collect();
    let loose: Vec<_> =
        components.iter().filter(|c| c.group_id.is_none_or(|g| !groups.iter().any(|x| x.id == g))).map(row).collect();
    if !loose.is_empty() {
        grouped.push(view::GroupRows { name: None, components: loose });
    }
    let monitors = service
        .monitors()
        .await?
        .iter()
        .map(|m| view::MonitorRow { name: m.name.to_string(), state: monitor_state(m), paused: m.paused })
        .collect();
    Ok(view::Overview { open, active_maintenance, upcoming_maintenance, groups: grouped, monitors })
}

async fn incident_list(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let get = |k: &str| query.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (search, state_text, impact_text) = (get("q"), get("state"), get("impact"));
    let listed_state = match state_text.as_str() {
        "open" => IncidentState::Open,
        "resolved" => IncidentState::Resolved,
        _ => IncidentState::All,
    };
    let impact = impact_text.parse::<Impact>().ok();
    let filter = IncidentFilter {
        state: listed_state,
        impact,
        search: Some(search.clone()).filter(|s| !s.is_empty()),
        ..IncidentFilter::default()
    };
    let filtered = filter != IncidentFilter::default();
    let cursor = query.get("cursor").filter(|c| !c.is_empty()).map(|c| beacon_store::Cursor::from_token(c.clone()));
    let page = match state.service.list_incidents(filter, cursor, 50).await {
        Ok(page) => page,
        Err(e) => return failure(&state, Some(&viewer), e),
    };
    let choice = |value: &str, label: &str, current: &str| Choice {
        value: value.into(),
        label: label.into(),
        selected: value == current,
    };
    let states = [("", "Any state"), ("open", "Open"), ("resolved", "Resolved")]
        .iter()
        .map(|(v, l)| choice(v, l, if listed_state == IncidentState::All { "" } else { &state_text }))
        .collect();
    let current_impact = impact.map(Impact::as_str).unwrap_or_default();
    let impacts = std::iter::once(choice("", "Any impact", current_impact))
        .chain(IMPACTS.iter().map(|i| choice(i.as_str(), impact_label(*i), current_impact)))
        .collect();
    let next = page.next.map(|c| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &search)
            .append_pair("state", &state_text)
            .append_pair("impact", &impact_text)
            .append_pair("cursor", c.as_str())
            .finish()
    });
    let list = view::IncidentList {
        rows: page.items.iter().map(incident_row).collect(),
        search,
        states,
        impacts,
        next,
        filtered,
    };
    html(StatusCode::OK, view::incidents(&frame(&state), &viewer, None, &list))
}

const IMPACTS: [Impact; 4] = [Impact::None, Impact::Minor, Impact::Major, Impact::Critical];
const OPENING: [IncidentStatus; 3] =
    [IncidentStatus::Investigating, IncidentStatus::Identified, IncidentStatus::Monitoring];

async fn report_form(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !viewer.can_respond {
        return message(
            &state,
            Some(&viewer),
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Reporting incidents needs the responder role.",
        );
    }
    let chosen = query.get("template").and_then(|t| t.parse::<TemplateId>().ok());
    match report_data(&state, chosen, None).await {
        Ok(form) => html(StatusCode::OK, view::report(&frame(&state), &viewer, &form)),
        Err(e) => failure(&state, Some(&viewer), e),
    }
}

/// The report form: blank, filled from a template, or as typed before an error.
async fn report_data(
    state: &ApiState,
    template: Option<TemplateId>,
    typed: Option<(&FormData, Vec<String>)>,
) -> Result<view::ReportForm, AppError> {
    let templates = state.service.templates().await?;
    let components = state.service.components().await?;
    let chosen = template.and_then(|id| templates.iter().find(|t| t.id == id));
    let mut form = view::ReportForm {
        templates: std::iter::once(Choice {
            value: String::new(),
            label: "No template".into(),
            selected: chosen.is_none(),
        })
        .chain(templates.iter().map(|t| Choice {
            value: t.id.to_string(),
            label: t.name.to_string(),
            selected: chosen.is_some_and(|c| c.id == t.id),
        }))
        .collect(),
        title: chosen.map(|t| t.title.to_string()).unwrap_or_default(),
        message: chosen.map(|t| t.message.as_str().to_owned()).unwrap_or_default(),
        impacts: choices(&IMPACTS, chosen.map_or(Impact::Minor, |t| t.impact), Impact::as_str, impact_label),
        statuses: choices(&OPENING, IncidentStatus::Investigating, IncidentStatus::as_str, IncidentStatus::label),
        components: component_choices(&components, chosen.map_or(&[][..], |t| &t.components)),
        template_id: chosen.map(|t| t.id.to_string()).unwrap_or_default(),
        internal: false,
        errors: Vec::new(),
    };
    if let Some((typed, errors)) = typed {
        form.title = typed.get("title").unwrap_or_default().to_owned();
        form.message = typed.get("message").unwrap_or_default().to_owned();
        let impact = typed.get("impact").and_then(|i| i.parse().ok()).unwrap_or(Impact::Minor);
        form.impacts = choices(&IMPACTS, impact, Impact::as_str, impact_label);
        let status = typed.get("status").and_then(|s| s.parse().ok()).unwrap_or(IncidentStatus::Investigating);
        form.statuses = choices(&OPENING, status, IncidentStatus::as_str, IncidentStatus::label);
        form.components = component_choices(&components, &ticked(typed).unwrap_or_default());
        form.template_id = typed.get("template_id").unwrap_or_default().to_owned();
        form.internal = typed.get("internal").is_some();
        form.errors = errors;
    }
    Ok(form)
}

async fn report(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Responder).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut errors = Vec::new();
    let impact = form.get("impact").map(str::parse::<Impact>).transpose().unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let status = form.get("status").map(str::parse::<IncidentStatus>).transpose().unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let components = ticked(&form).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    let template_id = form.get("template_id").filter(|t| !t.is_empty()).and_then(|t| t.parse::<TemplateId>().ok());
    if errors.is_empty() {
        let input = ReportIncident {
            title: form.get("title").map(str::to_owned),
            status,
            impact,
            message: form.get("message").map(str::to_owned),
            components: Some(components),
            template_id,
            source: if template_id.is_some() {
                beacon_domain::IncidentSource::Template
            } else {
                beacon_domain::IncidentSource::Manual
            },
            internal: form.get("internal").is_some(),
        };
        match state.service.report_incident(signed.member_actor(), input).await {
            Ok(detail) => {
                return Redirect::to(&format!("/admin/incidents/{}?done=reported", detail.incident.id)).into_response();
            }
            Err(AppError::Domain(e)) => errors.push(e.to_string()),
            Err(e) => return failure(&state, Some(&viewer), e),
        }
    }
    match report_data(&state, template_id, Some((&form, errors))).await {
        Ok(filled) => html(StatusCode::UNPROCESSABLE_ENTITY, view::report(&frame(&state), &viewer, &filled)),
        Err(e) => failure(&state, Some(&viewer), e),
    }
}

trait MemberActor {
    fn member_actor(&self) -> beacon_domain::Actor;
}

impl MemberActor for SignedIn {
    fn member_actor(&self) -> beacon_domain::Actor {
        beacon_domain::Actor::Member { id: self.member.id }
    }
}

fn done_notice(done: Option<&String>) -> Option<Notice> {
    let text = match done.map(String::as_str) {
        Some("reported") => "Incident reported.",
        Some("updated") => "Update posted.",
        Some("commented") => "Comment added.",
        Some("edited") => "Changes saved.",
        Some("published") => "Incident published.",
        Some("postmortem") => "Postmortem saved.",
        Some("postmortem-published") => "Postmortem published.",
        _ => return None,
    };
    Some(Notice { kind: "ok", text: text.into() })
}

async fn incident_page(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<IncidentId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such incident.");
    };
    let notice = done_notice(query.get("done"));
    render_incident(&state, &viewer, id, notice, StatusCode::OK, None).await
}

/// The incident page as it stands, with a notice and what was typed (kept after a
/// conflict or an error).
async fn render_incident(
    state: &ApiState,
    viewer: &Viewer,
    id: IncidentId,
    notice: Option<Notice>,
    status: StatusCode,
    drafts: Option<(&str, &str)>,
) -> Response {
    match incident_view(state, id).await {
        Ok(mut v) => {
            if let Some((update, comment)) = drafts {
                v.draft_update = update.to_owned();
                v.draft_comment = comment.to_owned();
            }
            html(status, view::incident(&frame(state), viewer, notice.as_ref(), &v))
        }
        Err(e) => failure(state, Some(viewer), e),
    }
}

async fn incident_view(state: &ApiState, id: IncidentId) -> Result<view::IncidentView, AppError> {
    let service = &state.service;
    let detail = service.incident(id).await?;
    let comments = service.comments(id).await?;
    let timeline = service.timeline(id).await?;
    let components = service.components().await?;
    let members = service.members().await?;
    let name_of = |c: ComponentId| {
        components.iter().find(|x| x.id == c).map_or("a removed component".to_owned(), |x| x.name.to_string())
    };
    let i: &Incident = &detail.incident;
    let entry = |heading: String, at: jiff::Timestamp, html: String| {
        let (at_iso, at_text) = time_texts(at);
        view::Entry { heading, at_iso, at_text, html }
    };
    let next_statuses: Vec<Choice> = if i.status.is_open() {
        std::iter::once(i.status)
            .chain(i.status.allowed_next())
            .map(|s| Choice { value: s.as_str().into(), label: s.label().into(), selected: s == i.status })
            .collect()
    } else {
        vec![Choice { value: "investigating".into(), label: "Investigating (reopen)".into(), selected: true }]
    };
    let public_url = match &state.subscriptions {
        Some(s) => format!("{}/incidents/{}.html", s.messages.page.url, i.id),
        None => format!("/incidents/{}.html", i.id),
    };
    Ok(view::IncidentView {
        id: i.id.to_string(),
        title: i.title.to_string(),
        status: i.status.label().into(),
        impact: i.impact.as_str().into(),
        version: i.version,
        published: i.published,
        resolved: !i.status.is_open(),
        automated: i.monitor_id.is_some() || i.integration_id.is_some(),
        auto_resolve: i.auto_resolve,
        public_url,
        components: i
            .components
            .iter()
            .map(|a| view::ComponentRow {
                name: name_of(a.id),
                status: a.status.as_str().into(),
                status_label: a.status.label().into(),
            })
            .collect(),
        updates: detail
            .updates
            .iter()
            .rev()
            .map(|u| entry(u.status.label().into(), u.created_at, beacon_site::markdown::render(u.message.as_str())))
            .collect(),
        comments: comments
            .iter()
            .map(|c| {
                let author = members
                    .iter()
                    .find(|m| m.id == c.author)
                    .map_or("a former member".to_owned(), |m| m.name.to_string());
                entry(author, c.created_at, beacon_site::markdown::render(c.body.as_str()))
            })
            .collect(),
        timeline: timeline.iter().map(|e| entry(describe(e, &name_of, &members), e.at, String::new())).collect(),
        next_statuses,
        impacts: choices(&IMPACTS, i.impact, Impact::as_str, impact_label),
        edit_components: component_choices(&components, &i.components),
        draft_update: String::new(),
        draft_comment: String::new(),
        postmortem: i.postmortem.as_ref().map(|p| p.body.as_str().to_owned()).unwrap_or_default(),
        postmortem_published: i.postmortem.as_ref().is_some_and(|p| p.published_at.is_some()),
    })
}

/// Who made a change, in words.
fn actor_name(actor: &beacon_domain::Actor, members: &[beacon_domain::Member]) -> String {
    match actor {
        beacon_domain::Actor::Member { id } => {
            members.iter().find(|m| m.id == *id).map_or("A former member".to_owned(), |m| m.name.to_string())
        }
        beacon_domain::Actor::Monitor { .. } => "A monitor".to_owned(),
        beacon_domain::Actor::Integration { .. } => "An integration".to_owned(),
        beacon_domain::Actor::System => "Beacon".to_owned(),
    }
}

/// A monitor's state in words: what an open incident stands for, or its last round.
fn monitor_state(m: &beacon_domain::Monitor) -> String {
    match (m.state.confirmed, m.last_outcome) {
        (Some(confirmed), _) => format!("{} (incident open)", confirmed.as_str()),
        (None, Some(last)) if m.last_round_muted => format!("{} (muted by maintenance)", last.as_str()),
        (None, Some(last)) => last.as_str().to_owned(),
        (None, None) => "not checked yet".to_owned(),
    }
}

/// A timeline entry in words, with who did it.
fn describe(e: &TimelineEntry, name_of: &impl Fn(ComponentId) -> String, members: &[beacon_domain::Member]) -> String {
    let who = actor_name(&e.actor, members);
    let what = match &e.kind {
        EventKind::Created { status, impact, .. } => {
            format!("reported it ({}, impact {})", status.label(), impact.as_str())
        }
        EventKind::TitleChanged { to, .. } => format!("renamed it to “{to}”"),
        EventKind::StatusChanged { from, to } => format!("moved it from {} to {}", from.label(), to.label()),
        EventKind::ImpactChanged { from, to } => {
            format!("changed the impact from {} to {}", from.as_str(), to.as_str())
        }
        EventKind::ComponentAdded { component_id, status } => {
            format!("added {} ({})", name_of(*component_id), status.label())
        }
        EventKind::ComponentRemoved { component_id } => format!("removed {}", name_of(*component_id)),
        EventKind::ComponentStatusChanged { component_id, to, .. } => {
            format!("set {} to {}", name_of(*component_id), to.label())
        }
        EventKind::UpdatePosted { status, .. } => format!("posted a public update ({})", status.label()),
        EventKind::CommentAdded { .. } => "added a comment".to_owned(),
        EventKind::TemplateApplied { .. } => "started it from a template".to_owned(),
        EventKind::Reopened => "reopened it".to_owned(),
        EventKind::Published => "published it".to_owned(),
        EventKind::AutoResolveChanged { auto_resolve: true } => "let it resolve on its own again".to_owned(),
        EventKind::AutoResolveChanged { auto_resolve: false } => {
            "took it over (it no longer resolves on its own)".to_owned()
        }
        EventKind::MonitorEvidence { outcome, .. } => format!("recorded a check: {}", outcome.as_str()),
        EventKind::AlertsFiring { alerts, .. } => format!("reported {} alert(s) firing", alerts.len()),
        EventKind::AlertsResolved { alerts, .. } => format!("reported {} alert(s) resolved", alerts.len()),
        EventKind::AlertFired { rule, target, .. } => format!("alerted “{rule}” ({target})"),
        EventKind::PostmortemSaved => "saved the postmortem".to_owned(),
        EventKind::PostmortemPublished => "published the postmortem".to_owned(),
        EventKind::Backfilled { updates, .. } => format!("recorded it after the fact ({updates} updates)"),
    };
    format!("{who} {what}")
}

fn version_of(form: &FormData) -> Option<u64> {
    form.get("version").and_then(|v| v.parse().ok())
}

/// What a form's change came to: back to the page with a notice, the page again with a
/// conflict shown (nothing overwritten), or the refusal kept beside what was typed.
async fn after_change(
    state: &ApiState,
    viewer: &Viewer,
    id: IncidentId,
    result: Result<(), AppError>,
    done: &str,
    drafts: (&str, &str),
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/admin/incidents/{id}?done={done}")).into_response(),
        Err(AppError::Conflict { current_version, .. }) => {
            let text = format!(
                "Someone else changed this incident meanwhile{}. Here it is as it stands now; nothing of yours was saved, and what you typed is kept below.",
                current_version.map(|v| format!(" (it is now at version {v})")).unwrap_or_default()
            );
            render_incident(
                state,
                viewer,
                id,
                Some(Notice { kind: "warning", text }),
                StatusCode::CONFLICT,
                Some(drafts),
            )
            .await
        }
        Err(AppError::Domain(e)) => {
            let notice = Notice { kind: "error", text: e.to_string() };
            render_incident(state, viewer, id, Some(notice), StatusCode::UNPROCESSABLE_ENTITY, Some(drafts)).await
        }
        Err(e) => failure(state, Some(viewer), e),
    }
}

async fn post_update(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Responder).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<IncidentId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such incident.");
    };
    let text = form.get("message").unwrap_or_default();
    let status = match form.get("status").map(str::parse::<IncidentStatus>).transpose() {
        Ok(s) => s,
        Err(e) => {
            return after_change(&state, &viewer, id, Err(AppError::invalid("status", e)), "updated", (text, "")).await;
        }
    };
    let input = PostUpdate { message: text.to_owned(), status, ..Default::default() };
    let result = state.service.post_update(signed.member_actor(), id, version_of(&form), input).await.map(|_| ());
    after_change(&state, &viewer, id, result, "updated", (text, "")).await
}

async fn add_comment(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Responder).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<IncidentId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such incident.");
    };
    let text = form.get("body").unwrap_or_default();
    let result = state.service.add_comment(signed.member_actor(), id, text.to_owned()).await.map(|_| ());
    after_change(&state, &viewer, id, result, "commented", ("", text)).await
}

async fn edit_incident(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Responder).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<IncidentId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such incident.");
    };
    let current = match state.service.incident(id).await {
        Ok(d) => d.incident,
        Err(e) => return failure(&state, Some(&viewer), e),
    };
    let wanted = match ticked(&form) {
        Ok(w) => w,
        Err(e) => {
            return after_change(&state, &viewer, id, Err(AppError::invalid("components", e)), "edited", ("", ""))
                .await;
        }
    };
    // The form lists every component: what is ticked stays or comes in with its status,
    // what is not goes.
    let mut components: Vec<ComponentEdit> = wanted
        .iter()
        .filter(|w| !current.components.contains(w))
        .map(|w| ComponentEdit::Set { id: w.id, status: w.status })
        .collect();
    components.extend(
        current
            .components
            .iter()
            .filter(|c| !wanted.iter().any(|w| w.id == c.id))
            .map(|c| ComponentEdit::Remove { id: c.id }),
    );
    let impact = form.get("impact").and_then(|i| i.parse::<Impact>().ok()).filter(|i| *i != current.impact);
    let automated = current.monitor_id.is_some() || current.integration_id.is_some();
    let auto_resolve = automated.then(|| form.get("auto_resolve").is_some()).filter(|a| *a != current.auto_resolve);
    if impact.is_none() && components.is_empty() && auto_resolve.is_none() {
        return Redirect::to(&format!("/admin/incidents/{id}")).into_response();
    }
    let edit = EditIncident { title: None, impact, components, auto_resolve };
    let result = state.service.edit_incident(signed.member_actor(), id, version_of(&form), edit).await.map(|_| ());
    after_change(&state, &viewer, id, result, "edited", ("", "")).await
}

async fn publish_incident(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Responder).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<IncidentId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such incident.");
    };
    let result = state.service.publish_incident(signed.member_actor(), id, version_of(&form)).await.map(|_| ());
    after_change(&state, &viewer, id, result, "published", ("", "")).await
}

// ---------------------------------------------------------------- maintenance

async fn maintenance_list(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut lists = view::Maintenances::default();
    for (which, into) in [
        (MaintenanceState::Active, &mut lists.active),
        (MaintenanceState::Upcoming, &mut lists.upcoming),
        (MaintenanceState::Past, &mut lists.past),
    ] {
        match state.service.list_maintenances(which, None, 100).await {
            Ok(page) => *into = page.items.iter().map(maintenance_row).collect(),
            Err(e) => return failure(&state, Some(&viewer), e),
        }
    }
    lists.upcoming.reverse();
    html(StatusCode::OK, view::maintenances(&frame(&state), &viewer, &lists))
}

/// The schedule form: blank (times an hour and three hours ahead, in the page's zone),
/// or as typed before an error.
async fn schedule_data(
    state: &ApiState,
    typed: Option<(&FormData, Vec<String>)>,
) -> Result<view::ScheduleForm, AppError> {
    let components = state.service.components().await?;
    let zone = state.subscriptions.as_ref().map_or("Etc/UTC".to_owned(), |s| s.messages.page.time_zone.clone());
    let local = |hours: i64| {
        let at =
            state.service.now().checked_add(jiff::SignedDuration::from_hours(hours)).unwrap_or(state.service.now());
        jiff::tz::TimeZone::get(&zone)
            .map(|tz| at.to_zoned(tz).datetime().strftime("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default()
    };
    let mut form = view::ScheduleForm {
        title: String::new(),
        message: String::new(),
        starts_at: local(1),
        ends_at: local(3),
        time_zone: zone,
        components: component_choices(&components, &[]),
        auto_start: true,
        auto_complete: true,
        remind_subscribers_minutes: "60".into(),
        remind_team: true,
        errors: Vec::new(),
    };
    if let Some((typed, errors)) = typed {
        let ticked: Vec<&str> = typed.all("components").collect();
        for c in &mut form.components {
            c.checked = ticked.contains(&c.id.as_str());
        }
        form.title = typed.get("title").unwrap_or_default().to_owned();
        form.message = typed.get("message").unwrap_or_default().to_owned();
        form.starts_at = typed.get("starts_at").unwrap_or_default().to_owned();
        form.ends_at = typed.get("ends_at").unwrap_or_default().to_owned();
        form.time_zone = typed.get("time_zone").unwrap_or_default().to_owned();
        form.auto_start = typed.get("auto_start").is_some();
        form.auto_complete = typed.get("auto_complete").is_some();
        form.remind_team = typed.get("remind_team").is_some();
        form.remind_subscribers_minutes = typed.get("remind_subscribers_minutes").unwrap_or_default().to_owned();
        form.errors = errors;
    }
    Ok(form)
}

async fn schedule_form(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !viewer.can_respond {
        return message(
            &state,
            Some(&viewer),
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Scheduling maintenance needs the responder role.",
        );
    }
    match schedule_data(&state, None).await {
        Ok(form) => html(StatusCode::OK, view::schedule(&frame(&state), &viewer, &form)),
        Err(e) => failure(&state, Some(&viewer), e),
    }
}

fn window_of(form: &FormData) -> WindowInput {
    WindowInput {
        starts_at: form.get("starts_at").unwrap_or_default().to_owned(),
        ends_at: form.get("ends_at").unwrap_or_default().to_owned(),
        time_zone: form.get("time_zone").filter(|z| !z.trim().is_empty()).map(|z| z.trim().to_owned()),
    }
}

async fn schedule(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Responder).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut errors = Vec::new();
    let components: Vec<ComponentId> = form.all("components").filter_map(|c| c.parse().ok()).collect();
    let remind = form.get("remind_subscribers_minutes").map(str::trim).filter(|m| !m.is_empty());
    let remind_subscribers_minutes = match remind.map(str::parse::<u32>).transpose() {
        Ok(m) => m,
        Err(_) => {
            errors.push("remind subscribers: a number of minutes, or nothing".to_owned());
            None
        }
    };
    if errors.is_empty() {
        let input = ScheduleMaintenance {
            title: form.get("title").unwrap_or_default().to_owned(),
            message: form.get("message").unwrap_or_default().to_owned(),
            window: window_of(&form),
            components,
            automation: Some(Automation {
                start: form.get("auto_start").is_some(),
                complete: form.get("auto_complete").is_some(),
                remind_subscribers_minutes,
                remind_team: form.get("remind_team").is_some(),
            }),
        };
        match state.service.schedule_maintenance(signed.member_actor(), input).await {
            Ok(detail) => {
                return Redirect::to(&format!("/admin/maintenance/{}?done=scheduled", detail.maintenance.id))
                    .into_response();
            }
            Err(AppError::Domain(e)) => errors.push(e.to_string()),
            Err(e) => return failure(&state, Some(&viewer), e),
        }
    }
    match schedule_data(&state, Some((&form, errors))).await {
        Ok(filled) => html(StatusCode::UNPROCESSABLE_ENTITY, view::schedule(&frame(&state), &viewer, &filled)),
        Err(e) => failure(&state, Some(&viewer), e),
    }
}

async fn maintenance_view(state: &ApiState, id: MaintenanceId) -> Result<view::MaintenanceView, AppError> {
    let detail = state.service.maintenance(id).await?;
    let components = state.service.components().await?;
    let m = &detail.maintenance;
    let forward = [
        MaintenanceStatus::Scheduled,
        MaintenanceStatus::InProgress,
        MaintenanceStatus::Verifying,
        MaintenanceStatus::Completed,
    ];
    Ok(view::MaintenanceView {
        id: m.id.to_string(),
        title: m.title.to_string(),
        status: m.status.label().into(),
        version: m.version,
        window: window_words(&m.window),
        scheduled: m.status == MaintenanceStatus::Scheduled,
        closed: m.status.is_closed(),
        components: m
            .components
            .iter()
            .map(|id| {
                components.iter().find(|c| c.id == *id).map_or("a removed component".to_owned(), |c| c.name.to_string())
            })
            .collect(),
        updates: detail
            .updates
            .iter()
            .rev()
            .map(|u| {
                let (at_iso, at_text) = time_texts(u.created_at);
                view::Entry {
                    heading: u.status.label().into(),
                    at_iso,
                    at_text,
                    html: beacon_site::markdown::render(u.message.as_str()),
                }
            })
            .collect(),
        next_statuses: forward
            .iter()
            .filter(|s| **s >= m.status)
            .map(|s| Choice { value: s.as_str().into(), label: s.label().into(), selected: *s == m.status })
            .collect(),
        time_zone: m.window.time_zone.clone(),
        draft_update: String::new(),
    })
}

async fn render_maintenance(
    state: &ApiState,
    viewer: &Viewer,
    id: MaintenanceId,
    notice: Option<Notice>,
    status: StatusCode,
    draft: &str,
) -> Response {
    match maintenance_view(state, id).await {
        Ok(mut v) => {
            v.draft_update = draft.to_owned();
            html(status, view::maintenance(&frame(state), viewer, notice.as_ref(), &v))
        }
        Err(e) => failure(state, Some(viewer), e),
    }
}

async fn maintenance_page(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<MaintenanceId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such maintenance.");
    };
    let notice = match query.get("done").map(String::as_str) {
        Some("scheduled") => Some("Maintenance scheduled."),
        Some("updated") => Some("Update posted."),
        Some("rescheduled") => Some("Maintenance rescheduled."),
        Some("cancelled") => Some("Maintenance cancelled."),
        _ => None,
    }
    .map(|text| Notice { kind: "ok", text: text.into() });
    render_maintenance(&state, &viewer, id, notice, StatusCode::OK, "").await
}

/// After a maintenance form: back to its page, or the page as it stands with the
/// conflict or refusal and what was typed.
async fn after_maintenance(
    state: &ApiState,
    viewer: &Viewer,
    id: MaintenanceId,
    result: Result<(), AppError>,
    done: &str,
    draft: &str,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/admin/maintenance/{id}?done={done}")).into_response(),
        Err(e) => match refusal(e, "maintenance") {
            Refusal::Shown(notice, status) => render_maintenance(state, viewer, id, Some(notice), status, draft).await,
            Refusal::Failed(e) => failure(state, Some(viewer), e),
        },
    }
}

async fn maintenance_form(
    state: &ApiState,
    headers: &HeaderMap,
    raw: &str,
    form: &FormData,
) -> Result<(SignedIn, Viewer, MaintenanceId), Response> {
    let (signed, viewer) = form_action(state, headers, form, Role::Responder).await?;
    match raw.parse::<MaintenanceId>() {
        Ok(id) => Ok((signed, viewer, id)),
        Err(_) => {
            Err(message(state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such maintenance."))
        }
    }
}

async fn maintenance_update(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer, id) = match maintenance_form(&state, &headers, &raw, &form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let text = form.get("message").unwrap_or_default();
    let status = form
        .get("status")
        .and_then(|s| serde_json::from_value::<MaintenanceStatus>(serde_json::Value::String(s.to_owned())).ok());
    let result = state
        .service
        .post_maintenance_update(signed.member_actor(), id, version_of(&form), text.to_owned(), status)
        .await
        .map(|_| ());
    after_maintenance(&state, &viewer, id, result, "updated", text).await
}

async fn reschedule(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer, id) = match maintenance_form(&state, &headers, &raw, &form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let message = form.get("message").filter(|m| !m.trim().is_empty()).map(str::to_owned);
    let result = state
        .service
        .reschedule_maintenance(signed.member_actor(), id, version_of(&form), window_of(&form), message)
        .await
        .map(|_| ());
    after_maintenance(&state, &viewer, id, result, "rescheduled", "").await
}

async fn cancel(State(state): State<ApiState>, headers: HeaderMap, Path(raw): Path<String>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer, id) = match maintenance_form(&state, &headers, &raw, &form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let result = state.service.cancel_maintenance(signed.member_actor(), id, version_of(&form), None).await.map(|_| ());
    after_maintenance(&state, &viewer, id, result, "cancelled", "").await
}

// ---------------------------------------------------------------- components

async fn components_data(state: &ApiState, can_manage: bool) -> Result<view::ComponentsScreen, AppError> {
    let components = state.service.components().await?;
    let groups = state.service.groups().await?;
    let group_choices = |selected: Option<beacon_domain::GroupId>| -> Vec<Choice> {
        std::iter::once(Choice { value: String::new(), label: "No group".into(), selected: selected.is_none() })
            .chain(groups.iter().map(|g| Choice {
                value: g.id.to_string(),
                label: g.name.to_string(),
                selected: selected == Some(g.id),
            }))
            .collect()
    };
    Ok(view::ComponentsScreen {
        components: components
            .iter()
            .map(|c| view::ComponentEditRow {
                id: c.id.to_string(),
                name: c.name.to_string(),
                description: c.description.to_string(),
                position: c.position,
                version: c.version,
                status: c.status.as_str().into(),
                status_label: c.status.label().into(),
                manual: choices(
                    &ComponentStatus::ALL,
                    c.manual_status,
                    ComponentStatus::as_str,
                    ComponentStatus::label,
                ),
                groups: group_choices(c.group_id),
            })
            .collect(),
        groups: group_choices(None),
        group_rows: groups
            .iter()
            .map(|g| view::GroupEditRow {
                id: g.id.to_string(),
                name: g.name.to_string(),
                position: g.position,
                version: g.version,
            })
            .collect(),
        can_manage,
    })
}

async fn render_components(state: &ApiState, viewer: &Viewer, notice: Option<Notice>, status: StatusCode) -> Response {
    match components_data(state, viewer.can_manage).await {
        Ok(c) => html(status, view::components(&frame(state), viewer, notice.as_ref(), &c)),
        Err(e) => failure(state, Some(viewer), e),
    }
}

async fn components_screen(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = query.get("done").map(|_| Notice { kind: "ok", text: "Saved.".into() });
    render_components(&state, &viewer, notice, StatusCode::OK).await
}

/// After a components form: back to the screen, or the screen with what went wrong.
async fn after_components(state: &ApiState, viewer: &Viewer, result: Result<(), AppError>) -> Response {
    match result {
        Ok(()) => Redirect::to("/admin/components?done=saved").into_response(),
        Err(e) => match refusal(e, "component") {
            Refusal::Shown(notice, status) => render_components(state, viewer, Some(notice), status).await,
            Refusal::Failed(e) => failure(state, Some(viewer), e),
        },
    }
}

fn group_of(form: &FormData) -> Result<Option<beacon_domain::GroupId>, AppError> {
    match form.get("group_id").filter(|g| !g.is_empty()) {
        Some(raw) => {
            raw.parse().map(Some).map_err(|_| AppError::invalid("group_id", format!("{raw:?} is not a group")))
        }
        None => Ok(None),
    }
}

async fn add_component(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = match group_of(&form) {
        Ok(group_id) => {
            let input = beacon_app::NewComponent {
                name: form.get("name").unwrap_or_default().to_owned(),
                description: form.get("description").filter(|d| !d.is_empty()).map(str::to_owned),
                group_id,
                position: None,
                status: None,
            };
            state.service.create_component(signed.member_actor(), input).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    after_components(&state, &viewer, result).await
}

async fn save_component(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<ComponentId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such component.");
    };
    let position =
        match form.get("position").map(str::trim).filter(|p| !p.is_empty()).map(str::parse::<u32>).transpose() {
            Ok(p) => p,
            Err(_) => {
                return after_components(&state, &viewer, Err(AppError::invalid("position", "a whole number"))).await;
            }
        };
    let status = match form.get("status").map(str::parse::<ComponentStatus>).transpose() {
        Ok(s) => s,
        Err(e) => return after_components(&state, &viewer, Err(AppError::invalid("status", e))).await,
    };
    let result = match group_of(&form) {
        Ok(group) => {
            let patch = beacon_app::ComponentPatch {
                name: form.get("name").map(str::to_owned),
                description: form.get("description").map(str::to_owned),
                group_id: Some(group),
                position,
                status,
            };
            state.service.update_component(signed.member_actor(), id, version_of(&form), patch).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    after_components(&state, &viewer, result).await
}

async fn add_group(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let input = beacon_app::NewGroup {
        name: form.get("name").unwrap_or_default().to_owned(),
        description: None,
        position: None,
    };
    let result = state.service.create_group(signed.member_actor(), input).await.map(|_| ());
    after_components(&state, &viewer, result).await
}

async fn save_group(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<beacon_domain::GroupId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such group.");
    };
    let position =
        match form.get("position").map(str::trim).filter(|p| !p.is_empty()).map(str::parse::<u32>).transpose() {
            Ok(p) => p,
            Err(_) => {
                return after_components(&state, &viewer, Err(AppError::invalid("position", "a whole number"))).await;
            }
        };
    let patch = beacon_app::GroupPatch { name: form.get("name").map(str::to_owned), description: None, position };
    let result = state.service.update_group(signed.member_actor(), id, version_of(&form), patch).await.map(|_| ());
    after_components(&state, &viewer, result).await
}

// ---------------------------------------------------------------- monitors

async fn monitor_cards(state: &ApiState) -> Result<Vec<view::MonitorCard>, AppError> {
    let mut cards = Vec::new();
    for m in state.service.monitors().await? {
        let mut regions = Vec::new();
        for region in &m.regions {
            let latest = state.service.monitor_results(m.id, region, None, 1).await?.items.into_iter().next();
            regions.push(match latest {
                Some(r) => {
                    let (at_iso, at_text) = time_texts(r.at);
                    let mut detail = r.status_code.map(|c| format!("HTTP {c}, ")).unwrap_or_default();
                    detail.push_str(&format!("{} ms", r.latency_ms));
                    if let Some(message) = &r.message {
                        detail.push_str(&format!(", {message}"));
                    }
                    view::RegionLine {
                        region: region.clone(),
                        outcome: r.outcome.as_str().into(),
                        detail,
                        at_iso,
                        at_text,
                    }
                }
                None => view::RegionLine {
                    region: region.clone(),
                    outcome: "not checked yet".into(),
                    detail: String::new(),
                    at_iso: String::new(),
                    at_text: String::new(),
                },
            });
        }
        let kind =
            serde_json::to_value(&m.check).ok().and_then(|v| v["kind"].as_str().map(str::to_owned)).unwrap_or_default();
        cards.push(view::MonitorCard {
            id: m.id.to_string(),
            name: m.name.to_string(),
            kind,
            state: monitor_state(&m),
            paused: m.paused,
            incident_id: m.incident_id.map(|i| i.to_string()),
            regions,
        });
    }
    Ok(cards)
}

async fn monitors_screen(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = match query.get("done").map(String::as_str) {
        Some("pause") => Some("Monitor paused."),
        Some("resume") => Some("Monitor resumed."),
        Some("check") => Some("A check is due now; its result shows here once a probe has run it."),
        _ => None,
    }
    .map(|text| Notice { kind: "ok", text: text.into() });
    match monitor_cards(&state).await {
        Ok(cards) => html(StatusCode::OK, view::monitors(&frame(&state), &viewer, notice.as_ref(), &cards)),
        Err(e) => failure(&state, Some(&viewer), e),
    }
}

async fn monitor_action(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((raw, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Responder).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<beacon_domain::MonitorId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such monitor.");
    };
    let actor = signed.member_actor();
    let result = match action.as_str() {
        "pause" => state.service.set_monitor_paused(actor, id, true).await,
        "resume" => state.service.set_monitor_paused(actor, id, false).await,
        "check" => state.service.check_monitor_now(actor, id).await,
        _ => return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such action."),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/admin/monitors?done={action}")).into_response(),
        Err(e) => failure(&state, Some(&viewer), e),
    }
}

// ---------------------------------------------------------------- audit

async fn audit_log(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (signed, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if signed.member.role < Role::Admin {
        return message(
            &state,
            Some(&viewer),
            StatusCode::FORBIDDEN,
            "Not allowed",
            "The audit log needs the admin role.",
        );
    }
    let cursor = query.get("cursor").map(|c| beacon_store::Cursor::from_token(c.clone()));
    let page = match state.service.audit_log(cursor, 100).await {
        Ok(page) => page,
        Err(e) => return failure(&state, Some(&viewer), e),
    };
    let members = match state.service.members().await {
        Ok(m) => m,
        Err(e) => return failure(&state, Some(&viewer), e),
    };
    let lines: Vec<view::AuditLine> = page
        .items
        .iter()
        .map(|change| {
            let (at_iso, at_text) = time_texts(change.at);
            let who = actor_name(&change.actor, members.as_slice());
            // The change in its wire form: its kind and the ids it names.
            let wire = serde_json::to_value(&change.kind).unwrap_or_default();
            let mut what = wire["kind"].as_str().unwrap_or("change").replace('_', " ");
            if let Some(fields) = wire.as_object() {
                for (key, value) in fields.iter().filter(|(k, v)| k.ends_with("_id") && v.is_string()) {
                    what.push_str(&format!(
                        " · {} {}",
                        key.trim_end_matches("_id"),
                        value.as_str().unwrap_or_default()
                    ));
                }
            }
            view::AuditLine { at_iso, at_text, who, what }
        })
        .collect();
    let next = page.next.as_ref().map(|c| c.as_str().to_owned());
    html(StatusCode::OK, view::audit(&frame(&state), &viewer, &lines, next.as_deref()))
}

// ---------------------------------------------------------------- postmortems

async fn save_postmortem(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Responder).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<IncidentId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such incident.");
    };
    let text = form.get("body").unwrap_or_default().to_owned();
    let result = state.service.write_postmortem(signed.member_actor(), id, version_of(&form), text).await.map(|_| ());
    after_change(&state, &viewer, id, result, "postmortem", ("", "")).await
}

async fn publish_postmortem(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Responder).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<IncidentId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such incident.");
    };
    let notify = form.get("notify").is_some();
    let result =
        state.service.publish_postmortem(signed.member_actor(), id, version_of(&form), notify).await.map(|_| ());
    after_change(&state, &viewer, id, result, "postmortem-published", ("", "")).await
}

// ---------------------------------------------------------------- templates

async fn render_templates(state: &ApiState, viewer: &Viewer, notice: Option<Notice>, status: StatusCode) -> Response {
    let data = async {
        let templates = state.service.templates().await?;
        let components = state.service.components().await?;
        let forms: Vec<view::TemplateForm> = templates
            .iter()
            .map(|t| view::TemplateForm {
                id: t.id.to_string(),
                version: t.version,
                name: t.name.to_string(),
                title: t.title.to_string(),
                message: t.message.as_str().to_owned(),
                impacts: choices(&IMPACTS, t.impact, Impact::as_str, impact_label),
                components: component_choices(&components, &t.components),
            })
            .collect();
        let blank = view::TemplateForm {
            impacts: choices(&IMPACTS, Impact::Minor, Impact::as_str, impact_label),
            components: component_choices(&components, &[]),
            ..Default::default()
        };
        Ok::<_, AppError>((forms, blank))
    };
    match data.await {
        Ok((forms, blank)) => html(status, view::templates(&frame(state), viewer, notice.as_ref(), &forms, &blank)),
        Err(e) => failure(state, Some(viewer), e),
    }
}

async fn templates_screen(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = query.get("done").map(|_| Notice { kind: "ok", text: "Saved.".into() });
    render_templates(&state, &viewer, notice, StatusCode::OK).await
}

async fn after_templates(state: &ApiState, viewer: &Viewer, result: Result<(), AppError>) -> Response {
    match result {
        Ok(()) => Redirect::to("/admin/templates?done=saved").into_response(),
        Err(e) => match refusal(e, "template") {
            Refusal::Shown(notice, status) => render_templates(state, viewer, Some(notice), status).await,
            Refusal::Failed(e) => failure(state, Some(viewer), e),
        },
    }
}

/// A template form's fields: impact and components checked here, the rest by the use case.
fn template_fields(form: &FormData) -> Result<(Impact, Vec<AffectedComponent>), AppError> {
    let impact = form.get("impact").unwrap_or("minor").parse::<Impact>().map_err(|e| AppError::invalid("impact", e))?;
    let components = ticked(form).map_err(|e| AppError::invalid("components", e))?;
    Ok((impact, components))
}

async fn add_template(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = match template_fields(&form) {
        Ok((impact, components)) => {
            let input = beacon_app::NewTemplate {
                name: form.get("name").unwrap_or_default().to_owned(),
                title: form.get("title").unwrap_or_default().to_owned(),
                impact,
                message: form.get("message").unwrap_or_default().to_owned(),
                components,
            };
            state.service.create_template(signed.member_actor(), input).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    after_templates(&state, &viewer, result).await
}

async fn save_template(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<TemplateId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such template.");
    };
    let result = match template_fields(&form) {
        Ok((impact, components)) => {
            let patch = beacon_app::TemplatePatch {
                name: form.get("name").map(str::to_owned),
                title: form.get("title").map(str::to_owned),
                impact: Some(impact),
                message: form.get("message").map(str::to_owned),
                components: Some(components),
            };
            state.service.update_template(signed.member_actor(), id, version_of(&form), patch).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    after_templates(&state, &viewer, result).await
}
