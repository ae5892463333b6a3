//! The HTTP API: one router for every host (Lambda and the one-machine runner).
//!
//! Everything under `/api/v1` needs `Authorization: Bearer <token>`; viewers read,
//! responders also run incidents, admins also manage components, groups, templates,
//! members and tokens, owners also manage admins. Errors are problem+json; incidents
//! carry an ETag and honour If-Match; creating POSTs honour Idempotency-Key.

// A Problem is only built on the error path and returned straight to axum; boxing it
// would buy nothing but indirection.
#![allow(clippy::result_large_err)]

mod alerts;
pub mod console;
mod dto;
mod extract;
mod idempotent;
pub mod integrations;
mod maintenances;
mod monitors;
mod problem;
mod public;
mod routes;
mod settings;
mod subscribers;

pub use problem::Problem;
pub use public::{ClientAddress, Subscriptions};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use beacon_app::Service;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What handlers share: the use cases, and what subscriptions need (absent: the public
/// subscription endpoints answer 404).
#[derive(Clone, Debug)]
pub struct ApiState {
    pub service: Service,
    pub subscriptions: Option<Subscriptions>,
    /// Local development only: webhook subscribers may use plain HTTP.
    pub allow_plain_http: bool,
    /// The regions probes run in: the choices a monitor has.
    pub probe_regions: Vec<String>,
    /// Where SNS integrations fetch signing certificates (absent: SNS hooks answer 503).
    pub sns: Option<std::sync::Arc<dyn integrations::SnsFetch>>,
    /// The console's session cookie is `Secure` (off only for plain HTTP on loopback).
    pub console_secure_cookies: bool,
}

impl ApiState {
    pub fn new(service: Service) -> Self {
        Self {
            service,
            subscriptions: None,
            allow_plain_http: false,
            probe_regions: Vec::new(),
            sns: None,
            console_secure_cookies: true,
        }
    }

    pub fn with_subscriptions(mut self, subscriptions: Subscriptions) -> Self {
        self.subscriptions = Some(subscriptions);
        self
    }

    pub fn allowing_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    pub fn with_sns(mut self, sns: std::sync::Arc<dyn integrations::SnsFetch>) -> Self {
        self.sns = Some(sns);
        self
    }

    /// Plain HTTP on loopback (the local runner): the session cookie cannot be `Secure`.
    pub fn with_insecure_console_cookies(mut self) -> Self {
        self.console_secure_cookies = false;
        self
    }

    pub fn with_probe_regions(mut self, regions: Vec<String>) -> Self {
        self.probe_regions = regions;
        self
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Beacon API", description = "Incident management and status page API"),
    modifiers(&BearerAuth),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::list_components, routes::create_component))
        .routes(routes!(settings::get_page_settings, settings::put_page_settings))
        .routes(routes!(routes::get_component, routes::update_component, routes::delete_component))
        .routes(routes!(routes::list_groups, routes::create_group))
        .routes(routes!(routes::get_group, routes::update_group, routes::delete_group))
        .routes(routes!(routes::list_incidents, routes::report_incident))
        .routes(routes!(routes::get_incident, routes::patch_incident))
        .routes(routes!(routes::post_update))
        .routes(routes!(routes::publish_incident))
        .routes(routes!(routes::list_comments, routes::add_comment))
        .routes(routes!(routes::timeline))
        .routes(routes!(routes::list_templates, routes::create_template))
        .routes(routes!(routes::get_template, routes::update_template, routes::delete_template))
        .routes(routes!(routes::list_members, routes::create_member))
        .routes(routes!(routes::get_member, routes::update_member, routes::delete_member))
        .routes(routes!(routes::list_tokens, routes::create_token))
        .routes(routes!(routes::revoke_token))
        .routes(routes!(routes::audit))
        .routes(routes!(subscribers::list_subscribers, subscribers::create_subscriber))
        .routes(routes!(subscribers::count_subscribers))
        .routes(routes!(subscribers::export_subscribers))
        .routes(routes!(subscribers::import_subscribers))
        .routes(routes!(subscribers::get_subscriber, subscribers::delete_subscriber))
        .routes(routes!(subscribers::reactivate_subscriber))
        .routes(routes!(subscribers::deliveries))
        .routes(routes!(monitors::list_monitors, monitors::create_monitor))
        .routes(routes!(monitors::get_monitor, monitors::update_monitor, monitors::delete_monitor))
        .routes(routes!(monitors::pause_monitor))
        .routes(routes!(monitors::resume_monitor))
        .routes(routes!(monitors::check_now))
        .routes(routes!(monitors::results))
        .routes(routes!(monitors::stats))
        .routes(routes!(monitors::heartbeat, monitors::heartbeat_by_get))
        .routes(routes!(alerts::list_alert_rules, alerts::create_alert_rule))
        .routes(routes!(alerts::get_alert_rule, alerts::update_alert_rule, alerts::delete_alert_rule))
        .routes(routes!(alerts::alert_deliveries))
        .routes(routes!(integrations::list_integrations, integrations::create_integration))
        .routes(routes!(
            integrations::get_integration,
            integrations::update_integration,
            integrations::delete_integration
        ))
        .routes(routes!(integrations::integration_deliveries))
        .routes(routes!(maintenances::list_maintenances, maintenances::create_maintenance))
        .routes(routes!(maintenances::get_maintenance, maintenances::patch_maintenance))
        .routes(routes!(maintenances::post_maintenance_update))
        .routes(routes!(maintenances::reschedule_maintenance))
        .routes(routes!(maintenances::cancel_maintenance))
        .routes(routes!(maintenances::list_series, maintenances::create_series))
        .routes(routes!(maintenances::get_series, maintenances::stop_series))
        .routes(routes!(maintenances::write_postmortem))
        .routes(routes!(maintenances::publish_postmortem))
        .routes(routes!(maintenances::backfill_incident))
}

