//! The page's figures: a full render of 50 components and 10,000 incidents (target under
//! 100 ms), a publish after one incident changed (target under 10 ms, at most 10 objects
//! written; the publisher's work is measured on a bucket in memory, and the folder
//! bucket's figure is printed beside the cost of one atomic file replace on this disk,
//! which bounds it from below), and the index's size raw and gzip (target at most 15 KB gzip for the
//! reference page: 20 components, 3 active incidents, 14 days of history).
//!
//! `cargo bench -p beacon-publish --bench page`

use beacon_domain::{
    AffectedChange, AffectedComponent, Component, ComponentGroup, ComponentId, ComponentStatus, Description, GroupId,
    Impact, Incident, IncidentId, IncidentSource, IncidentStatus, Markdown, Name, PublicUpdate, Title, UpdateId,
};
use beacon_publish::{BucketError, DirBucket, Precondition, Publisher, SiteBucket, Upload};
use beacon_site::{IncidentRecord, PageConfig, Snapshot, render};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
                notify: true,
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
                    notify: true,
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
                    monitor_id: None,
                    integration_id: None,
                    auto_resolve: true,
                    published: true,
                    published_at: None,
                    postmortem: None,
                    backfilled: false,
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
            subscribe_url: None,
            accent: None,
            accent_dark: None,
        },
        generated_at: now,
        components: comps,
        groups,
        incidents: records,
        maintenances: Vec::new(),
        monitored: Default::default(),
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
    let index = objects.iter().find(|o| o.path == "index.html").map(|o| o.bytes.to_vec()).unwrap_or_default();
    let gz = gzip(&index);
    println!(
        "index.html of the reference page (20 components, 3 active incidents, 14 days): {} bytes raw, {} bytes gzip (target at most 15,360) {}",
        index.len(),
        gz,
        if gz <= 15 * 1024 { "ok" } else { "ABOVE TARGET" }
    );

    // The publisher's own work (render, diff, manifest) on a bucket in memory, then the
    // same on the folder bucket, whose every object costs an atomic file replace.
    let snapshot = state(50, 1_000, 3, now);
    let t = Instant::now();
    let _ = render(&snapshot);
    println!("(full render of the 1,000-incident page: {:.2} ms)", t.elapsed().as_secs_f64() * 1000.0);
    let memory = publish_rounds(Arc::new(MemoryBucket::default()), snapshot.clone(), now).await;
    println!(
        "publish after one incident update (1,000 incidents), publisher's work (bucket in memory): p50 {:.2} ms, max {:.2} ms, at most {} objects written (targets under 10 ms, at most 10) {}",
        ms(memory.p50),
        ms(memory.max),
        memory.most_written,
        if memory.p50.as_millis() < 10 && memory.most_written <= 10 { "ok" } else { "ABOVE TARGET" }
    );
    let dir = must(tempfile::tempdir());
    let folder = publish_rounds(Arc::new(DirBucket::new(dir.path())), snapshot, now).await;
    let replace = atomic_replace_cost(dir.path());
    println!(
        "publish after one incident update (1,000 incidents), folder bucket on this disk: p50 {:.2} ms, max {:.2} ms; one atomic file replace here costs {:.2} ms (median of 20), and a publish makes {} of them in turn (claim, objects, manifest)",
        ms(folder.p50),
        ms(folder.max),
        ms(replace),
        folder.most_written + 2,
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Rounds {
    p50: Duration,
    max: Duration,
    most_written: usize,
}

/// Publishes `snapshot`, then 20 times one more update on one open incident.
async fn publish_rounds(bucket: Arc<dyn SiteBucket>, mut snapshot: Snapshot, now: Timestamp) -> Rounds {
    let publisher = Publisher::new(bucket);
    must(publisher.publish(&snapshot, 1).await);
    let mut times = Vec::new();
    let mut most_written = 0;
    for round in 0..20 {
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
            notify: true,
        });
        record.incident.updated_at = at;
        record.incident.version += 1;
        let t = Instant::now();
        let report = must(publisher.publish(&snapshot, round as i64 + 2).await);
        times.push(t.elapsed());
        most_written = most_written.max(report.written.len());
    }
    times.sort();
    Rounds { p50: times[times.len() / 2], max: times[times.len() - 1], most_written }
}

/// What the folder bucket pays per object on this file system: write a temporary file
/// and rename it over the old one (ext4 starts writing the new data out at that rename).
fn atomic_replace_cost(dir: &std::path::Path) -> Duration {
    let bytes = vec![b'x'; 20_000];
    let target = dir.join("replace-probe.html");
    let temporary = dir.join("replace-probe.html.tmp");
    must(std::fs::write(&target, &bytes));
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            must(std::fs::write(&temporary, &bytes));
            must(std::fs::rename(&temporary, &target));
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// A bucket in memory, tagging each write with a counter as S3 tags with a digest: the
/// publisher's cost without any storage cost.
#[derive(Debug, Default)]
struct MemoryBucket {
    objects: Mutex<HashMap<String, (Vec<u8>, String)>>,
    writes: AtomicU64,
}

#[async_trait::async_trait]
impl SiteBucket for MemoryBucket {
    async fn read(&self, path: &str) -> Result<Option<(Vec<u8>, String)>, BucketError> {
        Ok(self.objects.lock().unwrap_or_else(|p| p.into_inner()).get(path).cloned())
    }

    async fn etag(&self, path: &str) -> Result<Option<String>, BucketError> {
        Ok(self.objects.lock().unwrap_or_else(|p| p.into_inner()).get(path).map(|(_, tag)| tag.clone()))
    }

    async fn write(&self, upload: Upload<'_>, precondition: Precondition) -> Result<String, BucketError> {
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let holds = match (&precondition, objects.get(upload.path)) {
            (Precondition::None, _) | (Precondition::IfNoneMatch, None) => true,
            (Precondition::IfMatch(want), Some((_, have))) => want == have,
            _ => false,
        };
        if !holds {
            return Err(BucketError::PreconditionFailed(upload.path.to_owned()));
        }
        let tag = format!("\"{}\"", self.writes.fetch_add(1, Ordering::Relaxed));
        objects.insert(upload.path.to_owned(), (upload.bytes.to_vec(), tag.clone()));
        Ok(tag)
    }

    async fn delete(&self, path: &str) -> Result<(), BucketError> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).remove(path);
        Ok(())
    }
}
