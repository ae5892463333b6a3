//! The published page in a real browser: Debian's Chromium, headless, against the
//! runner on loopback. The page loads with no console message, and script payloads in
//! titles, messages, component names and Markdown links never run; times show in the
//! visitor's time zone once the page's script ran.

mod common;

use common::{Backend, start, terminate};
use std::process::Command;
use std::time::Duration;

fn chromium() -> String {
    std::env::var("BEACON_TEST_CHROMIUM").unwrap_or_else(|_| {
        panic!("BEACON_TEST_CHROMIUM is not set: run the suite with tests/run.sh, which installs Debian's chromium")
    })
}

/// Loads `url`, lets scripts run, and returns the serialised DOM and the browser's log.
fn load(url: &str) -> (String, String) {
    load_with(url, "UTC")
}

/// [`load`] in the time zone `zone`.
fn load_with(url: &str, zone: &str) -> (String, String) {
    let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(chromium())
        .env("TZ", zone)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("run chromium: {e}"));
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Waits for the publisher to put `url` on the page.
async fn published(client: &reqwest::Client, url: &str) {
    for _ in 0..50 {
        if client.get(url).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} was not published within 5 s");
}

const PAYLOAD: &str = r#"<script>document.body.setAttribute('data-pwned','script')</script><img src=x onerror="document.body.setAttribute('data-pwned','img')">"#;

#[tokio::test]
async fn the_page_renders_without_console_messages_and_payloads_never_run() {
    let backend = Backend::embedded();
    let token = backend.create_token("Ada", "owner");
    let running = start(&backend, &["--no-demo", "--page-name", "Acme"]);
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client.post(format!("{}{path}", running.base)).bearer_auth(&token).json(&body).send()
    };
    let component: serde_json::Value = post(
        "/api/v1/components",
        serde_json::json!({"name": "API <img src=x onerror=document.body.setAttribute('data-pwned','c')>"}),
    )
    .await
    .and_then(|r| r.error_for_status())
    .unwrap_or_else(|e| panic!("{e}"))
    .json()
    .await
    .unwrap_or_default();
    let incident: serde_json::Value = post(
        "/api/v1/incidents",
        serde_json::json!({
            "title": format!("Outage {PAYLOAD}"),
            "impact": "major",
            "message": format!("We are on it. {PAYLOAD}\n\n[click me](javascript:document.body.setAttribute('data-pwned','link'))"),
            "components": [{"id": component["id"], "status": "major_outage"}],
        }),
    )
    .await
    .and_then(|r| r.error_for_status())
    .unwrap_or_else(|e| panic!("{e}"))
    .json()
    .await
    .unwrap_or_default();
    let soon = |hours: i64| {
        jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(hours))
            .unwrap_or_else(|e| panic!("{e}"))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let maintenance: serde_json::Value = post(
        "/api/v1/maintenances",
        serde_json::json!({
            "title": format!("Upgrade {PAYLOAD}"),
            "message": format!("Planned. {PAYLOAD}"),
            "starts_at": soon(48), "ends_at": soon(50), "time_zone": "Europe/Berlin",
            "components": [component["id"]],
        }),
    )
    .await
    .and_then(|r| r.error_for_status())
    .unwrap_or_else(|e| panic!("{e}"))
    .json()
    .await
    .unwrap_or_default();
    let incident_page = format!("{}/incidents/{}.html", running.base, incident["id"].as_str().unwrap_or_default());
    let maintenance_page =
        format!("{}/maintenances/{}.html", running.base, maintenance["id"].as_str().unwrap_or_default());
    published(&client, &incident_page).await;
    published(&client, &maintenance_page).await;
    for url in [
        format!("{}/", running.base),
        incident_page,
        maintenance_page.clone(),
        format!("{}/history/index.html", running.base),
    ] {
        let (dom, log) = load(&url);
        assert!(dom.contains("Acme"), "{url} did not render: {dom}");
        if url == maintenance_page || url.ends_with('/') {
            assert!(dom.contains("Europe/Berlin"), "{url}: the window in its own zone: {dom}");
        }
        assert!(!dom.contains("data-pwned=\""), "a payload ran on {url}");
        let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
        assert!(console.is_empty(), "console messages on {url}: {console:?}");
    }
    terminate(running);
}

#[tokio::test]
async fn times_show_in_the_visitors_time_zone_and_read_as_utc_without_scripts() {
    let backend = Backend::embedded();
    let token = backend.create_token("Ada", "owner");
    let running = start(&backend, &["--no-demo", "--page-name", "Acme"]);
    let client = reqwest::Client::new();
    let incident: serde_json::Value = client
        .post(format!("{}/api/v1/incidents", running.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Slow logins", "impact": "minor", "message": "Looking into it."}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let created: jiff::Timestamp = incident["created_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no created_at in {incident}"));
    let page = format!("{}/incidents/{}.html", running.base, incident["id"].as_str().unwrap_or_default());
    published(&client, &page).await;
    // Kathmandu is 5 h 45 min ahead of UTC: its clock time is unmistakable.
    let local = created.to_zoned(jiff::tz::TimeZone::get("Asia/Kathmandu").unwrap_or_else(|e| panic!("{e}")));
    let utc_text = created.strftime("%Y-%m-%d %H:%M UTC").to_string();

    let (dom, log) = load_with(&page, "Asia/Kathmandu");
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(dom.contains(&local.strftime("%H:%M").to_string()), "no Kathmandu time {local} in {dom}");
    assert!(dom.contains("GMT+5:45"), "no zone name in {dom}");
    // ICU names the zone by its older spelling, Asia/Katmandu.
    assert!(dom.contains("Times are in your time zone (Asia/Kat"), "{dom}");
    assert!(dom.contains(&format!("title=\"{utc_text}\"")), "the UTC text stays as the title: {dom}");

    // Without scripts the browser shows the markup as served (headless Chromium cannot
    // serialise a page with scripts disabled): readable UTC times and a note saying so.
    let served = client.get(&page).send().await.and_then(|r| r.error_for_status());
    let served = served.unwrap_or_else(|e| panic!("{e}")).text().await.unwrap_or_default();
    assert!(served.contains(&format!(">{utc_text}</time>")), "{served}");
    assert!(served.contains(">Times are UTC.<"), "{served}");
    terminate(running);
}
