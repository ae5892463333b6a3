//! The whole loop on a clock the test moves: real checks against a local server, rounds
//! closed from one region or several, incidents opened with their evidence and resolved
//! on recovery, subscribers told; on the embedded store and on DynamoDB (moto).

use beacon_app::{EditIncident, ManualClock, MonitorSettings, NewComponent, Recorded, Service};
use beacon_domain::{
    Actor, CheckOutcome, Component, ComponentStatus, EventKind, Finding, Impact, IncidentSource, IncidentStatus,
    MemberId, Monitor, MonitorKind, MonitoredComponent, RegionResult, Step, Thresholds,
};
use beacon_notify::OutboundPolicy;
use beacon_probe::Prober;
use beacon_store::ChangeFeed;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

const DEV: OutboundPolicy = OutboundPolicy { allow_plain_http: true, allow_loopback: true };

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn member() -> Actor {
    Actor::Member { id: MemberId::new(ulid::Ulid::new()) }
}

struct World {
    _dir: tempfile::TempDir,
    feed: Option<Arc<dyn ChangeFeed>>,
    service: Service,
    clock: Arc<ManualClock>,
    api: Component,
}

async fn world() -> World {
    let dir = ok(tempfile::tempdir());
    let redb = Arc::new(ok(beacon_store_redb::RedbStore::open(dir.path())));
    let mut w = world_on(redb.clone(), dir).await;
    w.feed = Some(redb);
    w
}

async fn world_on_dynamodb() -> World {
    let dir = ok(tempfile::tempdir());
    world_on(Arc::new(beacon_tests::dynamodb().await), dir).await
}

async fn world_on(store: Arc<dyn beacon_store::Store>, dir: tempfile::TempDir) -> World {
    // Whole minutes, so rounds and days line up with what the assertions count.
    let clock = Arc::new(ManualClock::new(ok(Timestamp::from_second(1_795_000_000 - 1_795_000_000 % 86_400 + 3_600))));
    let service = Service::new(store, clock.clone());
    let api = ok(service.create_component(member(), NewComponent { name: "API".into(), ..Default::default() }).await);
    World { _dir: dir, feed: None, service, clock, api }
}

macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn embedded() {
                super::$name(super::world().await).await
            }

            #[tokio::test]
            async fn dynamodb() {
                super::$name(super::world_on_dynamodb().await).await
            }
        }
    };
}

/// A server answering `/health` with the status the test sets.
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
                (code, "status: ok")
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}/health")
}

fn http(url: &str) -> MonitorKind {
    ok(serde_json::from_value(serde_json::json!({"kind": "http", "url": url, "timeout_ms": 2000})))
}

fn settings(w: &World, kind: MonitorKind, regions: &[&str], thresholds: Thresholds) -> MonitorSettings {
    MonitorSettings {
        name: "API health".into(),
        check: kind,
        interval_seconds: Some(60),
        regions: Some(regions.iter().map(|r| (*r).to_owned()).collect()),
        thresholds: Some(thresholds),
        components: vec![MonitoredComponent {
            id: w.api.id,
            down: ComponentStatus::MajorOutage,
            degraded: ComponentStatus::DegradedPerformance,
        }],
        incident_title: None,
        incident_message: None,
        publish: true,
        paused: false,
    }
}

fn known(regions: &[&str]) -> Vec<String> {
    regions.iter().map(|r| (*r).to_owned()).collect()
}

async fn create(w: &World, s: MonitorSettings) -> Monitor {
    let known = s.regions.clone().unwrap_or_default();
    ok(w.service.create_monitor(member(), s, &known).await).monitor
}

fn minute(w: &World) {
    w.clock.advance(SignedDuration::from_secs(60));
}

async fn status_of(w: &World) -> ComponentStatus {
    ok(w.service.component(w.api.id).await).status
}

async fn evidence(w: &World, incident: beacon_domain::IncidentId) -> Vec<(Finding, CheckOutcome, Vec<RegionResult>)> {
    ok(w.service.timeline(incident).await)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::MonitorEvidence { finding, outcome, results, .. } => Some((finding, outcome, results)),
            _ => None,
        })
        .collect()
}

