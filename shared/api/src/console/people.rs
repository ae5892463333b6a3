//! The console's screens for the people around the page: subscribers (search, count,
//! export, import, removal) and the team (members and API tokens). The role rules are
//! the API's own: subscribers and tokens are admins' business, and only owners manage
//! admins and owners.

use super::{
    FormData, MemberActor, Refusal, failure, form_action, frame, html, message, refusal, signed_in, time_texts,
    version_of,
};
use crate::ApiState;
use crate::problem::Problem;
use crate::subscribers::{self as api, MAX_IMPORT_ROWS};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use beacon_app::{AppError, MemberPatch, NewMember, SignedIn};
use beacon_domain::{ChannelKind, Interest, MemberId, Role, SubscriberId, SubscriberState, TokenId};
use beacon_site::console::{self as view, Choice, Notice, Viewer};
use std::collections::HashMap;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/subscribers", get(subscribers_screen))
        .route("/admin/subscribers/export.csv", get(export))
        .route("/admin/subscribers/import", post(import))
        .route("/admin/subscribers/{id}/{action}", post(subscriber_action))
        .route("/admin/team", get(team_screen))
        .route("/admin/team/members", post(add_member))
        .route("/admin/team/members/{id}", post(save_member))
        .route("/admin/team/members/{id}/delete", post(remove_member))
        .route("/admin/team/members/{id}/sessions", post(end_sessions))
        .route("/admin/team/tokens", post(make_token))
        .route("/admin/team/tokens/{id}/revoke", post(revoke_token))
}

/// A screen only admins may read: the signed-in admin, or the answer to give instead.
pub(super) async fn admin_only(
    state: &ApiState,
    headers: &HeaderMap,
    what: &str,
) -> Result<(SignedIn, Viewer), Response> {
    let (signed, viewer) = signed_in(state, headers).await?;
    if signed.member.role < Role::Admin {
        return Err(message(
            state,
            Some(&viewer),
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!("{what} needs the admin role."),
        ));
    }
    Ok((signed, viewer))
}

/// An API refusal shown as a console notice (field errors spelled out).
fn problem_notice(p: &Problem) -> Notice {
    let mut text = p.detail.clone();
    for e in &p.errors {
        text.push_str(&format!(" {}: {}.", e.field, e.message));
    }
    Notice { kind: "error", text }
}

// ---------------------------------------------------------------- subscribers

fn scope_words(interest: &Interest) -> String {
    match interest {
        Interest::Page => "the whole page".into(),
        Interest::Components { components, groups } => {
            let mut parts = Vec::new();
            if !components.is_empty() {
                parts.push(format!("{} component{}", components.len(), if components.len() == 1 { "" } else { "s" }));
            }
            if !groups.is_empty() {
                parts.push(format!("{} group{}", groups.len(), if groups.len() == 1 { "" } else { "s" }));
            }
            parts.join(", ")
        }
        Interest::Incident { incident_id } => format!("incident {incident_id}"),
        Interest::Team { .. } => "team alerts".into(),
    }
}

/// The screen's filters, read from its query string.
struct Filters {
    search: String,
    state: String,
    channel: String,
}

impl Filters {
    fn from_query(query: &HashMap<String, String>) -> Self {
        let get = |k: &str| query.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        Self { search: get("q"), state: get("state"), channel: get("channel") }
    }

    fn query_string(&self, cursor: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &self.search)
            .append_pair("state", &self.state)
            .append_pair("channel", &self.channel)
            .append_pair("cursor", cursor)
            .finish()
    }
}

fn optional(v: &str) -> Option<&str> {
    Some(v).filter(|v| !v.is_empty())
}

