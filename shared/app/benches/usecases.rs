//! The embedded store through the use cases: report an incident, post ten updates, read
//! it back. Prints throughput and p50/p99 latency per operation, and compares them with
//! the recorded baseline (`benches/baseline.json`) so a regression shows in the output.
//!
//! `cargo bench -p beacon-app --bench usecases` (set `BENCH_INCIDENTS` to change the
//! number of incidents; `BENCH_SAVE_BASELINE=1` records the figures as the new baseline).

use beacon_app::{NewComponent, PostUpdate, ReportIncident, Service, SystemClock};
use beacon_domain::{Actor, AffectedComponent, ComponentStatus, IncidentStatus, MemberId};
use beacon_store_redb::RedbStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(rank).copied().unwrap_or_default()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let incidents: usize = std::env::var("BENCH_INCIDENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(dir.path())?;
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    let actor = Actor::Member { id: MemberId::new(ulid::Ulid::new()) };
    let mut components = Vec::new();
    for n in 0..5 {
        let c = service
            .create_component(actor.clone(), NewComponent { name: format!("component {n}"), ..Default::default() })
            .await?;
        components.push(c.id);
    }

    let mut samples: BTreeMap<&str, Samples> = BTreeMap::new();
    let started = Instant::now();
    let mut operations = 0usize;
    for n in 0..incidents {
        let t = Instant::now();
        let detail = service
            .report_incident(
                actor.clone(),
                ReportIncident {
                    title: Some(format!("incident {n}")),
                    message: Some("We are investigating elevated error rates.".into()),
                    components: Some(vec![AffectedComponent {
                        id: components[n % 5],
                        status: ComponentStatus::PartialOutage,
                    }]),
                    ..Default::default()
                },
            )
            .await?;
        samples.entry("report incident").or_default().0.push(t.elapsed());
        for u in 0..10 {
            let status = match u {
                3 => Some(IncidentStatus::Identified),
                6 => Some(IncidentStatus::Monitoring),
                9 => Some(IncidentStatus::Resolved),
                _ => None,
            };
            let t = Instant::now();
            service
                .post_update(
                    actor.clone(),
                    detail.incident.id,
                    None,
                    PostUpdate { message: format!("update {u}: still working on it"), status, ..Default::default() },
                )
                .await?;
            samples.entry("post update").or_default().0.push(t.elapsed());
        }
        let t = Instant::now();
        let read = service.incident(detail.incident.id).await?;
        samples.entry("read incident").or_default().0.push(t.elapsed());
        assert_eq!(read.updates.len(), 11);
        operations += 12;
    }
    let elapsed = started.elapsed();
    let throughput = operations as f64 / elapsed.as_secs_f64();

    println!("embedded store through the use cases: {incidents} incidents x (report + 10 updates + read)");
    println!("{:<16} {:>8} {:>10} {:>10}", "operation", "count", "p50 ms", "p99 ms");
    let mut figures = BTreeMap::new();
    for (name, s) in &samples {
        let (p50, p99) = (ms(s.percentile(0.50)), ms(s.percentile(0.99)));
        println!("{name:<16} {:>8} {p50:>10.3} {p99:>10.3}", s.0.len());
        figures.insert(format!("{name} p50 ms"), p50);
        figures.insert(format!("{name} p99 ms"), p99);
    }
    println!("throughput: {throughput:.0} operations/s ({operations} operations in {:.2} s)", elapsed.as_secs_f64());
    figures.insert("throughput ops/s".into(), throughput);

    let baseline_path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/baseline.json");
    if std::env::var_os("BENCH_SAVE_BASELINE").is_some() {
        std::fs::write(baseline_path, serde_json::to_string_pretty(&figures)? + "\n")?;
        println!("saved as the baseline: {baseline_path}");
    } else if let Ok(text) = std::fs::read_to_string(baseline_path) {
        let baseline: BTreeMap<String, f64> = serde_json::from_str(&text)?;
        println!("\ncompared with the baseline ({baseline_path}):");
        for (name, value) in &figures {
            if let Some(base) = baseline.get(name) {
                // For latencies lower is better, for throughput higher is.
                let ratio = value / base;
                let better = if name.contains("ops/s") { ratio >= 1.0 } else { ratio <= 1.0 };
                println!(
                    "{name:<24} now {value:>10.3}  baseline {base:>10.3}  x{ratio:.2} {}",
                    if better { "ok" } else { "slower" }
                );
            }
        }
    }
    Ok(())
}
