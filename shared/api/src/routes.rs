//! The handlers: parse, authorise, call a use case, map the result.

use crate::ApiState;
use crate::dto::*;
use crate::extract::{ApiJson, ApiQuery, Authenticated, etag, if_match};
use crate::idempotent::idempotent;
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beacon_app::{
    ComponentPatch, EditIncident, GroupPatch, IncidentFilter, IncidentState, MemberPatch, NewComponent, NewGroup,
    NewMember, NewTemplate, TemplatePatch,
};
use beacon_domain::{Comment, Component, ComponentGroup, FieldError, Incident, Member, Role, Template, TimelineEntry};
use beacon_store::Cursor;
use std::str::FromStr;

type ApiResult = Result<Response, Problem>;

fn id<T: FromStr>(raw: &str, kind: &str) -> Result<T, Problem> {
    raw.parse().map_err(|_| Problem::not_found(format!("{kind} {raw} does not exist")))
}

fn created<T: serde::Serialize>(location: String, body: &T, version: Option<u64>) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Some(v) = version.and_then(|v| HeaderValue::try_from(etag(v)).ok()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

fn with_etag<T: serde::Serialize>(body: &T, version: u64) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(v) = HeaderValue::try_from(etag(version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

fn invalid(errors: Vec<FieldError>) -> Problem {
    Problem::invalid(errors)
}

fn cursor(raw: Option<String>) -> Option<Cursor> {
    raw.map(Cursor::from_token)
}

fn limit(raw: Option<usize>) -> usize {
    raw.unwrap_or(50)
}

// ---------------------------------------------------------------- components

#[utoipa::path(get, path = "/api/v1/components", tag = "components", security(("bearer" = [])),
    responses((status = 200, description = "Components by position", body = Vec<Component>), (status = 401, description = "No valid bearer token", body = Problem)))]
pub async fn list_components(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(state.service.components().await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/components", tag = "components", security(("bearer" = [])), request_body = CreateComponent,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses((status = 201, description = "Created", body = Component), (status = 403, description = "The token's role does not allow this", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_component(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<CreateComponent>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?.clone();
    let input = body.value;
    Ok(idempotent(&state, &caller, &headers, "POST /api/v1/components", &body.raw, async {
        let c = state
            .service
            .create_component(
                caller.actor(),
                NewComponent {
                    name: input.name,
                    description: input.description,
                    group_id: input.group_id,
                    position: input.position,
                    status: input.status,
                },
            )
            .await?;
        Ok(created(format!("/api/v1/components/{}", c.id), &c, Some(c.version)))
    })
    .await)
}

#[utoipa::path(get, path = "/api/v1/components/{id}", tag = "components", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = Component), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_component(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    let c = state.service.component(id(&raw, "component")?).await?;
    Ok(with_etag(&c, c.version))
}

#[utoipa::path(patch, path = "/api/v1/components/{id}", tag = "components", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateComponent,
    responses((status = 200, description = "OK", body = Component), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn update_component(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateComponent>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let patch = ComponentPatch {
        name: b.name,
        description: b.description,
        group_id: b.group_id,
        position: b.position,
        status: b.status,
    };
    let c = state
        .service
        .update_component(caller.actor(), id(&raw, "component")?, expected, patch)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(&c, c.version))
}

#[utoipa::path(delete, path = "/api/v1/components/{id}", tag = "components", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, description = "Done"), (status = 409, description = "An open incident affects it", body = Problem)))]
pub async fn delete_component(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    state
        .service
        .delete_component(caller.actor(), id(&raw, "component")?, expected)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- groups

#[utoipa::path(get, path = "/api/v1/component-groups", tag = "components", security(("bearer" = [])),
    responses((status = 200, description = "OK", body = Vec<ComponentGroup>)))]
pub async fn list_groups(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(state.service.groups().await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/component-groups", tag = "components", security(("bearer" = [])), request_body = CreateGroup,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, description = "Created", body = ComponentGroup), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_group(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<CreateGroup>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?.clone();
    let b = body.value;
    Ok(idempotent(&state, &caller, &headers, "POST /api/v1/component-groups", &body.raw, async {
        let g = state
            .service
            .create_group(caller.actor(), NewGroup { name: b.name, description: b.description, position: b.position })
            .await?;
        Ok(created(format!("/api/v1/component-groups/{}", g.id), &g, Some(g.version)))
    })
    .await)
}

#[utoipa::path(get, path = "/api/v1/component-groups/{id}", tag = "components", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = ComponentGroup), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_group(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    let g = state.service.group(id(&raw, "group")?).await?;
    Ok(with_etag(&g, g.version))
}

