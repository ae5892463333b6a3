//! 1,000 HTTP checks in one tick of the prober (the code one scheduled invocation runs),
//! beside Prometheus's blackbox exporter (Debian's `prometheus-blackbox-exporter`,
//! installed if missing) probing the same targets in the same run.
//!
//! Both check the same thing: GET, a 2xx status, and a keyword in the body. The targets
//! are served by a child process (this binary, re-run as a server) so neither side's
//! CPU time includes them. Ours counts everything a tick does: reading the due monitors,
//! the checks, and storing each result and closing its round on the embedded store.
//! The exporter's counts its process alone (from /proc), serving 1,000 `/probe`
//! requests sent 64 at a time, as our prober runs 64 checks at a time.
//!
//! Targets: the 1,000 checks within 5 seconds; less CPU per check than the exporter.
//!
//! `cargo bench -p beacon-probe --bench probes`

use beacon_app::{MonitorSettings, Service, SystemClock};
use beacon_notify::OutboundPolicy;
use beacon_probe::Prober;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHECKS: usize = 1000;
const CONCURRENCY: usize = 64;
const SERVE: &str = "BEACON_BENCH_SERVE_TARGETS";

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The child: a loopback HTTP server answering `/health` with a small body.
fn serve() {
    let runtime = ok(tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build());
    runtime.block_on(async {
        let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
        println!("{}", ok(listener.local_addr()).port());
        let app = axum::Router::new().route("/health", axum::routing::get(|| async { "status: ok" }));
        let _ = axum::serve(listener, app).await;
    });
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU seconds of a process, from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = ok(std::fs::read_to_string(format!("/proc/{pid}/stat")));
    // Fields after the command name (which may hold spaces, inside parentheses).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

fn exporter_binary() -> Option<String> {
    let found = |name: &str| {
        Command::new("sh").args(["-c", &format!("command -v {name}")]).output().ok().and_then(|o| {
            let path = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            (!path.is_empty()).then_some(path)
        })
    };
    if let Some(path) = found("prometheus-blackbox-exporter") {
        return Some(path);
    }
    eprintln!("installing prometheus-blackbox-exporter (Debian package)");
    let sudo = if ok(Command::new("id").arg("-u").output()).stdout.starts_with(b"0") { "" } else { "sudo " };
    let installed = Command::new("sh")
        .args([
            "-c",
            &format!(
                "{sudo}apt-get update -qq && DEBIAN_FRONTEND=noninteractive {sudo}apt-get install -y -qq --no-install-recommends prometheus-blackbox-exporter >/dev/null"
            ),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if installed { found("prometheus-blackbox-exporter") } else { None }
}

struct Figures {
    wall: Duration,
    cpu: f64,
}

impl Figures {
    fn print(&self, who: &str) {
        println!(
            "{who:<32} {CHECKS} checks in {:>6.0} ms: {:>7.0} checks/s, CPU {:>6.0} µs per check",
            self.wall.as_secs_f64() * 1000.0,
            CHECKS as f64 / self.wall.as_secs_f64(),
            self.cpu / CHECKS as f64 * 1e6
        );
    }
}

fn main() {
    if std::env::var_os(SERVE).is_some() {
        serve();
        return;
    }
    let mut child = ok(Command::new(ok(std::env::current_exe())).env(SERVE, "1").stdout(Stdio::piped()).spawn());
    let mut line = String::new();
    ok(BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("no stdout"))).read_line(&mut line));
    let _targets = Killed(child);
    let port: u16 = ok(line.trim().parse());
    let target = |n: usize| format!("http://127.0.0.1:{port}/health?n={n}");

    let runtime = ok(tokio::runtime::Builder::new_multi_thread().enable_all().build());
    let dir = ok(tempfile::tempdir());
    let store = Arc::new(ok(beacon_store_redb::RedbStore::open(dir.path())));
    let service = Service::new(store, Arc::new(SystemClock));
    let regions = vec!["bench".to_owned()];
    runtime.block_on(async {
        for n in 0..CHECKS {
            let check = ok(serde_json::from_value(serde_json::json!({
                "kind": "http", "url": target(n), "keyword": "status: ok", "timeout_ms": 5000
            })));
            let settings = MonitorSettings {
                name: format!("target {n}"),
                check,
                interval_seconds: Some(60),
                regions: None,
                thresholds: None,
                components: vec![],
                incident_title: None,
                incident_message: None,
                publish: true,
                paused: false,
            };
            ok(service.create_monitor(beacon_domain::Actor::System, settings, &regions).await);
        }
    });
    let dev = OutboundPolicy { allow_plain_http: true, allow_loopback: true };
    let prober = ok(Prober::new(service.clone(), "bench", dev)).with_concurrency(CONCURRENCY);
    let me = std::process::id().to_string();
    let cpu_before = cpu_seconds(&me);
    let started = Instant::now();
    let report = ok(runtime.block_on(prober.tick()));
    let ours = Figures { wall: started.elapsed(), cpu: cpu_seconds(&me) - cpu_before };
    assert_eq!((report.checked, report.rounds_closed, report.failed), (CHECKS, CHECKS, 0), "{report:?}");
    let up = runtime.block_on(async {
        let mut up = 0;
        for m in ok(service.monitors().await) {
            up += usize::from(m.last_outcome == Some(beacon_domain::CheckOutcome::Up));
        }
        up
    });
    assert_eq!(up, CHECKS, "every check found its target up");

    // The same checks without the store: what the HTTP work alone costs.
    let clients = ok(beacon_probe::HttpClients::new(dev));
    let checks: Vec<beacon_probe::HttpCheck> = (0..CHECKS)
        .map(|n| beacon_probe::HttpCheck {
            method: "GET".into(),
            url: target(n),
            headers: vec![],
            body: None,
            expected: beacon_probe::Expected(vec![(200, 399)]),
            timeout: Duration::from_secs(5),
            follow_redirects: false,
            keyword: Some(beacon_probe::Keyword { text: "status: ok".into(), present: true }),
            degraded_after: None,
        })
        .collect();
    let cpu_before = cpu_seconds(&me);
    let started = Instant::now();
    let results: Vec<beacon_probe::ProbeResult> = runtime.block_on(async {
        use futures::StreamExt as _;
        futures::stream::iter(&checks)
            .map(|c| beacon_probe::run_http(c, &clients))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await
    });
    let bare = Figures { wall: started.elapsed(), cpu: cpu_seconds(&me) - cpu_before };
    assert!(results.iter().all(|r| r.outcome == beacon_probe::Outcome::Up));

    println!("\n1,000 HTTP checks of loopback targets (GET, 2xx, keyword), {CONCURRENCY} at a time:");
    ours.print("beacon prober (one tick)");
    bare.print("  of which the checks alone");
    let within = ours.wall <= Duration::from_secs(5);
    println!("  target: 1,000 checks within 5 s: {}", if within { "met" } else { "NOT met" });

    let Some(exporter) = exporter_binary() else {
        println!("  prometheus-blackbox-exporter is not available here: no comparison");
        return;
    };
    let config = dir.path().join("blackbox.yml");
    ok(std::fs::write(
        &config,
        "modules:\n  http_keyword:\n    prober: http\n    timeout: 5s\n    http:\n      method: GET\n      preferred_ip_protocol: ip4\n      fail_if_body_not_matches_regexp: ['status: ok']\n",
    ));
    let exporter_port = {
        let probe = ok(std::net::TcpListener::bind("127.0.0.1:0"));
        ok(probe.local_addr()).port()
    };
    let child = ok(Command::new(&exporter)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{exporter_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn());
    let pid = child.id().to_string();
    let _exporter = Killed(child);
    let exporter_figures = runtime.block_on(async {
        let http = ok(reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build());
        let probe = |n: usize| {
            let http = http.clone();
            let url = format!(
                "http://127.0.0.1:{exporter_port}/probe?module=http_keyword&target={}",
                target(n).replace('?', "%3F").replace('=', "%3D")
            );
            async move { ok(ok(http.get(url).send().await).text().await) }
        };
        let mut ready = false;
        for _ in 0..100 {
            if http.get(format!("http://127.0.0.1:{exporter_port}/-/healthy")).send().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "the exporter did not start");
        // Warm up: one probe, so start-up costs are not counted.
        assert!(probe(0).await.contains("probe_success 1"), "the exporter's probe must succeed");
        use futures::StreamExt as _;
        let cpu_before = cpu_seconds(&pid);
        let started = Instant::now();
        let bodies: Vec<String> =
            futures::stream::iter(0..CHECKS).map(probe).buffer_unordered(CONCURRENCY).collect().await;
        let wall = started.elapsed();
        let cpu = cpu_seconds(&pid) - cpu_before;
        let succeeded = bodies.iter().filter(|b| b.contains("probe_success 1")).count();
        assert_eq!(succeeded, CHECKS, "every exporter probe found its target up");
        Figures { wall, cpu }
    });
    exporter_figures.print("prometheus-blackbox-exporter");
    let ratio = ours.cpu / exporter_figures.cpu;
    println!(
        "  CPU per check, ours ÷ the exporter's: {ratio:.2} (target below 1: {})",
        if ratio < 1.0 { "met" } else { "NOT met" }
    );
}
