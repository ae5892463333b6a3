//! The page's figures: a full render of 50 components and 10,000 incidents (target under
//! 100 ms), a publish after one incident changed (target under 10 ms, at most 10 objects
//! written), and the index's size raw and gzip (target at most 15 KB gzip for the
//! reference page: 20 components, 3 active incidents, 14 days of history).
//!
//! `cargo bench -p beacon-publish --bench page`

use beacon_domain::{
    AffectedChange, AffectedComponent, Component, ComponentGroup, ComponentId, ComponentStatus, Description, GroupId,
    Impact, Incident, IncidentId, IncidentSource, IncidentStatus, Markdown, Name, PublicUpdate, Title, UpdateId,
};
use beacon_publish::{DirBucket, Publisher};
use beacon_site::{IncidentRecord, PageConfig, Snapshot, render};
use jiff::{SignedDuration, Timestamp};
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

fn must<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e:?}"))
}

fn state(components: usize, incidents: usize, active: usize, now: Timestamp) -> Snapshot {
    let groups: Vec<ComponentGroup> = (0..4)
        .map(|g| ComponentGroup {
            id: GroupId::new(ulid::Ulid::new()),
            name: must(Name::parse(&format!("Group {g}"))),
            description: Description::empty(),
            position: g,
            created_at: now.checked_sub(SignedDuration::from_hours(24 * 400)).unwrap_or(now),
            updated_at: now.checked_sub(SignedDuration::from_hours(24 * 400)).unwrap_or(now),
            version: 1,
        })
        .collect();
    let comps: Vec<Component> = (0..components)
        .map(|c| Component {
            id: ComponentId::new(ulid::Ulid::new()),
            name: must(Name::parse(&format!("Component {c}"))),
            description: must(Description::parse("Serves requests from customers")),
            position: c as u32,
            group_id: Some(groups[c % groups.len()].id),
            manual_status: ComponentStatus::Operational,
            status: ComponentStatus::Operational,
            created_at: now.checked_sub(SignedDuration::from_hours(24 * 400)).unwrap_or(now),
            updated_at: now.checked_sub(SignedDuration::from_hours(24 * 400)).unwrap_or(now),
            version: 1,
        })
        .collect();
    let records = (0..incidents)
        .map(|n| {
            // Spread over the past, one every ~3 hours, newest first; the first `active` open.
            let start = now.checked_sub(SignedDuration::from_mins(30 + 180 * n as i64)).unwrap_or(now);
            let open = n < active;
            let id = IncidentId::new(ulid::Ulid::from_parts(start.as_millisecond() as u64, n as u128));
            let affected = AffectedComponent { id: comps[n % comps.len()].id, status: ComponentStatus::PartialOutage };
            let mut updates = vec![PublicUpdate {
                id: UpdateId::new(ulid::Ulid::new()),
                incident_id: id,
                message: must(Markdown::parse("We are investigating **elevated error rates** on this component.")),
                status: IncidentStatus::Investigating,
                impact: Some(Impact::Minor),
                affected_components: vec![AffectedChange { id: affected.id, old: None, new: Some(affected.status) }],
                author: beacon_domain::Actor::System,
                created_at: start,
            }];
            let end = start.checked_add(SignedDuration::from_mins(25)).unwrap_or(start);
            if !open {
                updates.push(PublicUpdate {
                    id: UpdateId::new(ulid::Ulid::new()),
                    incident_id: id,
                    message: must(Markdown::parse("This incident has been resolved.")),
                    status: IncidentStatus::Resolved,
                    impact: None,
                    affected_components: vec![],
                    author: beacon_domain::Actor::System,
                    created_at: end,
                });
            }
            IncidentRecord {
                incident: Incident {
                    id,
                    title: must(Title::parse(&format!("Elevated errors #{n}"))),
                    status: if open { IncidentStatus::Investigating } else { IncidentStatus::Resolved },
                    impact: Impact::Minor,
                    components: vec![affected],
                    source: IncidentSource::Manual,
                    template_id: None,
                    created_at: start,
                    updated_at: if open { start } else { end },
                    identified_at: None,
                    monitoring_at: None,
                    resolved_at: (!open).then_some(end),
                    version: updates.len() as u64,
                },
                updates,
            }
        })
        .collect();
    Snapshot {
        page: PageConfig {
            id: "bench".into(),
            name: "Bench".into(),
            url: "https://status.bench".into(),
            time_zone: "Etc/UTC".into(),
            logo_url: None,
            links: vec![],
        },
        generated_at: now,
        components: comps,
        groups,
        incidents: records,
    }
}

fn gzip(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = encoder.write_all(bytes);
    encoder.finish().map(|v| v.len()).unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let now = Timestamp::now();

    let big = state(50, 10_000, 3, now);
    let _ = render(&big); // warm-up
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let objects = render(&big);
        times.push(t.elapsed());
        assert!(objects.len() > 10_000);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "full render, 50 components, 10,000 incidents: {:.1} ms median of 5 (target under 100 ms) {}",
        median.as_secs_f64() * 1000.0,
        if median.as_millis() < 100 { "ok" } else { "ABOVE TARGET" }
    );

    let reference = state(20, 14 * 2, 3, now);
    let objects = render(&reference);
    let index = objects.iter().find(|o| o.path == "index.html").map(|o| o.bytes.clone()).unwrap_or_default();
    let gz = gzip(&index);
    println!(
        "index.html of the reference page (20 components, 3 active incidents, 14 days): {} bytes raw, {} bytes gzip (target at most 15,360) {}",
        index.len(),
        gz,
        if gz <= 15 * 1024 { "ok" } else { "ABOVE TARGET" }
    );

    let dir = must(tempfile::tempdir());
    let publisher = Publisher::new(Arc::new(DirBucket::new(dir.path())));
    let mut snapshot = state(50, 1_000, 3, now);
    let t = Instant::now();
    let _ = render(&snapshot);
    println!("(full render of the 1,000-incident page: {:.2} ms)", t.elapsed().as_secs_f64() * 1000.0);
    must(publisher.publish(&snapshot, 1).await);
    let mut publish_times = Vec::new();
    let mut most_written = 0;
    for round in 0..20 {
        // One update on one open incident.
        let record = &mut snapshot.incidents[round % 3];
        let at = now.checked_add(SignedDuration::from_secs(round as i64 + 1)).unwrap_or(now);
        record.updates.push(PublicUpdate {
            id: UpdateId::new(ulid::Ulid::new()),
            incident_id: record.incident.id,
            message: must(Markdown::parse(&format!("Still investigating ({round})."))),
            status: IncidentStatus::Investigating,
            impact: None,
            affected_components: vec![],
            author: beacon_domain::Actor::System,
            created_at: at,
        });
        record.incident.updated_at = at;
        record.incident.version += 1;
        let t = Instant::now();
        let report = must(publisher.publish(&snapshot, round as i64 + 2).await);
        publish_times.push(t.elapsed());
        most_written = most_written.max(report.written.len());
    }
    publish_times.sort();
    let p50 = publish_times[publish_times.len() / 2];
    println!(
        "publish after one incident update (1,000 incidents, folder bucket): p50 {:.2} ms, max {:.2} ms, at most {} objects written (targets under 10 ms, at most 10) {}",
        p50.as_secs_f64() * 1000.0,
        publish_times.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or_default(),
        most_written,
        if p50.as_millis() < 10 && most_written <= 10 { "ok" } else { "ABOVE TARGET" }
    );
}
