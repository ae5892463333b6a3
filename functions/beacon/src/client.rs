//! The command-line client: the API's workflows for people at a terminal and for
//! scripts. Tables by default, `--json` for machines; a command that creates something
//! prints its id alone on standard output, so `id=$(beacon maintenance schedule …)`
//! works; the exit code says what went wrong.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Exit codes: what went wrong, for scripts.
pub mod exit {
    /// The server was not reached, or failed (5xx).
    pub const UNAVAILABLE: i32 = 3;
    /// No token, a bad one, or a role too low (401, 403).
    pub const DENIED: i32 = 4;
    /// No such resource (404).
    pub const NOT_FOUND: i32 = 5;
    /// Someone changed it meanwhile, or the move is not allowed now (409, 412).
    pub const CONFLICT: i32 = 6;
    /// The input was refused (400, 413, 415, 422), or the client's own settings are missing.
    pub const INVALID: i32 = 7;
}

/// Where the API is and who calls it: flags, then the environment, then the config
/// file (`$XDG_CONFIG_HOME/beacon/client.json` or `~/.config/beacon/client.json`, or
/// `--config`), as `{"url": "...", "token": "bcn_..."}`.
#[derive(Debug, Args)]
pub struct Remote {
    /// The API's base URL, e.g. https://status.example.com.
    #[arg(long, env = "BEACON_URL", global = true)]
    pub url: Option<String>,
    /// An API token (`bcn_…`).
    #[arg(long, env = "BEACON_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// A config file with `url` and `token`.
    #[arg(long, env = "BEACON_CLIENT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Components and their status.
    Components {
        #[command(subcommand)]
        command: ListOnly,
    },
    /// Incident templates: what reports start from.
    Templates {
        #[command(subcommand)]
        command: TemplateCommand,
    },
    /// Monitors: their state, pause, resume, check now.
    Monitors {
        #[command(subcommand)]
        command: MonitorCommand,
    },
    /// Subscribers: count, list, export and import (admins).
    Subscribers {
        #[command(subcommand)]
        command: SubscriberCommand,
    },
    /// Report, update, resolve and list incidents.
    Incidents {
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// Schedule, start, complete and cancel planned maintenance.
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ListOnly {
    List,
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    List,
    /// One template, whole.
    Show {
        id: String,
    },
    /// Add a template; prints its id.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        title: String,
        /// The first update, Markdown.
        #[arg(long)]
        message: String,
        /// none, minor, major or critical.
        #[arg(long, default_value = "minor")]
        impact: String,
        /// A component it affects, as `<id>=<status>`; repeatable.
        #[arg(long = "component")]
        components: Vec<String>,
    },
    /// Change the fields given (at the version read, when --version is given).
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        message: Option<String>,
        #[arg(long)]
        impact: Option<String>,
        /// Refuse (exit 6) if someone changed it since this version.
        #[arg(long)]
        version: Option<u64>,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    List,
    /// Stop checking (its incidents stay as they are).
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    /// Check at the next probe run instead of waiting for the interval.
    Check {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubscriberCommand {
    /// How many subscribers match.
    Count {
        #[command(flatten)]
        filter: SubscriberFilterArgs,
    },
    /// Subscribers in the order they came.
    List {
        #[command(flatten)]
        filter: SubscriberFilterArgs,
    },
    /// Every subscriber as CSV (whole addresses and chat webhook URLs: keep it safe).
    Export {
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Create the subscribers of a CSV file (header row naming at least `target`), in
    /// batches, with a progress bar; they are confirmed at once.
    Import {
        file: PathBuf,
        /// Rows per request.
        #[arg(long, default_value_t = 200)]
        batch: usize,
    },
}

#[derive(Debug, Args)]
pub struct SubscriberFilterArgs {
    /// pending, active or quarantined.
    #[arg(long)]
    pub state: Option<String>,
    /// email, webhook, slack, teams or discord.
    #[arg(long)]
    pub channel: Option<String>,
    /// Words the address or contact contains.
    #[arg(long)]
    pub search: Option<String>,
}

impl SubscriberFilterArgs {
    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (key, value) in [("state", &self.state), ("channel", &self.channel), ("q", &self.search)] {
            if let Some(v) = value {
                q.append_pair(key, v);
            }
        }
        q.finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Incidents, newest first.
    List {
        /// open, resolved or all.
        #[arg(long, default_value = "all")]
        state: String,
    },
    /// One incident with its updates.
    Show { id: String },
    /// Report an incident; prints its id.
    Report {
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        message: Option<String>,
        /// none, minor, major or critical.
        #[arg(long)]
        impact: Option<String>,
        /// investigating, identified or monitoring.
        #[arg(long)]
        status: Option<String>,
        /// A component it affects, as `<id>=<status>` (status `partial_outage` when left out); repeatable.
        #[arg(long = "component")]
        components: Vec<String>,
        /// A template whose fields the others override.
        #[arg(long)]
        template: Option<String>,
        /// Open it internally, for a responder to publish.
        #[arg(long)]
        internal: bool,
    },
    /// Post a public update.
    Update {
        id: String,
        #[arg(long)]
        message: String,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        impact: Option<String>,
    },
    /// Resolve it with a public update.
    Resolve {
        id: String,
        #[arg(long, default_value = "This incident has been resolved.")]
        message: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Maintenances, newest first.
    List {
        /// upcoming, active, past or all.
        #[arg(long, default_value = "all")]
        state: String,
    },
    /// Schedule a maintenance; prints its id.
    Schedule {
        #[arg(long)]
        title: String,
        #[arg(long)]
        message: String,
        /// RFC 3339, a local time in --time-zone, `now`, or `+30m` / `+2h` / `+1d` from now.
        #[arg(long)]
        starts_at: String,
        /// As --starts-at.
        #[arg(long)]
        ends_at: String,
        /// An IANA zone for local times (Etc/UTC by default).
        #[arg(long)]
        time_zone: Option<String>,
        /// A component it puts under maintenance; repeatable.
        #[arg(long = "component")]
        components: Vec<String>,
        /// Leave the start and the completion to people (deploy scripts do them).
        #[arg(long)]
        manual: bool,
    },
    /// Start it now (in progress).
    Start {
        id: String,
        #[arg(long, default_value = "The scheduled maintenance has begun.")]
        message: String,
    },
    /// Complete it now.
    Complete {
        id: String,
        #[arg(long, default_value = "The scheduled maintenance has been completed.")]
        message: String,
    },
    /// Cancel it (only before it starts).
    Cancel {
        id: String,
        #[arg(long)]
        message: Option<String>,
    },
}

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

fn config_file(remote: &Remote) -> Option<PathBuf> {
    if let Some(path) = &remote.config {
        return Some(path.clone());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("beacon").join("client.json"))
}

impl Api {
    fn from(remote: &Remote) -> Result<Self, Failure> {
        let file: Value = match config_file(remote) {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| Failure::new(exit::INVALID, format!("{}: {e}", path.display())))?;
                serde_json::from_str(&text)
                    .map_err(|e| Failure::new(exit::INVALID, format!("{}: not JSON: {e}", path.display())))?
            }
            _ => Value::Null,
        };
        let pick = |flag: &Option<String>, key: &str| flag.clone().or_else(|| file[key].as_str().map(str::to_owned));
        let url = pick(&remote.url, "url").ok_or_else(|| {
            Failure::new(exit::INVALID, "no API address: pass --url, set BEACON_URL, or write a config file")
        })?;
        let token = pick(&remote.token, "token").ok_or_else(|| {
            Failure::new(exit::INVALID, "no token: pass --token, set BEACON_TOKEN, or write a config file")
        })?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::new(exit::UNAVAILABLE, e.to_string()))?;
        Ok(Self { http, url: url.trim_end_matches('/').to_owned(), token })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/api/v1{path}", self.url)).bearer_auth(&self.token)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let bytes = self.send(request).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Sends a request; its body when it succeeded, else a failure with its exit code.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, Failure> {
        let response = request
            .send()
            .await
            .map_err(|e| Failure::new(exit::UNAVAILABLE, format!("cannot reach {}: {e}", self.url)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::new(exit::UNAVAILABLE, format!("the answer broke off: {e}")))?
            .to_vec();
        if status.is_success() {
            return Ok(bytes);
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = match status.as_u16() {
            401 | 403 => exit::DENIED,
            404 => exit::NOT_FOUND,
            409 | 412 => exit::CONFLICT,
            400 | 413 | 415 | 422 => exit::INVALID,
            _ => exit::UNAVAILABLE,
        };
        let mut text = value["detail"].as_str().or(value["title"].as_str()).unwrap_or("the API refused").to_owned();
        for e in value["errors"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "\n  {}: {}",
                e["field"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("")
            ));
        }
        Err(Failure::new(code, format!("{status}: {text}")))
    }
}

/// Prints rows as a table with a header, columns padded to their widest cell.
fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count()))).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_uppercase()).collect());
    if rows.is_empty() {
        println!("(none)");
    }
    for row in rows {
        line(row);
    }
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `now`, `+30m`, `+2h`, `+1d`: an instant from now; anything else passes through.
fn when(raw: &str) -> Result<String, Failure> {
    let now = jiff::Timestamp::now();
    let instant = if raw == "now" {
        now
    } else if let Some(rest) = raw.strip_prefix('+') {
        let (number, unit) = rest.split_at(rest.len().saturating_sub(1));
        let n: i64 =
            number.parse().map_err(|_| Failure::new(exit::INVALID, format!("{raw:?}: expected +<number><m|h|d>")))?;
        let minutes = match unit {
            "m" => n,
            "h" => n * 60,
            "d" => n * 24 * 60,
            _ => return Err(Failure::new(exit::INVALID, format!("{raw:?}: expected +<number><m|h|d>"))),
        };
        now.checked_add(jiff::SignedDuration::from_mins(minutes))
            .map_err(|e| Failure::new(exit::INVALID, e.to_string()))?
    } else {
        return Ok(raw.to_owned());
    };
    Ok(instant.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn component_args(raw: &[String]) -> Vec<Value> {
    raw.iter()
        .map(|c| match c.split_once('=') {
            Some((id, status)) => json!({"id": id, "status": status}),
            None => json!({"id": c, "status": "partial_outage"}),
        })
        .collect()
}

/// Runs a client command.
pub async fn run(remote: &Remote, command: &ClientCommand) -> Result<(), Failure> {
    let api = Api::from(remote)?;
    let show = |value: &Value| -> bool {
        if remote.json {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        }
        remote.json
    };
    use reqwest::Method;
    match command {
        ClientCommand::Components { command: ListOnly::List } => {
            let v = api.call(Method::GET, "/components", None).await?;
            if !show(&v) {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| vec![text(c, "id"), text(c, "name"), text(c, "status")])
                    .collect();
                table(&["id", "name", "status"], rows);
            }
        }
        ClientCommand::Templates { command } => templates(&api, remote, command, &show).await?,
        ClientCommand::Monitors { command } => monitors(&api, command, &show).await?,
        ClientCommand::Subscribers { command } => subscribers(&api, command, &show).await?,
        ClientCommand::Incidents { command } => incidents(&api, remote, command, &show).await?,
        ClientCommand::Maintenance { command } => maintenance(&api, command, &show).await?,
    }
    Ok(())
}

async fn incidents(
    api: &Api,
    remote: &Remote,
    command: &IncidentCommand,
    show: &impl Fn(&Value) -> bool,
) -> Result<(), Failure> {
    use reqwest::Method;
    match command {
        IncidentCommand::List { state } => {
            let v = api.call(Method::GET, &format!("/incidents?state={state}&limit=200"), None).await?;
            if !show(&v) {
                let rows = v["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| vec![text(i, "id"), text(i, "status"), text(i, "impact"), text(i, "title")])
                    .collect();
                table(&["id", "status", "impact", "title"], rows);
            }
        }
        IncidentCommand::Show { id } => {
            let v = api.call(Method::GET, &format!("/incidents/{id}"), None).await?;
            if !show(&v) {
                println!("{} ({}, impact {})", text(&v, "title"), text(&v, "status"), text(&v, "impact"));
                let rows = v["updates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| vec![text(u, "created_at"), text(u, "status"), text(u, "message")])
                    .collect();
                table(&["at", "status", "message"], rows);
            }
        }
        IncidentCommand::Report { title, message, impact, status, components, template, internal } => {
            let mut body = json!({"internal": internal});
            for (key, value) in [
                ("title", title),
                ("message", message),
                ("impact", impact),
                ("status", status),
                ("template_id", template),
            ] {
                if let Some(v) = value {
                    body[key] = json!(v);
                }
            }
            if !components.is_empty() {
                body["components"] = Value::Array(component_args(components));
            }
            let v = api.call(Method::POST, "/incidents", Some(body)).await?;
            created(remote, &v);
        }
        IncidentCommand::Update { id, message, status, impact } => {
            let mut body = json!({"message": message});
            if let Some(s) = status {
                body["status"] = json!(s);
            }
            if let Some(i) = impact {
                body["impact"] = json!(i);
            }
            let v = api.call(Method::POST, &format!("/incidents/{id}/updates"), Some(body)).await?;
            if !show(&v) {
                eprintln!("posted: the incident is {}", text(&v["incident"], "status"));
            }
        }
        IncidentCommand::Resolve { id, message } => {
            let body = json!({"message": message, "status": "resolved"});
            let v = api.call(Method::POST, &format!("/incidents/{id}/updates"), Some(body)).await?;
            if !show(&v) {
                eprintln!("resolved");
            }
        }
    }
    Ok(())
}

/// A created resource: its JSON with `--json`, else its id alone on standard output.
fn created(remote: &Remote, v: &Value) {
    if remote.json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        eprintln!("created {}: {}", text(v, "id"), text(v, "title"));
        println!("{}", text(v, "id"));
    }
}

async fn maintenance(api: &Api, command: &MaintenanceCommand, show: &impl Fn(&Value) -> bool) -> Result<(), Failure> {
    use reqwest::Method;
    let post_status = |id: &str, message: &str, status: &str| {
        let body = json!({"message": message, "status": status});
        let path = format!("/maintenances/{id}/updates");
        async move { api.call(Method::POST, &path, Some(body)).await }
    };
    match command {
        MaintenanceCommand::List { state } => {
            let v = api.call(Method::GET, &format!("/maintenances?state={state}&limit=200"), None).await?;
            if !show(&v) {
                let rows = v["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| {
                        vec![
                            text(m, "id"),
                            text(m, "status"),
                            text(&m["window"], "starts_at"),
                            text(&m["window"], "ends_at"),
                            text(m, "title"),
                        ]
                    })
                    .collect();
                table(&["id", "status", "starts", "ends", "title"], rows);
            }
        }
        MaintenanceCommand::Schedule { title, message, starts_at, ends_at, time_zone, components, manual } => {
            let mut body = json!({
                "title": title, "message": message,
                "starts_at": when(starts_at)?, "ends_at": when(ends_at)?,
                "components": components,
            });
            if let Some(zone) = time_zone {
                body["time_zone"] = json!(zone);
            }
            if *manual {
                body["automation"] = json!({"start": false, "complete": false});
            }
            let v = api.call(Method::POST, "/maintenances", Some(body)).await?;
            if !show(&v) {
                eprintln!("scheduled {}: {}", text(&v, "id"), text(&v, "title"));
                println!("{}", text(&v, "id"));
            }
        }
        MaintenanceCommand::Start { id, message } => {
            let v = post_status(id, message, "in_progress").await?;
            if !show(&v) {
                eprintln!("started");
            }
        }
        MaintenanceCommand::Complete { id, message } => {
            let v = post_status(id, message, "completed").await?;
            if !show(&v) {
                eprintln!("completed");
            }
        }
        MaintenanceCommand::Cancel { id, message } => {
            let body = message.as_ref().map_or_else(|| json!({}), |m| json!({"message": m}));
            let v = api.call(Method::POST, &format!("/maintenances/{id}/cancel"), Some(body)).await?;
            if !show(&v) {
                eprintln!("cancelled");
            }
        }
    }
    Ok(())
}

async fn templates(
    api: &Api,
    remote: &Remote,
    command: &TemplateCommand,
    show: &impl Fn(&Value) -> bool,
) -> Result<(), Failure> {
    use reqwest::Method;
    match command {
        TemplateCommand::List => {
            let v = api.call(Method::GET, "/templates", None).await?;
            if !show(&v) {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| vec![text(t, "id"), text(t, "name"), text(t, "impact"), text(t, "title")])
                    .collect();
                table(&["id", "name", "impact", "title"], rows);
            }
        }
        TemplateCommand::Show { id } => {
            let v = api.call(Method::GET, &format!("/templates/{id}"), None).await?;
            if !show(&v) {
                println!("{} (version {}): {}", text(&v, "name"), text(&v, "version"), text(&v, "title"));
                println!("impact {}", text(&v, "impact"));
                println!("\n{}", text(&v, "message"));
            }
        }
        TemplateCommand::Add { name, title, message, impact, components } => {
            let body = json!({
                "name": name, "title": title, "message": message, "impact": impact,
                "components": component_args(components),
            });
            let v = api.call(Method::POST, "/templates", Some(body)).await?;
            created(remote, &v);
        }
        TemplateCommand::Update { id, name, title, message, impact, version } => {
            let mut body = json!({});
            for (key, value) in [("name", name), ("title", title), ("message", message), ("impact", impact)] {
                if let Some(v) = value {
                    body[key] = json!(v);
                }
            }
            let mut request = api.request(Method::PATCH, &format!("/templates/{id}")).json(&body);
            if let Some(version) = version {
                request = request.header("If-Match", format!("\"{version}\""));
            }
            let v: Value = serde_json::from_slice(&api.send(request).await?).unwrap_or(Value::Null);
            if !show(&v) {
                eprintln!("saved: version {}", text(&v, "version"));
            }
        }
        TemplateCommand::Delete { id } => {
            api.call(Method::DELETE, &format!("/templates/{id}"), None).await?;
            eprintln!("deleted");
        }
    }
    Ok(())
}