#[utoipa::path(patch, path = "/api/v1/component-groups/{id}", tag = "components", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateGroup,
    responses((status = 200, description = "OK", body = ComponentGroup), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn update_group(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateGroup>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let g = state
        .service
        .update_group(
            caller.actor(),
            id(&raw, "group")?,
            expected,
            GroupPatch { name: b.name, description: b.description, position: b.position },
        )
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(&g, g.version))
}

#[utoipa::path(delete, path = "/api/v1/component-groups/{id}", tag = "components", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), responses((status = 204, description = "Done"), (status = 409, description = "Conflict with the current state", body = Problem)))]
pub async fn delete_group(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    state
        .service
        .delete_group(caller.actor(), id(&raw, "group")?, expected)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- incidents

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])), params(IncidentQuery),
    responses((status = 200, description = "OK", body = IncidentPage), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn list_incidents(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> ApiResult {
    auth.require(Role::Viewer)?;
    let mut errors = Vec::new();
    let state_filter = match q.state.as_deref() {
        None | Some("all") => IncidentState::All,
        Some("open") => IncidentState::Open,
        Some("resolved") => IncidentState::Resolved,
        Some(other) => {
            errors.push(FieldError::new("state", format!("unknown state {other:?}; expected open, resolved or all")));
            IncidentState::All
        }
    };
    let mut time = |field: &str, raw: Option<String>| {
        raw.and_then(|r| {
            r.parse::<jiff::Timestamp>()
                .map_err(|e| errors.push(FieldError::new(field, format!("not an RFC 3339 time: {e}"))))
                .ok()
        })
    };
    let since = time("since", q.since);
    let until = time("until", q.until);
    let impact = q.impact.as_deref().and_then(|raw| {
        raw.parse::<beacon_domain::Impact>().map_err(|e| errors.push(FieldError::new("impact", e.to_string()))).ok()
    });
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let search = q.q.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let filter = IncidentFilter { state: state_filter, since, until, impact, search };
    let page = state.service.list_incidents(filter, cursor(q.cursor), limit(q.limit)).await?;
    Ok(Json(IncidentPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(|c| c.as_str().to_owned()),
    })
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])), request_body = ReportIncident,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "Created", body = IncidentView), (status = 403, description = "The token's role does not allow this", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn report_incident(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<ReportIncident>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?.clone();
    let b = body.value;
    Ok(idempotent(&state, &caller, &headers, "POST /api/v1/incidents", &body.raw, async {
        let input = beacon_app::ReportIncident {
            title: b.title,
            status: b.status,
            impact: b.impact,
            message: b.message,
            components: b.components,
            template_id: b.template_id,
            source: beacon_domain::IncidentSource::Manual,
            internal: b.internal,
        };
        let detail = state.service.report_incident(caller.actor(), input).await?;
        let version = detail.incident.version;
        let view = IncidentView { incident: detail.incident, updates: detail.updates };
        Ok(created(format!("/api/v1/incidents/{}", view.incident.id), &view, Some(version)))
    })
    .await)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_incident(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    let detail = state.service.incident(id(&raw, "incident")?).await?;
    let version = detail.incident.version;
    Ok(with_etag(&IncidentView { incident: detail.incident, updates: detail.updates }, version))
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = PatchIncident,
    responses((status = 200, description = "OK", body = Incident), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn patch_incident(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<PatchIncident>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let components = component_edits(b.components).map_err(invalid)?;
    let incident = state
        .service
        .edit_incident(
            caller.actor(),
            id(&raw, "incident")?,
            expected,
            EditIncident { title: b.title, impact: b.impact, components, auto_resolve: b.auto_resolve },
        )
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(&incident, incident.version))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/publish", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, description = "Published: the page shows it and subscribers hear of it", body = Incident), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Already published", body = Problem)))]
pub async fn publish_incident(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?;
    let expected = if_match(&headers)?;
    let incident = state
        .service
        .publish_incident(caller.actor(), id(&raw, "incident")?, expected)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(&incident, incident.version))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/updates", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body = PostUpdate,
    responses((status = 201, description = "Created", body = PostedUpdate), (status = 409, description = "Forbidden status change", body = Problem),
        (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn post_update(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<PostUpdate>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?.clone();
    let incident_id = id(&raw, "incident")?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let route = format!("POST /api/v1/incidents/{incident_id}/updates");
    Ok(idempotent(&state, &caller, &headers, &route, &body.raw, async {
        let components = component_edits(b.components).map_err(invalid)?;
        let input = beacon_app::PostUpdate {
            message: b.message,
            status: b.status,
            impact: b.impact,
            components,
            silent: b.notify == Some(false),
        };
        let posted = state
            .service
            .post_update(caller.actor(), incident_id, expected, input)
            .await
            .map_err(|e| Problem::from_app(e, expected.is_some()))?;
        let version = posted.incident.version;
        let location = format!("/api/v1/incidents/{incident_id}");
        Ok(created(location, &PostedUpdate { incident: posted.incident, update: posted.update }, Some(version)))
    })
    .await)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/comments", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = Vec<Comment>), (status = 404, description = "No such resource", body = Problem)))]
pub async fn list_comments(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(state.service.comments(id(&raw, "incident")?).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/comments", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = AddComment,
    responses((status = 201, description = "Created", body = Comment), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn add_comment(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<AddComment>,
) -> ApiResult {
    let caller = auth.require(Role::Responder)?.clone();
    let incident_id = id(&raw, "incident")?;
    let route = format!("POST /api/v1/incidents/{incident_id}/comments");
    let text = body.value.body;
    Ok(idempotent(&state, &caller, &headers, &route, &body.raw, async {
        let comment = state.service.add_comment(caller.actor(), incident_id, text).await?;
        Ok(created(format!("/api/v1/incidents/{incident_id}/comments"), &comment, None))
    })
    .await)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = Vec<TimelineEntry>), (status = 404, description = "No such resource", body = Problem)))]
pub async fn timeline(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(state.service.timeline(id(&raw, "incident")?).await?).into_response())
}

// ---------------------------------------------------------------- templates

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", security(("bearer" = [])),
    responses((status = 200, description = "OK", body = Vec<Template>)))]