on_both!(a_failure_confirmed_opens_one_incident_with_evidence_and_recovery_resolves_it);
async fn a_failure_confirmed_opens_one_incident_with_evidence_and_recovery_resolves_it(w: World) {
    let status = Arc::new(AtomicU16::new(200));
    let url = target(status.clone()).await;
    let monitor =
        create(&w, settings(&w, http(&url), &["local"], Thresholds { confirm_after: 2, recover_after: 2 })).await;
    let prober = ok(Prober::new(w.service.clone(), "local", DEV));

    let first = ok(prober.tick().await);
    assert_eq!((first.checked, first.rounds_closed, first.opened), (1, 1, 0));
    // Nothing more is due until the next round.
    assert_eq!(ok(prober.tick().await).checked, 0);

    status.store(503, Ordering::SeqCst);
    minute(&w);
    assert_eq!(ok(prober.tick().await).opened, 0, "one failing round is not yet confirmed");
    assert_eq!(status_of(&w).await, ComponentStatus::Operational);
    minute(&w);
    assert_eq!(ok(prober.tick().await).opened, 1, "the second failing round confirms");

    let monitor_now = ok(w.service.monitor(monitor.id).await);
    let incident_id = monitor_now.incident_id.unwrap_or_else(|| panic!("the monitor links its incident"));
    let detail = ok(w.service.incident(incident_id).await);
    assert_eq!(detail.incident.title.as_str(), "API health is down");
    assert_eq!(
        (detail.incident.source, detail.incident.impact, detail.incident.monitor_id),
        (IncidentSource::Monitor, Impact::Major, Some(monitor.id))
    );
    assert!(detail.updates[0].message.as_str().contains("API health down"), "{:?}", detail.updates[0].message);
    assert_eq!(status_of(&w).await, ComponentStatus::MajorOutage);
    let found = evidence(&w, incident_id).await;
    assert_eq!(found.len(), 1);
    let (finding, outcome, results) = &found[0];
    assert_eq!((*finding, *outcome), (Finding::Confirmed, CheckOutcome::Down));
    assert_eq!(results.len(), 1);
    assert_eq!((results[0].region.as_str(), results[0].status_code), ("local", Some(503)));
    assert_eq!(results[0].error, Some(beacon_domain::ErrorClass::Status));

    // Further failures open nothing more.
    minute(&w);
    assert_eq!(ok(prober.tick().await).opened, 0);
    assert_eq!(ok(w.service.open_incidents().await).len(), 1);
    // One passing round, then failing again: evidence on the same incident.
    status.store(200, Ordering::SeqCst);
    minute(&w);
    ok(prober.tick().await);
    status.store(503, Ordering::SeqCst);
    minute(&w);
    assert_eq!(ok(prober.tick().await).opened, 0);
    assert_eq!(ok(w.service.open_incidents().await).len(), 1);

    status.store(200, Ordering::SeqCst);
    minute(&w);
    assert_eq!(ok(prober.tick().await).resolved, 0, "one passing round is not yet a recovery");
    minute(&w);
    assert_eq!(ok(prober.tick().await).resolved, 1);
    let resolved = ok(w.service.incident(incident_id).await);
    assert_eq!(resolved.incident.status, IncidentStatus::Resolved);
    assert!(resolved.updates.last().is_some_and(|u| u.message.as_str().contains("up again")));
    assert!(matches!(resolved.updates.last().map(|u| &u.author), Some(Actor::Monitor { .. })));
    assert_eq!(status_of(&w).await, ComponentStatus::Operational);
    assert_eq!(ok(w.service.monitor(monitor.id).await).incident_id, None);
    let findings: Vec<Finding> = evidence(&w, incident_id).await.into_iter().map(|(f, _, _)| f).collect();
    assert_eq!(findings, vec![Finding::Confirmed, Finding::FailingAgain, Finding::Recovered]);

    // Eight rounds: four down, four up; results newest first with a cursor.
    let page = ok(w.service.monitor_results(monitor.id, "local", None, 5).await);
    assert_eq!(page.items.len(), 5);
    assert_eq!(page.items[0].outcome, CheckOutcome::Up);
    let rest = ok(w.service.monitor_results(monitor.id, "local", page.next, 5).await);
    assert_eq!(rest.items.len(), 3);
    assert!(rest.items[0].at < page.items[4].at);
    let days = ok(w.service.monitor_days(monitor.id, beacon_app::Clock::now(w.clock.as_ref())).await);
    assert_eq!(days.len(), 1);
    assert_eq!((days[0].checks, days[0].failures, days[0].down_seconds, days[0].observed_seconds), (8, 4, 240, 480));
    assert!(days[0].p50_ms.is_some() && days[0].p95_ms >= days[0].p50_ms);

    // The change feed carries the incident's news to the page and the subscribers.
    if let Some(feed) = &w.feed {
        let subscriber = ok(w
            .service
            .create_subscriber(
                member(),
                beacon_app::NewSubscriber {
                    channel: beacon_domain::Channel::Email {
                        address: ok(beacon_domain::Email::parse("ops@example.com")),
                    },
                    interest: beacon_domain::Interest::Components {
                        components: [w.api.id].into(),
                        groups: Default::default(),
                    },
                    events: Default::default(),
                    contact: None,
                },
            )
            .await)
        .subscriber;
        let entries = ok(feed.read("test", 1000).await);
        let changes: Vec<beacon_domain::Change> =
            entries.iter().filter_map(|e| ok(beacon_app::repo::change_from_item(&e.item))).collect();
        let reported = changes
            .iter()
            .find(|c| matches!(c.kind, beacon_domain::ChangeKind::IncidentReported { incident_id, .. } if incident_id == detail.incident.id))
            .unwrap_or_else(|| panic!("the opening is in the feed"));
        assert!(matches!(reported.actor, Actor::Monitor { .. }));
        assert!(changes.iter().any(
            |c| matches!(c.kind, beacon_domain::ChangeKind::IncidentResolved { incident_id, .. } if incident_id == detail.incident.id)
        ));
        let queue = beacon_notify::StoreQueue::new(w.service.store().clone(), w.clock.clone());
        let planner = beacon_notify::Planner::new(w.service.clone(), Arc::new(queue.clone()));
        ok(planner.plan_change(reported).await);
        let jobs = ok(queue.receive(100, std::time::Duration::from_secs(60)).await);
        assert!(jobs.iter().any(|j| j.job.subscribers.contains(&subscriber.id)), "the component's follower is told");
    }
}