async fn subscribers_data(
    state: &ApiState,
    filters: &Filters,
    cursor: Option<String>,
) -> Result<view::SubscribersScreen, Problem> {
    let filter = api::filter(optional(&filters.state), optional(&filters.channel), optional(&filters.search))?;
    let count = state.service.count_subscribers(filter.clone()).await?;
    let page = state.service.subscribers(filter, cursor.map(beacon_store::Cursor::from_token), 50).await?;
    let any = |label: &str| Choice { value: String::new(), label: label.into(), selected: false };
    let mut states: Vec<Choice> = std::iter::once(any("Any state"))
        .chain([SubscriberState::Active, SubscriberState::Pending, SubscriberState::Quarantined].iter().map(|s| {
            Choice { value: s.as_str().into(), label: s.as_str().into(), selected: s.as_str() == filters.state }
        }))
        .collect();
    let mut channels: Vec<Choice> = std::iter::once(any("Any channel"))
        .chain(ChannelKind::ALL.iter().map(|c| Choice {
            value: c.as_str().into(),
            label: c.as_str().into(),
            selected: c.as_str() == filters.channel,
        }))
        .collect();
    for list in [&mut states, &mut channels] {
        if !list.iter().any(|c| c.selected) {
            list[0].selected = true;
        }
    }
    Ok(view::SubscribersScreen {
        count,
        rows: page
            .items
            .iter()
            .map(|s| {
                let shown = api::SubscriberView::from(s);
                let (created_iso, created_text) = time_texts(s.created_at);
                view::SubscriberRow {
                    id: s.id.to_string(),
                    kind: s.channel.kind().as_str().into(),
                    target: shown.target,
                    scope: scope_words(&s.interest),
                    state: s.state.as_str().into(),
                    created_iso,
                    created_text,
                    version: s.version,
                    quarantined: s.state == SubscriberState::Quarantined,
                }
            })
            .collect(),
        next: page.next.map(|c| filters.query_string(c.as_str())),
        search: filters.search.clone(),
        states,
        channels,
        import: None,
        csv: String::new(),
    })
}

async fn render_subscribers(
    state: &ApiState,
    viewer: &Viewer,
    filters: &Filters,
    cursor: Option<String>,
    notice: Option<Notice>,
    status: StatusCode,
    change: impl FnOnce(&mut view::SubscribersScreen),
) -> Response {
    match subscribers_data(state, filters, cursor).await {
        Ok(mut screen) => {
            change(&mut screen);
            html(status, view::subscribers(&frame(state), viewer, notice.as_ref(), &screen, MAX_IMPORT_ROWS))
        }
        Err(p) if p.status == StatusCode::UNPROCESSABLE_ENTITY.as_u16() => {
            let blank = Filters { search: String::new(), state: String::new(), channel: String::new() };
            match Box::pin(subscribers_data(state, &blank, None)).await {
                Ok(screen) => html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    view::subscribers(&frame(state), viewer, Some(&problem_notice(&p)), &screen, MAX_IMPORT_ROWS),
                ),
                Err(p) => message(state, Some(viewer), StatusCode::SERVICE_UNAVAILABLE, "Not done", &p.detail),
            }
        }
        Err(p) => message(state, Some(viewer), StatusCode::SERVICE_UNAVAILABLE, "Try again", &p.detail),
    }
}

async fn subscribers_screen(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match admin_only(&state, &headers, "The subscriber list").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = match query.get("done").map(String::as_str) {
        Some("removed") => Some("Subscriber removed."),
        Some("reactivated") => Some("Subscriber reactivated; deliveries resume."),
        _ => None,
    }
    .map(|text| Notice { kind: "ok", text: text.into() });
    let filters = Filters::from_query(&query);
    let cursor = query.get("cursor").filter(|c| !c.is_empty()).cloned();
    render_subscribers(&state, &viewer, &filters, cursor, notice, StatusCode::OK, |_| ()).await
}

/// The whole list as CSV. A plain link (GET): it changes nothing, and the session
/// cookie is `SameSite=Lax`, so another site can make the browser download it but
/// never read it.
async fn export(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let (_, viewer) = match admin_only(&state, &headers, "The export").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match api::export_csv(&state).await {
        Ok(bytes) => api::csv_download(bytes),
        Err(p) => message(&state, Some(&viewer), StatusCode::SERVICE_UNAVAILABLE, "Try again", &p.detail),
    }
}

async fn import(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let csv = form.get("csv").unwrap_or_default().to_owned();
    let blank = Filters { search: String::new(), state: String::new(), channel: String::new() };
    match api::import_csv(&state, &signed.member_actor(), csv.as_bytes()).await {
        Ok(report) => {
            let outcome = view::ImportOutcome {
                created: report.created,
                duplicates: report.duplicates,
                errors: report.errors.into_iter().map(|e| (e.line, e.message)).collect(),
                secrets: report.secrets.into_iter().map(|x| (x.line, x.id.to_string(), x.signing_secret)).collect(),
            };
            render_subscribers(&state, &viewer, &blank, None, None, StatusCode::OK, |screen| {
                screen.import = Some(outcome)
            })
            .await
        }
        // The rows could not be read at all: nothing was created; keep what was pasted.
        Err(p) if p.status == StatusCode::UNPROCESSABLE_ENTITY.as_u16() => {
            render_subscribers(
                &state,
                &viewer,
                &blank,
                None,
                Some(problem_notice(&p)),
                StatusCode::UNPROCESSABLE_ENTITY,
                |screen| screen.csv = csv,
            )
            .await
        }
        Err(p) => message(&state, Some(&viewer), StatusCode::SERVICE_UNAVAILABLE, "Try again", &p.detail),
    }
}

