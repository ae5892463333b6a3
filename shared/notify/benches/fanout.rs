//! The fan-out's figures.
//!
//! - **Planning**: recipients planned per second for 100,000 and 1,000,000 subscribers,
//!   half of them following the incident's component (the other half another one), on
//!   the embedded store, jobs handed to the store queue. Target at least 50,000 per
//!   second. Each size is planned in a child process of its own, so its peak resident
//!   memory (`VmHWM`) is the planner's and not the seeding's: target flat, at most 64 MB
//!   at 1,000,000. Beside it, the same planning done the naive way (every subscriber
//!   loaded, matched in memory) as the peer whose memory grows with the page.
//! - **Delivery**: mails per second through the local pipeline (claim, render MIME,
//!   outbox, mark sent) for 2,000 email subscribers, unbounded and bounded to 500 per
//!   second, which the bounded run must keep to.
//!
//! `cargo bench -p beacon-notify --bench fanout` (`-- --quick` for 100,000 only)

use beacon_app::subscribers::{FOLLOW_EVENTS_ATTRIBUTE, follow_pk};
use beacon_app::{ManualClock, NewComponent, NewSubscriber, ReportIncident, Service, SystemClock};
use beacon_domain::{
    Actor, AffectedComponent, Change, ChangeId, ChangeKind, Channel, ComponentStatus, Email, Events, FollowKey,
    Interest, MemberId, SubscriberId,
};
use beacon_notify::{
    Deliverer, GuardedHttp, MessageConfig, OutboundPolicy, OutboxMailer, Planner, RateBound, StoreQueue,
};
use beacon_site::PageConfig;
use beacon_store::{Condition, Item, Key, Store, Value, Write};
use beacon_store_redb::RedbStore;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn member() -> Actor {
    Actor::Member { id: MemberId::new(ulid::Ulid::new()) }
}

/// The change record of a freshly reported incident, as the feed would carry it.
fn reported(detail: &beacon_app::IncidentDetail) -> Change {
    Change {
        id: ChangeId::new(ulid::Ulid::new()),
        at: jiff::Timestamp::now(),
        actor: Actor::System,
        kind: ChangeKind::IncidentReported {
            incident_id: detail.incident.id,
            update_id: detail.updates[0].id,
            components: detail.incident.components.iter().map(|c| c.id).collect(),
            status_changes: vec![],
        },
        incident: None,
        maintenance: None,
    }
}

/// Peak resident memory of this process so far, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A page with two components and `n` subscribers in the follow index, half on each.
/// Writes the index entries directly (what confirmed subscriptions leave there): the
/// bench measures planning, not a million sign-ups.
async fn seed(dir: &std::path::Path, n: usize) -> (Change, Duration) {
    let started = Instant::now();
    let store = Arc::new(must(RedbStore::open(dir)));
    let service = Service::new(store.clone(), Arc::new(SystemClock));
    let api = must(service.create_component(member(), NewComponent { name: "API".into(), ..Default::default() }).await);
    let web = must(service.create_component(member(), NewComponent { name: "Web".into(), ..Default::default() }).await);
    let mut writes = Vec::with_capacity(100);
    for i in 0..n {
        let id = SubscriberId::new(ulid::Ulid::new());
        let key = if i % 2 == 0 { FollowKey::Component(api.id) } else { FollowKey::Component(web.id) };
        let item = Item::new(Key::new(follow_pk(key), id.to_string()))
            .with("type", Value::S("follow".into()))
            .with(FOLLOW_EVENTS_ATTRIBUTE, Value::N(i64::from(Events::default().bits())));
        writes.push(Write::Put { item, condition: Condition::None });
        if writes.len() == 100 {
            must(store.transact(std::mem::take(&mut writes)).await);
        }
    }
    if !writes.is_empty() {
        must(store.transact(writes).await);
    }
    let detail = must(
        service
            .report_incident(
                member(),
                ReportIncident {
                    title: Some("API errors".into()),
                    message: Some("Investigating.".into()),
                    components: Some(vec![AffectedComponent { id: api.id, status: ComponentStatus::MajorOutage }]),
                    ..Default::default()
                },
            )
            .await,
    );
    (reported(&detail), started.elapsed())
}

