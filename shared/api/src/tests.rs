use super::*;
use axum::body::Body;
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

fn app() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = beacon_store_redb::RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let service = Service::new(Arc::new(store), Arc::new(beacon_app::SystemClock));
    (router(ApiState::new(service)), dir)
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap_or_else(|e| panic!("{e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap_or_else(|e| panic!("{e}")).to_bytes();
    (status, headers, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn healthz_reports_the_page_status_with_a_request_id() {
    let (app, _dir) = app();
    let (status, headers, json) =
        call(&app, Request::get("/healthz").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["page"]["indicator"], "none");
    assert!(headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn unknown_routes_and_missing_tokens_are_problems() {
    let (app, _dir) = app();
    let (status, headers, json) =
        call(&app, Request::get("/nope").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    assert_eq!(json["status"], 404);
    let (status, headers, _) =
        call(&app, Request::get("/api/v1/components").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers.get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
}

/// Every route the router serves is in the OpenAPI document, and the document is
/// OpenAPI 3.1 with every operation answering.
#[test]
fn the_openapi_document_lists_every_route() {
    let doc = openapi();
    let json = serde_json::to_value(&doc).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["openapi"], "3.1.0");
    let paths = json["paths"].as_object().cloned().unwrap_or_default();
    let expected = [
        ("/api/v1/components", vec!["get", "post"]),
        ("/api/v1/components/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/component-groups", vec!["get", "post"]),
        ("/api/v1/component-groups/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/incidents", vec!["get", "post"]),
        ("/api/v1/incidents/{id}", vec!["get", "patch"]),
        ("/api/v1/incidents/{id}/updates", vec!["post"]),
        ("/api/v1/incidents/{id}/publish", vec!["post"]),
        ("/api/v1/incidents/{id}/comments", vec!["get", "post"]),
        ("/api/v1/incidents/{id}/timeline", vec!["get"]),
        ("/api/v1/templates", vec!["get", "post"]),
        ("/api/v1/templates/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/members", vec!["get", "post"]),
        ("/api/v1/members/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/tokens", vec!["get", "post"]),
        ("/api/v1/tokens/{id}", vec!["delete"]),
        ("/api/v1/audit", vec!["get"]),
        ("/api/v1/subscribers", vec!["get", "post"]),
        ("/api/v1/subscribers/count", vec!["get"]),
        ("/api/v1/subscribers/export", vec!["get"]),
        ("/api/v1/subscribers/import", vec!["post"]),
        ("/api/v1/subscribers/{id}", vec!["get", "delete"]),
        ("/api/v1/subscribers/{id}/reactivate", vec!["post"]),
        ("/api/v1/subscribers/{id}/deliveries", vec!["get"]),
        ("/api/v1/monitors", vec!["get", "post"]),
        ("/api/v1/monitors/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/monitors/{id}/pause", vec!["post"]),
        ("/api/v1/monitors/{id}/resume", vec!["post"]),
        ("/api/v1/monitors/{id}/check", vec!["post"]),
        ("/api/v1/monitors/{id}/results", vec!["get"]),
        ("/api/v1/monitors/{id}/stats", vec!["get"]),
        ("/api/v1/heartbeats/{secret}", vec!["get", "post"]),
        ("/api/v1/alert-rules", vec!["get", "post"]),
        ("/api/v1/alert-rules/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/alert-rules/{id}/deliveries", vec!["get"]),
        ("/api/v1/integrations", vec!["get", "post"]),
        ("/api/v1/integrations/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/integrations/{id}/deliveries", vec!["get"]),
        ("/api/v1/hooks/{secret}", vec!["post"]),
        ("/api/v1/maintenances", vec!["get", "post"]),
        ("/api/v1/maintenances/{id}", vec!["get", "patch"]),
        ("/api/v1/maintenances/{id}/updates", vec!["post"]),
        ("/api/v1/maintenances/{id}/reschedule", vec!["post"]),
        ("/api/v1/maintenances/{id}/cancel", vec!["post"]),
        ("/api/v1/maintenance-series", vec!["get", "post"]),
        ("/api/v1/maintenance-series/{id}", vec!["get", "delete"]),
        ("/api/v1/incidents/{id}/postmortem", vec!["put"]),
        ("/api/v1/incidents/{id}/postmortem/publish", vec!["post"]),
        ("/api/v1/incidents/backfill", vec!["post"]),
        ("/api/v1/page-settings", vec!["get", "put"]),
        ("/healthz", vec!["get"]),
    ];
    assert_eq!(paths.len(), expected.len(), "documented paths: {:?}", paths.keys().collect::<Vec<_>>());
    for (path, methods) in expected {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"));
        for method in methods {
            let op = &item[method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
        }
    }
    // Every schema referenced is defined.
    let text = json.to_string();
    let schemas = json["components"]["schemas"].as_object().cloned().unwrap_or_default();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(schemas.contains_key(name), "schema {name} is referenced but not defined");
    }
}

/// The document passes an OpenAPI 3.1 validator (openapi-spec-validator, installed by
/// tests/run.sh); without it the test fails rather than skips.
#[test]
fn the_openapi_document_passes_a_validator() {
    let validator = std::env::var("BEACON_TEST_OPENAPI_VALIDATOR").unwrap_or_else(|_| {
        panic!("BEACON_TEST_OPENAPI_VALIDATOR is not set: run the suite with tests/run.sh, which installs it")
    });
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("openapi.json");
    let json = openapi().to_pretty_json().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&path, json).unwrap_or_else(|e| panic!("{e}"));
    let output =
        std::process::Command::new(validator).arg(&path).output().unwrap_or_else(|e| panic!("run validator: {e}"));
    assert!(
        output.status.success(),
        "invalid OpenAPI document:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A store that is down: every call fails as an unreachable backend would.
#[derive(Debug)]
struct DownStore;

#[async_trait::async_trait]
impl beacon_store::Store for DownStore {
    async fn get(&self, _: &beacon_store::Key) -> beacon_store::StoreResult<Option<beacon_store::Item>> {
        Err(beacon_store::StoreError::Unavailable("connect to 10.1.2.3:8000 refused; secret=hunter2".into()))
    }
    async fn put(&self, _: beacon_store::Item, _: beacon_store::Condition) -> beacon_store::StoreResult<()> {
        Err(beacon_store::StoreError::Unavailable("down".into()))
    }
    async fn update(&self, _: beacon_store::Update) -> beacon_store::StoreResult<beacon_store::Item> {
        Err(beacon_store::StoreError::Unavailable("down".into()))
    }
    async fn delete(&self, _: &beacon_store::Key, _: beacon_store::Condition) -> beacon_store::StoreResult<()> {
        Err(beacon_store::StoreError::Unavailable("down".into()))
    }
    async fn transact(&self, _: Vec<beacon_store::Write>) -> beacon_store::StoreResult<()> {
        Err(beacon_store::StoreError::Unavailable("down".into()))
    }
    async fn query(&self, _: beacon_store::Query) -> beacon_store::StoreResult<beacon_store::Page> {
        Err(beacon_store::StoreError::Corrupt("table beacon-prod item INC#1 unreadable".into()))
    }
}

#[tokio::test]
async fn server_errors_say_nothing_internal_and_carry_a_request_id() {
    let service = Service::new(Arc::new(DownStore), Arc::new(beacon_app::SystemClock));
    let app = router(ApiState::new(service));
    let request = Request::get("/api/v1/components")
        .header("authorization", format!("Bearer bcn_{}_secret", ulid::Ulid::new()))
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, headers, json) = call(&app, request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.get("x-request-id").is_some());
    let text = json.to_string();
    assert!(!text.contains("10.1.2.3") && !text.contains("hunter2"), "{text}");
    let (status, _, json) =
        call(&app, Request::get("/healthz").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!json.to_string().contains("INC#1"));
}
