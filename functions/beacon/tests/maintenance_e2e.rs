//! Maintenance against the real binary: the API's rules (roles, ETag, idempotency,
//! problems), the in-process scheduler starting and completing a window on its own, and
//! the page following: the index, the maintenance's own page, Statuspage's files and
//! the status indicator.

mod common;

use common::{Backend, start};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn json(response: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

fn at(seconds_from_now: i64) -> String {
    let t = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(seconds_from_now))
        .unwrap_or_else(|e| panic!("{e}"));
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Polls a page file until `check` holds (the publisher runs on every change).
async fn until(client: &Client, url: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    for _ in 0..400 {
        if let Ok(response) = client.get(url).send().await
            && let Ok(text) = response.text().await
            && check(&text)
        {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never showed {what}");
}

async fn a_maintenance_runs_through_the_api_and_the_page_follows(backend: Backend) {
    let admin = backend.create_token("Ada", "admin");
    let viewer = backend.create_token("Vic", "viewer");
    let running = start(&backend, &["--no-demo", "--no-probes", "--scheduler-every-seconds", "1"]);
    let (base, client) = (running.base.clone(), Client::new());
    let v1 = format!("{base}/api/v1");
    let (_, _, component) = json(
        client
            .post(format!("{v1}/components"))
            .bearer_auth(&admin)
            .json(&json!({"name": "API"}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    let component = component["id"].as_str().unwrap_or_default().to_owned();

    // Refused: a viewer, an unknown zone, an unknown field; nothing is stored.
    let body = json!({"title": "Database upgrade", "message": "We will upgrade the **database**.",
        "starts_at": at(8), "ends_at": at(12), "time_zone": "Europe/Berlin", "components": [component]});
    let post =
        |token: &str, body: &Value| client.post(format!("{v1}/maintenances")).bearer_auth(token).json(body).send();
    assert_eq!(post(&viewer, &body).await.unwrap_or_else(|e| panic!("{e}")).status(), StatusCode::FORBIDDEN);
    let mut bad = body.clone();
    bad["time_zone"] = json!("Mars/Olympus");
    let (status, headers, problem) = json(post(&admin, &bad).await.unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    assert_eq!(problem["errors"][0]["field"], "time_zone");
    let mut unknown = body.clone();
    unknown["colour"] = json!("red");
    assert_eq!(
        post(&admin, &unknown).await.unwrap_or_else(|e| panic!("{e}")).status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_, _, listed) = json(
        client.get(format!("{v1}/maintenances")).bearer_auth(&viewer).send().await.unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_eq!(listed["items"], json!([]));

    // Created once under an idempotency key; the retry replays the first answer.
    let create = || {
        client
            .post(format!("{v1}/maintenances"))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "upgrade-1")
            .json(&body)
            .send()
    };
    let (status, headers, created) = json(create().await.unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(headers.get("etag").and_then(|v| v.to_str().ok()), Some("\"1\""));
    assert_eq!(created["status"], "scheduled");
    assert_eq!(created["window"]["time_zone"], "Europe/Berlin");
    let (status, headers, again) = json(create().await.unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!((status, again["id"].as_str()), (StatusCode::CREATED, Some(id.as_str())));
    assert_eq!(headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));

    // A stale If-Match is 412 and changes nothing.
    let (status, _, problem) = json(
        client
            .patch(format!("{v1}/maintenances/{id}"))
            .bearer_auth(&admin)
            .header("If-Match", "\"7\"")
            .json(&json!({"title": "x"}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    assert_eq!(problem["current_version"], 1);

    // The page announces it.
    let index =
        until(&client, &format!("{base}/index.html"), "the announcement", |t| t.contains("Database upgrade")).await;
    assert!(index.contains("Europe/Berlin"), "the window in its zone");
    let upcoming = until(&client, &format!("{base}/api/v2/scheduled-maintenances/upcoming.json"), "it upcoming", |t| {
        t.contains(&id)
    })
    .await;
    let upcoming: Value = serde_json::from_str(&upcoming).unwrap_or_default();
    assert_eq!(upcoming["scheduled_maintenances"][0]["impact"], "maintenance");
    assert_eq!(upcoming["scheduled_maintenances"][0]["status"], "scheduled");

    // The scheduler starts it on its own: the component is under maintenance and the
    // page's indicator says so.
    let active =
        until(&client, &format!("{base}/api/v2/scheduled-maintenances/active.json"), "it active", |t| t.contains(&id))
            .await;
    let active: Value = serde_json::from_str(&active).unwrap_or_default();
    assert_eq!(active["scheduled_maintenances"][0]["status"], "in_progress");
    let summary = until(&client, &format!("{base}/api/v2/summary.json"), "the maintenance indicator", |t| {
        t.contains("\"maintenance\"") && t.contains("under_maintenance")
    })
    .await;
    let summary: Value = serde_json::from_str(&summary).unwrap_or_default();
    assert_eq!(summary["status"]["indicator"], "maintenance");
    assert_eq!(summary["components"][0]["status"], "under_maintenance");
    // A cancel once started is refused.
    let (status, _, _) = json(
        client
            .post(format!("{v1}/maintenances/{id}/cancel"))
            .bearer_auth(&admin)
            .json(&json!({}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // ... and completes it at the window's end.
    let page =
        until(&client, &format!("{base}/maintenances/{id}.html"), "completion", |t| t.contains("Completed")).await;
    assert!(page.contains("The scheduled maintenance has begun."));
    let summary = until(&client, &format!("{base}/api/v2/summary.json"), "operational again", |t| {
        t.contains("\"operational\"") && !t.contains("under_maintenance")
    })
    .await;
    let summary: Value = serde_json::from_str(&summary).unwrap_or_default();
    assert_eq!(summary["status"]["indicator"], "none");
    let (_, _, detail) = json(
        client
            .get(format!("{v1}/maintenances/{id}"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    let statuses: Vec<&str> =
        detail["updates"].as_array().into_iter().flatten().filter_map(|u| u["status"].as_str()).collect();
    assert_eq!(statuses, ["scheduled", "in_progress", "completed"]);
    let (_, _, past) = json(
        client
            .get(format!("{v1}/maintenances?state=past"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_eq!(past["items"][0]["id"], json!(id));
    let (status, _, _) = json(
        client
            .get(format!("{v1}/maintenances?state=later"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_maintenance_runs_through_the_api_and_the_page_follows_on_the_embedded_store() {
    a_maintenance_runs_through_the_api_and_the_page_follows(Backend::embedded()).await;
}

#[tokio::test]
async fn a_maintenance_runs_through_the_api_and_the_page_follows_on_dynamodb() {
    a_maintenance_runs_through_the_api_and_the_page_follows(Backend::dynamodb("maintenance")).await;
}
