//! Starts the real binary on port 0 against a fresh data folder.

mod common;

use beacon_store::{Query, Store};
use common::{Backend, start, terminate};
use std::process::Command;

#[tokio::test]
async fn the_runner_serves_health_and_seeds_the_sample_page_once() {
    let backend = Backend::embedded();
    let running = start(&backend, &[]);
    let health: serde_json::Value = reqwest::get(format!("{}/healthz", running.base))
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("healthz: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("healthz body: {e}"));
    assert_eq!(health["status"], "ok");
    terminate(running);

    // Restarting must not seed twice; the data survived the process.
    let again = start(&backend, &[]);
    terminate(again);
    let Backend::Embedded(dir) = &backend else { unreachable!() };
    let store = beacon_store_redb::RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("reopen: {e}"));
    let components = store.query(Query::partition("COMPONENTS")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(components.items.len(), 5);
    let incidents = store.query(Query::partition("INCIDENTS")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(incidents.items.len(), 2, "two resolved sample incidents");
    let open = store.query(Query::partition("OPEN")).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(open.items.is_empty());
    let maintenances = store.query(Query::partition("MAINTENANCES")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(maintenances.items.len(), 1, "one maintenance announced for next week");
}

#[tokio::test]
async fn no_demo_leaves_an_empty_store_empty() {
    let backend = Backend::embedded();
    terminate(start(&backend, &["--no-demo"]));
    let Backend::Embedded(dir) = &backend else { unreachable!() };
    let store = beacon_store_redb::RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("reopen: {e}"));
    let components = store.query(Query::partition("COMPONENTS")).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(components.items.is_empty());
}

#[test]
fn a_folder_in_use_is_refused_with_a_clear_message() {
    let backend = Backend::embedded();
    let running = start(&backend, &["--no-demo"]);
    let Backend::Embedded(dir) = &backend else { unreachable!() };
    let second = Command::new(env!("CARGO_BIN_EXE_beacon"))
        .args(["--listen", "127.0.0.1:0", "--no-demo", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already open"), "{stderr}");
    drop(running);
}

#[tokio::test]
async fn the_page_folder_is_served_at_the_root_beside_the_api() {
    let backend = Backend::embedded();
    let Backend::Embedded(dir) = &backend else { unreachable!() };
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(site.join("hello.html"), "<!doctype html><title>Status</title>").unwrap_or_else(|e| panic!("{e}"));
    let running = start(&backend, &["--no-demo"]);
    let page = reqwest::get(format!("{}/hello.html", running.base)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/html"));
    assert!(page.text().await.unwrap_or_default().contains("<title>Status</title>"));
    let api = reqwest::get(format!("{}/healthz", running.base)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api.status(), 200);
    let missing = reqwest::get(format!("{}/nothing-here.html", running.base)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    terminate(running);
}

/// A change made through the API shows on the page served at `/` within a second.
#[tokio::test]
async fn an_incident_reported_through_the_api_reaches_the_page_within_a_second() {
    let backend = Backend::embedded();
    let token = backend.create_token("Ada", "owner");
    let running = start(&backend, &["--no-demo", "--page-name", "Acme"]);
    let client = reqwest::Client::new();
    // The first publish happens at start.
    let mut ready = false;
    for _ in 0..50 {
        if client.get(format!("{}/api/v2/status.json", running.base)).send().await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the page was never published");
    let reported = std::time::Instant::now();
    let created = client
        .post(format!("{}/api/v1/incidents", running.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Checkout failing", "impact": "critical", "message": "Payments fail."}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.status(), 201);
    loop {
        let page = client.get(format!("{}/", running.base)).send().await.unwrap_or_else(|e| panic!("{e}"));
        let html = page.text().await.unwrap_or_default();
        if html.contains("Checkout failing") {
            assert!(html.contains("Major Service Outage"));
            break;
        }
        assert!(reported.elapsed() < std::time::Duration::from_secs(1), "the page did not follow within a second");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status: serde_json::Value = client
        .get(format!("{}/api/v2/status.json", running.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(status["status"]["indicator"], "critical");
    assert_eq!(status["page"]["name"], "Acme");
    terminate(running);
}