on_both!(one_flaky_region_opens_nothing_and_racing_regions_open_one_incident);
async fn one_flaky_region_opens_nothing_and_racing_regions_open_one_incident(w: World) {
    let regions = ["eu", "us", "ap"];
    let monitor = create(
        &w,
        settings(
            &w,
            http("https://api.example.com/health"),
            &regions,
            Thresholds { confirm_after: 1, recover_after: 1 },
        ),
    )
    .await;
    let result = |region: &str, outcome| RegionResult {
        region: region.into(),
        at: beacon_app::Clock::now(w.clock.as_ref()),
        outcome,
        status_code: Some(if outcome == CheckOutcome::Up { 200 } else { 503 }),
        latency_ms: 40,
        error: None,
        message: None,
    };
    let round = monitor.round_at;
    assert_eq!(
        ok(w.service.record_result(monitor.id, round, result("eu", CheckOutcome::Down)).await),
        Recorded::Waiting
    );
    assert_eq!(
        ok(w.service.record_result(monitor.id, round, result("eu", CheckOutcome::Down)).await),
        Recorded::Duplicate,
        "a region reports a round once"
    );
    assert_eq!(ok(w.service.record_result(monitor.id, round, result("us", CheckOutcome::Up)).await), Recorded::Waiting);
    let closed = ok(w.service.record_result(monitor.id, round, result("ap", CheckOutcome::Up)).await);
    assert_eq!(closed, Recorded::Closed { outcome: CheckOutcome::Up, step: Step::Stay });
    let after = ok(w.service.monitor(monitor.id).await);
    assert_eq!(after.last_dissenting, vec!["eu".to_owned()], "the flaky region is recorded");
    assert!(ok(w.service.open_incidents().await).is_empty());

    // All three fail at once and race to close the round: one incident.
    minute(&w);
    let round = after.round_at;
    let racers: Vec<_> = regions
        .iter()
        .map(|region| {
            let service = w.service.clone();
            let r = result(region, CheckOutcome::Down);
            tokio::spawn(async move { service.record_result(monitor.id, round, r).await })
        })
        .collect();
    let mut opened = 0;
    for racer in racers {
        if let Recorded::Closed { step: Step::Open(_), .. } = ok(ok(racer.await)) {
            opened += 1;
        }
    }
    // Closing again (a late region, a retry) changes nothing.
    assert_eq!(ok(w.service.close_round(monitor.id, round).await), Some(Recorded::Superseded));
    assert_eq!(opened, 1);
    assert_eq!(ok(w.service.open_incidents().await).len(), 1);

    // A round a region never reported closes once overdue, judged by those that did.
    let round = ok(w.service.monitor(monitor.id).await).round_at;
    assert_eq!(ok(w.service.record_result(monitor.id, round, result("eu", CheckOutcome::Up)).await), Recorded::Waiting);
    assert_eq!(ok(w.service.close_round(monitor.id, round).await), None, "still inside the round");
    // The round starts a minute on from now and lasts a minute.
    w.clock.advance(SignedDuration::from_secs(121));
    let late = ok(w.service.close_round(monitor.id, round).await);
    assert_eq!(late, Some(Recorded::Closed { outcome: CheckOutcome::Up, step: Step::Resolve }));
}