pub async fn list_templates(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(state.service.templates().await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", security(("bearer" = [])), request_body = CreateTemplate,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, description = "Created", body = Template), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_template(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<CreateTemplate>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?.clone();
    let b = body.value;
    Ok(idempotent(&state, &caller, &headers, "POST /api/v1/templates", &body.raw, async {
        let input = NewTemplate {
            name: b.name,
            title: b.title,
            impact: b.impact,
            message: b.message,
            components: b.components,
        };
        let t = state.service.create_template(caller.actor(), input).await?;
        Ok(created(format!("/api/v1/templates/{}", t.id), &t, Some(t.version)))
    })
    .await)
}

#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = Template), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_template(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    let t = state.service.template(id(&raw, "template")?).await?;
    Ok(with_etag(&t, t.version))
}

#[utoipa::path(patch, path = "/api/v1/templates/{id}", tag = "templates", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateTemplate,
    responses((status = 200, description = "OK", body = Template), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn update_template(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateTemplate>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let patch =
        TemplatePatch { name: b.name, title: b.title, impact: b.impact, message: b.message, components: b.components };
    let t = state
        .service
        .update_template(caller.actor(), id(&raw, "template")?, expected, patch)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(&t, t.version))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Done"), (status = 404, description = "No such resource", body = Problem)))]
pub async fn delete_template(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    state.service.delete_template(caller.actor(), id(&raw, "template")?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- members and tokens

#[utoipa::path(get, path = "/api/v1/members", tag = "team", security(("bearer" = [])), responses((status = 200, description = "OK", body = Vec<Member>)))]
pub async fn list_members(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(state.service.members().await?).into_response())
}

fn may_manage(caller_role: Role, target: Role) -> Result<(), Problem> {
    if caller_role.may_manage(target) {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "a {caller_role} cannot manage {target}s; only owners manage admins and owners"
        )))
    }
}

