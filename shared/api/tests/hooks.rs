//! Hook URLs through the router, with each tool's real payload: what they open and
//! resolve, how bad input is refused (and changes nothing), how SNS messages are
//! verified and subscriptions confirmed, and the delivery log admins read.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use beacon_api::integrations::SnsFetch;
use beacon_api::{ApiState, router};
use beacon_app::{NewMember, Service, SystemClock};
use beacon_domain::{Actor, Role};
use beacon_store::{Query, Store};
use beacon_store_redb::RedbStore;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../tests/fixtures/integrations/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// SNS's side, as tests supply it: the test certificate for any URL asked, and a record
/// of what was fetched and confirmed.
#[derive(Debug, Default)]
struct FixtureSns {
    fetched: Mutex<Vec<String>>,
    confirmed: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl SnsFetch for FixtureSns {
    async fn certificate(&self, url: &str) -> Result<Vec<u8>, String> {
        self.fetched.lock().map_err(|e| e.to_string())?.push(url.to_owned());
        Ok(fixture("sns-test-certificate.pem"))
    }
    async fn confirm(&self, subscribe_url: &str) -> Result<(), String> {
        self.confirmed.lock().map_err(|e| e.to_string())?.push(subscribe_url.to_owned());
        Ok(())
    }
}

struct Harness {
    app: axum::Router,
    admin: String,
    store: Arc<RedbStore>,
    sns: Arc<FixtureSns>,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
    let service = Service::new(store.clone(), Arc::new(SystemClock));
    let member = service
        .create_member(
            Actor::System,
            NewMember { name: "Ada".into(), email: "ada@example.com".into(), role: Role::Admin },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, secret) =
        service.create_token(Actor::System, member.id, "t", Role::Admin).await.unwrap_or_else(|e| panic!("{e}"));
    let sns = Arc::new(FixtureSns::default());
    let app = router(ApiState::new(service).with_sns(sns.clone()));
    Harness { app, admin: secret.expose().to_owned(), store, sns, _dir: dir }
}

impl Harness {
    async fn send(&self, method: Method, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = response.status();
        let problem = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or_default() == "application/problem+json");
        let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_client_error() {
            assert!(problem, "{path}: a {status} is problem+json: {value}");
        }
        (status, value)
    }

    async fn admin(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let headers =
            [("authorization", format!("Bearer {}", self.admin)), ("content-type", "application/json".into())];
        let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
        self.send(method, path, &headers, body).await
    }

