//! The HTTP API: one router for every host.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use beacon_app::Service;

/// What handlers share: the use cases.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub service: Service,
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(state)
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
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use std::sync::Arc;
    use tower::ServiceExt;

    #[tokio::test]
    async fn healthz_reports_the_page_status() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = beacon_store_redb::RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let service = Service::new(Arc::new(store), Arc::new(beacon_app::SystemClock));
        let app = router(ApiState { service });
        let request = Request::get("/healthz").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
        let response = app.oneshot(request).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap_or_else(|e| panic!("{e}")).to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["page"]["indicator"], "none");
    }
}
