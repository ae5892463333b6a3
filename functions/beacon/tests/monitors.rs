//! Monitors through the real binary: created by the API, checked by the in-process
//! prober against a server the test starts, opening and resolving an incident that the
//! published page shows; and a heartbeat URL called by GET and POST.

mod common;

use common::{Backend, start};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

async fn target(status: Arc<AtomicU16>) -> String {
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let address = ok(listener.local_addr());
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let status = status.clone();
            async move {
                let code = axum::http::StatusCode::from_u16(status.load(Ordering::SeqCst))
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                (code, "ok")
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}/health")
}

/// Polls `probe` every 100 ms for up to 15 s until it returns something.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut probe: impl FnMut() -> F) -> T {
    for _ in 0..150 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_monitor_opens_and_resolves_an_incident_that_the_page_shows() {
    let status = Arc::new(AtomicU16::new(200));
    let url = target(status.clone()).await;
    let backend = Backend::embedded();
    let token = backend.create_token("Ops", "owner");
    let server = start(&backend, &["--no-demo", "--dev-probes"]);
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.base);
    let get = |path: String| {
        let http = http.clone();
        let token = token.clone();
        async move { ok(ok(http.get(path).bearer_auth(token).send().await).json::<serde_json::Value>().await) }
    };

    let component: serde_json::Value = ok(ok(http
        .post(api("/api/v1/components"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Checkout"}))
        .send()
        .await)
    .json()
    .await);
    let component_id = component["id"].as_str().unwrap_or_default().to_owned();

    // Bad settings are refused, every problem named, nothing created.
    let refused = ok(http
        .post(api("/api/v1/monitors"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "name": "Metadata",
            "check": {"kind": "http", "url": "http://169.254.169.254/latest/meta-data/"},
            "interval_seconds": 5,
            "regions": ["mars"],
        }))
        .send()
        .await);
    assert_eq!(refused.status(), 422);
    let problem: serde_json::Value = ok(refused.json().await);
    let fields: Vec<&str> =
        problem["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert!(
        fields.contains(&"url") && fields.contains(&"interval_seconds") && fields.contains(&"regions"),
        "{problem}"
    );
    assert_eq!(get(api("/api/v1/monitors")).await, serde_json::json!([]));

    let created = ok(http
        .post(api("/api/v1/monitors"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "name": "Checkout",
            "check": {"kind": "http", "url": url, "timeout_ms": 2000},
            "interval_seconds": 30,
            "thresholds": {"confirm_after": 1, "recover_after": 1},
            "components": [{"id": component_id}],
        }))
        .send()
        .await);
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = ok(created.json().await);
    let id = created["monitor"]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created["monitor"]["regions"], serde_json::json!(["local"]));
    assert_eq!(created["monitor"]["components"][0]["down"], "major_outage");

    let results = api(&format!("/api/v1/monitors/{id}/results"));
    let first = eventually("a first result", || async {
        let page = get(results.clone()).await;
        page["items"].as_array().filter(|items| !items.is_empty()).map(|items| items[0].clone())
    })
    .await;
    assert_eq!((first["outcome"].as_str(), first["status_code"].as_u64()), (Some("up"), Some(200)), "{first}");

    status.store(503, Ordering::SeqCst);
    let checked = ok(http.post(api(&format!("/api/v1/monitors/{id}/check"))).bearer_auth(&token).send().await);
    assert_eq!(checked.status(), 202);
    let incident = eventually("the monitor's incident", || async {
        let open = get(api("/api/v1/incidents?state=open")).await;
        open["items"].as_array().and_then(|items| items.first().cloned())
    })
    .await;
    assert_eq!(incident["title"], "Checkout is down");
    let incident_id = incident["id"].as_str().unwrap_or_default().to_owned();
    let timeline = get(api(&format!("/api/v1/incidents/{incident_id}/timeline"))).await;
    let evidence = timeline
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["event"] == "monitor_evidence")
        .cloned()
        .unwrap_or_else(|| panic!("evidence in the timeline: {timeline}"));
    assert_eq!(evidence["results"][0]["status_code"], 503);
    let shown = get(api(&format!("/api/v1/components/{component_id}"))).await;
    assert_eq!(shown["status"], "major_outage");

    // The published page shows it, and none of the evidence.
    let summary = eventually("the page to show the incident", || async {
        let response = http.get(api("/api/v2/summary.json")).send().await.ok()?;
        let body: serde_json::Value = response.json().await.ok()?;
        (body["incidents"].as_array().is_some_and(|i| !i.is_empty())).then_some(body)
    })
    .await;
    assert_eq!(summary["incidents"][0]["name"], "Checkout is down");
    // (Not a bare "503": nanosecond timestamps contain those digits now and then.)
    let text = summary.to_string();
    assert!(!text.contains("status_code") && !text.contains("HTTP 503"), "evidence stays private: {summary}");
    // The component's bars come from its checks, with a response-time chart, and the
    // monitor's target never appears.
    let index = ok(ok(http.get(api("/")).send().await).text().await);
    assert!(index.contains("measured by automated checks"), "{index}");
    assert!(index.contains("<figure class=\"rt\"><svg viewBox="), "a response-time chart");
    assert!(!index.contains(&url) && !index.contains("/health"), "the monitor's target stays private");

    status.store(200, Ordering::SeqCst);
    ok(http.post(api(&format!("/api/v1/monitors/{id}/check"))).bearer_auth(&token).send().await);
    eventually("the incident to resolve", || async {
        let detail = get(api(&format!("/api/v1/incidents/{incident_id}"))).await;
        (detail["status"] == "resolved").then_some(())
    })
    .await;
    let stats = get(api(&format!("/api/v1/monitors/{id}/stats"))).await;
    assert!(stats[0]["checks"].as_u64().is_some_and(|n| n >= 3), "{stats}");
}

#[tokio::test]
async fn a_heartbeat_url_takes_get_and_post_and_refuses_unknown_secrets() {
    let backend = Backend::embedded();
    let token = backend.create_token("Ops", "owner");
    let server = start(&backend, &["--no-demo"]);
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.base);
    let created: serde_json::Value = ok(ok(http
        .post(api("/api/v1/monitors"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Nightly backup", "check": {"kind": "heartbeat", "grace_seconds": 600}, "interval_seconds": 3600}))
        .send()
        .await)
    .json()
    .await);
    let path = created["heartbeat_path"].as_str().unwrap_or_else(|| panic!("a heartbeat path: {created}")).to_owned();
    assert_eq!(ok(http.get(api(&path)).send().await).status(), 200);
    assert_eq!(ok(http.post(api(&path)).send().await).status(), 200);
    assert_eq!(ok(http.get(api("/api/v1/heartbeats/not-a-secret")).send().await).status(), 404);
    // The secret is shown once.
    let id = created["monitor"]["id"].as_str().unwrap_or_default();
    let fetched =
        ok(ok(http.get(api(&format!("/api/v1/monitors/{id}"))).bearer_auth(&token).send().await).text().await);
    let secret = path.rsplit('/').next().unwrap_or_default();
    assert!(!fetched.contains(secret), "{fetched}");
}
