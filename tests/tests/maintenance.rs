//! Planned maintenance on both storage adapters, driven by a controllable clock: a
//! window's reminders, start and completion, components under maintenance (an outage
//! still winning), a monitor muted through the window, a scheduler run twice or late
//! taking each step once, recurring occurrences across a daylight-saving change, and
//! postmortems and backfilled incidents.

use beacon_app::{
    AppError, BackfillIncident, BackfillUpdate, MaintenanceState, ManualClock, MonitorSettings, NewComponent,
    NewSeries, Recorded, ReportIncident, ScheduleMaintenance, Service, WindowInput,
};
use beacon_domain::{
    Actor, AffectedComponent, CheckOutcome, ComponentId, ComponentStatus, Due, Impact, IncidentStatus,
    MaintenanceStatus, MemberId, MonitorKind, MonitoredComponent, PageIndicator, RegionResult, Step, Thresholds,
};
use beacon_store::Store;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

fn ok<T>(r: Result<T, AppError>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

fn member() -> Actor {
    Actor::Member { id: MemberId::new(ulid::Ulid::new()) }
}

/// 2027-01-04T00:00:00Z, a Monday.
fn t0() -> Timestamp {
    "2027-01-04T00:00:00Z".parse().unwrap_or_else(|e| panic!("{e}"))
}

fn hours(h: i64) -> Timestamp {
    t0().checked_add(SignedDuration::from_mins(h * 60)).unwrap_or_else(|e| panic!("{e}"))
}

fn minutes(m: i64) -> Timestamp {
    t0().checked_add(SignedDuration::from_mins(m)).unwrap_or_else(|e| panic!("{e}"))
}

fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

struct World {
    service: Service,
    clock: Arc<ManualClock>,
    api: ComponentId,
}

async fn world(store: Arc<dyn Store>) -> World {
    let clock = Arc::new(ManualClock::new(t0()));
    let service = Service::new(store, clock.clone());
    let api =
        ok(service.create_component(member(), NewComponent { name: "API".into(), ..Default::default() }).await).id;
    World { service, clock, api }
}

async fn schedule(w: &World, from: Timestamp, to: Timestamp) -> beacon_domain::MaintenanceId {
    let input = ScheduleMaintenance {
        title: "Database upgrade".into(),
        message: "We will upgrade the database.".into(),
        window: WindowInput { starts_at: iso(from), ends_at: iso(to), time_zone: Some("Europe/Berlin".into()) },
        components: vec![w.api],
        automation: None,
    };
    ok(w.service.schedule_maintenance(member(), input).await).maintenance.id
}

async fn status_of(w: &World) -> ComponentStatus {
    ok(w.service.component(w.api).await).status
}

async fn run(w: &World) -> Vec<Due> {
    ok(w.service.run_maintenance_scheduler().await).taken.into_iter().map(|(_, due)| due).collect()
}

fn down(at: Timestamp) -> RegionResult {
    RegionResult {
        region: "local".into(),
        at,
        outcome: CheckOutcome::Down,
        status_code: Some(503),
        latency_ms: 12,
        error: Some(beacon_domain::ErrorClass::Status),
        message: Some("503".into()),
    }
}

pub async fn a_window_reminds_starts_mutes_and_completes_on_its_own(store: Arc<dyn Store>) {
    let w = world(store).await;
    let check: MonitorKind =
        serde_json::from_value(serde_json::json!({"kind": "tcp", "host": "api.example.com", "port": 443}))
            .unwrap_or_else(|e| panic!("{e}"));
    let monitor = ok(w
        .service
        .create_monitor(
            member(),
            MonitorSettings {
                name: "API port".into(),
                check,
                interval_seconds: Some(60),
                regions: Some(vec!["local".into()]),
                thresholds: Some(Thresholds { confirm_after: 1, recover_after: 1 }),
                components: vec![MonitoredComponent {
                    id: w.api,
                    down: ComponentStatus::MajorOutage,
                    degraded: ComponentStatus::DegradedPerformance,
                }],
                incident_title: None,
                incident_message: None,
                publish: true,
                paused: false,
            },
            &["local".to_owned()],
        )
        .await)
    .monitor;
    let id = schedule(&w, hours(4), hours(6)).await;
    assert!(run(&w).await.is_empty(), "nothing is due four hours ahead");

    w.clock.set(hours(1));
    assert_eq!(run(&w).await, [Due::RemindTeam], "three hours before");
    assert!(run(&w).await.is_empty(), "a reminder goes once");
    w.clock.set(hours(3));
    assert_eq!(run(&w).await, [Due::RemindSubscribers], "an hour before");
    let m = ok(w.service.load_maintenance(id).await);
    assert_eq!((m.team_reminded_at, m.subscribers_reminded_at), (Some(hours(1)), Some(hours(3))));
    assert_eq!(status_of(&w).await, ComponentStatus::Operational);

    w.clock.set(hours(4));
    assert_eq!(run(&w).await, [Due::Start]);
    let m = ok(w.service.maintenance(id).await);
    assert_eq!((m.maintenance.status, m.maintenance.started_at), (MaintenanceStatus::InProgress, Some(hours(4))));
    assert_eq!(m.updates.len(), 2, "the announcement and the start");
    assert_eq!(status_of(&w).await, ComponentStatus::UnderMaintenance);
    assert_eq!(ok(w.service.page_status().await).indicator, PageIndicator::Maintenance);
    let active = ok(w.service.list_maintenances(MaintenanceState::Active, None, 10).await).items;
    assert_eq!(active.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);

    // The monitor fails during the window: recorded, muted, no incident.
    w.clock.set(minutes(4 * 60 + 5));
    let monitor_now = ok(w.service.monitor(monitor.id).await);
    let recorded = ok(w.service.record_checked(&monitor_now, down(minutes(4 * 60 + 5))).await);
    assert_eq!(recorded, Recorded::Closed { outcome: CheckOutcome::Down, step: Step::Stay });
    let muted = ok(w.service.monitor(monitor.id).await);
    assert!(muted.last_round_muted);
    assert_eq!(muted.incident_id, None);
    assert!(ok(w.service.open_incidents().await).is_empty(), "a muted monitor opens nothing");
    let day = ok(w.service.monitor_days(monitor.id, t0()).await);
    assert_eq!((day[0].maintenance_seconds, day[0].observed_seconds, day[0].down_seconds), (60, 0, 0));

    // A person's outage on the same component wins over the maintenance, and hands it
    // back when resolved.
    let outage = ok(w
        .service
        .report_incident(
            member(),
            ReportIncident {
                title: Some("Upgrade went wrong".into()),
                impact: Some(Impact::Major),
                message: Some("The API is down.".into()),
                components: Some(vec![AffectedComponent { id: w.api, status: ComponentStatus::MajorOutage }]),
                ..Default::default()
            },
        )
        .await);
    assert_eq!(status_of(&w).await, ComponentStatus::MajorOutage);
    ok(w.service.resolve_incident(member(), outage.incident.id, None, None).await);
    assert_eq!(status_of(&w).await, ComponentStatus::UnderMaintenance);

    // A cancel once started is refused and changes nothing.
    let before = ok(w.service.load_maintenance(id).await);
    assert!(matches!(w.service.cancel_maintenance(member(), id, None, None).await, Err(AppError::Domain(_))));
    assert_eq!(ok(w.service.load_maintenance(id).await), before);

    w.clock.set(hours(6));
    assert_eq!(run(&w).await, [Due::Complete]);
    let m = ok(w.service.load_maintenance(id).await);
    assert_eq!((m.status, m.completed_at), (MaintenanceStatus::Completed, Some(hours(6))));
    assert_eq!(status_of(&w).await, ComponentStatus::Operational);
    assert_eq!(ok(w.service.page_status().await).indicator, PageIndicator::None);
    assert!(ok(w.service.open_maintenances().await).is_empty());

    // After the window the monitor counts again and opens its incident.
    w.clock.set(minutes(6 * 60 + 5));
    let monitor_now = ok(w.service.monitor(monitor.id).await);
    let recorded = ok(w.service.record_checked(&monitor_now, down(minutes(6 * 60 + 5))).await);
    assert!(matches!(recorded, Recorded::Closed { step: Step::Open(_), .. }), "{recorded:?}");
    assert_eq!(ok(w.service.open_incidents().await).len(), 1);
    assert_eq!(status_of(&w).await, ComponentStatus::MajorOutage);
}

pub async fn a_scheduler_run_twice_or_late_takes_each_step_once(store: Arc<dyn Store>) {
    let w = world(store).await;
    let id = schedule(&w, hours(4), hours(6)).await;
    // The scheduler was down through the whole window; two runs start at once.
    w.clock.set(hours(7));
    let (a, b) = tokio::join!(w.service.run_maintenance_scheduler(), w.service.run_maintenance_scheduler());
    let mut taken: Vec<Due> = ok(a).taken.into_iter().chain(ok(b).taken).map(|(_, d)| d).collect();
    taken.sort_by_key(|d| format!("{d:?}"));
    assert_eq!(taken, [Due::Complete, Due::Start], "each step once between them, no reminder after the fact");
    assert!(run(&w).await.is_empty());
    let m = ok(w.service.maintenance(id).await);
    assert_eq!(m.maintenance.status, MaintenanceStatus::Completed);
    let statuses: Vec<_> = m.updates.iter().map(|u| u.status).collect();
    assert_eq!(statuses, [MaintenanceStatus::Scheduled, MaintenanceStatus::InProgress, MaintenanceStatus::Completed]);
    assert_eq!(status_of(&w).await, ComponentStatus::Operational);
    assert_eq!((m.maintenance.subscribers_reminded_at, m.maintenance.team_reminded_at), (None, None));
}

pub async fn a_weekly_series_keeps_its_local_time_across_a_daylight_saving_change(store: Arc<dyn Store>) {
    let w = world(store).await;
    w.clock.set("2027-03-15T00:00:00Z".parse().unwrap_or_else(|e| panic!("{e}")));
    let input = NewSeries {
        title: "Weekly patching".into(),
        message: "Routine patching.".into(),
        recurrence: "FREQ=WEEKLY;BYDAY=SU".into(),
        first_start: "2027-03-21T01:00".into(),
        time_zone: "Europe/Berlin".into(),
        duration_minutes: 120,
        components: vec![w.api],
        automation: None,
    };
    let (series, occurrences) = ok(w.service.create_series(member(), input).await);
    let starts: Vec<String> = occurrences.iter().map(|m| iso(m.window.starts_at)).collect();
    // 01:00 in Berlin: CET (UTC+1) before 28 March 2027, CEST (UTC+2) after.
    assert_eq!(starts, ["2027-03-21T00:00:00Z", "2027-03-28T00:00:00Z", "2027-04-03T23:00:00Z"]);
    let offsets: Vec<i32> = occurrences.iter().map(|m| m.window.start_offset_seconds).collect();
    assert_eq!(offsets, [3600, 3600, 7200]);
    assert!(occurrences.iter().all(|m| m.series_id == Some(series.id)));

    // Two scheduler runs after the first occurrence: one more occurrence, created once.
    w.clock.set("2027-03-21T03:00:00Z".parse().unwrap_or_else(|e| panic!("{e}")));
    let (a, b) = tokio::join!(w.service.run_maintenance_scheduler(), w.service.run_maintenance_scheduler());
    let created: Vec<_> = ok(a).created.into_iter().chain(ok(b).created).collect();
    assert_eq!(created.len(), 1);
    let next = ok(w.service.load_maintenance(created[0]).await);
    assert_eq!(iso(next.window.starts_at), "2027-04-10T23:00:00Z");
    let all = ok(w.service.list_maintenances(MaintenanceState::All, None, 50).await).items;
    assert_eq!(all.len(), 4);
    let first = all.iter().find(|m| iso(m.window.starts_at) == "2027-03-21T00:00:00Z").map(|m| m.status);
    assert_eq!(first, Some(MaintenanceStatus::Completed), "the first ran its course");

    // Stopping the series cancels what it scheduled and creates no more.
    ok(w.service.stop_series(member(), series.id).await);
    let upcoming = ok(w.service.list_maintenances(MaintenanceState::Upcoming, None, 50).await).items;
    assert!(upcoming.is_empty(), "{upcoming:?}");
    w.clock.set("2027-05-01T00:00:00Z".parse().unwrap_or_else(|e| panic!("{e}")));
    assert!(ok(w.service.run_maintenance_scheduler().await).created.is_empty());
}

pub async fn bad_maintenance_input_is_refused_and_changes_nothing(store: Arc<dyn Store>) {
    let w = world(store).await;
    let refused = |r: Result<beacon_app::MaintenanceDetail, AppError>| match r {
        Err(AppError::Domain(e)) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let input = |from: &str, to: &str, zone: Option<&str>| ScheduleMaintenance {
        title: "Upgrade".into(),
        message: "Upgrade.".into(),
        window: WindowInput { starts_at: from.into(), ends_at: to.into(), time_zone: zone.map(str::to_owned) },
        components: vec![w.api],
        automation: None,
    };
    let e = refused(
        w.service
            .schedule_maintenance(member(), input("2027-01-05T02:00", "2027-01-05T04:00", Some("Mars/Olympus")))
            .await,
    );
    assert!(e.contains("time_zone"), "{e}");
    let e =
        refused(w.service.schedule_maintenance(member(), input("2027-01-05T04:00", "2027-01-05T02:00", None)).await);
    assert!(e.contains("ends_at"), "{e}");
    let e = refused(
        w.service.schedule_maintenance(member(), input("2026-12-01T04:00:00Z", "2026-12-01T05:00:00Z", None)).await,
    );
    assert!(e.contains("already ended"), "{e}");
    let e = refused(w.service.schedule_maintenance(member(), input("tomorrow", "2027-01-05T02:00", None)).await);
    assert!(e.contains("starts_at"), "{e}");
    let mut unknown = input("2027-01-05T02:00", "2027-01-05T04:00", None);
    unknown.components = vec![ComponentId::new(ulid::Ulid::new())];
    assert!(w.service.schedule_maintenance(member(), unknown).await.is_err());
    assert!(ok(w.service.list_maintenances(MaintenanceState::All, None, 10).await).items.is_empty());

    // A local time in the zone: 02:00 in Berlin is 01:00 UTC in winter.
    let id = ok(w
        .service
        .schedule_maintenance(member(), input("2027-01-05T02:00", "2027-01-05T04:00", Some("Europe/Berlin")))
        .await)
    .maintenance
    .id;
    let m = ok(w.service.load_maintenance(id).await);
    assert_eq!((iso(m.window.starts_at), m.window.start_offset_seconds), ("2027-01-05T01:00:00Z".into(), 3600));
    // A stale version is a conflict; the maintenance is unchanged.
    let stale = w.service.post_maintenance_update(member(), id, Some(m.version + 1), "Soon.".into(), None).await;
    assert!(matches!(stale, Err(AppError::Conflict { .. })), "{stale:?}");
    let back =
        w.service.post_maintenance_update(member(), id, None, "Go.".into(), Some(MaintenanceStatus::Verifying)).await;
    assert!(back.is_ok());
    let backwards = w
        .service
        .post_maintenance_update(member(), id, None, "Back.".into(), Some(MaintenanceStatus::InProgress))
        .await;
    assert!(matches!(backwards, Err(AppError::Domain(_))));
    let bad_series = NewSeries {
        title: "x".into(),
        message: "x".into(),
        recurrence: "FREQ=YEARLY".into(),
        first_start: "2027-01-10T02:00".into(),
        time_zone: "Europe/Berlin".into(),
        duration_minutes: 60,
        components: vec![],
        automation: None,
    };
    assert!(matches!(w.service.create_series(member(), bad_series).await, Err(AppError::Domain(_))));
    assert!(ok(w.service.list_series().await).is_empty());
}

pub async fn postmortems_stay_private_until_published(store: Arc<dyn Store>) {
    let w = world(store).await;
    let detail = ok(w
        .service
        .report_incident(
            member(),
            ReportIncident { title: Some("Slow API".into()), message: Some("Looking.".into()), ..Default::default() },
        )
        .await);
    let id = detail.incident.id;
    assert!(matches!(w.service.write_postmortem(member(), id, None, "Draft".into()).await, Err(AppError::Domain(_))));
    ok(w.service.resolve_incident(member(), id, None, None).await);
    assert!(matches!(w.service.publish_postmortem(member(), id, None, false).await, Err(AppError::Domain(_))));
    ok(w.service.write_postmortem(member(), id, None, "DRAFT-MARKER-5f1 under review".into()).await);
    let public = ok(w.service.public_state().await);
    assert!(public.incidents.iter().all(|d| d.incident.postmortem.is_none()), "a draft is the team's");
    let published = ok(w.service.publish_postmortem(member(), id, None, false).await);
    assert!(published.postmortem.as_ref().is_some_and(|p| p.published_at.is_some()));
    let public = ok(w.service.public_state().await);
    let shown = public.incidents.iter().find(|d| d.incident.id == id).and_then(|d| d.incident.postmortem.clone());
    assert_eq!(shown.map(|p| p.body.as_str().to_owned()), Some("DRAFT-MARKER-5f1 under review".into()));
    assert!(matches!(w.service.publish_postmortem(member(), id, None, false).await, Err(AppError::Domain(_))));
}

pub async fn a_backfilled_incident_sits_in_history_at_its_real_times(store: Arc<dyn Store>) {
    let w = world(store).await;
    let start: Timestamp = "2026-12-30T10:00:00Z".parse().unwrap_or_else(|e| panic!("{e}"));
    let at = |m: i64| start.checked_add(SignedDuration::from_mins(m)).unwrap_or(start);
    let input = |updates: Vec<BackfillUpdate>| BackfillIncident {
        title: "Outage on the API".into(),
        impact: Impact::Critical,
        components: vec![AffectedComponent { id: w.api, status: ComponentStatus::MajorOutage }],
        updates,
    };
    let update = |m: i64, status, message: &str| BackfillUpdate { at: at(m), status, message: message.into() };
    // Refused: not ending resolved, out of order, in the future.
    for bad in [
        vec![update(0, IncidentStatus::Investigating, "Down.")],
        vec![update(30, IncidentStatus::Investigating, "Down."), update(0, IncidentStatus::Resolved, "Up.")],
        vec![update(0, IncidentStatus::Monitoring, "Down."), update(30, IncidentStatus::Identified, "Hm.")],
        vec![BackfillUpdate { at: hours(48), status: IncidentStatus::Resolved, message: "Later.".into() }],
    ] {
        assert!(matches!(w.service.backfill_incident(member(), input(bad)).await, Err(AppError::Domain(_))));
    }
    assert!(ok(w.service.public_state().await).incidents.is_empty(), "refusals stored nothing");
    let detail = ok(w
        .service
        .backfill_incident(
            member(),
            input(vec![
                update(0, IncidentStatus::Investigating, "The API is down."),
                update(45, IncidentStatus::Identified, "A bad deploy."),
                update(90, IncidentStatus::Resolved, "Rolled back."),
            ]),
        )
        .await);
    let i = &detail.incident;
    assert!(i.backfilled);
    assert_eq!((i.created_at, i.identified_at, i.resolved_at), (at(0), Some(at(45)), Some(at(90))));
    assert_eq!(detail.updates.iter().map(|u| u.created_at).collect::<Vec<_>>(), [at(0), at(45), at(90)]);
    assert!(detail.updates.iter().all(|u| !u.notify), "told to no one");
    assert_eq!(status_of(&w).await, ComponentStatus::Operational, "the present is untouched");
    assert!(ok(w.service.open_incidents().await).is_empty());

    // The page places it on its day: 90 minutes of major outage on 2026-12-30.
    let page = beacon_site::PageConfig {
        id: "t".into(),
        name: "Acme".into(),
        url: "https://status.acme.test".into(),
        time_zone: "Etc/UTC".into(),
        logo_url: None,
        links: vec![],
        subscribe_url: None,
        accent: None,
        accent_dark: None,
    };
    let snapshot = beacon_publish::snapshot(&w.service, &page).await.unwrap_or_else(|e| panic!("{e}")).0;
    let days = beacon_site::uptime::days_by_component(
        &snapshot.components,
        &snapshot.incidents,
        &snapshot.maintenances,
        &snapshot.monitored,
        snapshot.generated_at,
    );
    let api_days = &days[&w.api];
    // The window's last day is today (2027-01-04): 2026-12-30 is five days back.
    let day = api_days[api_days.len() - 6];
    assert_eq!(day.major, 90 * 60);
    let month =
        snapshot.incidents.iter().filter(|r| r.incident.created_at.strftime("%Y-%m").to_string() == "2026-12").count();
    assert_eq!(month, 1);
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
    a_window_reminds_starts_mutes_and_completes_on_its_own,
    a_scheduler_run_twice_or_late_takes_each_step_once,
    a_weekly_series_keeps_its_local_time_across_a_daylight_saving_change,
    bad_maintenance_input_is_refused_and_changes_nothing,
    postmortems_stay_private_until_published,
    a_backfilled_incident_sits_in_history_at_its_real_times,
);