#[utoipa::path(post, path = "/api/v1/members", tag = "team", security(("bearer" = [])), request_body = CreateMember,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "Created", body = Member), (status = 409, description = "Conflict with the current state", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_member(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<CreateMember>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?.clone();
    let b = body.value;
    may_manage(caller.role, b.role)?;
    Ok(idempotent(&state, &caller, &headers, "POST /api/v1/members", &body.raw, async {
        let m = state
            .service
            .create_member(caller.actor(), NewMember { name: b.name, email: b.email, role: b.role })
            .await?;
        Ok(created(format!("/api/v1/members/{}", m.id), &m, Some(m.version)))
    })
    .await)
}

#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = Member), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_member(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    let m = state.service.member(id(&raw, "member")?).await?;
    Ok(with_etag(&m, m.version))
}

#[utoipa::path(patch, path = "/api/v1/members/{id}", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateMember,
    responses((status = 200, description = "OK", body = Member), (status = 403, description = "The token's role does not allow this", body = Problem)))]
pub async fn update_member(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateMember>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let member_id = id(&raw, "member")?;
    let expected = if_match(&headers)?;
    let current = state.service.member(member_id).await?;
    may_manage(caller.role, current.role)?;
    if let Some(role) = body.value.role {
        may_manage(caller.role, role)?;
    }
    let patch = MemberPatch { name: body.value.name, role: body.value.role };
    let m = state
        .service
        .update_member(caller.actor(), member_id, expected, patch)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(with_etag(&m, m.version))
}

#[utoipa::path(delete, path = "/api/v1/members/{id}", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Done"), (status = 403, description = "The token's role does not allow this", body = Problem)))]
pub async fn delete_member(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let member_id = id(&raw, "member")?;
    let current = state.service.member(member_id).await?;
    may_manage(caller.role, current.role)?;
    state.service.delete_member(caller.actor(), member_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "team", security(("bearer" = [])), responses((status = 200, description = "OK", body = Vec<TokenView>)))]
pub async fn list_tokens(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Admin)?;
    let tokens: Vec<TokenView> = state.service.tokens().await?.into_iter().map(Into::into).collect();
    Ok(Json(tokens).into_response())
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "team", security(("bearer" = [])), request_body = CreateToken,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "The secret is shown this once", body = CreatedToken), (status = 403, description = "The token's role does not allow this", body = Problem)))]
pub async fn create_token(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<CreateToken>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?.clone();
    let b = body.value;
    let member = match b.member_id {
        Some(member_id) if member_id != caller.member.id => {
            let member = state.service.member(member_id).await.map_err(|e| match e {
                beacon_app::AppError::NotFound { .. } => {
                    invalid(vec![FieldError::new("member_id", format!("member {member_id} does not exist"))])
                }
                other => other.into(),
            })?;
            may_manage(caller.role, member.role)?;
            member
        }
        _ => caller.member.clone(),
    };
    let role = b.role.unwrap_or(member.role);
    Ok(idempotent(&state, &caller, &headers, "POST /api/v1/tokens", &body.raw, async {
        let (token, secret) = state.service.create_token(caller.actor(), member.id, &b.name, role).await?;
        let view = CreatedToken { token: token.into(), token_secret: secret.expose().to_owned() };
        Ok(created(format!("/api/v1/tokens/{}", view.token.id), &view, None))
    })
    .await)
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Done"), (status = 404, description = "No such resource", body = Problem)))]
pub async fn revoke_token(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let token = state.service.token(id(&raw, "token")?).await?;
    if token.member_id != caller.member.id {
        let owner = state.service.member(token.member_id).await;
        if let Ok(owner) = owner {
            may_manage(caller.role, owner.role)?;
        }
    }
    state.service.revoke_token(caller.actor(), token.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "team", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, description = "Changes outside incidents, newest first", body = AuditPage)))]
pub async fn audit(State(state): State<ApiState>, auth: Authenticated, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult {
    auth.require(Role::Admin)?;
    let page = state.service.audit_log(cursor(q.cursor), limit(q.limit)).await?;
    Ok(Json(AuditPage { items: page.items, next_cursor: page.next.map(|c| c.as_str().to_owned()) }).into_response())
}
