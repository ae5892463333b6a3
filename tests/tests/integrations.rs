//! Integrations end to end on both storage adapters: alerts from each tool's real payload
//! open, note, resolve and reopen one incident per key, and a thousand identical
//! deliveries at once open exactly one.

use beacon_app::{
    AppError, DeliveryOutcome, EditIncident, IncidentFilter, IncidentState, ManualClock, NewComponent, NewIntegration,
    PostUpdate, Service,
};
use beacon_domain::{
    Actor, ComponentId, ComponentStatus, EventKind, Impact, IncidentId, IncidentSource, IncidentStatus, Integration,
    IntegrationComponent, IntegrationKind, MemberId, ResolveTo,
};
use beacon_integrations::Delivery;
use beacon_store::Store;
use std::sync::Arc;

fn ok<T>(r: Result<T, AppError>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/integrations/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn alertmanager(name: &str) -> Delivery {
    beacon_integrations::alertmanager(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn generic(body: &str) -> Delivery {
    beacon_integrations::generic(body.as_bytes(), "id").unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn start() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000).unwrap_or_else(|e| panic!("{e}"))
}

async fn component(service: &Service, name: &str) -> ComponentId {
    ok(service.create_component(Actor::System, NewComponent { name: name.into(), ..Default::default() }).await).id
}

async fn integration(service: &Service, input: NewIntegration) -> Integration {
    ok(service.create_integration(Actor::System, input).await).integration
}

async fn open_incidents(service: &Service) -> Vec<IncidentId> {
    let filter = IncidentFilter { state: IncidentState::Open, ..Default::default() };
    ok(service.list_incidents(filter, None, 200).await).items.iter().map(|s| s.id).collect()
}

async fn all_incidents(service: &Service) -> usize {
    let filter = IncidentFilter { state: IncidentState::All, ..Default::default() };
    ok(service.list_incidents(filter, None, 200).await).items.len()
}

pub async fn alertmanager_alerts_open_note_and_resolve_one_incident(store: Arc<dyn Store>) {
    let service = Service::new(store, Arc::new(ManualClock::new(start())));
    let api = component(&service, "API").await;
    let prometheus = integration(
        &service,
        NewIntegration {
            name: "Prometheus".into(),
            kind: Some(IntegrationKind::Alertmanager),
            components: vec![IntegrationComponent { id: api, status: ComponentStatus::MajorOutage }],
            title_template: Some("{alertname} on {job}".into()),
            resolved_message: Some("Alerts cleared for {job}.".into()),
            ..Default::default()
        },
    )
    .await;
    let firing = alertmanager("alertmanager-firing.json");
    let opened = ok(service.receive_alerts(&prometheus, &firing).await);
    assert_eq!(opened.outcome, DeliveryOutcome::Opened);
    let [id] = opened.incidents[..] else { panic!("one incident: {opened:?}") };
    let detail = ok(service.incident(id).await);
    let incident = &detail.incident;
    assert_eq!(incident.source, IncidentSource::Webhook);
    assert_eq!(incident.integration_id, Some(prometheus.id));
    assert!(incident.published);
    let first = &firing.alerts[0].fields;
    let job = first.get("job").cloned().unwrap_or_default();
    assert_eq!(incident.title.as_str(), format!("{} on {job}", first.get("alertname").cloned().unwrap_or_default()));
    // The fixture's alerts carry severity labels; the worst decides.
    let worst = if firing.alerts.iter().any(|a| a.fields.get("severity").is_some_and(|s| s == "critical")) {
        Impact::Critical
    } else {
        Impact::Minor
    };
    assert_eq!(incident.impact, worst);
    assert_eq!(ok(service.component(api).await).status, ComponentStatus::MajorOutage);
    let entries = ok(service.timeline(id).await);
    assert!(
        entries
            .iter()
            .any(|e| matches!(&e.kind, EventKind::AlertsFiring { alerts, .. } if alerts.len() == firing.alerts.len()))
    );

    // Alertmanager repeats firing alerts: nothing changes.
    let repeat = ok(service.receive_alerts(&prometheus, &firing).await);
    assert_eq!((repeat.outcome, repeat.incidents.clone()), (DeliveryOutcome::Repeat, vec![id]));
    assert_eq!(ok(service.timeline(id).await).len(), entries.len());
    assert_eq!(all_incidents(&service).await, 1);

    let resolved = ok(service.receive_alerts(&prometheus, &alertmanager("alertmanager-resolved.json")).await);
    assert_eq!((resolved.outcome, resolved.incidents), (DeliveryOutcome::Resolved, vec![id]));
    let detail = ok(service.incident(id).await);
    assert_eq!(detail.incident.status, IncidentStatus::Resolved);
    assert_eq!(
        detail.updates.last().map(|u| u.message.as_str().to_owned()),
        Some(format!("Alerts cleared for {job}."))
    );
    assert_eq!(ok(service.component(api).await).status, ComponentStatus::Operational);
    let last = ok(service.timeline(id).await);
    assert!(last.iter().any(|e| matches!(e.kind, EventKind::AlertsResolved { all: true, .. })));
}

pub async fn a_key_reopens_within_its_window_and_opens_anew_after(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(start()));
    let service = Service::new(store, clock.clone());
    let hooks = integration(
        &service,
        NewIntegration {
            name: "Checks".into(),
            kind: Some(IntegrationKind::Generic),
            key_field: Some("id".into()),
            title_template: Some("{name} is failing".into()),
            reopen_window_seconds: Some(600),
            ..Default::default()
        },
    )
    .await;
    let fire = generic(r#"{"id": "db", "name": "Database", "severity": "warning"}"#);
    let clear = generic(r#"{"id": "db", "status": "ok"}"#);
    // A resolution for a key never seen firing does nothing.
    assert_eq!(ok(service.receive_alerts(&hooks, &clear).await).outcome, DeliveryOutcome::Ignored);
    assert_eq!(all_incidents(&service).await, 0);

    let opened = ok(service.receive_alerts(&hooks, &fire).await);
    let id = opened.incidents[0];
    assert_eq!(ok(service.incident(id).await).incident.title.as_str(), "Database is failing");
    assert_eq!(ok(service.incident(id).await).incident.impact, Impact::Minor);
    // A worse alert for the same key raises the incident's impact; nothing else moves.
    let worse =
        generic(r#"{"id": "db", "name": "Database", "severity": "critical", "starts_at": "2027-01-15T08:03:00Z"}"#);
    assert_eq!(ok(service.receive_alerts(&hooks, &worse).await).outcome, DeliveryOutcome::Updated);
    let raised = ok(service.incident(id).await);
    assert_eq!((raised.incident.impact, raised.updates.len()), (Impact::Critical, 1));
    assert_eq!(ok(service.receive_alerts(&hooks, &clear).await).outcome, DeliveryOutcome::Resolved);

    clock.advance(jiff::SignedDuration::from_secs(300));
    let again = ok(service.receive_alerts(&hooks, &fire).await);
    assert_eq!((again.outcome, again.incidents.clone()), (DeliveryOutcome::Reopened, vec![id]));
    assert_eq!(ok(service.incident(id).await).incident.status, IncidentStatus::Investigating);
    assert_eq!(open_incidents(&service).await, vec![id]);
    assert_eq!(ok(service.receive_alerts(&hooks, &clear).await).outcome, DeliveryOutcome::Resolved);

    clock.advance(jiff::SignedDuration::from_secs(601));
    let fresh = ok(service.receive_alerts(&hooks, &fire).await);
    assert_eq!(fresh.outcome, DeliveryOutcome::Opened);
    assert_ne!(fresh.incidents, vec![id]);
    assert_eq!(all_incidents(&service).await, 2);
}

pub async fn taken_over_or_monitoring_incidents_are_left_to_people(store: Arc<dyn Store>) {
    let service = Service::new(store, Arc::new(ManualClock::new(start())));
    let hooks = integration(
        &service,
        NewIntegration {
            name: "Checks".into(),
            kind: Some(IntegrationKind::Generic),
            key_field: Some("id".into()),
            resolve_to: Some(ResolveTo::Monitoring),
            publish: Some(false),
            ..Default::default()
        },
    )
    .await;
    let responder = Actor::Member { id: MemberId::new(ulid::Ulid::new()) };
    // Monitoring: the alerts clearing move the incident to monitoring, no further.
    let a = ok(service.receive_alerts(&hooks, &generic(r#"{"id": "a"}"#)).await).incidents[0];
    assert!(!ok(service.incident(a).await).incident.published, "opened internally");
    let cleared = ok(service.receive_alerts(&hooks, &generic(r#"{"id": "a", "status": "resolved"}"#)).await);
    assert_eq!(cleared.outcome, DeliveryOutcome::Monitoring);
    assert_eq!(ok(service.incident(a).await).incident.status, IncidentStatus::Monitoring);

    // Taken over: the alerts clearing are noted in the timeline; the incident stays.
    let b = ok(service.receive_alerts(&hooks, &generic(r#"{"id": "b"}"#)).await).incidents[0];
    let take_over = EditIncident { auto_resolve: Some(false), ..Default::default() };
    ok(service.edit_incident(responder.clone(), b, None, take_over).await);
    let noted = ok(service.receive_alerts(&hooks, &generic(r#"{"id": "b", "status": "resolved"}"#)).await);
    assert_eq!(noted.outcome, DeliveryOutcome::Updated);
    assert_eq!(ok(service.incident(b).await).incident.status, IncidentStatus::Investigating);
    assert!(
        ok(service.timeline(b).await).iter().any(|e| matches!(e.kind, EventKind::AlertsResolved { all: true, .. }))
    );
    // A person resolving it is respected: repeats of the cleared alert change nothing.
    let resolve = PostUpdate { message: "Fixed.".into(), status: Some(IncidentStatus::Resolved), ..Default::default() };
    ok(service.post_update(responder, b, None, resolve).await);
    let after = ok(service.receive_alerts(&hooks, &generic(r#"{"id": "b", "status": "resolved"}"#)).await);
    assert_eq!(after.outcome, DeliveryOutcome::Repeat);
}

pub async fn a_thousand_identical_deliveries_open_one_incident(store: Arc<dyn Store>) {
    let service = Service::new(store.clone(), Arc::new(beacon_app::SystemClock));
    let prometheus = integration(
        &service,
        NewIntegration { name: "Prometheus".into(), kind: Some(IntegrationKind::Alertmanager), ..Default::default() },
    )
    .await;
    let firing = Arc::new(alertmanager("alertmanager-firing.json"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1_000 {
        let (service, prometheus, firing) = (service.clone(), prometheus.clone(), firing.clone());
        tasks.spawn(async move { service.receive_alerts(&prometheus, &firing).await });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        outcomes.push(ok(done.unwrap_or_else(|e| panic!("task: {e}"))));
    }
    let opened = outcomes.iter().filter(|r| r.outcome == DeliveryOutcome::Opened).count();
    let repeats = outcomes.iter().filter(|r| r.outcome == DeliveryOutcome::Repeat).count();
    assert_eq!((opened, repeats), (1, 999));
    assert_eq!(all_incidents(&service).await, 1);
    let id = outcomes[0].incidents[0];
    assert!(outcomes.iter().all(|r| r.incidents == vec![id]), "every delivery names the one incident");
    let firing_notes =
        ok(service.timeline(id).await).iter().filter(|e| matches!(e.kind, EventKind::AlertsFiring { .. })).count();
    assert_eq!(firing_notes, 1, "the repeats added nothing to the timeline");
}

macro_rules! on_both_adapters {
    ($($case:ident),* $(,)?) => {
        mod redb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let (store, _guard) = beacon_tests::redb_store().await;
                    super::$case(store).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let (store, _guard) = beacon_tests::dynamodb_store().await;
                    super::$case(store).await;
                }
            )*
        }
    };
}

on_both_adapters!(
    alertmanager_alerts_open_note_and_resolve_one_incident,
    a_key_reopens_within_its_window_and_opens_anew_after,
    taken_over_or_monitoring_incidents_are_left_to_people,
    a_thousand_identical_deliveries_open_one_incident,
);

/// Alert text reaches the page only through the templates, and escaped there like text a
/// person typed: a hostile label shows as text, never as markup.
#[tokio::test]
async fn hostile_alert_text_is_escaped_on_the_page() {
    let (store, _guard) = beacon_tests::redb_store().await;
    let service = Service::new(store, Arc::new(ManualClock::new(start())));
    let hooks = integration(
        &service,
        NewIntegration {
            name: "Checks".into(),
            kind: Some(IntegrationKind::Generic),
            key_field: Some("id".into()),
            title_template: Some("{name} failing".into()),
            message_template: Some("Seen: {detail}".into()),
            ..Default::default()
        },
    )
    .await;
    let body = r#"{"id": "x", "name": "<script>alert(1)</script>", "detail": "<img src=x onerror=alert(2)> [link](javascript:alert(3))", "secret_label": "PRIVATE-LABEL-91c2"}"#;
    ok(service.receive_alerts(&hooks, &generic(body)).await);
    let page = beacon_site::PageConfig {
        id: "beacon-test".into(),
        name: "Acme Status".into(),
        url: "https://status.acme.test".into(),
        time_zone: "Etc/UTC".into(),
        logo_url: None,
        links: vec![],
        subscribe_url: None,
        accent: None,
        accent_dark: None,
    };
    let snapshot = beacon_publish::snapshot(&service, &page).await.unwrap_or_else(|e| panic!("{e}")).0;
    let objects = beacon_site::render(&snapshot);
    let index = objects.iter().find(|o| o.path == "index.html").unwrap_or_else(|| panic!("no index.html"));
    let html = String::from_utf8(index.bytes.to_vec()).unwrap_or_default();
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62; failing"), "the title shows as text");
    for object in &objects {
        let text = String::from_utf8_lossy(&object.bytes);
        assert!(!text.contains("PRIVATE-LABEL-91c2"), "{}: a field no template named", object.path);
        // JSON carries the text as data; every markup format must escape it.
        if object.path.ends_with(".json") {
            continue;
        }
        assert!(!text.contains("<script>alert(1)"), "{}: raw script", object.path);
        assert!(!text.contains("<img src=x"), "{}: raw markup", object.path);
        assert!(!text.contains("href=\"javascript:"), "{}: a script link", object.path);
    }
}