/// The child: plans the change in `dir` and prints `recipients seconds peak_mib`.
async fn plan_child(dir: &str, change: &str, naive: bool) {
    let store = Arc::new(must(RedbStore::open(std::path::Path::new(dir))));
    let service = Service::new(store.clone(), Arc::new(SystemClock));
    let change: Change = must(serde_json::from_str(change));
    let started = Instant::now();
    let recipients = if naive {
        naive_plan(store.as_ref(), &service, &change).await
    } else {
        let planner = Planner::new(service.clone(), Arc::new(StoreQueue::new(store.clone(), Arc::new(SystemClock))));
        must(planner.plan_change(&change).await).recipients
    };
    let seconds = started.elapsed().as_secs_f64();
    println!("{recipients} {seconds} {}", peak_rss_mib());
}

/// The peer: every follower of every touched key read into memory and deduplicated in
/// a set, then matched; what a planner without a streaming merge would do.
async fn naive_plan(store: &dyn Store, service: &Service, change: &Change) -> u64 {
    let Some(notice) = must(beacon_notify::notice::build(service, change).await) else { return 0 };
    let Some(news) = notice.incident_news() else { return 0 };
    let mut keys = vec![FollowKey::Page, FollowKey::Incident(news.incident.id)];
    keys.extend(notice.components.iter().map(|c| FollowKey::Component(c.id)));
    let mut everyone: BTreeSet<String> = BTreeSet::new();
    for key in keys {
        let items = must(beacon_app::repo::query_all(store, beacon_store::Query::partition(follow_pk(key))).await);
        everyone.extend(items.into_iter().map(|i| i.key.sk));
    }
    everyone.len() as u64
}

