//! A bounded load run against the real binary on loopback: a fixed number of reads
//! (GET an incident with its updates) from 32 concurrent clients, then a fixed number of
//! writes (POST an update) one after another. Prints reads/s and write p50/p99 next to
//! the targets (5,000 reads/s; write p99 under 10 ms on a 2-core machine) and, as a peer
//! in the same run, the same read loop against `/healthz`. Last, the time from an API
//! write to the published page in the data folder showing it (target p99 under 1 s).
//!
//! `cargo bench -p beacon --bench load` (`LOAD_READS`, `LOAD_WRITES`, `LOAD_PAGE_WRITES`
//! change the counts).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;

fn count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn read_loop(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    total: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let url: Arc<str> = url.into();
    let token: Arc<str> = token.into();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / CLIENTS {
                let response = client.get(&*url).bearer_auth(&*token).send().await?;
                if !response.status().is_success() {
                    return Err(format!("GET {url}: {}", response.status()).into());
                }
                response.bytes().await?;
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for task in tasks {
        task.await?.map_err(|e| e.to_string())?;
    }
    Ok((total / CLIENTS * CLIENTS) as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reads = count("LOAD_READS", 20_000);
    let writes = count("LOAD_WRITES", 2_000);
    let page_writes = count("LOAD_PAGE_WRITES", 100);
    let dir = tempfile::tempdir()?;
    let binary = env!("CARGO_BIN_EXE_beacon");
    let token_output = Command::new(binary)
        .args(["--no-demo", "--data-dir"])
        .arg(dir.path())
        .args(["token", "create", "--name", "Load", "--role", "owner"])
        .output()?;
    let token = String::from_utf8(token_output.stdout)?.lines().last().unwrap_or_default().trim().to_owned();
    let mut child = Command::new(binary)
        .args(["--no-demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let base = line.trim().strip_prefix("beacon listening on ").ok_or("unexpected output")?.to_owned();

    let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let post = |path: String, body: serde_json::Value| {
        client.post(format!("{base}{path}")).bearer_auth(&token).json(&body).send()
    };
    let component: serde_json::Value =
        post("/api/v1/components".into(), serde_json::json!({"name": "API"})).await?.json().await?;
    let report = serde_json::json!({"title": "Elevated errors", "message": "Looking into it.",
        "components": [{"id": component["id"], "status": "partial_outage"}]});
    let read_incident: serde_json::Value = post("/api/v1/incidents".into(), report.clone()).await?.json().await?;
    let write_incident: serde_json::Value = post("/api/v1/incidents".into(), report).await?.json().await?;
    for n in 0..5 {
        post(
            format!("/api/v1/incidents/{}/updates", read_incident["id"].as_str().unwrap_or_default()),
            serde_json::json!({"message": format!("update {n}")}),
        )
        .await?;
    }

    let read_url = format!("{base}/api/v1/incidents/{}", read_incident["id"].as_str().unwrap_or_default());
    read_loop(&client, &read_url, &token, 2_000).await?; // warm-up
    let incident_reads = read_loop(&client, &read_url, &token, reads).await?;
    let health_reads = read_loop(&client, &format!("{base}/healthz"), &token, reads).await?;

    let write_path = format!("/api/v1/incidents/{}/updates", write_incident["id"].as_str().unwrap_or_default());
    let mut latencies = Vec::with_capacity(writes);
    for n in 0..writes {
        let started = Instant::now();
        let response = post(write_path.clone(), serde_json::json!({"message": format!("write {n}")})).await?;
        if response.status() != reqwest::StatusCode::CREATED {
            return Err(format!("write {n}: {}", response.status()).into());
        }
        response.bytes().await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let pick = |p: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(Duration::ZERO)
    };
    let (p50, p99) = (pick(0.50).as_secs_f64() * 1000.0, pick(0.99).as_secs_f64() * 1000.0);

    // Write → page: each update's text must appear in the incident's page on disk.
    let page_incident: serde_json::Value =
        post("/api/v1/incidents".into(), serde_json::json!({"title": "Page latency", "message": "Watching the page."}))
            .await?
            .json()
            .await?;
    let page_id = page_incident["id"].as_str().unwrap_or_default().to_owned();
    let page_file = dir.path().join("site").join("incidents").join(format!("{page_id}.html"));
    let mut page_latencies = Vec::with_capacity(page_writes);
    for n in 0..page_writes {
        let marker = format!("page-marker-{n}-end");
        let started = Instant::now();
        let response =
            post(format!("/api/v1/incidents/{page_id}/updates"), serde_json::json!({"message": marker})).await?;
        if response.status() != reqwest::StatusCode::CREATED {
            return Err(format!("page write {n}: {}", response.status()).into());
        }
        loop {
            if std::fs::read_to_string(&page_file).is_ok_and(|html| html.contains(&marker)) {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("update {n} not on the page after 10 s").into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        page_latencies.push(started.elapsed());
    }
    page_latencies.sort();
    let page_pick = |p: f64| {
        page_latencies
            .get(((page_latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(Duration::ZERO)
    };
    let (page_p50, page_p99) = (page_pick(0.50).as_secs_f64() * 1000.0, page_pick(0.99).as_secs_f64() * 1000.0);
    let _ = child.kill();
    let _ = child.wait();

    println!("load run on loopback, embedded store, {CLIENTS} concurrent readers");
    println!(
        "reads  GET incident with updates: {incident_reads:>8.0} req/s over {reads} requests (target 5000) {}",
        if incident_reads >= 5000.0 { "ok" } else { "BELOW TARGET" }
    );
    println!("peer   GET /healthz (same stack):  {health_reads:>8.0} req/s over {reads} requests");
    println!(
        "writes POST update, sequential:    p50 {p50:.2} ms  p99 {p99:.2} ms over {writes} requests (target p99 < 10 ms) {}",
        if p99 < 10.0 { "ok" } else { "ABOVE TARGET" }
    );
    println!(
        "page   API write to page on disk:  p50 {page_p50:.0} ms  p99 {page_p99:.0} ms over {page_writes} writes (target p99 < 1000 ms) {}",
        if page_p99 < 1000.0 { "ok" } else { "ABOVE TARGET" }
    );
    Ok(())
}