    async fn hook(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> (StatusCode, Value) {
        self.send(Method::POST, path, headers, body.to_vec()).await
    }

    async fn create(&self, body: Value) -> Value {
        let (status, created) = self.admin(Method::POST, "/api/v1/integrations", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    async fn incidents(&self) -> Vec<beacon_store::Item> {
        self.store.query(Query::partition("INCIDENTS").limit(1000)).await.unwrap_or_else(|e| panic!("{e}")).items
    }

    async fn deliveries(&self, id: &str) -> Vec<Value> {
        let (status, page) =
            self.admin(Method::GET, &format!("/api/v1/integrations/{id}/deliveries"), Value::Null).await;
        assert_eq!(status, StatusCode::OK);
        page["items"].as_array().cloned().unwrap_or_default()
    }
}

/// A delivery's headers and body, and the status it must get.
type Case = (Vec<(&'static str, String)>, Vec<u8>, StatusCode);

fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn bad_deliveries_get_their_problem_are_logged_and_change_nothing() {
    let h = harness().await;
    let created = h
        .create(json!({"name": "Checks", "kind": "generic", "key_field": "check.id", "require_signature": true}))
        .await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let path = created["hook_path"].as_str().unwrap_or_default().to_owned();
    let secret = created["signing_secret"].as_str().unwrap_or_default().to_owned();
    assert!(path.starts_with("/api/v1/hooks/hook_") && secret.starts_with("whsec_"), "{created}");
    assert!(created.get("secret_hash").is_none(), "the stored hash is never shown");
    let (_, shown) = h.admin(Method::GET, &format!("/api/v1/integrations/{id}"), Value::Null).await;
    assert!(shown.get("hook_path").is_none() && shown.get("signing_secret").is_none(), "secrets are shown once");

    let now = jiff::Timestamp::now().as_second();
    let body = br#"{"check": {"id": "db", "name": "Database"}}"#;
    let signed =
        |b: &[u8]| vec![("x-beacon-signature", sign(&secret, now, b)), ("content-type", "application/json".into())];
    // Unknown URL and wrong secret: the same 404, and nothing logged anywhere.
    let (unknown, _) = h.hook("/api/v1/hooks/hook_nope", &signed(body), body).await;
    assert_eq!(unknown, StatusCode::NOT_FOUND);
    let cases: Vec<Case> = vec![
        (vec![], body.to_vec(), StatusCode::UNAUTHORIZED),
        (vec![("x-beacon-signature", sign(&secret, now - 301, body))], body.to_vec(), StatusCode::UNAUTHORIZED),
        (vec![("x-beacon-signature", sign("whsec_other", now, body))], body.to_vec(), StatusCode::UNAUTHORIZED),
        (signed(b"{"), b"{".to_vec(), StatusCode::BAD_REQUEST),
        (signed(b"[]"), b"[]".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        (signed(br#"{"name": "no key"}"#), br#"{"name": "no key"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        (vec![], vec![b' '; 65 * 1024], StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (headers, body, expected) in &cases {
        let (status, problem) = h.hook(&path, headers, body).await;
        assert_eq!(status, *expected, "{problem}");
    }
    assert!(h.incidents().await.is_empty(), "a refused delivery opened an incident");
    let log = h.deliveries(&id).await;
    assert_eq!(log.len(), cases.len());
    assert!(log.iter().all(|d| d["outcome"] == "rejected" && d["error"].is_string()), "{log:?}");

    let (status, answer) = h.hook(&path, &signed(body), body).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::ACCEPTED, Some("opened")), "{answer}");
    assert_eq!(h.incidents().await.len(), 1);
    assert_eq!(h.deliveries(&id).await[0]["incidents"], answer["incidents"]);

    // A rotated URL: the old one is unknown at once, the new one works.
    let (status, rotated) =
        h.admin(Method::PATCH, &format!("/api/v1/integrations/{id}"), json!({"rotate_secret": true})).await;
    assert_eq!(status, StatusCode::OK);
    let new_path = rotated["hook_path"].as_str().unwrap_or_default().to_owned();
    assert!(new_path.starts_with("/api/v1/hooks/") && new_path != path);
    assert_eq!(h.hook(&path, &signed(body), body).await.0, StatusCode::NOT_FOUND);
    let (status, again) = h.hook(&new_path, &signed(body), body).await;
    assert_eq!((status, again["outcome"].as_str()), (StatusCode::ACCEPTED, Some("repeat")));
    // Deleted: gone.
    assert_eq!(
        h.admin(Method::DELETE, &format!("/api/v1/integrations/{id}"), Value::Null).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.hook(&new_path, &signed(body), body).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn alertmanager_and_grafana_payloads_open_and_resolve_through_their_hooks() {
    let h = harness().await;
    for (kind, firing, resolved) in [
        ("alertmanager", "alertmanager-firing.json", "alertmanager-resolved.json"),
        ("grafana", "grafana-firing.json", "grafana-resolved.json"),
    ] {
        let created = h.create(json!({"name": kind, "kind": kind})).await;
        let path = created["hook_path"].as_str().unwrap_or_default().to_owned();
        let (status, opened) = h.hook(&path, &[], &fixture(firing)).await;
        assert_eq!((status, opened["outcome"].as_str()), (StatusCode::ACCEPTED, Some("opened")), "{kind}: {opened}");
        let incident = opened["incidents"][0].as_str().unwrap_or_default().to_owned();
        let (status, closed) = h.hook(&path, &[], &fixture(resolved)).await;
        assert_eq!((status, closed["outcome"].as_str()), (StatusCode::ACCEPTED, Some("resolved")), "{kind}: {closed}");
        assert_eq!(closed["incidents"][0], incident.as_str());
        let (_, shown) = h.admin(Method::GET, &format!("/api/v1/incidents/{incident}"), Value::Null).await;
        assert_eq!(shown["status"], "resolved", "{kind}: {shown}");
        // The other tool's payload is not this one's: readable, but not its alert.
        let other = if kind == "grafana" { "sns-cloudwatch-alarm.json" } else { "grafana-firing.json" };
        assert!(h.hook(&path, &[], &fixture(other)).await.0.is_client_error());
    }
}

#[tokio::test]
async fn sns_messages_are_verified_before_use_and_subscriptions_confirmed() {
    let h = harness().await;
    let created = h.create(json!({"name": "CloudWatch", "kind": "sns", "title_template": "{alarm_name}"})).await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let path = created["hook_path"].as_str().unwrap_or_default().to_owned();
    let text = [("content-type", "text/plain; charset=UTF-8".to_owned())];

    let (status, confirmed) = h.hook(&path, &text, &fixture("sns-signed-confirmation-v2.json")).await;
    assert_eq!((status, confirmed["outcome"].as_str()), (StatusCode::OK, Some("confirmed")), "{confirmed}");
    let subscribe: Value = serde_json::from_slice(&fixture("sns-signed-confirmation-v2.json")).unwrap_or_default();
    assert_eq!(
        *h.sns.confirmed.lock().unwrap_or_else(|e| e.into_inner()),
        vec![subscribe["SubscribeURL"].as_str().unwrap_or_default().to_owned()]
    );

    // Tampered, unsigned (a placeholder signature) or signed by a certificate off SNS's
    // hosts: refused before anything is read from it.
    let signed = String::from_utf8(fixture("sns-signed-v2.json")).unwrap_or_default();
    let tampered = signed.replace("ALARM", "OK");
    assert_eq!(h.hook(&path, &text, tampered.as_bytes()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(h.hook(&path, &text, &fixture("sns-cloudwatch-alarm.json")).await.0, StatusCode::UNAUTHORIZED);
    let mut foreign: Value = serde_json::from_str(&signed).unwrap_or_default();
    foreign["SigningCertURL"] = json!("https://attacker.example/SimpleNotificationService-x.pem");
    let fetched_before = h.sns.fetched.lock().unwrap_or_else(|e| e.into_inner()).len();
    assert_eq!(h.hook(&path, &text, foreign.to_string().as_bytes()).await.0, StatusCode::UNAUTHORIZED);
    let fetched = h.sns.fetched.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(fetched.len(), fetched_before, "a foreign certificate URL is never fetched");
    assert!(h.incidents().await.is_empty());

    for (name, outcome) in
        [("sns-signed-v1.json", "opened"), ("sns-signed-v2.json", "repeat"), ("sns-signed-ok-v2.json", "resolved")]
    {
        let (status, answer) = h.hook(&path, &text, &fixture(name)).await;
        assert_eq!((status, answer["outcome"].as_str()), (StatusCode::ACCEPTED, Some(outcome)), "{name}: {answer}");
    }
    assert_eq!(h.incidents().await.len(), 1);
    let outcomes: Vec<String> =
        h.deliveries(&id).await.iter().map(|d| d["outcome"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(outcomes, ["resolved", "repeat", "opened", "rejected", "rejected", "rejected", "confirmed"]);
}

/// The real fetcher against a loopback server this test starts: certificates are cached
/// by URL, confirmations always go out, and an error status is an error.
#[tokio::test]
async fn the_http_fetcher_caches_certificates_and_visits_confirmations() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new()
        .route(
            "/cert.pem",
            axum::routing::get(move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    fixture("sns-test-certificate.pem")
                }
            }),
        )
        .route("/confirm", axum::routing::get(|| async { "<ConfirmSubscriptionResponse/>" }))
        .route("/gone", axum::routing::get(|| async { StatusCode::NOT_FOUND }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let fetch = beacon_api::integrations::HttpSnsFetch::new(true).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://{address}/cert.pem");
    let first = fetch.certificate(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let second = fetch.certificate(&url).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, fixture("sns-test-certificate.pem"));
    assert_eq!((first, hits.load(Ordering::SeqCst)), (second, 1), "the second came from the cache");
    assert!(fetch.confirm(&format!("http://{address}/confirm")).await.is_ok());
    assert!(fetch.confirm(&format!("http://{address}/gone")).await.is_err_and(|e| e.contains("404")));
    // HTTPS only outside tests.
    let strict = beacon_api::integrations::HttpSnsFetch::new(false).unwrap_or_else(|e| panic!("{e}"));
    assert!(strict.certificate(&url).await.is_err());
}

/// The API function serves everything but hooks, the hooks function hooks alone; the
/// API's document still describes the hook route.
#[tokio::test]
async fn the_api_and_hooks_routers_split_the_routes() {
    let h = harness().await;
    let created = h.create(json!({"name": "Prometheus", "kind": "alertmanager"})).await;
    let path = created["hook_path"].as_str().unwrap_or_default().to_owned();
    let state = ApiState::new(Service::new(h.store.clone(), Arc::new(SystemClock))).with_sns(h.sns.clone());
    let send = |app: axum::Router, method: Method, uri: String, body: Vec<u8>| async move {
        let request =
            Request::builder().method(method).uri(uri).body(Body::from(body)).unwrap_or_else(|e| panic!("{e}"));
        app.oneshot(request).await.unwrap_or_else(|e| panic!("{e}")).status()
    };
    let api = beacon_api::api_router(state.clone());
    let hooks = beacon_api::hooks_router(state);
    assert_eq!(
        send(api.clone(), Method::POST, path.clone(), fixture("alertmanager-firing.json")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(hooks.clone(), Method::POST, path, fixture("alertmanager-firing.json")).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(send(hooks, Method::GET, "/healthz".into(), Vec::new()).await, StatusCode::NOT_FOUND);
    assert_eq!(send(api.clone(), Method::GET, "/healthz".into(), Vec::new()).await, StatusCode::OK);
    let doc = api.oneshot(Request::get("/api/openapi.json").body(Body::empty()).unwrap_or_else(|e| panic!("{e}")));
    let doc = doc
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let doc: Value = serde_json::from_slice(&doc).unwrap_or_default();
    assert!(doc["paths"]["/api/v1/hooks/{secret}"]["post"].is_object(), "the hook route is documented");
}