fn run_child(dir: &std::path::Path, change: &Change, naive: bool) -> (u64, f64, f64) {
    let exe = must(std::env::current_exe());
    let output = must(
        std::process::Command::new(exe)
            .args(["--plan-child", &dir.display().to_string(), &must(serde_json::to_string(change))])
            .args(if naive { &["--naive"][..] } else { &[][..] })
            .output(),
    );
    assert!(output.status.success(), "child failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    let parts: Vec<&str> = line.split_whitespace().collect();
    let field = |i: usize| parts.get(i).and_then(|p| p.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (field(0) as u64, field(1), field(2))
}

async fn planning(sizes: &[usize]) {
    println!("planning: half of the subscribers follow the incident's component, jobs to the store queue");
    println!(
        "{:>10} {:>12} {:>14} {:>10} | {:>18} {:>10}",
        "subscribers", "recipients", "planned/s", "peak MiB", "naive peer MiB", "seed s"
    );
    let mut peaks = Vec::new();
    for &n in sizes {
        let dir = must(tempfile::tempdir());
        let (change, seeded) = seed(dir.path(), n).await;
        let (recipients, seconds, peak) = run_child(dir.path(), &change, false);
        // The naive peer reads the same store (its own copy of the seed).
        let peer_dir = must(tempfile::tempdir());
        let (peer_change, _) = seed(peer_dir.path(), n).await;
        let (_, _, peer_peak) = run_child(peer_dir.path(), &peer_change, true);
        let rate = recipients as f64 / seconds;
        println!(
            "{n:>10} {recipients:>12} {rate:>14.0} {peak:>10.1} | {peer_peak:>18.1} {:>10.1}",
            seeded.as_secs_f64()
        );
        assert_eq!(recipients, (n as u64).div_ceil(2), "exactly the followers of the component");
        println!(
            "           target ≥ 50,000/s: {}; target ≤ 64 MiB: {}",
            if rate >= 50_000.0 { "met" } else { "MISSED" },
            if peak <= 64.0 { "met" } else { "MISSED" }
        );
        peaks.push(peak);
    }
    if peaks.len() == 2 {
        println!(
            "memory from 100,000 to 1,000,000 subscribers: {:.1} → {:.1} MiB (flat: ×{:.2})",
            peaks[0],
            peaks[1],
            peaks[1] / peaks[0]
        );
    }
}

async fn delivery(n: usize, bound: Option<f64>) -> (f64, usize) {
    let dir = must(tempfile::tempdir());
    let store = Arc::new(must(RedbStore::open(dir.path())));
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let service = Service::new(store.clone(), clock.clone());
    for i in 0..n {
        must(
            service
                .create_subscriber(
                    member(),
                    NewSubscriber {
                        channel: Channel::Email { address: must(Email::parse(&format!("reader{i}@example.com"))) },
                        interest: Interest::Page,
                        events: Events::default(),
                        contact: None,
                    },
                )
                .await,
        );
    }
    let detail = must(
        service
            .report_incident(
                member(),
                ReportIncident { title: Some("Slow".into()), message: Some("Looking.".into()), ..Default::default() },
            )
            .await,
    );
    let change = reported(&detail);
    let queue = StoreQueue::new(store.clone(), clock.clone());
    must(Planner::new(service.clone(), Arc::new(queue.clone())).plan_change(&change).await);
    let outbox = OutboxMailer::new(dir.path().join("outbox"));
    let mail: Arc<dyn beacon_notify::MailTransport> = match bound {
        Some(rate) => Arc::new(RateBound::new(outbox, rate)),
        None => Arc::new(outbox),
    };
    let config = MessageConfig {
        page: PageConfig {
            id: "bench".into(),
            name: "Bench".into(),
            url: "https://status.example.com".into(),
            time_zone: "Etc/UTC".into(),
            logo_url: None,
            links: vec![],
            subscribe_url: None,
            accent: None,
            accent_dark: None,
        },
        api_url: "https://status.example.com".into(),
        from: must("Bench <status@example.com>".parse()),
    };
    let http = Arc::new(must(GuardedHttp::new(OutboundPolicy::default())));
    let deliverer = Arc::new(Deliverer::new(service, Arc::new(queue.clone()), mail, http, config));
    let started = Instant::now();
    let mut sent = 0;
    loop {
        let jobs = must(queue.receive(10, Duration::from_secs(300)).await);
        if jobs.is_empty() {
            break;
        }
        // Two workers, as the runner and the deliverer function run them.
        let mut handles = Vec::new();
        for leased in jobs {
            let d = deliverer.clone();
            handles.push(tokio::spawn(async move { (must(d.process(&leased.job).await), leased) }));
        }
        for h in handles {
            let (report, leased) = must(h.await);
            sent += report.sent as usize;
            must(queue.ack(&leased).await);
        }
    }
    let files = std::fs::read_dir(dir.path().join("outbox")).map(|d| d.count()).unwrap_or(0);
    (sent as f64 / started.elapsed().as_secs_f64(), files)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--plan-child") {
        let naive = args.iter().any(|a| a == "--naive");
        plan_child(&args[i + 1], &args[i + 2], naive).await;
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: &[usize] = if quick { &[100_000] } else { &[100_000, 1_000_000] };
    planning(sizes).await;

    println!();
    println!("delivery through the local pipeline (claim, MIME, outbox, mark), 2,000 email subscribers");
    let (unbounded, files) = delivery(2_000, None).await;
    println!("  unbounded:          {unbounded:>8.0} mails/s ({files} files)");
    let (bounded, files) = delivery(2_000, Some(500.0)).await;
    println!(
        "  bounded to 500/s:   {bounded:>8.0} mails/s ({files} files) — {}",
        if bounded <= 500.0 * 1.05 { "keeps to the bound" } else { "OVER THE BOUND" }
    );
}
