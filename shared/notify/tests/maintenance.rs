//! Maintenance news: subscribers who chose maintenance events, and follow the page or a
//! component it covers, hear when it is scheduled, moved, cancelled, about to start,
//! started and completed; the team's alert rules hear the three-hour reminder; an edit
//! tells nobody. Real change records, planned and delivered to real channels.

mod common;

use beacon_app::{MaintenancePatch, ScheduleMaintenance, WindowInput};
use beacon_domain::{Change, ChangeId, ChangeKind, Events, Interest, MaintenanceEvent, SubscriberId};
use beacon_notify::Planner;
use common::*;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The change records written since the last call, oldest first.
async fn new_changes(w: &World, seen: &mut BTreeSet<ChangeId>) -> Vec<Change> {
    let mut changes: Vec<Change> =
        ok(w.service.audit_log(None, 200).await).items.into_iter().filter(|c| seen.insert(c.id)).collect();
    changes.reverse();
    changes
}

fn event_of(c: &Change) -> Option<MaintenanceEvent> {
    match &c.kind {
        ChangeKind::MaintenanceChanged { event, .. } => Some(*event),
        _ => None,
    }
}

/// Plans the new changes; who each maintenance change reached, by event.
async fn plan_new(
    w: &World,
    planner: &Planner,
    seen: &mut BTreeSet<ChangeId>,
) -> Vec<(MaintenanceEvent, BTreeSet<SubscriberId>)> {
    let mut out = Vec::new();
    for change in new_changes(w, seen).await {
        ok(planner.plan_change(&change).await);
        let reached: BTreeSet<SubscriberId> = due_jobs(w).await.into_iter().flat_map(|j| j.subscribers).collect();
        if let Some(event) = event_of(&change) {
            out.push((event, reached));
        }
    }
    out
}

fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[tokio::test]
async fn maintenance_news_reaches_who_chose_it_at_every_step() {
    let w = world().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mut seen = BTreeSet::new();
    let (everyone, _) = subscribe(&w, email("all@example.com"), Interest::Page).await;
    let (api_fan, _) = subscribe(&w, email("api@example.com"), only(&[&w.api])).await;
    let (_web_fan, _) = subscribe(&w, email("web@example.com"), only(&[&w.web])).await;
    let (_quiet, _) = subscribe_with(
        &w,
        email("quiet@example.com"),
        Interest::Page,
        Events { created: true, updated: true, resolved: true, maintenance: false },
        None,
    )
    .await;
    let team = ok(w
        .service
        .create_alert_rule(
            member(),
            beacon_app::NewAlertRule {
                name: "Ops".into(),
                on: beacon_domain::AlertOn { maintenance_reminder: true, ..Default::default() },
                monitors: None,
                channel: email("ops@team.example"),
                contact: None,
            },
        )
        .await)
    .recipient
    .id;
    new_changes(&w, &mut seen).await;

    let now = w.service.now();
    let start = now.checked_add(SignedDuration::from_hours(5)).unwrap_or(now);
    let end = start.checked_add(SignedDuration::from_hours(2)).unwrap_or(start);
    let scheduled = ok(w
        .service
        .schedule_maintenance(
            member(),
            ScheduleMaintenance {
                title: "Database upgrade".into(),
                message: "We will upgrade the **database**.".into(),
                window: WindowInput {
                    starts_at: iso(start),
                    ends_at: iso(end),
                    time_zone: Some("Europe/Berlin".into()),
                },
                components: vec![w.api.id],
                automation: None,
            },
        )
        .await);
    let id = scheduled.maintenance.id;
    let readers = BTreeSet::from([everyone.id, api_fan.id]);
    assert_eq!(plan_new(&w, &planner, &mut seen).await, vec![(MaintenanceEvent::Scheduled, readers.clone())]);

    // An edit says nothing to anyone.
    ok(w.service
        .edit_maintenance(
            member(),
            id,
            None,
            MaintenancePatch { title: Some("Database upgrade (v16)".into()), ..Default::default() },
        )
        .await);
    assert_eq!(plan_new(&w, &planner, &mut seen).await, vec![(MaintenanceEvent::Edited, BTreeSet::new())]);

    // Moved an hour later.
    let start = start.checked_add(SignedDuration::from_hours(1)).unwrap_or(start);
    let end = end.checked_add(SignedDuration::from_hours(1)).unwrap_or(end);
    let window = WindowInput { starts_at: iso(start), ends_at: iso(end), time_zone: Some("Europe/Berlin".into()) };
    ok(w.service.reschedule_maintenance(member(), id, None, window, Some("Moved by an hour.".into())).await);
    assert_eq!(plan_new(&w, &planner, &mut seen).await, vec![(MaintenanceEvent::Rescheduled, readers.clone())]);

    // Three hours before: the team; an hour before: the subscribers; then start and end.
    w.clock.set(start.checked_sub(SignedDuration::from_hours(3)).unwrap_or(start));
    ok(w.service.run_maintenance_scheduler().await);
    assert_eq!(plan_new(&w, &planner, &mut seen).await, vec![(MaintenanceEvent::TeamReminded, BTreeSet::from([team]))]);
    w.clock.set(start.checked_sub(SignedDuration::from_hours(1)).unwrap_or(start));
    ok(w.service.run_maintenance_scheduler().await);
    assert_eq!(plan_new(&w, &planner, &mut seen).await, vec![(MaintenanceEvent::SubscribersReminded, readers.clone())]);
    w.clock.set(start);
    ok(w.service.run_maintenance_scheduler().await);
    assert_eq!(plan_new(&w, &planner, &mut seen).await, vec![(MaintenanceEvent::Started, readers.clone())]);
    w.clock.set(end);
    ok(w.service.run_maintenance_scheduler().await);
    assert_eq!(plan_new(&w, &planner, &mut seen).await, vec![(MaintenanceEvent::Completed, readers.clone())]);

    // Another one, cancelled before it starts.
    let later = end.checked_add(SignedDuration::from_hours(24)).unwrap_or(end);
    let other = ok(w
        .service
        .schedule_maintenance(
            member(),
            ScheduleMaintenance {
                title: "Network work".into(),
                message: "Planned network work.".into(),
                window: WindowInput {
                    starts_at: iso(later),
                    ends_at: iso(later.checked_add(SignedDuration::from_hours(1)).unwrap_or(later)),
                    time_zone: None,
                },
                components: vec![w.web.id],
                automation: None,
            },
        )
        .await);
    ok(w.service.cancel_maintenance(member(), other.maintenance.id, None, None).await);
    let planned = plan_new(&w, &planner, &mut seen).await;
    let web_readers: BTreeSet<SubscriberId> = [everyone.id, _web_fan.id].into();
    assert_eq!(
        planned,
        vec![(MaintenanceEvent::Scheduled, web_readers.clone()), (MaintenanceEvent::Cancelled, web_readers)]
    );
}

