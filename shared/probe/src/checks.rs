pub use beacon_domain::ErrorClass;
use beacon_notify::http::{GuardedResolver, OutboundPolicy, refusal};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Up,
    Degraded,
    Down,
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub outcome: Outcome,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<ErrorClass>,
    pub message: Option<String>,
}

impl ProbeResult {
    fn up(latency: Duration, status_code: Option<u16>) -> Self {
        Self { outcome: Outcome::Up, status_code, latency_ms: millis(latency), error: None, message: None }
    }

    fn with(outcome: Outcome, latency: Duration, error: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            outcome,
            status_code: None,
            latency_ms: millis(latency),
            error: Some(error),
            message: Some(message.into()),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Status codes a check accepts: single codes and inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected(pub Vec<(u16, u16)>);

impl Default for Expected {
    /// Any 2xx or 3xx, as uptime monitors commonly default.
    fn default() -> Self {
        Self(vec![(200, 399)])
    }
}

impl Expected {
    pub fn accepts(&self, status: u16) -> bool {
        self.0.iter().any(|(low, high)| (*low..=*high).contains(&status))
    }
}

/// A keyword rule on the body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyword {
    pub text: String,
    /// `true`: the body must contain it; `false`: it must not.
    pub present: bool,
}

/// An HTTP(S) check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub expected: Expected,
    pub timeout: Duration,
    #[serde(default)]
    pub follow_redirects: bool,
    #[serde(default)]
    pub keyword: Option<Keyword>,
    /// Slower than this (and otherwise fine) is degraded.
    #[serde(default)]
    pub degraded_after: Option<Duration>,
}

/// The most of a body a keyword rule reads.
const BODY_LIMIT: usize = 1024 * 1024;

fn classify(e: reqwest::Error) -> (ErrorClass, String) {
    // The URL can carry secrets (tokens in query strings): never in the message.
    let e = e.without_url();
    let mut cause: &(dyn std::error::Error + 'static) = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if text.starts_with("refused:") {
        return (ErrorClass::Refused, text.trim_start_matches("refused: ").to_owned());
    }
    if e.is_timeout() {
        return (ErrorClass::Timeout, "no answer within the timeout".to_owned());
    }
    let lower = text.to_lowercase();
    if lower.contains("dns") || lower.contains("failed to lookup") || lower.contains("name or service not known") {
        return (ErrorClass::Dns, text);
    }
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        return (ErrorClass::Tls, text);
    }
    (ErrorClass::Connect, text)
}

/// The HTTP clients checks share, built once per prober: a TLS configuration with its
/// roots is costly to build, and was most of a check's CPU time when made per check.
/// No connection is kept between checks, so each one measures a fresh connection (name
/// lookup, connect, TLS) as a visitor's first request would.
#[derive(Clone, Debug)]
pub struct HttpClients {
    follow: reqwest::Client,
    stay: reqwest::Client,
    policy: OutboundPolicy,
}

impl HttpClients {
    pub fn new(policy: OutboundPolicy) -> Result<Self, String> {
        // A redirect to a name goes through the guarded resolver; one to an address
        // literal never resolves, so the policy is checked here.
        let guarded_redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("too many redirects");
            }
            let literal = match attempt.url().host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            match literal.and_then(|ip| refusal(ip, policy)) {
                Some(why) => attempt.error(format!("refused: redirected to an address that is {why}")),
                None => attempt.follow(),
            }
        });
        let build = |redirects| {
            reqwest::Client::builder()
                .redirect(redirects)
                .no_proxy()
                .pool_max_idle_per_host(0)
                .dns_resolver(Arc::new(GuardedResolver::new(policy)))
                .user_agent(concat!("Beacon-Probe/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build the probes' HTTP client: {e}"))
        };
        Ok(Self { follow: build(guarded_redirects)?, stay: build(reqwest::redirect::Policy::none())?, policy })
    }

    pub fn policy(&self) -> OutboundPolicy {
        self.policy
    }
}