on_both!(a_taken_over_incident_only_records_the_recovery);
async fn a_taken_over_incident_only_records_the_recovery(w: World) {
    let status = Arc::new(AtomicU16::new(500));
    let url = target(status.clone()).await;
    let monitor =
        create(&w, settings(&w, http(&url), &["local"], Thresholds { confirm_after: 1, recover_after: 1 })).await;
    let prober = ok(Prober::new(w.service.clone(), "local", DEV));
    assert_eq!(ok(prober.tick().await).opened, 1);
    let incident = ok(w.service.monitor(monitor.id).await).incident_id.unwrap_or_else(|| panic!("opened"));
    ok(w.service
        .edit_incident(member(), incident, None, EditIncident { auto_resolve: Some(false), ..Default::default() })
        .await);

    status.store(200, Ordering::SeqCst);
    minute(&w);
    assert_eq!(ok(prober.tick().await).resolved, 1, "the monitor recovered");
    let detail = ok(w.service.incident(incident).await);
    assert_eq!(detail.incident.status, IncidentStatus::Investigating, "a person runs it now");
    assert_eq!(detail.updates.len(), 1, "nothing public was posted");

    // It fails again: evidence on the same incident, no second incident.
    status.store(500, Ordering::SeqCst);
    minute(&w);
    ok(prober.tick().await);
    assert_eq!(ok(w.service.open_incidents().await).len(), 1);
    let findings: Vec<Finding> = evidence(&w, incident).await.into_iter().map(|(f, _, _)| f).collect();
    assert_eq!(findings, vec![Finding::Confirmed, Finding::RecoveredTakenOver, Finding::FailingAgain]);
    let timeline = ok(w.service.timeline(incident).await);
    assert!(timeline.iter().any(|e| matches!(e.kind, EventKind::AutoResolveChanged { auto_resolve: false })));

    // Once a person resolves it, the monitor lets go; a new failure opens a new one.
    ok(w.service.resolve_incident(member(), incident, None, None).await);
    minute(&w);
    assert_eq!(ok(prober.tick().await).opened, 1);
    let next = ok(w.service.monitor(monitor.id).await).incident_id;
    assert!(next.is_some_and(|id| id != incident));
}