#[tokio::test]
async fn each_channel_tells_a_maintenance_in_its_own_shape_and_mails_thread() {
    let w = world().await;
    let (receiver, base) = receiver().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    let (reader, _) = subscribe(&w, email("reader@example.com"), Interest::Page).await;
    subscribe(&w, beacon_domain::Channel::Webhook { url: url(&format!("{base}/hook")) }, Interest::Page).await;
    subscribe(&w, beacon_domain::Channel::Slack { url: url(&format!("{base}/slack")) }, Interest::Page).await;
    let mut seen = BTreeSet::new();
    new_changes(&w, &mut seen).await;

    let now = w.service.now();
    let start = now.checked_add(SignedDuration::from_hours(30)).unwrap_or(now);
    let end = start.checked_add(SignedDuration::from_hours(2)).unwrap_or(start);
    let scheduled = ok(w
        .service
        .schedule_maintenance(
            member(),
            ScheduleMaintenance {
                title: "Database upgrade".into(),
                message: "We will upgrade the **database**.".into(),
                window: WindowInput {
                    starts_at: iso(start),
                    ends_at: iso(end),
                    time_zone: Some("Europe/Berlin".into()),
                },
                components: vec![w.db.id],
                automation: None,
            },
        )
        .await);
    let id = scheduled.maintenance.id;
    ok(w.service.cancel_maintenance(member(), id, None, Some("Not needed after all.".into())).await);
    for change in new_changes(&w, &mut seen).await {
        ok(planner.plan_change(&change).await);
        for job in due_jobs(&w).await {
            let report = ok(deliverer.process(&job).await);
            assert_eq!(report.failed, 0, "{report:?}");
        }
    }

    let mails = mail.mails();
    assert_eq!(mails.len(), 2, "scheduled and cancelled");
    let first = String::from_utf8_lossy(&mails[0].bytes).to_string();
    let second = String::from_utf8_lossy(&mails[1].bytes).to_string();
    let root = format!("<maintenance.{id}.{}@acme.example>", reader.id);
    assert!(first.contains("Subject: [Acme Status] Scheduled maintenance: Database upgrade"), "{first}");
    assert!(first.contains(&format!("Message-ID: {root}")), "{first}");
    assert!(first.contains("Europe/Berlin"), "the window in its own zone: {first}");
    assert!(first.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(second.contains("Subject: [Acme Status] Maintenance cancelled: Database upgrade"), "{second}");
    assert!(second.contains(&format!("In-Reply-To: {root}")), "{second}");
    assert!(second.contains("Not needed after all."));

    let requests = receiver.taken();
    let hooks: Vec<serde_json::Value> =
        requests.iter().filter(|r| r.path == "/hook").map(|r| ok(serde_json::from_slice(&r.body))).collect();
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[0]["incident"]["impact"], "maintenance");
    assert_eq!(hooks[0]["incident"]["status"], "scheduled");
    assert_eq!(hooks[0]["incident"]["scheduled_for"], iso(start));
    assert_eq!(hooks[0]["incident"]["scheduled_until"], iso(end));
    assert_eq!(hooks[0]["incident"]["components"][0]["name"], "Database");
    assert_eq!(hooks[1]["incident"]["status"], "cancelled");
    let events: Vec<&str> = requests
        .iter()
        .filter(|r| r.path == "/hook")
        .filter_map(|r| r.headers.get("x-beacon-event").and_then(|v| v.to_str().ok()))
        .collect();
    assert_eq!(events, ["maintenance.scheduled", "maintenance.cancelled"]);
    let slack: Vec<serde_json::Value> =
        requests.iter().filter(|r| r.path == "/slack").map(|r| ok(serde_json::from_slice(&r.body))).collect();
    assert_eq!(slack.len(), 2);
    assert!(slack[0]["text"].as_str().unwrap_or_default().contains("Scheduled maintenance: Database upgrade"));
    assert!(slack[0].to_string().contains(&format!("https://status.acme.example/maintenances/{id}.html")));
}