/// Runs an HTTP(S) check.
pub async fn run_http(check: &HttpCheck, clients: &HttpClients) -> ProbeResult {
    let policy = clients.policy;
    let started = Instant::now();
    let url = match url::Url::parse(&check.url) {
        Ok(u) => u,
        Err(e) => {
            return ProbeResult::with(Outcome::Down, started.elapsed(), ErrorClass::Refused, format!("bad url: {e}"));
        }
    };
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(why) = literal.and_then(|ip| refusal(ip, policy)) {
        return ProbeResult::with(Outcome::Down, started.elapsed(), ErrorClass::Refused, why);
    }
    let client = if check.follow_redirects { &clients.follow } else { &clients.stay };
    let method = reqwest::Method::from_bytes(check.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = client.request(method, url).timeout(check.timeout);
    for (name, value) in &check.headers {
        request = request.header(name, value);
    }
    if let Some(body) = &check.body {
        request = request.body(body.clone());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let (class, message) = classify(e);
            return ProbeResult::with(Outcome::Down, started.elapsed(), class, message);
        }
    };
    let status = response.status().as_u16();
    let body = if check.keyword.is_some() {
        let mut bytes = Vec::new();
        let mut response = response;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() >= BODY_LIMIT {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let (class, message) = classify(e);
                    return ProbeResult::with(Outcome::Down, started.elapsed(), class, message);
                }
            }
        }
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        None
    };
    let latency = started.elapsed();
    let mut result = ProbeResult::up(latency, Some(status));
    if !check.expected.accepts(status) {
        result.outcome = Outcome::Down;
        result.error = Some(ErrorClass::Status);
        result.message = Some(format!("status {status} is not an expected one"));
        return result;
    }
    if let (Some(rule), Some(body)) = (&check.keyword, body)
        && body.contains(&rule.text) != rule.present
    {
        result.outcome = Outcome::Down;
        result.error = Some(ErrorClass::Keyword);
        result.message = Some(if rule.present {
            format!("the body does not contain {:?}", rule.text)
        } else {
            format!("the body contains {:?}", rule.text)
        });
        return result;
    }
    if check.degraded_after.is_some_and(|limit| latency > limit) {
        result.outcome = Outcome::Degraded;
        result.error = Some(ErrorClass::Slow);
        result.message = Some(format!("answered in {} ms", millis(latency)));
    }
    result
}

/// A TCP connect check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCheck {
    pub host: String,
    pub port: u16,
    pub timeout: Duration,
}

async fn resolve(host: &str, port: u16, policy: OutboundPolicy) -> Result<Vec<SocketAddr>, (ErrorClass, String)> {
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host, port)).await.map_err(|e| (ErrorClass::Dns, format!("{host}: {e}")))?.collect();
    if addrs.is_empty() {
        return Err((ErrorClass::Dns, format!("{host} has no address")));
    }
    for addr in &addrs {
        if let Some(why) = refusal(addr.ip(), policy) {
            return Err((ErrorClass::Refused, format!("{host} resolves to {} which is {why}", addr.ip())));
        }
    }
    Ok(addrs)
}

async fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
    policy: OutboundPolicy,
) -> Result<tokio::net::TcpStream, (ErrorClass, String)> {
    let addrs = resolve(host, port, policy).await?;
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addrs[..])).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err((ErrorClass::Connect, e.to_string())),
        Err(_) => Err((ErrorClass::Timeout, "no connection within the timeout".into())),
    }
}

pub async fn run_tcp(check: &TcpCheck, policy: OutboundPolicy) -> ProbeResult {
    let started = Instant::now();
    match connect(&check.host, check.port, check.timeout, policy).await {
        Ok(_) => ProbeResult::up(started.elapsed(), None),
        Err((class, message)) => ProbeResult::with(Outcome::Down, started.elapsed(), class, message),
    }
}

/// A TLS certificate check.
#[derive(Clone, Debug)]
pub struct TlsCheck {
    pub host: String,
    pub port: u16,
    pub timeout: Duration,
    /// Expiring within this is degraded.
    pub warn_within: SignedDuration,
    /// Trust anchors; `None` for the public web's roots.
    pub roots: Option<Arc<rustls::RootCertStore>>,
}

