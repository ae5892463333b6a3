//! A page with components, subscribers of every kind, and a real local HTTP receiver
//! that checks webhook signatures.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use beacon_app::{ManualClock, NewComponent, NewGroup, NewSubscriber, ReportIncident, Service};
use beacon_domain::{
    Actor, AffectedComponent, Channel, Component, ComponentGroup, ComponentStatus, Email, EndpointUrl, Events,
    Interest, MemberId, Subscriber,
};
use beacon_notify::render::Mail;
use beacon_notify::{
    Deliverer, GuardedHttp, MailTransport, MessageConfig, OutboundPolicy, OutboxMailer, SendError, StoreQueue,
};
use beacon_site::PageConfig;
use beacon_store_redb::RedbStore;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct World {
    pub _dir: tempfile::TempDir,
    /// The embedded store's change feed (none on DynamoDB, whose feed is its stream).
    pub feed: Option<Arc<dyn beacon_store::ChangeFeed>>,
    pub service: Service,
    pub clock: Arc<ManualClock>,
    pub queue: StoreQueue,
    pub outbox: OutboxMailer,
    pub api: Component,
    pub db: Component,
    pub web: Component,
    pub backend: ComponentGroup,
}

pub fn member() -> Actor {
    Actor::Member { id: MemberId::new(ulid::Ulid::new()) }
}

pub fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// API and database in the "Backend" group, web on its own; on the embedded store.
pub async fn world() -> World {
    let dir = ok(tempfile::tempdir());
    let redb = Arc::new(ok(RedbStore::open(dir.path())));
    let mut w = world_on(redb.clone(), dir).await;
    w.feed = Some(redb);
    w
}

/// The same page on a DynamoDB table of its own on the moto server.
pub async fn world_on_dynamodb() -> World {
    let dir = ok(tempfile::tempdir());
    let store: Arc<dyn beacon_store::Store> = Arc::new(beacon_tests::dynamodb().await);
    world_on(store, dir).await
}

async fn world_on(store: Arc<dyn beacon_store::Store>, dir: tempfile::TempDir) -> World {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let service = Service::new(store.clone(), clock.clone());
    let backend = ok(service
        .create_group(member(), NewGroup { name: "Backend".into(), description: None, position: None })
        .await);
    let component = |name: &str, group| NewComponent { name: name.into(), group_id: group, ..Default::default() };
    let api = ok(service.create_component(member(), component("API", Some(backend.id))).await);
    let db = ok(service.create_component(member(), component("Database", Some(backend.id))).await);
    let web = ok(service.create_component(member(), component("Website", None)).await);
    let outbox = OutboxMailer::new(dir.path().join("outbox"));
    World {
        feed: None,
        queue: StoreQueue::new(store, clock.clone()),
        service,
        clock,
        outbox,
        api,
        db,
        web,
        backend,
        _dir: dir,
    }
}

pub fn config(page_url: &str) -> MessageConfig {
    MessageConfig {
        page: PageConfig {
            id: "test".into(),
            name: "Acme Status".into(),
            url: page_url.into(),
            time_zone: "Etc/UTC".into(),
            logo_url: None,
            links: vec![],
            subscribe_url: None,
            accent: None,
            accent_dark: None,
        },
        api_url: page_url.into(),
        from: ok("Acme Status <status@acme.example>".parse()),
    }
}

pub fn email(address: &str) -> Channel {
    Channel::Email { address: ok(Email::parse(address)) }
}

pub fn url(raw: &str) -> EndpointUrl {
    ok(EndpointUrl::parse(raw, true))
}

pub fn only(components: &[&Component]) -> Interest {
    Interest::Components { components: components.iter().map(|c| c.id).collect(), groups: BTreeSet::new() }
}

pub async fn subscribe(w: &World, channel: Channel, interest: Interest) -> (Subscriber, Option<String>) {
    subscribe_with(w, channel, interest, Events::default(), None).await
}

pub async fn subscribe_with(
    w: &World,
    channel: Channel,
    interest: Interest,
    events: Events,
    contact: Option<&str>,
) -> (Subscriber, Option<String>) {
    let created = ok(w
        .service
        .create_subscriber(
            member(),
            NewSubscriber { channel, interest, events, contact: contact.map(|c| ok(Email::parse(c))) },
        )
        .await);
    (created.subscriber, created.signing_secret)
}

