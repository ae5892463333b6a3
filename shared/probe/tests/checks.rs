//! Real checks against servers the test starts on loopback: an HTTP server switched
//! between healthy, slow, wrong status, missing keyword and closed; TLS servers with a
//! certificate expiring soon, one expired and one nobody trusts (generated here); a
//! closed TCP port; heartbeats on a clock of the test's own.

use beacon_notify::OutboundPolicy;
use beacon_probe::{ErrorClass, HttpCheck, Keyword, Outcome, TcpCheck, heartbeat, run_http, run_tcp};
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

const DEV: OutboundPolicy = OutboundPolicy { allow_plain_http: true, allow_loopback: true };

fn clients(policy: OutboundPolicy) -> beacon_probe::HttpClients {
    ok(beacon_probe::HttpClients::new(policy))
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

const HEALTHY: u8 = 0;
const SLOW: u8 = 1;
const WRONG_STATUS: u8 = 2;
const NO_KEYWORD: u8 = 3;

/// A server whose behaviour the test switches; returns its base URL.
async fn target(mode: Arc<AtomicU8>) -> String {
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let address = ok(listener.local_addr());
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let mode = mode.clone();
            async move {
                match mode.load(Ordering::SeqCst) {
                    SLOW => {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        (axum::http::StatusCode::OK, "status: ok")
                    }
                    WRONG_STATUS => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "status: ok"),
                    NO_KEYWORD => (axum::http::StatusCode::OK, "status: degraded"),
                    _ => (axum::http::StatusCode::OK, "status: ok"),
                }
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

fn check(url: String) -> HttpCheck {
    HttpCheck {
        method: "GET".into(),
        url,
        headers: vec![("x-probe".into(), "beacon".into())],
        body: None,
        expected: Default::default(),
        timeout: Duration::from_secs(2),
        follow_redirects: false,
        keyword: Some(Keyword { text: "status: ok".into(), present: true }),
        degraded_after: Some(Duration::from_millis(200)),
    }
}

#[tokio::test]
async fn an_http_check_tells_healthy_slow_wrong_status_missing_keyword_and_closed_apart() {
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    let base = target(mode.clone()).await;
    let c = check(format!("{base}/health"));

    let healthy = run_http(&c, &clients(DEV)).await;
    assert_eq!((healthy.outcome, healthy.status_code, healthy.error), (Outcome::Up, Some(200), None), "{healthy:?}");

    mode.store(SLOW, Ordering::SeqCst);
    let slow = run_http(&c, &clients(DEV)).await;
    assert_eq!((slow.outcome, slow.error), (Outcome::Degraded, Some(ErrorClass::Slow)), "{slow:?}");
    assert!(slow.latency_ms >= 300);

    mode.store(WRONG_STATUS, Ordering::SeqCst);
    let wrong = run_http(&c, &clients(DEV)).await;
    assert_eq!((wrong.outcome, wrong.status_code, wrong.error), (Outcome::Down, Some(503), Some(ErrorClass::Status)));

    mode.store(NO_KEYWORD, Ordering::SeqCst);
    let missing = run_http(&c, &clients(DEV)).await;
    assert_eq!((missing.outcome, missing.error), (Outcome::Down, Some(ErrorClass::Keyword)), "{missing:?}");
    // The same body passes a rule that the word must be absent.
    let mut absent = c.clone();
    absent.keyword = Some(Keyword { text: "status: ok".into(), present: false });
    assert_eq!(run_http(&absent, &clients(DEV)).await.outcome, Outcome::Up);

    // Closed: a port nobody listens on.
    let closed = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let port = ok(closed.local_addr()).port();
    drop(closed);
    let gone = run_http(&check(format!("http://127.0.0.1:{port}/health")), &clients(DEV)).await;
    assert_eq!((gone.outcome, gone.error), (Outcome::Down, Some(ErrorClass::Connect)), "{gone:?}");
}

#[tokio::test]
async fn a_probe_never_reaches_inside_addresses_unless_allowed() {
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    let base = target(mode).await;
    let strict = OutboundPolicy::default();
    for url in [
        format!("{base}/health"),
        base.replace("127.0.0.1", "localhost") + "/health",
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
    ] {
        let refused =
            run_http(&check(url.clone()), &clients(OutboundPolicy { allow_plain_http: true, ..strict })).await;
        assert_eq!((refused.outcome, refused.error), (Outcome::Down, Some(ErrorClass::Refused)), "{url}: {refused:?}");
    }
    let tcp =
        run_tcp(&TcpCheck { host: "169.254.169.254".into(), port: 80, timeout: Duration::from_secs(1) }, strict).await;
    assert_eq!(tcp.error, Some(ErrorClass::Refused));
}

#[tokio::test]
async fn a_tcp_check_connects_or_says_why_not() {
    let open = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let port = ok(open.local_addr()).port();
    let up = run_tcp(&TcpCheck { host: "127.0.0.1".into(), port, timeout: Duration::from_secs(1) }, DEV).await;
    assert_eq!(up.outcome, Outcome::Up);
    drop(open);
    let down = run_tcp(&TcpCheck { host: "127.0.0.1".into(), port, timeout: Duration::from_secs(1) }, DEV).await;
    assert_eq!((down.outcome, down.error), (Outcome::Down, Some(ErrorClass::Connect)));
}

#[test]
fn a_heartbeat_is_down_only_after_interval_and_grace() {
    let created = Timestamp::UNIX_EPOCH;
    let minute = SignedDuration::from_mins(1);
    let grace = SignedDuration::from_secs(30);
    let at = |secs: i64| created.checked_add(SignedDuration::from_secs(secs)).unwrap_or(created);
    // Never called: the clock runs from creation.
    assert_eq!(heartbeat(None, created, minute, grace, at(90)).outcome, Outcome::Up);
    let missed = heartbeat(None, created, minute, grace, at(91));
    assert_eq!((missed.outcome, missed.error), (Outcome::Down, Some(ErrorClass::Missed)));
    // A call resets it.
    assert_eq!(heartbeat(Some(at(80)), created, minute, grace, at(160)).outcome, Outcome::Up);
    assert_eq!(heartbeat(Some(at(80)), created, minute, grace, at(171)).outcome, Outcome::Down);
}

mod tls {
    use super::*;
    use beacon_probe::{TlsCheck, run_tls};
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    struct Authority {
        params: CertificateParams,
        key: KeyPair,
        cert: CertificateDer<'static>,
    }

    fn authority() -> Authority {
        let key = ok(KeyPair::generate());
        let mut params = ok(CertificateParams::new(Vec::<String>::new()));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = ok(params.self_signed(&key)).der().clone();
        Authority { params, key, cert }
    }

    /// A certificate for localhost valid from `from` to `until` days from now, signed by
    /// `ca` (or by itself).
    fn leaf(ca: Option<&Authority>, from: i64, until: i64) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = ok(KeyPair::generate());
        let mut params = ok(CertificateParams::new(vec!["localhost".to_owned()]));
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from);
        params.not_after = now + time::Duration::days(until);
        let cert = match ca {
            Some(ca) => ok(params.signed_by(&key, &Issuer::from_params(&ca.params, &ca.key))),
            None => ok(params.self_signed(&key)),
        };
        (cert.der().clone(), PrivatePkcs8KeyDer::from(key.serialize_der()).into())
    }

    /// A TLS server on loopback presenting `chain`; returns its port.
    async fn server(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> u16 {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config =
            ok(ok(rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions())
                .with_no_client_auth()
                .with_single_cert(chain, key));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
        let port = ok(listener.local_addr()).port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(socket).await;
                });
            }
        });
        port
    }

    fn check(port: u16, ca: &Authority) -> TlsCheck {
        let mut roots = rustls::RootCertStore::empty();
        ok(roots.add(ca.cert.clone()));
        TlsCheck {
            host: "localhost".into(),
            port,
            timeout: Duration::from_secs(2),
            warn_within: SignedDuration::from_hours(14 * 24),
            roots: Some(Arc::new(roots)),
        }
    }

    #[tokio::test]
    async fn certificates_are_up_expiring_expired_or_untrusted() {
        let ca = authority();
        let (cert, key) = leaf(Some(&ca), -1, 60);
        let fine = run_tls(&check(server(vec![cert, ca.cert.clone()], key).await, &ca), DEV, Timestamp::now()).await;
        assert_eq!(fine.outcome, Outcome::Up, "{fine:?}");

        let (cert, key) = leaf(Some(&ca), -1, 5);
        let soon = run_tls(&check(server(vec![cert, ca.cert.clone()], key).await, &ca), DEV, Timestamp::now()).await;
        assert_eq!((soon.outcome, soon.error), (Outcome::Degraded, Some(ErrorClass::CertificateExpiring)), "{soon:?}");
        assert!(
            soon.message.as_deref().is_some_and(|m| m.contains("expires in 4 days") || m.contains("expires in 5 days"))
        );

        let (cert, key) = leaf(Some(&ca), -30, -1);
        let expired = run_tls(&check(server(vec![cert, ca.cert.clone()], key).await, &ca), DEV, Timestamp::now()).await;
        assert_eq!((expired.outcome, expired.error), (Outcome::Down, Some(ErrorClass::Tls)), "{expired:?}");
        assert!(expired.message.as_deref().is_some_and(|m| m.to_lowercase().contains("expired")), "{expired:?}");

        let (cert, key) = leaf(None, -1, 60);
        let stranger = run_tls(&check(server(vec![cert], key).await, &ca), DEV, Timestamp::now()).await;
        assert_eq!((stranger.outcome, stranger.error), (Outcome::Down, Some(ErrorClass::Tls)), "{stranger:?}");
    }
}