on_both!(a_missed_heartbeat_opens_an_incident_and_a_call_resolves_it);
async fn a_missed_heartbeat_opens_an_incident_and_a_call_resolves_it(w: World) {
    let kind = MonitorKind::Heartbeat { grace_seconds: 30 };
    let mut s = settings(&w, kind, &["local"], Thresholds { confirm_after: 1, recover_after: 1 });
    s.interval_seconds = Some(60);
    let created = ok(w.service.create_monitor(member(), s, &known(&["local"])).await);
    let secret = created.heartbeat_secret.unwrap_or_else(|| panic!("a heartbeat monitor has a secret"));
    assert!(matches!(w.service.record_heartbeat("not-the-secret").await, Err(beacon_app::AppError::NotFound { .. })));
    let prober = ok(Prober::new(w.service.clone(), "local", DEV));

    assert_eq!(ok(w.service.record_heartbeat(&secret).await), created.monitor.id);
    assert_eq!(ok(prober.tick().await).opened, 0);
    // 60 s interval plus 30 s grace: at 100 s without a call it is missed.
    w.clock.advance(SignedDuration::from_secs(100));
    assert_eq!(ok(prober.tick().await).opened, 1);
    let incident = ok(w.service.monitor(created.monitor.id).await).incident_id.unwrap_or_else(|| panic!("opened"));
    let found = evidence(&w, incident).await;
    assert_eq!(found[0].2[0].error, Some(beacon_domain::ErrorClass::Missed));

    ok(w.service.record_heartbeat(&secret).await);
    minute(&w);
    assert_eq!(ok(prober.tick().await).resolved, 1);
}

on_both!(paused_monitors_rest_and_check_now_makes_a_round_due);
async fn paused_monitors_rest_and_check_now_makes_a_round_due(w: World) {
    let status = Arc::new(AtomicU16::new(200));
    let url = target(status).await;
    let monitor =
        create(&w, settings(&w, http(&url), &["local"], Thresholds { confirm_after: 1, recover_after: 1 })).await;
    let prober = ok(Prober::new(w.service.clone(), "local", DEV));
    ok(w.service.set_monitor_paused(member(), monitor.id, true).await);
    assert_eq!(ok(prober.tick().await).checked, 0);
    assert!(w.service.check_monitor_now(member(), monitor.id).await.is_err(), "a paused monitor is not checked");
    ok(w.service.set_monitor_paused(member(), monitor.id, false).await);
    assert_eq!(ok(prober.tick().await).checked, 1);
    assert_eq!(ok(prober.tick().await).checked, 0);
    w.clock.advance(SignedDuration::from_secs(10));
    ok(w.service.check_monitor_now(member(), monitor.id).await);
    assert_eq!(ok(prober.tick().await).checked, 1, "checked at once, not at the next minute");
}

/// Plans every change the feed holds, as the notifier does (a repeat plans nothing new).
async fn plan_feed(feed: &dyn ChangeFeed, planner: &beacon_notify::Planner) {
    for entry in ok(feed.read("rounds-test", 1000).await) {
        if let Some(change) = ok(beacon_app::repo::change_from_item(&entry.item)) {
            ok(planner.plan_change(&change).await);
        }
    }
}

fn email(address: &str) -> beacon_domain::Channel {
    beacon_domain::Channel::Email { address: ok(beacon_domain::Email::parse(address)) }
}

/// A confirmed email subscriber of the whole page.
async fn page_subscriber(w: &World, address: &str) -> beacon_domain::Subscriber {
    ok(w.service
        .create_subscriber(
            member(),
            beacon_app::NewSubscriber {
                channel: email(address),
                interest: beacon_domain::Interest::Page,
                events: Default::default(),
                contact: None,
            },
        )
        .await)
    .subscriber
}

/// A receiver of webhook deliveries on loopback; returns its URL and what it got.
async fn receiver() -> (String, Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>) {
    let seen: Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>> = Arc::default();
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
    let address = ok(listener.local_addr());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/hook"), seen)
}

