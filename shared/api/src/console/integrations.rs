//! The console's integrations screen: admins add an alerting tool's integration, see
//! its URL (and signing secret) the one time they are made, read its delivery log,
//! replace its URL and delete it — the API's rules, as forms.

use super::people::admin_only;
use super::{
    FormData, IMPOSABLE, MemberActor, Refusal, choices, failure, form_action, frame, html, message, refusal,
    time_texts, version_of,
};
use crate::ApiState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use beacon_app::{AppError, CreatedIntegration, IntegrationPatch, NewIntegration};
use beacon_domain::{ComponentStatus, Integration, IntegrationComponent, IntegrationId, IntegrationKind, Role};
use beacon_site::console::{self as view, Choice, ComponentChoice, Notice, Viewer};
use std::collections::HashMap;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/integrations", get(integrations_screen).post(add_integration))
        .route("/admin/integrations/{id}", get(integration_log))
        .route("/admin/integrations/{id}/{action}", post(integration_action))
}

const KINDS: [(IntegrationKind, &str, &str); 4] = [
    (IntegrationKind::Alertmanager, "alertmanager", "Prometheus Alertmanager"),
    (IntegrationKind::Grafana, "grafana", "Grafana alerting"),
    (IntegrationKind::Sns, "sns", "Amazon SNS (CloudWatch alarms)"),
    (IntegrationKind::Generic, "generic", "Any JSON (generic)"),
];

fn kind_label(kind: IntegrationKind) -> &'static str {
    KINDS.iter().find(|(k, _, _)| *k == kind).map(|(_, _, label)| *label).unwrap_or("integration")
}

fn row(i: &Integration, names: &HashMap<String, String>) -> view::IntegrationRow {
    view::IntegrationRow {
        id: i.id.to_string(),
        name: i.name.to_string(),
        kind: kind_label(i.kind).into(),
        components: i
            .components
            .iter()
            .map(|c| {
                let name = names.get(&c.id.to_string()).cloned().unwrap_or_else(|| c.id.to_string());
                format!("{name} ({})", c.status.label())
            })
            .collect::<Vec<_>>()
            .join(", "),
        publish: i.publish,
        version: i.version,
    }
}

/// What the screen shows: the list (or one integration's delivery log) and the form.
async fn screen_data(
    state: &ApiState,
    open: Option<(IntegrationId, Option<String>)>,
) -> Result<view::IntegrationsScreen, AppError> {
    let components = state.service.components().await?;
    let names: HashMap<String, String> = components.iter().map(|c| (c.id.to_string(), c.name.to_string())).collect();
    let integrations = state.service.integrations().await?;
    let mut screen = view::IntegrationsScreen {
        rows: integrations.iter().map(|i| row(i, &names)).collect(),
        fresh: None,
        kinds: KINDS
            .iter()
            .map(|(k, value, label)| Choice {
                value: (*value).into(),
                label: (*label).into(),
                selected: *k == IntegrationKind::Alertmanager,
            })
            .collect(),
        components: components
            .iter()
            .map(|c| ComponentChoice {
                id: c.id.to_string(),
                name: c.name.to_string(),
                checked: false,
                statuses: choices(
                    &IMPOSABLE,
                    ComponentStatus::PartialOutage,
                    ComponentStatus::as_str,
                    ComponentStatus::label,
                ),
            })
            .collect(),
        open: None,
        deliveries: Vec::new(),
        next: None,
    };
    if let Some((id, cursor)) = open {
        let integration = state.service.integration(id).await?;
        let page = state.service.integration_deliveries(id, cursor.map(beacon_store::Cursor::from_token), 50).await?;
        screen.open = Some(row(&integration, &names));
        screen.deliveries = page
            .items
            .iter()
            .map(|d| {
                let (at_iso, at_text) = time_texts(d.at);
                view::DeliveryLine {
                    at_iso,
                    at_text,
                    outcome: serde_json::to_value(d.outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                        .unwrap_or_default(),
                    alerts: d.alerts,
                    incidents: d.incidents.iter().map(ToString::to_string).collect(),
                    error: d.error.clone().unwrap_or_default(),
                }
            })
            .collect();
        screen.next = page.next.map(|c| c.as_str().to_owned());
    }
    Ok(screen)
}

async fn render(
    state: &ApiState,
    viewer: &Viewer,
    open: Option<(IntegrationId, Option<String>)>,
    notice: Option<Notice>,
    status: StatusCode,
    fresh: Option<view::FreshSecrets>,
) -> Response {
    match screen_data(state, open).await {
        Ok(mut screen) => {
            screen.fresh = fresh;
            html(status, view::integrations(&frame(state), viewer, notice.as_ref(), &screen))
        }
        Err(e) => failure(state, Some(viewer), e),
    }
}

/// The secrets a call just made, with the hook URL whole (on the page's own origin,
/// where `/api/*` reaches the API).
fn fresh(state: &ApiState, created: &CreatedIntegration) -> view::FreshSecrets {
    let base = frame(state).public_url;
    view::FreshSecrets {
        name: created.integration.name.to_string(),
        hook_url: created
            .hook_secret
            .as_ref()
            .map(|secret| format!("{}/api/v1/hooks/{secret}", base.trim_end_matches('/'))),
        signing_secret: created.signing_secret.clone(),
    }
}

async fn integrations_screen(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match admin_only(&state, &headers, "Integrations").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice =
        query.get("done").map(|_| Notice { kind: "ok", text: "Integration deleted; its URL no longer works.".into() });
    render(&state, &viewer, None, notice, StatusCode::OK, None).await
}

async fn integration_log(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match admin_only(&state, &headers, "Integrations").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<IntegrationId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such integration.");
    };
    let cursor = query.get("cursor").filter(|c| !c.is_empty()).cloned();
    render(&state, &viewer, Some((id, cursor)), None, StatusCode::OK, None).await
}