/// The hook route's documentation alone: the API function documents it without linking
/// its handler (the hooks function serves it).
#[derive(OpenApi)]
#[openapi(paths(integrations::hook))]
struct HookDoc;

/// Alerting tools' hook URLs: no token, their secret is the credential.
fn hook_routes() -> Router<ApiState> {
    use axum::routing::post;
    Router::new().route("/api/v1/hooks/{secret}", post(integrations::hook))
}

/// The public subscription endpoints behind the page's forms (HTML, no token).
fn public_routes() -> Router<ApiState> {
    use axum::routing::post;
    Router::new()
        .route("/subscriptions", post(public::subscribe))
        .route("/subscriptions/confirm", get(public::confirm_page).post(public::confirm))
        .route("/subscriptions/manage", get(public::manage_page).post(public::manage))
        .route("/subscriptions/unsubscribe", get(public::unsubscribe_page).post(public::unsubscribe))
        .route("/subscriptions/webhooks", get(public::webhook_help))
}

/// The OpenAPI 3.1 document of every route, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_routes().split_for_parts();
    doc.paths.paths.insert("/healthz".into(), health_path());
    doc.merge(HookDoc::openapi());
    doc
}

fn health_path() -> utoipa::openapi::PathItem {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder};
    use utoipa::openapi::response::ResponseBuilder;
    let op = OperationBuilder::new()
        .summary(Some("Liveness and storage reachability"))
        .response("200", ResponseBuilder::new().description("The store answers"))
        .response("503", ResponseBuilder::new().description("The store does not answer"))
        .build();
    utoipa::openapi::PathItem::new(HttpMethod::Get, op)
}

/// Request ids are ULIDs: unique, and sortable by time in the logs.
#[derive(Clone, Copy, Debug)]
struct UlidRequestId;

impl MakeRequestId for UlidRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::new().to_string()).ok().map(RequestId::new)
    }
}

/// The whole API, hook URLs included: the one-machine runner serves this.
pub fn router(state: ApiState) -> Router {
    finish(api_part().merge(hook_routes()), state)
}

/// Everything but the hook URLs: the API function serves this, the hooks function
/// serves [`hooks_router`], so an alert storm never takes the API's capacity (and the
/// API's binary carries no alert parsing or SNS verification).
pub fn api_router(state: ApiState) -> Router {
    finish(api_part(), state)
}

/// The hook URLs alone, for the hooks function.
pub fn hooks_router(state: ApiState) -> Router {
    finish(hook_routes(), state)
}

fn api_part() -> Router<ApiState> {
    let doc = std::sync::Arc::new(openapi());
    let (api, _) = api_routes().split_for_parts();
    api.merge(public_routes()).merge(console::routes()).route("/healthz", get(healthz)).route(
        "/api/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}

/// What every part shares: problem answers for unknown routes and methods, the body
/// limit, request ids and the request log.
fn finish(routes: Router<ApiState>, state: ApiState) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let path = loggable_path(request.uri().path());
            tracing::info_span!("request", method = %request.method(), path = %path, request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(UlidRequestId))
}

/// A path as logs may keep it: hook and heartbeat URLs end in their only credential,
/// which is cut off.
fn loggable_path(path: &str) -> String {
    for prefix in ["/api/v1/hooks/", "/api/v1/heartbeats/", "/admin/sign-in/"] {
        if path.starts_with(prefix) {
            return format!("{prefix}…");
        }
    }
    path.to_owned()
}

async fn not_found() -> Response {
    Problem::not_found("no such route").into_response()
}

async fn method_not_allowed() -> Response {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this route does not take that method")
        .into_response()
}

/// Liveness and storage reachability: 200 when the store answers, 503 when it does not.
async fn healthz(State(state): State<ApiState>) -> Response {
    match state.service.page_status().await {
        Ok(status) => Json(serde_json::json!({ "status": "ok", "page": status })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: storage unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "unavailable" }))).into_response()
        }
    }
}

#[cfg(test)]
mod tests;