/// Team alert rules hear what they select, through the delivery machinery, and it is
/// recorded in the incident's timeline; subscribers never hear alerts, and team
/// recipients never hear public news or show up among subscribers.
#[tokio::test]
async fn alert_rules_tell_the_team_what_they_select_and_nobody_else() {
    let w = world().await;
    let feed = w.feed.clone().unwrap_or_else(|| panic!("the embedded store has a feed"));
    let status = Arc::new(AtomicU16::new(503));
    let url = target(status.clone()).await;
    let monitor =
        create(&w, settings(&w, http(&url), &["local"], Thresholds { confirm_after: 1, recover_after: 1 })).await;
    let other = create(&w, settings(&w, http("https://other.example.com/"), &["local"], Thresholds::default())).await;
    let (hook, received) = receiver().await;
    let rule = |name: &str, on: beacon_domain::AlertOn, monitors: Option<Vec<beacon_domain::MonitorId>>, channel| {
        beacon_app::NewAlertRule {
            name: name.into(),
            on,
            monitors: monitors.map(|m| m.into_iter().collect()),
            channel,
            contact: None,
        }
    };
    let on_call = ok(w
        .service
        .create_alert_rule(
            member(),
            rule(
                "On call",
                beacon_domain::AlertOn { monitor_changed: true, ..Default::default() },
                Some(vec![monitor.id]),
                email("oncall@team.example"),
            ),
        )
        .await);
    let chatops = ok(w
        .service
        .create_alert_rule(
            member(),
            rule(
                "Chatops",
                beacon_domain::AlertOn { incident_opened: true, ..Default::default() },
                None,
                beacon_domain::Channel::Webhook { url: ok(beacon_domain::EndpointUrl::parse(&hook, true)) },
            ),
        )
        .await);
    let elsewhere = ok(w
        .service
        .create_alert_rule(
            member(),
            rule(
                "Other team",
                beacon_domain::AlertOn { incident_opened: true, monitor_changed: true, ..Default::default() },
                Some(vec![other.id]),
                email("other@team.example"),
            ),
        )
        .await);
    let public = page_subscriber(&w, "customer@example.com").await;
    // Hears both incident news and monitor changes: a monitor opening its incident is
    // one alert to it, not two.
    let both = ok(w
        .service
        .create_alert_rule(
            member(),
            rule(
                "Both",
                beacon_domain::AlertOn { incident_opened: true, monitor_changed: true, ..Default::default() },
                None,
                email("both@team.example"),
            ),
        )
        .await);
    let listed = ok(w.service.subscribers(Default::default(), None, 100).await);
    assert_eq!(
        listed.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![public.id],
        "team recipients are not listed"
    );

    let prober = ok(Prober::new(w.service.clone(), "local", DEV));
    assert_eq!(ok(prober.tick().await).opened, 1);
    let incident = ok(w.service.monitor(monitor.id).await).incident_id.unwrap_or_else(|| panic!("opened"));

    // Plan every change, as the notifier does, and deliver the jobs.
    let queue = beacon_notify::StoreQueue::new(w.service.store().clone(), w.clock.clone());
    let planner = beacon_notify::Planner::new(w.service.clone(), Arc::new(queue.clone()));
    plan_feed(feed.as_ref(), &planner).await;
    let outbox_dir = w._dir.path().join("outbox");
    let outbox = beacon_notify::OutboxMailer::new(&outbox_dir);
    let config = beacon_notify::MessageConfig {
        page: beacon_site::PageConfig {
            id: "test".into(),
            name: "Acme Status".into(),
            url: "https://status.acme.example".into(),
            time_zone: "Etc/UTC".into(),
            logo_url: None,
            links: vec![],
            subscribe_url: None,
            accent: None,
            accent_dark: None,
        },
        api_url: "https://status.acme.example".into(),
        from: ok("Acme Status <status@acme.example>".parse()),
    };
    let deliverer = beacon_notify::Deliverer::new(
        w.service.clone(),
        Arc::new(queue.clone()),
        Arc::new(outbox),
        Arc::new(ok(beacon_notify::GuardedHttp::new(DEV))),
        config,
    );
    let jobs = ok(queue.receive(100, std::time::Duration::from_secs(60)).await);
    let mut recipients = std::collections::BTreeSet::new();
    let mut both_told = 0;
    for leased in &jobs {
        recipients.extend(leased.job.subscribers.iter().copied());
        both_told += leased.job.subscribers.iter().filter(|s| **s == both.recipient.id).count();
        ok(deliverer.process(&leased.job).await);
        ok(queue.ack(leased).await);
    }
    assert_eq!(both_told, 1, "one event, one alert");
    assert!(recipients.contains(&on_call.recipient.id) && recipients.contains(&chatops.recipient.id));
    assert!(!recipients.contains(&elsewhere.recipient.id), "a rule for another monitor stays quiet");
    assert!(recipients.contains(&public.id), "the public notice reaches the subscriber");

    let mails: Vec<String> = std::fs::read_dir(&outbox_dir)
        .map(|dir| dir.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect())
        .unwrap_or_default();
    let to =
        |address: &str| mails.iter().filter(|m| m.contains(&format!("To: {address}"))).cloned().collect::<Vec<_>>();
    let alert_mail = to("oncall@team.example");
    assert_eq!(alert_mail.len(), 1, "one alert for one monitor change");
    assert!(alert_mail[0].contains("Monitor: API health (down)"), "{}", alert_mail[0]);
    assert!(alert_mail[0].contains("local: down, HTTP 503"), "the evidence: {}", alert_mail[0]);
    let customer = to("customer@example.com");
    assert_eq!(customer.len(), 1, "the subscriber hears the incident once");
    assert!(!customer[0].contains("HTTP 503") && !customer[0].contains("Monitor:"), "no alert reaches a subscriber");

    let hooks = received.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(hooks.len(), 1, "the chatops rule fired once");
    let event = hooks[0].0.get("x-beacon-event").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(event, "alert.incident_opened");
    assert!(hooks[0].0.get("x-beacon-signature").is_some(), "signed like every webhook");
    let payload: serde_json::Value = ok(serde_json::from_slice(&hooks[0].1));
    assert_eq!(payload["alert"]["incident"]["title"], "API health is down");

    let fired: Vec<String> = ok(w.service.timeline(incident).await)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::AlertFired { rule, .. } => Some(rule),
            _ => None,
        })
        .collect();
    assert_eq!(fired.len(), 3, "{fired:?}");
    assert!(fired.contains(&"On call".to_owned()) && fired.contains(&"Chatops".to_owned()));

    // Planning again (a redelivered change) sends nothing twice and records nothing twice.
    plan_feed(feed.as_ref(), &planner).await;
    assert!(ok(queue.receive(100, std::time::Duration::from_secs(60)).await).is_empty());
    let again = ok(w.service.timeline(incident).await)
        .iter()
        .filter(|e| matches!(e.kind, EventKind::AlertFired { .. }))
        .count();
    assert_eq!(again, 3);
}

