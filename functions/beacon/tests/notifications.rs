//! Notifications end to end on the real runner: a visitor subscribes through the page's
//! form (no scripts), confirms from the mail, hears about an incident reported through
//! the API, and leaves with one click; an admin's webhook subscriber receives a signed
//! Statuspage-shaped delivery at a local receiver.

mod common;

use common::{Backend, start};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn outbox(backend: &Backend) -> std::path::PathBuf {
    match backend {
        Backend::Embedded(dir) => dir.path().join("outbox"),
        Backend::DynamoDb { dir, .. } => dir.path().join("outbox"),
    }
}

fn mails(dir: &Path) -> Vec<String> {
    let mut found: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| {
                    let modified = e.metadata().and_then(|m| m.modified()).ok()?;
                    Some((modified, std::fs::read_to_string(e.path()).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|(t, _)| *t);
    found.into_iter().map(|(_, m)| m).collect()
}

/// Waits (bounded) until the outbox holds `n` mails.
async fn wait_for_mails(dir: &Path, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let found = mails(dir);
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} mails in {}, found {}", dir.display(), mails(dir).len());
}

/// The first link in a mail that starts with `prefix`, with quoted-printable soft
/// breaks undone.
fn link(mail: &str, prefix: &str) -> String {
    let text = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let start = text.find(prefix).unwrap_or_else(|| panic!("no {prefix} in {text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn token_of(url: &str) -> String {
    url.split("token=").nth(1).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_visitor_subscribes_confirms_hears_and_leaves_with_one_click() {
    let backend = Backend::embedded();
    let token = backend.create_token("Ops", "owner");
    let server = start(&backend, &["--no-demo"]);
    let http = reqwest::Client::new();
    let base = &server.base;
    let api = |path: &str| format!("{base}{path}");

    let component: serde_json::Value = ok(ok(http
        .post(api("/api/v1/components"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "API"}))
        .send()
        .await)
    .json()
    .await);
    let component_id = component["id"].as_str().unwrap_or_default().to_owned();

    // The page carries the form, posting to the page's own origin.
    let mut index = String::new();
    for _ in 0..50 {
        index = ok(ok(http.get(api("/index.html")).send().await).text().await);
        if index.contains(&component_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(index.contains(&format!("action=\"{base}/subscriptions\"")), "{index}");

    // Subscribe as a browser without scripts would: a form post.
    let answer = ok(http
        .post(api("/subscriptions"))
        .form(&[("email", "visitor@example.com"), ("components", component_id.as_str())])
        .send()
        .await);
    assert_eq!(answer.status(), 200);
    let body = ok(answer.text().await);
    assert!(body.contains("Check your inbox"), "{body}");

    let dir = outbox(&backend);
    let confirmation = wait_for_mails(&dir, 1).await.remove(0);
    assert!(confirmation.contains("To: visitor@example.com"), "{confirmation}");
    let confirm_url = link(&confirmation, &format!("{base}/subscriptions/confirm?token="));

    // A link scanner's GET confirms nothing; the button does.
    let page = ok(ok(http.get(&confirm_url).send().await).text().await);
    assert!(page.contains("<button type=\"submit\">Confirm</button>"), "{page}");
    let confirmed =
        ok(http.post(api("/subscriptions/confirm")).form(&[("token", token_of(&confirm_url))]).send().await);
    assert_eq!(confirmed.status(), 200);
    assert!(ok(confirmed.text().await).contains("You are subscribed"));

    // Asking again with the same address looks the same to the visitor.
    let again = ok(http.post(api("/subscriptions")).form(&[("email", "visitor@example.com")]).send().await);
    assert!(ok(again.text().await).contains("Check your inbox"));

    // An incident on the component reaches the subscriber.
    let reported = ok(http
        .post(api("/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "title": "Login failures",
            "message": "Some logins fail; we are on it.",
            "impact": "major",
            "components": [{"id": component_id, "status": "partial_outage"}]
        }))
        .send()
        .await);
    assert_eq!(reported.status(), 201);
    let all = wait_for_mails(&dir, 3).await;
    let notice = all.iter().find(|m| m.contains("Login failures")).unwrap_or_else(|| panic!("no notice in {all:?}"));
    assert!(notice.contains("Subject: [Status] Investigating: Login failures"), "{notice}");
    assert!(notice.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    let unsubscribe = link(notice, &format!("{base}/subscriptions/unsubscribe?token="));

    // One click, as a mail client does it (RFC 8058).
    let clicked = ok(http
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await);
    assert_eq!(clicked.status(), 200);
    let listed: serde_json::Value =
        ok(ok(http.get(api("/api/v1/subscribers/count")).bearer_auth(&token).send().await).json().await);
    assert_eq!(listed["count"], 0);

    // Public endpoints never say who is subscribed, and refuse a bad token plainly.
    let bad = ok(http.get(api("/subscriptions/manage?token=nope")).send().await);
    assert_eq!(bad.status(), 404);
}

type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>;

#[tokio::test]
async fn an_admins_webhook_subscriber_gets_a_signed_delivery() {
    let seen: Seen = Arc::default();
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap_or_else(|p| p.into_inner()).push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let receiver = ok(listener.local_addr());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let backend = Backend::embedded();
    let token = backend.create_token("Ops", "owner");
    let server = start(&backend, &["--no-demo", "--dev-webhooks"]);
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.base);
    let created = ok(http
        .post(api("/api/v1/subscribers"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"kind": "webhook", "target": format!("http://{receiver}/hook"), "contact": "ops@example.com"}))
        .send()
        .await);
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = ok(created.json().await);
    let secret = created["signing_secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    let id = created["subscriber"]["id"].as_str().unwrap_or_default().to_owned();
    // The secret is shown once: never again.
    let fetched =
        ok(ok(http.get(api(&format!("/api/v1/subscribers/{id}"))).bearer_auth(&token).send().await).text().await);
    assert!(!fetched.contains(&secret), "{fetched}");

    let reported = ok(http
        .post(api("/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Queue backlog", "message": "Jobs are delayed.", "impact": "minor"}))
        .send()
        .await);
    assert_eq!(reported.status(), 201);
    let mut delivered = Vec::new();
    for _ in 0..100 {
        delivered = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered.len(), 1, "one delivery");
    let (headers, body) = &delivered[0];
    let signature = headers.get("x-beacon-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (t, v1) = signature.split_once(',').unwrap_or_default();
    let t = t.trim_start_matches("t=");
    let mut mac = ok(Hmac::<Sha256>::new_from_slice(secret.as_bytes()));
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    assert!(mac.verify_slice(&ok(hex::decode(v1.trim_start_matches("v1=")))).is_ok(), "signature {signature}");
    let payload: serde_json::Value = ok(serde_json::from_slice(body));
    assert_eq!(payload["incident"]["name"], "Queue backlog");
    assert_eq!(payload["page"]["status_indicator"], "minor");

    // The delivery log shows it.
    let log: serde_json::Value =
        ok(ok(http.get(api(&format!("/api/v1/subscribers/{id}/deliveries"))).bearer_auth(&token).send().await)
            .json()
            .await);
    assert_eq!(log["items"][0]["outcome"], "sent");
    assert_eq!(log["items"][0]["status_code"], 204);
}

#[tokio::test]
async fn admins_list_export_and_import_subscribers_as_csv() {
    let backend = Backend::embedded();
    let token = backend.create_token("Ops", "owner");
    let viewer = backend.create_token("Watcher", "viewer");
    let server = start(&backend, &["--no-demo"]);
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.base);

    let csv = "kind,target,events,contact,state\n\
               email,first@example.com,,,active\n\
               slack,https://hooks.slack.com/services/T0/B0/secret,created resolved,ops@example.com,\n\
               email,first@example.com,,,\n\
               email,not-an-address,,,\n\
               webhook,http://insecure.example.com/hook,,,\n\
               email,unconfirmed@example.com,,,pending\n\
               webhook,https://hooks.example.com/in,,ops@example.com,\n";
    let imported = ok(http
        .post(api("/api/v1/subscribers/import"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await);
    assert_eq!(imported.status(), 200);
    let report: serde_json::Value = ok(imported.json().await);
    assert_eq!(report["created"], 3, "{report}");
    assert_eq!(report["duplicates"], 1, "{report}");
    let lines: Vec<u64> =
        report["errors"].as_array().into_iter().flatten().filter_map(|e| e["line"].as_u64()).collect();
    assert_eq!(lines, vec![5, 6, 7], "the bad address, the plain-HTTP webhook, the unconfirmed one: {report}");
    assert_eq!(report["secrets"][0]["line"], 8, "the new webhook's signing secret, shown once: {report}");
    assert!(report["secrets"][0]["signing_secret"].as_str().is_some_and(|s| s.starts_with("whsec_")));

    // Viewers may not read subscribers: they are personal data.
    let refused = ok(http.get(api("/api/v1/subscribers")).bearer_auth(&viewer).send().await);
    assert_eq!(refused.status(), 403);

    let listed: serde_json::Value =
        ok(ok(http.get(api("/api/v1/subscribers?channel=slack")).bearer_auth(&token).send().await).json().await);
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["target"], "https://hooks.slack.com/…", "a chat webhook's secret path is never shown");
    assert_eq!(items[0]["events"]["updated"], false);
    let bad = ok(http.get(api("/api/v1/subscribers?state=gone")).bearer_auth(&token).send().await);
    assert_eq!(bad.status(), 422);

    let page: serde_json::Value =
        ok(ok(http.get(api("/api/v1/subscribers?limit=1")).bearer_auth(&token).send().await).json().await);
    let cursor = page["next_cursor"].as_str().unwrap_or_else(|| panic!("a second page: {page}")).to_owned();
    let second: serde_json::Value =
        ok(ok(http.get(api(&format!("/api/v1/subscribers?limit=1&cursor={cursor}"))).bearer_auth(&token).send().await)
            .json()
            .await);
    assert_ne!(page["items"][0]["id"], second["items"][0]["id"]);

    let exported = ok(http.get(api("/api/v1/subscribers/export")).bearer_auth(&token).send().await);
    assert_eq!(exported.status(), 200);
    assert!(exported.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/csv"));
    let text = ok(exported.text().await);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "id,kind,target,scope,components,groups,incident_id,events,state,contact,created_at");
    assert_eq!(rows.len(), 4, "{text}");
    assert!(
        text.contains("first@example.com") && text.contains("created resolved") && text.contains("ops@example.com")
    );
    assert!(text.contains("https://hooks.slack.com/services/T0/B0/secret"), "the export holds whole targets: {text}");

    // An export imports again as duplicates only.
    let again: serde_json::Value = ok(ok(http
        .post(api("/api/v1/subscribers/import"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(text.clone())
        .send()
        .await)
    .json()
    .await);
    assert_eq!((again["created"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(3)), "{again}");

    let id = items[0]["id"].as_str().unwrap_or_default();
    let deleted = ok(http.delete(api(&format!("/api/v1/subscribers/{id}"))).bearer_auth(&token).send().await);
    assert_eq!(deleted.status(), 204);
    let count: serde_json::Value =
        ok(ok(http.get(api("/api/v1/subscribers/count")).bearer_auth(&token).send().await).json().await);
    assert_eq!(count["count"], 2);
}