async fn subscriber_action(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((raw, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<SubscriberId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such subscriber.");
    };
    let actor = signed.member_actor();
    let (result, done) = match action.as_str() {
        "delete" => (state.service.remove_subscriber(&actor, id).await.map(|_| ()), "removed"),
        "reactivate" => {
            (state.service.reactivate_subscriber(&actor, id, version_of(&form)).await.map(|_| ()), "reactivated")
        }
        _ => return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such action."),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/admin/subscribers?done={done}")).into_response(),
        Err(e) => match refusal(e, "subscriber") {
            Refusal::Shown(notice, status) => {
                let blank = Filters { search: String::new(), state: String::new(), channel: String::new() };
                render_subscribers(&state, &viewer, &blank, None, Some(notice), status, |_| ()).await
            }
            Refusal::Failed(e) => failure(&state, Some(&viewer), e),
        },
    }
}

// ---------------------------------------------------------------- team

fn role_choices(roles: impl Iterator<Item = Role>, selected: Role) -> Vec<Choice> {
    roles.map(|r| Choice { value: r.as_str().into(), label: r.as_str().into(), selected: r == selected }).collect()
}

async fn team_data(state: &ApiState, signed: &SignedIn) -> Result<view::TeamScreen, AppError> {
    let me = &signed.member;
    let members = state.service.members().await?;
    let tokens = if me.role >= Role::Admin { state.service.tokens().await? } else { Vec::new() };
    let name_of = |id: MemberId| {
        members.iter().find(|m| m.id == id).map(|m| m.name.to_string()).unwrap_or_else(|| "a removed member".into())
    };
    let role_of = |id: MemberId| members.iter().find(|m| m.id == id).map(|m| m.role);
    Ok(view::TeamScreen {
        members: members
            .iter()
            .map(|m| view::MemberRow {
                id: m.id.to_string(),
                name: m.name.to_string(),
                email: m.email.to_string(),
                role: m.role.as_str().into(),
                version: m.version,
                roles: if me.role.may_manage(m.role) {
                    role_choices(Role::ALL.into_iter().filter(|r| me.role.may_manage(*r)), m.role)
                } else {
                    Vec::new()
                },
                is_viewer: m.id == me.id,
            })
            .collect(),
        tokens: tokens
            .iter()
            .rev()
            .map(|t| view::TokenRow {
                id: t.id.to_string(),
                name: t.name.to_string(),
                member: name_of(t.member_id),
                role: t.role.as_str().into(),
                created_text: time_texts(t.created_at).1,
                revoked: t.revoked_at.is_some(),
                may_revoke: t.member_id == me.id || role_of(t.member_id).is_none_or(|r| me.role.may_manage(r)),
            })
            .collect(),
        new_roles: role_choices(Role::ALL.into_iter().filter(|r| me.role.may_manage(*r)), Role::Responder),
        token_roles: role_choices(Role::ALL.into_iter().filter(|r| *r <= me.role), me.role.min(Role::Responder)),
        fresh_token: None,
    })
}

async fn render_team(
    state: &ApiState,
    signed: &SignedIn,
    viewer: &Viewer,
    notice: Option<Notice>,
    status: StatusCode,
    fresh_token: Option<(String, String)>,
) -> Response {
    match team_data(state, signed).await {
        Ok(mut t) => {
            t.fresh_token = fresh_token;
            html(status, view::team(&frame(state), viewer, notice.as_ref(), &t))
        }
        Err(e) => failure(state, Some(viewer), e),
    }
}

async fn team_screen(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (signed, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = match query.get("done").map(String::as_str) {
        Some("added") => Some("Member added; they can sign in with a mailed link."),
        Some("saved") => Some("Saved."),
        Some("removed") => Some("Member removed; their sessions and tokens no longer work."),
        Some("revoked") => Some("Token revoked."),
        Some("ended") => Some("Their sessions have ended; they sign in again with a mailed link."),
        _ => None,
    }
    .map(|text| Notice { kind: "ok", text: text.into() });
    render_team(&state, &signed, &viewer, notice, StatusCode::OK, None).await
}

/// The refusal when the viewer's role may not manage `target`'s.
fn outranked(state: &ApiState, viewer: &Viewer, mine: Role, target: Role) -> Response {
    message(
        state,
        Some(viewer),
        StatusCode::FORBIDDEN,
        "Not allowed",
        &format!("A {mine} cannot manage {target}s; only owners manage admins and owners."),
    )
}

async fn after_team(
    state: &ApiState,
    signed: &SignedIn,
    viewer: &Viewer,
    result: Result<(), AppError>,
    done: &str,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/admin/team?done={done}")).into_response(),
        Err(e) => match refusal(e, "member") {
            Refusal::Shown(notice, status) => render_team(state, signed, viewer, Some(notice), status, None).await,
            Refusal::Failed(e) => failure(state, Some(viewer), e),
        },
    }
}

