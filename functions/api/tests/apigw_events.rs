//! Real API Gateway HTTP API (payload 2.0) events through lambda_http into the router,
//! exactly as the function runs them; the response is checked as API Gateway reads it.

use beacon_api::{ApiState, router};
use beacon_app::{NewMember, Service, SystemClock};
use beacon_domain::{Actor, Role};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use std::sync::Arc;
use tower::{Service as _, ServiceExt};

async fn setup() -> (axum::Router, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = beacon_store_redb::RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    let member = service
        .create_member(
            Actor::System,
            NewMember { name: "Ada".into(), email: "ada@example.com".into(), role: Role::Admin },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, secret) =
        service.create_token(Actor::System, member.id, "ci", Role::Admin).await.unwrap_or_else(|e| panic!("{e}"));
    (router(ApiState::new(service)), secret.expose().to_owned(), dir)
}

async fn invoke(app: &axum::Router, fixture: &str, token: &str) -> serde_json::Value {
    let path = format!("{}/../../tests/fixtures/apigw/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = text.replace("{{TOKEN}}", token);
    let request: LambdaRequest = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let mut adapter = lambda_http::Adapter::from(app.clone());
    let ready = adapter.ready().await.unwrap_or_else(|e| panic!("{e}"));
    let response = ready.call(LambdaEvent::new(request, Context::default())).await.unwrap_or_else(|e| panic!("{e}"));
    serde_json::to_value(&response).unwrap_or_else(|e| panic!("{e}"))
}

fn body(response: &serde_json::Value) -> serde_json::Value {
    serde_json::from_str(response["body"].as_str().unwrap_or_default()).unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn a_health_check_event_gets_a_json_answer() {
    let (app, token, _dir) = setup().await;
    let response = invoke(&app, "get-healthz.json", &token).await;
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["headers"]["content-type"], "application/json");
    assert!(response["headers"]["x-request-id"].is_string());
    assert_eq!(body(&response)["status"], "ok");
}

#[tokio::test]
async fn a_post_event_creates_a_component_and_a_get_event_reads_it() {
    let (app, token, _dir) = setup().await;
    let created = invoke(&app, "post-component.json", &token).await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let component = body(&created);
    assert_eq!(component["name"], "Checkout API");
    assert_eq!(
        created["headers"]["location"],
        format!("/api/v1/components/{}", component["id"].as_str().unwrap_or_default())
    );
    let listed = invoke(&app, "get-components.json", &token).await;
    assert_eq!(listed["statusCode"], 200);
    assert_eq!(body(&listed)[0]["id"], component["id"]);
}

#[tokio::test]
async fn a_base64_body_is_decoded_like_any_other() {
    let (app, token, _dir) = setup().await;
    let created = invoke(&app, "post-component-base64.json", &token).await;
    assert_eq!(created["statusCode"], 201, "{created}");
    assert_eq!(body(&created)["name"], "Search");
}

#[tokio::test]
async fn query_strings_reach_the_router_and_bad_ones_are_problems() {
    let (app, token, _dir) = setup().await;
    let listed = invoke(&app, "get-incidents-open.json", &token).await;
    assert_eq!(listed["statusCode"], 200, "{listed}");
    assert_eq!(body(&listed)["items"], serde_json::json!([]));
    let bad = invoke(&app, "get-incidents-bad-state.json", &token).await;
    assert_eq!(bad["statusCode"], 422);
    assert_eq!(bad["headers"]["content-type"], "application/problem+json");
    assert_eq!(body(&bad)["errors"][0]["field"], "state");
}

#[tokio::test]
async fn an_event_without_a_token_is_refused() {
    let (app, _token, _dir) = setup().await;
    let refused = invoke(&app, "get-components.json", "not-a-token").await;
    assert_eq!(refused["statusCode"], 401);
    assert_eq!(refused["headers"]["www-authenticate"], "Bearer");
}