#[tokio::test]
async fn a_published_postmortem_tells_subscribers_and_a_backfilled_incident_tells_nobody() {
    let w = world().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    subscribe(&w, email("reader@example.com"), Interest::Page).await;
    let incident = report(&w, &[&w.api]).await;
    let id = incident.incident.id;
    ok(w.service.resolve_incident(member(), id, None, None).await);
    ok(w.service.write_postmortem(member(), id, None, "## Why\n\nA full disk.".into()).await);
    let published = ok(w.service.publish_postmortem(member(), id, None, true).await);
    assert!(published.postmortem.as_ref().is_some_and(|p| p.published_at.is_some()));
    let change = Change {
        id: ChangeId::new(ulid::Ulid::new()),
        at: w.service.now(),
        actor: beacon_domain::Actor::System,
        kind: ChangeKind::PostmortemChanged { incident_id: id, published: true, notify: true },
        incident: None,
        maintenance: None,
    };
    ok(planner.plan_change(&change).await);
    for job in due_jobs(&w).await {
        ok(deliverer.process(&job).await);
    }
    let mails = mail.mails();
    assert_eq!(mails.len(), 1);
    let text = String::from_utf8_lossy(&mails[0].bytes).to_string();
    assert!(text.contains("Subject: [Acme Status] Postmortem: Elevated errors"), "{text}");
    assert!(text.contains("A full disk."));

    // A backfilled incident: its change plans nothing for anyone.
    let now = w.service.now();
    let at = |hours: i64| now.checked_sub(SignedDuration::from_hours(hours)).unwrap_or(now);
    let backfilled = ok(w
        .service
        .backfill_incident(
            member(),
            beacon_app::BackfillIncident {
                title: "Login failures".into(),
                impact: beacon_domain::Impact::Major,
                components: vec![beacon_domain::AffectedComponent {
                    id: w.web.id,
                    status: beacon_domain::ComponentStatus::MajorOutage,
                }],
                updates: vec![
                    beacon_app::BackfillUpdate {
                        at: at(30),
                        status: beacon_domain::IncidentStatus::Investigating,
                        message: "Logins failed.".into(),
                    },
                    beacon_app::BackfillUpdate {
                        at: at(29),
                        status: beacon_domain::IncidentStatus::Resolved,
                        message: "Fixed.".into(),
                    },
                ],
            },
        )
        .await);
    let change = Change {
        id: ChangeId::new(ulid::Ulid::new()),
        at: now,
        actor: beacon_domain::Actor::System,
        kind: ChangeKind::IncidentBackfilled { incident_id: backfilled.incident.id, components: vec![w.web.id] },
        incident: None,
        maintenance: None,
    };
    let planned = ok(planner.plan_change(&change).await);
    assert_eq!((planned.recipients, planned.jobs), (0, 0));
    assert!(due_jobs(&w).await.is_empty());
}