/// A monitor whose incidents are published by hand opens them internally: nothing moves
/// on the page and subscribers hear nothing, while the team's alert rule does; once a
/// responder publishes it, it is public news.
#[tokio::test]
async fn an_internal_incident_waits_for_a_responder_to_publish_it() {
    let w = world().await;
    let feed = w.feed.clone().unwrap_or_else(|| panic!("the embedded store has a feed"));
    let status = Arc::new(AtomicU16::new(503));
    let url = target(status).await;
    let mut s = settings(&w, http(&url), &["local"], Thresholds { confirm_after: 1, recover_after: 1 });
    s.publish = false;
    let monitor = create(&w, s).await;
    let customer = page_subscriber(&w, "customer@example.com").await;
    let team = ok(w
        .service
        .create_alert_rule(
            member(),
            beacon_app::NewAlertRule {
                name: "Triage".into(),
                on: beacon_domain::AlertOn { incident_opened: true, ..Default::default() },
                monitors: None,
                channel: email("triage@team.example"),
                contact: None,
            },
        )
        .await)
    .recipient;

    let prober = ok(Prober::new(w.service.clone(), "local", DEV));
    assert_eq!(ok(prober.tick().await).opened, 1);
    let incident = ok(w.service.monitor(monitor.id).await).incident_id.unwrap_or_else(|| panic!("opened"));
    assert!(!ok(w.service.incident(incident).await).incident.published);
    assert_eq!(status_of(&w).await, ComponentStatus::Operational, "an internal incident moves nothing public");
    assert_eq!(ok(w.service.page_status().await).indicator, beacon_domain::PageIndicator::None);
    assert!(ok(w.service.public_state().await).incidents.is_empty(), "the page does not show it");
    // Editing the component meanwhile does not let the internal incident through.
    ok(w.service
        .update_component(
            member(),
            w.api.id,
            None,
            beacon_app::ComponentPatch { name: Some("Public API".into()), ..Default::default() },
        )
        .await);
    assert_eq!(status_of(&w).await, ComponentStatus::Operational);

    let queue = beacon_notify::StoreQueue::new(w.service.store().clone(), w.clock.clone());
    let planner = beacon_notify::Planner::new(w.service.clone(), Arc::new(queue.clone()));
    let plan_all = || async {
        plan_feed(feed.as_ref(), &planner).await;
        let jobs = ok(queue.receive(100, std::time::Duration::from_secs(60)).await);
        let mut recipients = std::collections::BTreeSet::new();
        for leased in &jobs {
            recipients.extend(leased.job.subscribers.iter().copied());
            ok(queue.ack(leased).await);
        }
        recipients
    };
    let told = plan_all().await;
    assert!(told.contains(&team.id), "the team hears of it");
    assert!(!told.contains(&customer.id), "subscribers do not");

    let published = ok(w.service.publish_incident(member(), incident, None).await);
    assert!(published.published);
    assert_eq!(status_of(&w).await, ComponentStatus::MajorOutage);
    assert_eq!(ok(w.service.public_state().await).incidents.len(), 1);
    let told = plan_all().await;
    assert!(told.contains(&customer.id), "published: subscribers hear of it as a new incident");
    assert!(!told.contains(&team.id), "the team was told when it opened");
    assert!(ok(w.service.timeline(incident).await).iter().any(|e| matches!(e.kind, EventKind::Published)));
    assert!(w.service.publish_incident(member(), incident, None).await.is_err(), "published once");
}