pub async fn report(w: &World, components: &[&Component]) -> beacon_app::IncidentDetail {
    ok(w.service
        .report_incident(
            member(),
            ReportIncident {
                title: Some("Elevated errors".into()),
                message: Some("We are looking into **errors** on the API.".into()),
                impact: Some(beacon_domain::Impact::Major),
                components: Some(
                    components
                        .iter()
                        .map(|c| AffectedComponent { id: c.id, status: ComponentStatus::PartialOutage })
                        .collect(),
                ),
                ..Default::default()
            },
        )
        .await)
}

/// Counts the mails it hands on: the outbox overwrites a repeat of the same message, so
/// counting happens here.
#[derive(Debug)]
pub struct Counting<T> {
    pub inner: T,
    pub sent: Mutex<Vec<Mail>>,
    pub fail_next: AtomicUsize,
    /// Refuse this many sends for good (a rejected message).
    pub reject_next: AtomicUsize,
}

impl<T> Counting<T> {
    pub fn new(inner: T) -> Self {
        Self { inner, sent: Mutex::new(Vec::new()), fail_next: AtomicUsize::new(0), reject_next: AtomicUsize::new(0) }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait::async_trait]
impl<T: MailTransport> MailTransport for Counting<T> {
    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        if self.reject_next.load(Ordering::SeqCst) > 0 {
            self.reject_next.fetch_sub(1, Ordering::SeqCst);
            return Err(SendError::Rejected("550 no such mailbox".into()));
        }
        if self.fail_next.load(Ordering::SeqCst) > 0 {
            self.fail_next.fetch_sub(1, Ordering::SeqCst);
            return Err(SendError::Throttled { retry_after: std::time::Duration::from_secs(2) });
        }
        self.inner.send(mail).await?;
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(mail.clone());
        Ok(())
    }
}

/// One request the receiver took.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub requests: Arc<Mutex<Vec<Received>>>,
    /// Answer 500 to this many requests first.
    pub failures: Arc<AtomicUsize>,
    pub connections: Arc<AtomicUsize>,
}

impl Receiver {
    pub fn taken(&self) -> Vec<Received> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn take(State(r): State<Receiver>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.requests.lock().unwrap_or_else(|p| p.into_inner()).push(Received { path: uri.path().to_owned(), headers, body });
    if r.failures.load(Ordering::SeqCst) > 0 {
        r.failures.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::NO_CONTENT
}

/// A receiver on a loopback port it picked; returns its base URL.
pub async fn receiver() -> (Receiver, String) {
    let r = Receiver::default();
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let address = ok(listener.local_addr());
    let app = Router::new().fallback(take).with_state(r.clone());
    let counted = r.connections.clone();
    tokio::spawn(async move {
        let listener = CountingListener { inner: listener, accepted: counted };
        let _ = axum::serve(listener, app).await;
    });
    (r, format!("http://{address}"))
}

/// Counts accepted connections, so a test can show a refused send never connected.
pub struct CountingListener {
    pub inner: tokio::net::TcpListener,
    pub accepted: Arc<AtomicUsize>,
}

impl axum::serve::Listener for CountingListener {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let accepted = axum::serve::Listener::accept(&mut self.inner).await;
        self.accepted.fetch_add(1, Ordering::SeqCst);
        accepted
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Verifies a `X-Beacon-Signature` header as a receiver would (see the README).
pub fn verify_signature(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => timestamp = Some(v),
            Some(("v1", v)) => signature = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(sig)) = (timestamp, signature) else { return false };
    let Ok(expected) = hex::decode(sig) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

pub fn dev_http() -> Arc<GuardedHttp> {
    Arc::new(ok(GuardedHttp::new(OutboundPolicy { allow_plain_http: true, allow_loopback: true })))
}

pub fn deliverer(w: &World, mail: Arc<dyn MailTransport>, page_url: &str) -> Deliverer {
    Deliverer::new(w.service.clone(), Arc::new(w.queue.clone()), mail, dev_http(), config(page_url))
}

/// Every job due now, taken (and acknowledged: the test acts as the worker).
pub async fn due_jobs(w: &World) -> Vec<beacon_notify::Job> {
    let taken = ok(w.queue.receive(1000, std::time::Duration::from_secs(3600)).await);
    for leased in &taken {
        ok(w.queue.ack(leased).await);
    }
    taken.into_iter().map(|l| l.job).collect()
}

/// Moves the clock on by `seconds`.
pub fn later(w: &World, seconds: i64) {
    w.clock.advance(jiff::SignedDuration::from_secs(seconds));
}
