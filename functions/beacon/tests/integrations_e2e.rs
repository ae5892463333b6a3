//! Integrations and domain events against the real binary: an alerting tool's payload
//! posted to a hook URL opens and resolves an incident, a thousand identical deliveries
//! at once open one (on the embedded store and on DynamoDB), and the incident's events
//! land in `events.jsonl` and at the configured events URL.

mod common;

use common::{Backend, start};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../tests/fixtures/integrations/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates an Alertmanager integration; its hook URL.
async fn hook(client: &Client, base: &str, token: &str) -> String {
    let created = client
        .post(format!("{base}/api/v1/integrations"))
        .bearer_auth(token)
        .json(&json!({"name": "Prometheus", "kind": "alertmanager", "title_template": "{alertname} ({job})"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, created) = json(created).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    format!("{base}{}", created["hook_path"].as_str().unwrap_or_default())
}

async fn post(client: &Client, url: &str, body: Vec<u8>) -> (StatusCode, Value) {
    json(client.post(url).body(body).send().await.unwrap_or_else(|e| panic!("{e}"))).await
}

async fn a_thousand_deliveries_open_one_incident(backend: Backend) {
    let token = backend.create_token("admin", "admin");
    let running = start(&backend, &["--no-demo", "--no-probes"]);
    let client = Client::new();
    let url = hook(&client, &running.base, &token).await;
    let body = fixture("alertmanager-firing.json");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1_000 {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.spawn(async move { post(&client, &url, body).await });
    }
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    let mut incidents = std::collections::BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (status, answer) = done.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        *outcomes.entry(answer["outcome"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        incidents.insert(answer["incidents"][0].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(outcomes, [("opened".to_owned(), 1), ("repeat".to_owned(), 999)].into());
    assert_eq!(incidents.len(), 1);
    let listed = client
        .get(format!("{}/api/v1/incidents?state=all", running.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, listed) = json(listed).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_deliveries_open_one_incident_on_the_embedded_store() {
    a_thousand_deliveries_open_one_incident(Backend::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_deliveries_open_one_incident_on_dynamodb() {
    a_thousand_deliveries_open_one_incident(Backend::dynamodb("hooks")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_open_and_resolve_an_incident_whose_events_reach_the_file_and_the_url() {
    // The team's own endpoint for events, on loopback.
    let received = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(serde_json::from_str(&body).unwrap_or_default());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let backend = Backend::embedded();
    let Backend::Embedded(dir) = &backend else { unreachable!() };
    let events_file = dir.path().join("events.jsonl");
    let token = backend.create_token("admin", "admin");
    let events_url = format!("http://{address}/events");
    let running = start(&backend, &["--no-demo", "--no-probes", "--events-url", &events_url]);
    let client = Client::new();
    let url = hook(&client, &running.base, &token).await;

    let (status, opened) = post(&client, &url, fixture("alertmanager-firing.json")).await;
    assert_eq!((status, opened["outcome"].as_str()), (StatusCode::ACCEPTED, Some("opened")), "{opened}");
    let id = opened["incidents"][0].as_str().unwrap_or_default().to_owned();
    let (status, resolved) = post(&client, &url, fixture("alertmanager-resolved.json")).await;
    assert_eq!((status, resolved["outcome"].as_str()), (StatusCode::ACCEPTED, Some("resolved")), "{resolved}");
    let (status, wrong) = post(&client, &format!("{}/api/v1/hooks/hook_wrong", running.base), b"{}".to_vec()).await;
    assert_eq!((status, wrong["status"].as_u64()), (StatusCode::NOT_FOUND, Some(404)));

    // The events of both changes, in order, in the file and at the URL.
    let wanted = ["incident.created", "incident.resolved"];
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = std::fs::read_to_string(&events_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["incident"]["id"] == id.as_str())
            .collect();
        if lines.len() >= wanted.len() && received.lock().unwrap_or_else(|e| e.into_inner()).len() >= wanted.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let types: Vec<&str> = lines.iter().map(|e| e["type"].as_str().unwrap_or_default()).collect();
    assert_eq!(types, wanted, "{lines:?}");
    assert_eq!(lines[0]["incident"]["source"], "webhook");
    assert_eq!(lines[1]["incident"]["previous_status"], "investigating");
    let posted = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(posted, lines, "the URL got exactly what the file got");
    common::terminate(running);
}
