//! The command-line client against the runner on port 0: tables and JSON, ids alone on
//! standard output for scripts, a maintenance opened and completed in two lines, and
//! exit codes that say what went wrong.

mod common;

use common::{Backend, start, terminate};
use std::process::{Command, Output};

fn client(base: &str, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_beacon"))
        .args(args)
        .env("BEACON_URL", base)
        .env("BEACON_TOKEN", token)
        .env_remove("BEACON_CLIENT_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap_or_else(|e| panic!("run beacon: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn succeeded(o: Output) -> String {
    assert!(o.status.success(), "{:?}: {}", o.status, String::from_utf8_lossy(&o.stderr));
    stdout(&o)
}

#[tokio::test]
async fn the_client_runs_incidents_and_maintenance_with_exit_codes_for_scripts() {
    let backend = Backend::embedded();
    let token = backend.create_token("Ada", "owner");
    let running = start(&backend, &["--no-demo", "--no-probes"]);
    let base = running.base.clone();

    // A component through the API, then the client's table and JSON.
    let http = reqwest::Client::new();
    let component: serde_json::Value = http
        .post(format!("{base}/api/v1/components"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Checkout"}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let component_id = component["id"].as_str().unwrap_or_default().to_owned();
    let table = succeeded(client(&base, &token, &["components", "list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("Checkout") && table.contains("operational"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&succeeded(client(&base, &token, &["components", "list", "--json"]))).unwrap_or_default();
    assert_eq!(json[0]["name"], "Checkout");

    // Report, update, resolve: the id alone on stdout.
    let reported = succeeded(client(
        &base,
        &token,
        &[
            "incidents",
            "report",
            "--title",
            "Checkout errors",
            "--message",
            "Looking.",
            "--impact",
            "major",
            "--component",
            &format!("{component_id}=major_outage"),
        ],
    ));
    let id = reported.trim().to_owned();
    assert_eq!(id.len(), 26, "an id alone: {reported:?}");
    succeeded(client(&base, &token, &["incidents", "update", &id, "--message", "Found it.", "--status", "identified"]));
    succeeded(client(&base, &token, &["incidents", "resolve", &id]));
    let shown = succeeded(client(&base, &token, &["incidents", "show", &id]));
    assert!(shown.contains("Checkout errors (resolved") && shown.contains("Found it."), "{shown}");
    let list = succeeded(client(&base, &token, &["incidents", "list", "--state", "resolved"]));
    assert!(list.contains(&id), "{list}");

    // A deploy script's two lines: open a maintenance now, complete it.
    let scheduled = succeeded(client(
        &base,
        &token,
        &[
            "maintenance",
            "schedule",
            "--title",
            "Deploy v42",
            "--message",
            "Deploying.",
            "--starts-at",
            "now",
            "--ends-at",
            "+30m",
            "--component",
            &component_id,
            "--manual",
        ],
    ));
    let maintenance = scheduled.trim().to_owned();
    succeeded(client(&base, &token, &["maintenance", "start", &maintenance]));
    succeeded(client(&base, &token, &["maintenance", "complete", &maintenance]));
    let past = succeeded(client(&base, &token, &["maintenance", "list", "--state", "past", "--json"]));
    let past: serde_json::Value = serde_json::from_str(&past).unwrap_or_default();
    assert_eq!(past["items"][0]["id"], serde_json::json!(maintenance));
    assert_eq!(past["items"][0]["status"], "completed");

    // Exit codes: refused input (and a move the rules forbid, which the API answers with
    // 422) 7, not found 5, denied 4, unreachable 3; no settings at all 7.
    let bad = client(&base, &token, &["incidents", "report", "--title", "x", "--message", "y", "--impact", "huge"]);
    assert_eq!(bad.status.code(), Some(7), "{}", String::from_utf8_lossy(&bad.stderr));
    let cancel = client(&base, &token, &["maintenance", "cancel", &maintenance]);
    assert_eq!(cancel.status.code(), Some(7), "a completed maintenance cannot be cancelled (422)");
    let missing = client(&base, &token, &["incidents", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert_eq!(missing.status.code(), Some(5));
    let denied = client(&base, "bcn_nope", &["components", "list"]);
    assert_eq!(denied.status.code(), Some(4));
    terminate(running);
    let gone = client(&base, &token, &["components", "list"]);
    assert_eq!(gone.status.code(), Some(3), "the server is gone");
    let unset = Command::new(env!("CARGO_BIN_EXE_beacon"))
        .args(["components", "list"])
        .env_remove("BEACON_URL")
        .env_remove("BEACON_TOKEN")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unset.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&unset.stderr).contains("no API address"));
}

#[tokio::test]
async fn the_client_keeps_templates_and_monitors_and_moves_subscribers_in_batches() {
    let backend = Backend::embedded();
    let token = backend.create_token("Ada", "owner");
    let running = start(&backend, &["--no-demo", "--no-probes"]);
    let base = running.base.clone();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    // Templates: add, show, update by version (a stale version exits 6), delete.
    let template = succeeded(client(
        &base,
        &token,
        &["templates", "add", "--name", "Slow API", "--title", "The API is slow", "--message", "Looking into it."],
    ));
    let template = template.trim().to_owned();
    assert_eq!(template.len(), 26, "{template:?}");
    let shown = succeeded(client(&base, &token, &["templates", "show", &template]));
    assert!(shown.contains("Slow API (version 1)") && shown.contains("Looking into it."), "{shown}");
    succeeded(client(&base, &token, &["templates", "update", &template, "--impact", "major", "--version", "1"]));
    let stale = client(&base, &token, &["templates", "update", &template, "--name", "Other", "--version", "1"]);
    assert_eq!(stale.status.code(), Some(6), "{}", String::from_utf8_lossy(&stale.stderr));
    let list = succeeded(client(&base, &token, &["templates", "list"]));
    assert!(list.contains("Slow API") && list.contains("major"), "{list}");
    succeeded(client(&base, &token, &["templates", "delete", &template]));
    assert!(succeeded(client(&base, &token, &["templates", "list"])).contains("(none)"));

    // Monitors: pause, resume, check now; an unknown one exits 5.
    let http = reqwest::Client::new();
    let monitor: serde_json::Value = http
        .post(format!("{base}/api/v1/monitors"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Database port", "check": {"kind": "tcp", "host": "db.example.com", "port": 5432}}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let monitor = monitor["monitor"]["id"].as_str().unwrap_or_default().to_owned();
    succeeded(client(&base, &token, &["monitors", "pause", &monitor]));
    let listed = succeeded(client(&base, &token, &["monitors", "list", "--json"]));
    assert!(listed.contains("\"paused\": true"), "{listed}");
    succeeded(client(&base, &token, &["monitors", "resume", &monitor]));
    succeeded(client(&base, &token, &["monitors", "check", &monitor]));
    let missing = client(&base, &token, &["monitors", "pause", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert_eq!(missing.status.code(), Some(5));

    // Import 250 subscribers in batches of 100, one row bad: created, the bad row named
    // by its line in the file, and exit 7 for the refusal.
    let mut csv = String::from("kind,target,contact\n");
    for n in 0..250 {
        csv.push_str(&format!("email,reader{n}@example.com,\n"));
    }
    csv.push_str("email,\"not, an address\",\n");
    let file = dir.path().join("subscribers.csv");
    std::fs::write(&file, &csv).unwrap_or_else(|e| panic!("{e}"));
    let file_arg = file.to_string_lossy().into_owned();
    let imported = client(&base, &token, &["subscribers", "import", &file_arg, "--batch", "100", "--json"]);
    assert_eq!(imported.status.code(), Some(7), "{}", String::from_utf8_lossy(&imported.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout(&imported)).unwrap_or_default();
    assert_eq!(report["created"], 250, "{report}");
    assert_eq!(report["errors"][0]["line"], 252, "{report}");
    // Again: every row already subscribed, nothing doubled.
    let again = client(&base, &token, &["subscribers", "import", &file_arg, "--json"]);
    let again: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap_or_default();
    assert_eq!((again["created"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(250)), "{again}");
    assert_eq!(succeeded(client(&base, &token, &["subscribers", "count"])).trim(), "250");
    assert_eq!(
        succeeded(client(&base, &token, &["subscribers", "count", "--search", "reader24"])).trim(),
        "11",
        "reader24 and reader240..249"
    );
    let listed = succeeded(client(&base, &token, &["subscribers", "list", "--search", "reader249@"]));
    assert!(listed.contains("reader249@example.com") && !listed.contains("reader248@"), "{listed}");

    // Export, and the export imports back whole into another page (here: the same one,
    // where every row is a duplicate).
    let exported = dir.path().join("export.csv");
    let exported_arg = exported.to_string_lossy().into_owned();
    succeeded(client(&base, &token, &["subscribers", "export", "--output", &exported_arg]));
    let text = std::fs::read_to_string(&exported).unwrap_or_default();
    assert!(text.starts_with("id,kind,target") && text.lines().count() == 251, "{}", text.lines().count());
    let back = client(&base, &token, &["subscribers", "import", &exported_arg, "--json"]);
    let back: serde_json::Value = serde_json::from_str(&stdout(&back)).unwrap_or_default();
    assert_eq!(back["duplicates"], 250, "{back}");
    terminate(running);
}