/// The ticked components of the form, each with the status its alerts give it.
fn components_of(form: &FormData) -> Result<Vec<IntegrationComponent>, AppError> {
    super::ticked(form)
        .map(|list| list.into_iter().map(|a| IntegrationComponent { id: a.id, status: a.status }).collect())
        .map_err(|e| AppError::invalid("components", e))
}

async fn add_integration(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let kind = KINDS.iter().find(|(_, value, _)| Some(*value) == form.get("kind")).map(|(k, _, _)| *k);
    let result = match (kind, components_of(&form)) {
        (None, _) => Err(AppError::invalid("kind", "choose what the tool sends")),
        (_, Err(e)) => Err(e),
        (Some(kind), Ok(components)) => {
            let input = NewIntegration {
                name: form.get("name").unwrap_or_default().to_owned(),
                kind: Some(kind),
                key_field: form.get("key_field").map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned),
                components,
                impact: None,
                title_template: None,
                message_template: None,
                resolved_message: None,
                publish: Some(form.get("publish").is_some()),
                resolve_to: None,
                reopen_window_seconds: None,
                require_signature: Some(form.get("require_signature").is_some()),
            };
            state.service.create_integration(signed.member_actor(), input).await
        }
    };
    match result {
        Ok(created) => {
            let fresh = fresh(&state, &created);
            render(&state, &viewer, Some((created.integration.id, None)), None, StatusCode::CREATED, Some(fresh)).await
        }
        Err(e) => after_refusal(&state, &viewer, None, e).await,
    }
}

async fn after_refusal(state: &ApiState, viewer: &Viewer, open: Option<IntegrationId>, e: AppError) -> Response {
    match refusal(e, "integration") {
        Refusal::Shown(notice, status) => {
            render(state, viewer, open.map(|id| (id, None)), Some(notice), status, None).await
        }
        Refusal::Failed(e) => failure(state, Some(viewer), e),
    }
}

async fn integration_action(
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
    let Ok(id) = raw.parse::<IntegrationId>() else {
        return message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such integration.");
    };
    let actor = signed.member_actor();
    match action.as_str() {
        "rotate" => {
            let patch = IntegrationPatch { rotate_secret: true, ..IntegrationPatch::default() };
            match state.service.update_integration(actor, id, version_of(&form), patch).await {
                Ok(updated) => {
                    let fresh = fresh(&state, &updated);
                    render(&state, &viewer, Some((id, None)), None, StatusCode::OK, Some(fresh)).await
                }
                Err(e) => after_refusal(&state, &viewer, Some(id), e).await,
            }
        }
        "delete" => match state.service.delete_integration(actor, id).await {
            Ok(()) => Redirect::to("/admin/integrations?done=deleted").into_response(),
            Err(e) => after_refusal(&state, &viewer, None, e).await,
        },
        _ => message(&state, Some(&viewer), StatusCode::NOT_FOUND, "Not found", "There is no such action."),
    }
}