#[tokio::test]
async fn a_monitors_settings_run_as_its_check() {
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    let base = target(mode.clone()).await;
    let kind: beacon_domain::MonitorKind = ok(serde_json::from_value(serde_json::json!({
        "kind": "http", "url": format!("{base}/health"), "keyword": "status: ok", "degraded_after_ms": 200
    })));
    let up = beacon_probe::run_monitor(&kind, &clients(DEV), Timestamp::now(), None)
        .await
        .unwrap_or_else(|| panic!("a result"));
    assert_eq!(beacon_domain::CheckOutcome::from(up.outcome), beacon_domain::CheckOutcome::Up);
    mode.store(NO_KEYWORD, Ordering::SeqCst);
    let down = beacon_probe::run_monitor(&kind, &clients(DEV), Timestamp::now(), None)
        .await
        .unwrap_or_else(|| panic!("a result"));
    assert_eq!((down.outcome, down.error), (Outcome::Down, Some(ErrorClass::Keyword)));
    let heartbeat: beacon_domain::MonitorKind = ok(serde_json::from_value(serde_json::json!({"kind": "heartbeat"})));
    assert!(
        beacon_probe::run_monitor(&heartbeat, &clients(DEV), Timestamp::now(), None).await.is_none(),
        "heartbeats are not probed"
    );
}

