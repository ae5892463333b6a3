//! Team alert rules: list, create, get, update, delete, and each rule's delivery log.
//! Viewers read; admins manage. A webhook recipient's signing secret is shown once.

use crate::ApiState;
use crate::dto::PageQuery;
use crate::extract::{ApiJson, ApiQuery, Authenticated, if_match};
use crate::problem::Problem;
use crate::subscribers::DeliveryPage;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beacon_app::subscribers::parse_channel;
use beacon_app::{AlertRulePatch, NewAlertRule, RuleWithRecipient};
use beacon_domain::{
    AlertOn, AlertRuleId, Channel, ChannelKind, Email, MonitorId, Role, SubscriberId, SubscriberState,
};
use beacon_store::Cursor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

type ApiResult = Result<Response, Problem>;

fn rule_id(raw: &str) -> Result<AlertRuleId, Problem> {
    raw.parse().map_err(|_| Problem::not_found(format!("alert rule {raw} does not exist")))
}

/// A rule as the team sees it; chat webhook URLs (whose path is their secret) redacted,
/// the signing secret only on creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRuleView {
    pub id: AlertRuleId,
    pub name: String,
    pub on: AlertOn,
    /// Absent: every monitor, and incidents opened by hand.
    #[schema(value_type = Option<Vec<String>>)]
    pub monitors: Option<BTreeSet<MonitorId>>,
    pub kind: ChannelKind,
    pub target: String,
    /// `quarantined` after ten failed deliveries in a row (reactivate it through the
    /// subscriber API with the recipient's id).
    pub state: SubscriberState,
    pub recipient_id: SubscriberId,
    /// Only in the response that created the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    #[schema(value_type = String)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String)]
    pub updated_at: jiff::Timestamp,
    pub version: u64,
}

impl From<RuleWithRecipient> for AlertRuleView {
    fn from(r: RuleWithRecipient) -> Self {
        let target = match &r.recipient.channel {
            Channel::Slack { url } | Channel::Teams { url } | Channel::Discord { url } => url.redacted(),
            Channel::Email { address } => address.to_string(),
            Channel::Webhook { url } => url.as_str().to_owned(),
        };
        Self {
            id: r.rule.id,
            name: r.rule.name.to_string(),
            on: r.rule.on,
            monitors: r.rule.monitors,
            kind: r.recipient.channel.kind(),
            target,
            state: r.recipient.state,
            recipient_id: r.recipient.id,
            signing_secret: r.signing_secret,
            created_at: r.rule.created_at,
            updated_at: r.rule.updated_at,
            version: r.rule.version,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlertRule {
    pub name: String,
    /// Which events it fires on: `incident_opened`, `incident_resolved`, `monitor_changed`.
    pub on: AlertOn,
    /// Only these monitors (and their incidents); leave out for all.
    #[schema(value_type = Option<Vec<String>>)]
    pub monitors: Option<BTreeSet<MonitorId>>,
    /// `email`, `webhook`, `slack`, `teams` or `discord`.
    pub kind: ChannelKind,
    /// The address, or the endpoint's HTTPS URL.
    pub target: String,
    /// Who is told if a webhook-like recipient is quarantined.
    pub contact: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAlertRule {
    pub name: Option<String>,
    pub on: Option<AlertOn>,
    /// A list chooses monitors; `null` widens the rule to every monitor.
    #[serde(default, deserialize_with = "crate::dto::double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub monitors: Option<Option<BTreeSet<MonitorId>>>,
}

#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "alerts", security(("bearer" = [])),
    responses((status = 200, description = "Rules, oldest first", body = Vec<AlertRuleView>)))]
pub async fn list_alert_rules(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Viewer)?;
    let mut views = Vec::new();
    for rule in state.service.alert_rules().await? {
        views.push(AlertRuleView::from(state.service.alert_rule(rule.id).await?));
    }
    Ok(Json(views).into_response())
}

#[utoipa::path(post, path = "/api/v1/alert-rules", tag = "alerts", security(("bearer" = [])), request_body = CreateAlertRule,
    responses((status = 201, description = "Created; a webhook's signing secret is shown only now", body = AlertRuleView), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn create_alert_rule(
    State(state): State<ApiState>,
    auth: Authenticated,
    body: ApiJson<CreateAlertRule>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let b = body.value;
    let mut errors = Vec::new();
    let channel = parse_channel(b.kind, &b.target, state.allow_plain_http).map_err(|e| errors.push(e)).ok();
    let contact = match b.contact.as_deref().map(Email::parse).transpose() {
        Ok(c) => c,
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let Some(channel) = channel.filter(|_| errors.is_empty()) else {
        return Err(Problem::invalid(errors));
    };
    let input = NewAlertRule { name: b.name, on: b.on, monitors: b.monitors, channel, contact };
    let created = state.service.create_alert_rule(caller.actor(), input).await?;
    let view = AlertRuleView::from(created);
    let mut response = (StatusCode::CREATED, Json(&view)).into_response();
    if let Ok(location) = HeaderValue::try_from(format!("/api/v1/alert-rules/{}", view.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/alert-rules/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "OK", body = AlertRuleView), (status = 404, description = "No such resource", body = Problem)))]
pub async fn get_alert_rule(State(state): State<ApiState>, auth: Authenticated, Path(raw): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(AlertRuleView::from(state.service.alert_rule(rule_id(&raw)?).await?)).into_response())
}

#[utoipa::path(patch, path = "/api/v1/alert-rules/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateAlertRule,
    responses((status = 200, description = "OK", body = AlertRuleView), (status = 412, description = "The If-Match version is stale", body = Problem), (status = 422, description = "Invalid input", body = Problem)))]
pub async fn update_alert_rule(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateAlertRule>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let patch = AlertRulePatch { name: b.name, on: b.on, monitors: b.monitors };
    let updated = state
        .service
        .update_alert_rule(caller.actor(), rule_id(&raw)?, expected, patch)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(Json(AlertRuleView::from(updated)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/alert-rules/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, description = "No such resource", body = Problem)))]
pub async fn delete_alert_rule(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    state.service.delete_alert_rule(caller.actor(), rule_id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v1/alert-rules/{id}/deliveries", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery), responses((status = 200, description = "Deliveries, newest first", body = DeliveryPage), (status = 404, description = "No such resource", body = Problem)))]
pub async fn alert_deliveries(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult {
    auth.require(Role::Viewer)?;
    let rule = state.service.alert_rule(rule_id(&raw)?).await?;
    let page =
        state.service.delivery_log(rule.recipient.id, q.cursor.map(Cursor::from_token), q.limit.unwrap_or(50)).await?;
    Ok(Json(DeliveryPage { items: page.items, next_cursor: page.next.map(|c| c.as_str().to_owned()) }).into_response())
}