on_both!(a_handed_back_incident_resolves_and_a_deleted_component_stops_nothing);
async fn a_handed_back_incident_resolves_and_a_deleted_component_stops_nothing(w: World) {
    let status = Arc::new(AtomicU16::new(500));
    let url = target(status.clone()).await;
    let monitor =
        create(&w, settings(&w, http(&url), &["local"], Thresholds { confirm_after: 1, recover_after: 1 })).await;
    let prober = ok(Prober::new(w.service.clone(), "local", DEV));
    assert_eq!(ok(prober.tick().await).opened, 1);
    let incident = ok(w.service.monitor(monitor.id).await).incident_id.unwrap_or_else(|| panic!("opened"));
    let take_over = |on: bool| EditIncident { auto_resolve: Some(on), ..Default::default() };
    ok(w.service.edit_incident(member(), incident, None, take_over(false)).await);
    status.store(200, Ordering::SeqCst);
    minute(&w);
    ok(prober.tick().await);
    assert!(ok(w.service.incident(incident).await).incident.status.is_open(), "taken over: stays open");
    // Handed back while the service is up: the next passing round resolves it.
    ok(w.service.edit_incident(member(), incident, None, take_over(true)).await);
    minute(&w);
    assert_eq!(ok(prober.tick().await).resolved, 1);
    assert_eq!(ok(w.service.incident(incident).await).incident.status, IncidentStatus::Resolved);

    // The component it maps to is deleted: the next failure still opens an incident.
    ok(w.service.delete_component(member(), w.api.id, None).await);
    status.store(500, Ordering::SeqCst);
    minute(&w);
    assert_eq!(ok(prober.tick().await).opened, 1);
    let next = ok(w.service.monitor(monitor.id).await).incident_id.unwrap_or_else(|| panic!("opened again"));
    assert!(ok(w.service.incident(next).await).incident.components.is_empty());
}