pub async fn run_tls(check: &TlsCheck, policy: OutboundPolicy, now: Timestamp) -> ProbeResult {
    let started = Instant::now();
    let stream = match connect(&check.host, check.port, check.timeout, policy).await {
        Ok(s) => s,
        Err((class, message)) => return ProbeResult::with(Outcome::Down, started.elapsed(), class, message),
    };
    let roots = check
        .roots
        .clone()
        .unwrap_or_else(|| Arc::new(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
        Err(e) => return ProbeResult::with(Outcome::Down, started.elapsed(), ErrorClass::Tls, e.to_string()),
    };
    let Ok(name) = rustls::pki_types::ServerName::try_from(check.host.clone()) else {
        return ProbeResult::with(Outcome::Down, started.elapsed(), ErrorClass::Tls, "not a valid server name");
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = match tokio::time::timeout(check.timeout, connector.connect(name, stream)).await {
        Ok(Ok(tls)) => tls,
        // Expired, untrusted or for another name: the handshake says which.
        Ok(Err(e)) => return ProbeResult::with(Outcome::Down, started.elapsed(), ErrorClass::Tls, e.to_string()),
        Err(_) => {
            return ProbeResult::with(Outcome::Down, started.elapsed(), ErrorClass::Timeout, "no handshake in time");
        }
    };
    let latency = started.elapsed();
    let (_, session) = tls.get_ref();
    let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) else {
        return ProbeResult::with(Outcome::Down, latency, ErrorClass::Tls, "no certificate presented");
    };
    let not_after = match x509_parser::parse_x509_certificate(leaf.as_ref()) {
        Ok((_, cert)) => cert.validity().not_after.timestamp(),
        Err(e) => {
            return ProbeResult::with(Outcome::Down, latency, ErrorClass::Tls, format!("unreadable certificate: {e}"));
        }
    };
    let left = SignedDuration::from_secs(not_after - now.as_second());
    if left <= SignedDuration::ZERO {
        return ProbeResult::with(Outcome::Down, latency, ErrorClass::Tls, "the certificate has expired");
    }
    if left <= check.warn_within {
        let days = left.as_secs() / 86_400;
        return ProbeResult::with(
            Outcome::Degraded,
            latency,
            ErrorClass::CertificateExpiring,
            format!("the certificate expires in {days} days"),
        );
    }
    ProbeResult::up(latency, None)
}

/// A heartbeat's state at `now`: up while the last call is within interval plus grace.
pub fn heartbeat(
    last: Option<Timestamp>,
    since: Timestamp,
    interval: SignedDuration,
    grace: SignedDuration,
    now: Timestamp,
) -> ProbeResult {
    // Before the first call, the clock runs from when the monitor was created.
    let from = last.unwrap_or(since);
    let deadline = from.checked_add(interval).and_then(|t| t.checked_add(grace)).unwrap_or(from);
    if now <= deadline {
        return ProbeResult::up(Duration::ZERO, None);
    }
    let late = now.duration_since(deadline);
    ProbeResult::with(
        Outcome::Down,
        Duration::ZERO,
        ErrorClass::Missed,
        format!("no heartbeat for {} s past its deadline", late.as_secs()),
    )
}

/// Runs the check a monitor describes (heartbeats are judged from their calls, with
/// [`heartbeat`], not probed). `roots` replaces the public roots for TLS (tests).
pub async fn run_monitor(
    kind: &beacon_domain::MonitorKind,
    clients: &HttpClients,
    now: Timestamp,
    roots: Option<Arc<rustls::RootCertStore>>,
) -> Option<ProbeResult> {
    use beacon_domain::MonitorKind;
    Some(match kind {
        MonitorKind::Http {
            url,
            method,
            headers,
            body,
            expected,
            timeout_ms,
            follow_redirects,
            keyword,
            keyword_present,
            degraded_after_ms,
        } => {
            let check = HttpCheck {
                method: method.clone(),
                url: url.clone(),
                headers: headers.clone(),
                body: body.clone(),
                expected: Expected(expected.clone()),
                timeout: Duration::from_millis(u64::from(*timeout_ms)),
                follow_redirects: *follow_redirects,
                keyword: keyword.clone().map(|text| Keyword { text, present: *keyword_present }),
                degraded_after: degraded_after_ms.map(|ms| Duration::from_millis(u64::from(ms))),
            };
            run_http(&check, clients).await
        }
        MonitorKind::Tls { host, port, warn_days } => {
            let check = TlsCheck {
                host: host.clone(),
                port: *port,
                timeout: Duration::from_secs(10),
                warn_within: SignedDuration::from_hours(24 * i64::from(*warn_days)),
                roots,
            };
            run_tls(&check, clients.policy, now).await
        }
        MonitorKind::Tcp { host, port, timeout_ms } => {
            let check =
                TcpCheck { host: host.clone(), port: *port, timeout: Duration::from_millis(u64::from(*timeout_ms)) };
            run_tcp(&check, clients.policy).await
        }
        MonitorKind::Heartbeat { .. } => return None,
    })
}

impl From<Outcome> for beacon_domain::CheckOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Up => Self::Up,
            Outcome::Degraded => Self::Degraded,
            Outcome::Down => Self::Down,
        }
    }
}
