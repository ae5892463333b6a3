//! The whole incident lifecycle over HTTP against the real binary, on the embedded store
//! and on DynamoDB (the moto server).

mod common;

use common::{Backend, start};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, _, body) = self.send(Method::GET, path, None, &[]).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, _, body) = self.send(Method::POST, path, Some(body), &[]).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {body}");
        body
    }

    async fn raw(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        assert_eq!(
            response.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{path}"
        );
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn etag(headers: &reqwest::header::HeaderMap) -> String {
    headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn lifecycle(backend: Backend) {
    let token = backend.create_token("Ada Owner", "owner");
    assert!(token.starts_with("bcn_"), "{token}");
    let running = start(&backend, &["--no-demo"]);
    lifecycle_on(Api { client: Client::new(), base: running.base.clone(), token }).await;
    drop(running);
}

/// The lifecycle against any running API, from an empty state.
async fn lifecycle_on(api: Api) {
    let group = api.post("/api/v1/component-groups", json!({"name": "Platform"})).await;
    let component = api.post("/api/v1/components", json!({"name": "API", "group_id": group["id"]})).await;
    let web = api.post("/api/v1/components", json!({"name": "Web"})).await;
    let components = api.get("/api/v1/components").await;
    assert_eq!(components.as_array().map(Vec::len), Some(2));
    let template = api
        .post(
            "/api/v1/templates",
            json!({"name": "API errors", "title": "Elevated API errors", "impact": "minor",
                   "message": "We are looking into **errors**.",
                   "components": [{"id": component["id"], "status": "degraded_performance"}]}),
        )
        .await;

    // From the template, overriding the impact; with an idempotency key.
    let report = json!({"template_id": template["id"], "impact": "major"});
    let (status, headers, incident) =
        api.send(Method::POST, "/api/v1/incidents", Some(report.clone()), &[("idempotency-key", "k-1")]).await;
    assert_eq!(status, StatusCode::CREATED, "{incident}");
    assert_eq!(etag(&headers), "\"1\"");
    assert_eq!(incident["title"], "Elevated API errors");
    assert_eq!(incident["impact"], "major");
    assert_eq!(incident["updates"][0]["message"], "We are looking into **errors**.");
    let id = incident["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/api/v1/incidents/{id}");

    // The retry returns the first response and creates nothing; another body is refused.
    let (status, headers, again) =
        api.send(Method::POST, "/api/v1/incidents", Some(report), &[("idempotency-key", "k-1")]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["id"], incident["id"]);
    assert_eq!(headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let (status, _, _) = api
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "other", "message": "m"})),
            &[("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.get("/api/v1/incidents").await["items"].as_array().map(Vec::len), Some(1));

    // Forward through every status, each pinned to the version read.
    let mut version = 1;
    for (status_name, extra) in [
        ("identified", json!([{"id": web["id"], "status": "partial_outage"}])),
        ("monitoring", json!([])),
        ("resolved", json!([])),
    ] {
        let if_match = format!("\"{version}\"");
        let (status, headers, posted) = api
            .send(
                Method::POST,
                &format!("{path}/updates"),
                Some(json!({"message": format!("now {status_name}"), "status": status_name, "components": extra})),
                &[("if-match", &if_match)],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{posted}");
        version += 1;
        assert_eq!(etag(&headers), format!("\"{version}\""));
        assert_eq!(posted["incident"]["status"], status_name);
    }
    let resolved = api.get(&path).await;
    assert_eq!(resolved["updates"].as_array().map(Vec::len), Some(4));
    assert!(resolved["resolved_at"].is_string());
    assert_eq!(
        api.get(&format!("/api/v1/components/{}", component["id"].as_str().unwrap_or_default())).await["status"],
        "operational"
    );

    // A forbidden backward move: 409 naming the allowed statuses; nothing changes.
    let (status, _, problem) = api
        .send(Method::POST, &format!("{path}/updates"), Some(json!({"message": "x", "status": "monitoring"})), &[])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["allowed_statuses"], json!(["investigating", "resolved"]));
    assert_eq!(api.get(&path).await["version"], version);

    // Reopen: investigating on a resolved incident.
    let reopened =
        api.post(&format!("{path}/updates"), json!({"message": "It is back.", "status": "investigating"})).await;
    assert_eq!(reopened["incident"]["status"], "investigating");
    version += 1;

    // A stale If-Match is refused with 412 and changes nothing.
    let (status, _, problem) =
        api.send(Method::PATCH, &path, Some(json!({"title": "stale edit"})), &[("if-match", "\"1\"")]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    assert_eq!(problem["current_version"], version);
    assert_ne!(api.get(&path).await["title"], "stale edit");
    let (status, headers, patched) = api
        .send(
            Method::PATCH,
            &path,
            Some(json!({"title": "API errors again", "components": [{"id": web["id"], "remove": true}]})),
            &[("if-match", &format!("\"{version}\""))],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(etag(&headers), format!("\"{}\"", version + 1));

    // Private comments, attributed to the caller.
    let comment = api.post(&format!("{path}/comments"), json!({"body": "Check the **deploy** log."})).await;
    let comments = api.get(&format!("{path}/comments")).await;
    assert_eq!(comments[0]["id"], comment["id"]);
    assert!(comment["author"].is_string());
    let timeline = api.get(&format!("{path}/timeline")).await;
    let events: Vec<&str> = timeline.as_array().into_iter().flatten().filter_map(|e| e["event"].as_str()).collect();
    for expected in [
        "created",
        "template_applied",
        "status_changed",
        "reopened",
        "comment_added",
        "title_changed",
        "component_removed",
    ] {
        assert!(events.contains(&expected), "{expected} missing from {events:?}");
    }

    // Bad requests: each a problem, none changing anything.
    let before = api.get(&path).await;
    let updates = format!("{path}/updates");
    let (status, _) = api.raw(Method::POST, &updates, "application/json", b"{not json".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.raw(Method::POST, &updates, "text/plain", b"{\"message\": \"hi\"}".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = serde_json::to_vec(&json!({"message": "x".repeat(70 * 1024)})).unwrap_or_default();
    let (status, _) = api.raw(Method::POST, &updates, "application/json", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, problem) = api.raw(Method::POST, &updates, "application/json", b"{\"message\": \"\"}".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "message");
    let (status, _) = api
        .raw(Method::POST, &updates, "application/json", b"{\"message\": \"m\", \"status\": \"sideways\"}".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        api.raw(Method::POST, &updates, "application/json", b"{\"message\": \"m\", \"colour\": 1}".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api
        .raw(
            Method::POST,
            &format!("/api/v1/incidents/{}/updates", ulid::Ulid::new()),
            "application/json",
            b"{\"message\": \"m\"}".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.raw(Method::GET, "/api/v1/incidents/not-an-id", "application/json", Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(api.get(&path).await, before, "refused requests changed the incident");

    // Deleting a component an open incident affects is refused.
    let (status, _, problem) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/components/{}", component["id"].as_str().unwrap_or_default()),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");

    // The audit log has the non-incident changes with their actor.
    let audit = api.get("/api/v1/audit").await;
    let kinds: Vec<&str> = audit["items"].as_array().into_iter().flatten().filter_map(|e| e["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"component_changed") && kinds.contains(&"template_changed") && kinds.contains(&"token_created"),
        "{kinds:?}"
    );

    // The OpenAPI document is served.
    let doc: Value = api
        .client
        .get(format!("{}/api/openapi.json", api.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[tokio::test]
async fn the_lifecycle_over_http_on_the_embedded_store() {
    lifecycle(Backend::embedded()).await;
}

#[tokio::test]
async fn the_lifecycle_over_http_on_dynamodb() {
    lifecycle(Backend::dynamodb("http")).await;
}

/// Opt-in: the same lifecycle against a deployed stack (see the README's Deploy
/// section). Runs only when `E2E_BASE_URL` (the stack's ApiUrl output) and `E2E_TOKEN`
/// (an owner token made with `beacon token create` against its table) are set, and
/// expects a freshly deployed, empty stack; otherwise it says it was skipped.
#[tokio::test]
async fn the_lifecycle_against_a_deployed_stack() {
    let (Ok(base), Ok(token)) = (std::env::var("E2E_BASE_URL"), std::env::var("E2E_TOKEN")) else {
        eprintln!("skipped: set E2E_BASE_URL and E2E_TOKEN to run the lifecycle against a deployed stack");
        return;
    };
    lifecycle_on(Api { client: Client::new(), base: base.trim_end_matches('/').to_owned(), token }).await;
}