async fn monitors(api: &Api, command: &MonitorCommand, show: &impl Fn(&Value) -> bool) -> Result<(), Failure> {
    use reqwest::Method;
    let (id, action) = match command {
        MonitorCommand::List => {
            let v = api.call(Method::GET, "/monitors", None).await?;
            if !show(&v) {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| vec![text(m, "id"), text(m, "name"), text(m, "last_outcome"), text(m, "paused")])
                    .collect();
                table(&["id", "name", "last outcome", "paused"], rows);
            }
            return Ok(());
        }
        MonitorCommand::Pause { id } => (id, "pause"),
        MonitorCommand::Resume { id } => (id, "resume"),
        MonitorCommand::Check { id } => (id, "check"),
    };
    let v = api.call(Method::POST, &format!("/monitors/{id}/{action}"), None).await?;
    if !show(&v) {
        eprintln!(
            "{}",
            match action {
                "pause" => "paused",
                "resume" => "resumed",
                _ => "a check is due now",
            }
        );
    }
    Ok(())
}

/// What a whole import did, its batches added up (lines are the file's own).
#[derive(Debug, Default)]
struct ImportTotals {
    created: u64,
    duplicates: u64,
    errors: Vec<Value>,
    secrets: Vec<Value>,
}

async fn subscribers(api: &Api, command: &SubscriberCommand, show: &impl Fn(&Value) -> bool) -> Result<(), Failure> {
    use reqwest::Method;
    match command {
        SubscriberCommand::Count { filter } => {
            let v = api.call(Method::GET, &format!("/subscribers/count?{}", filter.query()), None).await?;
            if !show(&v) {
                println!("{}", text(&v, "count"));
            }
        }
        SubscriberCommand::List { filter } => {
            let mut items = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut path = format!("/subscribers?limit=1000&{}", filter.query());
                if let Some(c) = &cursor {
                    path.push_str(&format!(
                        "&cursor={}",
                        form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
                    ));
                }
                let page = api.call(Method::GET, &path, None).await?;
                items.extend(page["items"].as_array().cloned().unwrap_or_default());
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            let all = Value::Array(items);
            if !show(&all) {
                let rows = all
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| vec![text(s, "id"), text(s, "kind"), text(s, "state"), text(s, "target")])
                    .collect();
                table(&["id", "kind", "state", "target"], rows);
            }
        }
        SubscriberCommand::Export { output } => {
            let csv = api.send(api.request(Method::GET, "/subscribers/export")).await?;
            match output {
                Some(path) => {
                    std::fs::write(path, &csv)
                        .map_err(|e| Failure::new(exit::INVALID, format!("{}: {e}", path.display())))?;
                    let rows = csv.iter().filter(|b| **b == b'\n').count().saturating_sub(1);
                    eprintln!("wrote {rows} subscribers to {}", path.display());
                }
                None => {
                    use std::io::Write;
                    std::io::stdout()
                        .write_all(&csv)
                        .map_err(|e| Failure::new(exit::UNAVAILABLE, format!("standard output: {e}")))?;
                }
            }
        }
        SubscriberCommand::Import { file, batch } => {
            let totals = import(api, file, (*batch).clamp(1, 1000)).await?;
            let report = json!({
                "created": totals.created, "duplicates": totals.duplicates,
                "errors": totals.errors, "secrets": totals.secrets,
            });
            if !show(&report) {
                eprintln!(
                    "{} created, {} already subscribed, {} refused",
                    totals.created,
                    totals.duplicates,
                    totals.errors.len()
                );
                for e in &totals.errors {
                    eprintln!("  line {}: {}", text(e, "line"), text(e, "message"));
                }
                for s in &totals.secrets {
                    println!(
                        "line {}: {} signing secret {}",
                        text(s, "line"),
                        text(s, "id"),
                        text(s, "signing_secret")
                    );
                }
            }
            if !totals.errors.is_empty() {
                return Err(Failure::new(exit::INVALID, format!("{} rows were refused", totals.errors.len())));
            }
        }
    }
    Ok(())
}