/// Redirects are followed only where the monitor says so, and never into an inside
/// address, even one given as a literal (which no resolver sees).
#[tokio::test]
async fn a_redirect_into_an_inside_address_is_refused() {
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let address = ok(listener.local_addr());
    let app = axum::Router::new()
        .route(
            "/metadata",
            axum::routing::get(|| async {
                (axum::http::StatusCode::FOUND, [("location", "http://169.254.169.254/latest/meta-data/")])
            }),
        )
        .route(
            "/moved",
            axum::routing::get(|| async { (axum::http::StatusCode::MOVED_PERMANENTLY, [("location", "/health")]) }),
        )
        .route("/health", axum::routing::get(|| async { "status: ok" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut follow = check(format!("http://{address}/metadata"));
    follow.follow_redirects = true;
    let refused = run_http(&follow, &clients(DEV)).await;
    assert_eq!((refused.outcome, refused.error), (Outcome::Down, Some(ErrorClass::Refused)), "{refused:?}");
    follow.url = format!("http://{address}/moved");
    let moved = run_http(&follow, &clients(DEV)).await;
    assert_eq!((moved.outcome, moved.status_code), (Outcome::Up, Some(200)), "{moved:?}");
    // Not following: the redirect itself is the answer (3xx is expected by default).
    follow.follow_redirects = false;
    follow.keyword = None;
    let stayed = run_http(&follow, &clients(DEV)).await;
    assert_eq!(stayed.status_code, Some(301));
}