fn role_field(form: &FormData) -> Result<Role, AppError> {
    form.get("role").unwrap_or_default().parse::<Role>().map_err(|e| AppError::invalid("role", e))
}

async fn add_member(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let role = match role_field(&form) {
        Ok(r) => r,
        Err(e) => return after_team(&state, &signed, &viewer, Err(e), "").await,
    };
    if !signed.member.role.may_manage(role) {
        return outranked(&state, &viewer, signed.member.role, role);
    }
    let input = NewMember {
        name: form.get("name").unwrap_or_default().to_owned(),
        email: form.get("email").unwrap_or_default().to_owned(),
        role,
    };
    let result = state.service.create_member(signed.member_actor(), input).await.map(|_| ());
    after_team(&state, &signed, &viewer, result, "added").await
}

async fn save_member(
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
    let Ok(id) = raw.parse::<MemberId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such member.");
    };
    let current = match state.service.member(id).await {
        Ok(m) => m,
        Err(e) => return failure(&state, Some(&viewer), e),
    };
    let role = match role_field(&form) {
        Ok(r) => r,
        Err(e) => return after_team(&state, &signed, &viewer, Err(e), "").await,
    };
    let mine = signed.member.role;
    for target in [current.role, role] {
        if !mine.may_manage(target) {
            return outranked(&state, &viewer, mine, target);
        }
    }
    let patch = MemberPatch { name: form.get("name").map(str::to_owned), role: Some(role) };
    let result = state.service.update_member(signed.member_actor(), id, version_of(&form), patch).await.map(|_| ());
    after_team(&state, &signed, &viewer, result, "saved").await
}

async fn remove_member(
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
    let Ok(id) = raw.parse::<MemberId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such member.");
    };
    let current = match state.service.member(id).await {
        Ok(m) => m,
        Err(e) => return failure(&state, Some(&viewer), e),
    };
    if !signed.member.role.may_manage(current.role) {
        return outranked(&state, &viewer, signed.member.role, current.role);
    }
    let result = state.service.delete_member(signed.member_actor(), id).await;
    after_team(&state, &signed, &viewer, result, "removed").await
}

/// Makes a token for the signed-in member; its secret is on this answer only.
async fn make_token(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let role = match role_field(&form) {
        Ok(r) => r,
        Err(e) => return after_team(&state, &signed, &viewer, Err(e), "").await,
    };
    let name = form.get("name").unwrap_or_default();
    match state.service.create_token(signed.member_actor(), signed.member.id, name, role).await {
        Ok((token, secret)) => {
            let fresh = Some((token.name.to_string(), secret.expose().to_owned()));
            render_team(&state, &signed, &viewer, None, StatusCode::CREATED, fresh).await
        }
        Err(e) => after_team(&state, &signed, &viewer, Err(e), "").await,
    }
}

async fn revoke_token(
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
    let Ok(id) = raw.parse::<TokenId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such token.");
    };
    let token = match state.service.token(id).await {
        Ok(t) => t,
        Err(e) => return failure(&state, Some(&viewer), e),
    };
    if token.member_id != signed.member.id
        && let Ok(owner) = state.service.member(token.member_id).await
        && !signed.member.role.may_manage(owner.role)
    {
        return outranked(&state, &viewer, signed.member.role, owner.role);
    }
    let result = state.service.revoke_token(signed.member_actor(), id).await.map(|_| ());
    after_team(&state, &signed, &viewer, result, "revoked").await
}

/// Ends every session of a member: one's own from any role ("sign out everywhere"),
/// another's when the viewer may manage them.
async fn end_sessions(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Viewer).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<MemberId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such member.");
    };
    let own = id == signed.member.id;
    if !own {
        let target = match state.service.member(id).await {
            Ok(m) => m,
            Err(e) => return failure(&state, Some(&viewer), e),
        };
        if signed.member.role < Role::Admin || !signed.member.role.may_manage(target.role) {
            return outranked(&state, &viewer, signed.member.role, target.role);
        }
    }
    if let Err(e) = state.service.end_all_sessions(id).await {
        return failure(&state, Some(&viewer), e);
    }
    if own {
        let mut response = Redirect::to("/admin/sign-in").into_response();
        response.headers_mut().insert(axum::http::header::SET_COOKIE, super::session_cookie(&state, "", 0));
        return response;
    }
    Redirect::to("/admin/team?done=ended").into_response()
}