/// Sends a CSV file in batches of `batch` rows (each with the header), a progress bar
/// on a terminal. A batch the server cannot take stops the import: the rows before it
/// are created, and importing the file again counts them as duplicates.
async fn import(api: &Api, file: &std::path::Path, batch: usize) -> Result<ImportTotals, Failure> {
    let unreadable = |e: &dyn std::fmt::Display| Failure::new(exit::INVALID, format!("{}: {e}", file.display()));
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(file).map_err(|e| unreadable(&e))?;
    let header = reader.headers().map_err(|e| unreadable(&e))?.clone();
    let rows: Vec<(u64, csv::StringRecord)> = reader
        .records()
        .map(|r| r.map(|row| (row.position().map_or(0, csv::Position::line), row)))
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(&e))?;
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut totals = ImportTotals::default();
    for chunk in rows.chunks(batch) {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let written =
            writer.write_record(&header).and_then(|()| chunk.iter().try_for_each(|(_, row)| writer.write_record(row)));
        written.map_err(|e| unreadable(&e))?;
        let body = writer.into_inner().map_err(|e| unreadable(&e))?;
        let request =
            api.request(reqwest::Method::POST, "/subscribers/import").header("content-type", "text/csv").body(body);
        let answer: Value = serde_json::from_slice(&api.send(request).await?).unwrap_or(Value::Null);
        // The server numbers a batch's lines from its header (line 1); map them back
        // to the file's own lines.
        let file_line = |line: &Value| {
            line.as_u64()
                .and_then(|l| usize::try_from(l).ok())
                .and_then(|l| chunk.get(l.saturating_sub(2)))
                .map_or(Value::Null, |(at, _)| json!(at))
        };
        totals.created += answer["created"].as_u64().unwrap_or(0);
        totals.duplicates += answer["duplicates"].as_u64().unwrap_or(0);
        for key in ["errors", "secrets"] {
            for mut item in answer[key].as_array().cloned().unwrap_or_default() {
                item["line"] = file_line(&item["line"]);
                if key == "errors" { totals.errors.push(item) } else { totals.secrets.push(item) }
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(totals)
}
