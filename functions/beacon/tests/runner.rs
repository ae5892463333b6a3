//! Starts the real binary on port 0 against a fresh data folder.

use beacon_store::{Query, Store};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &std::path::Path, extra: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_beacon"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env_remove("BEACON_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start beacon: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap_or_else(|e| panic!("read stdout: {e}"));
    let base = line
        .trim()
        .strip_prefix("beacon listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    Running { child, base }
}

fn terminate(mut running: Running) {
    // SIGTERM, then wait: the runner shuts down gracefully and releases the store.
    let pid = running.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    for _ in 0..100 {
        if let Ok(Some(_)) = running.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("beacon did not stop on SIGTERM");
}

#[tokio::test]
async fn the_runner_serves_health_and_seeds_the_sample_page_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let running = start(dir.path(), &[]);
    let health: serde_json::Value = reqwest::get(format!("{}/healthz", running.base))
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("healthz: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("healthz body: {e}"));
    assert_eq!(health["status"], "ok");
    terminate(running);

    // Restarting must not seed twice; the data survived the process.
    let again = start(dir.path(), &[]);
    terminate(again);
    let store = beacon_store_redb::RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("reopen: {e}"));
    let components = store.query(Query::partition("COMPONENTS")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(components.items.len(), 5);
    let incidents = store.query(Query::partition("INCIDENTS")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(incidents.items.len(), 1, "one resolved sample incident");
    let open = store.query(Query::partition("OPEN")).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(open.items.is_empty());
}

#[tokio::test]
async fn no_demo_leaves_an_empty_store_empty() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    terminate(start(dir.path(), &["--no-demo"]));
    let store = beacon_store_redb::RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("reopen: {e}"));
    let components = store.query(Query::partition("COMPONENTS")).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(components.items.is_empty());
}

#[test]
fn a_folder_in_use_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let running = start(dir.path(), &["--no-demo"]);
    let second = Command::new(env!("CARGO_BIN_EXE_beacon"))
        .args(["--listen", "127.0.0.1:0", "--no-demo", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already open"), "{stderr}");
    drop(running);
}
