//! Domain events on one machine: every event of every committed change (see
//! `docs/events.md`) appended as one line of `events.jsonl` in the data folder, and,
//! when a URL is configured, posted there too. Driven by the change feed with its own
//! cursor: a batch is acknowledged only once its lines are written and every post was
//! accepted, so nothing is lost; a redelivered change gives the same event ids.

use beacon_app::feed::{ChangeHandler, HandlerError};
use beacon_domain::{Change, DomainEvent, EndpointUrl};
use beacon_notify::HttpTransport;
use std::collections::HashSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Ids already appended by this process: a batch retried because a post failed does
/// not write its lines twice.
const REMEMBERED: usize = 10_000;

#[derive(Debug)]
pub struct EventSink {
    file: PathBuf,
    url: Option<(EndpointUrl, Arc<dyn HttpTransport>)>,
    written: Mutex<HashSet<String>>,
}

impl EventSink {
    pub fn new(file: PathBuf, url: Option<(EndpointUrl, Arc<dyn HttpTransport>)>) -> Self {
        Self { file, url, written: Mutex::default() }
    }

    fn append(&self, lines: &[(String, String)]) -> Result<(), HandlerError> {
        let mut written = self.written.lock().map_err(|_| HandlerError("the sink's memory is poisoned".into()))?;
        let fresh: Vec<_> = lines.iter().filter(|(id, _)| !written.contains(id)).collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(|e| HandlerError(format!("opening {}: {e}", self.file.display())))?;
        let mut text = String::new();
        for (_, line) in &fresh {
            text.push_str(line);
            text.push('\n');
        }
        // One write of whole lines, then to disk before the cursor moves on.
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| HandlerError(format!("writing {}: {e}", self.file.display())))?;
        if written.len() + fresh.len() > REMEMBERED {
            written.clear();
        }
        written.extend(fresh.into_iter().map(|(id, _)| id.clone()));
        Ok(())
    }
}

#[async_trait::async_trait]
impl ChangeHandler for EventSink {
    async fn handle(&self, change: &Change) -> Result<(), HandlerError> {
        self.handle_batch(std::slice::from_ref(change)).await
    }

    async fn handle_batch(&self, changes: &[Change]) -> Result<(), HandlerError> {
        let mut lines = Vec::new();
        for event in changes.iter().flat_map(DomainEvent::from_change) {
            let line = serde_json::to_string(&event).map_err(|e| HandlerError(e.to_string()))?;
            lines.push((event.id, line));
        }
        self.append(&lines)?;
        if let Some((url, http)) = &self.url {
            for (id, line) in &lines {
                let answer = http
                    .post(url, &[("X-Beacon-Event-Id", id.clone())], line.clone().into_bytes())
                    .await
                    .map_err(|e| HandlerError(format!("posting event {id}: {e}")))?;
                if !(200..300).contains(&answer.status) {
                    return Err(HandlerError(format!("posting event {id}: answered {}", answer.status)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beacon_app::{NewComponent, ReportIncident, Service, SystemClock};
    use beacon_domain::{Actor, AffectedComponent, ComponentStatus};
    use beacon_store::ChangeFeed;

    /// The feed of a store with an incident reported on a component, and the handler
    /// run over it the way the runner runs it.
    async fn reported(dir: &std::path::Path) -> Arc<beacon_store_redb::RedbStore> {
        let store = Arc::new(beacon_store_redb::RedbStore::open(dir).unwrap_or_else(|e| panic!("{e}")));
        let service = Service::new(store.clone(), Arc::new(SystemClock));
        let api = service
            .create_component(Actor::System, NewComponent { name: "API".into(), ..Default::default() })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .id;
        let report = ReportIncident {
            title: Some("Errors".into()),
            message: Some("Looking.".into()),
            components: Some(vec![AffectedComponent { id: api, status: ComponentStatus::MajorOutage }]),
            ..Default::default()
        };
        service.report_incident(Actor::System, report).await.unwrap_or_else(|e| panic!("{e}"));
        store
    }

    fn lines(file: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

    #[tokio::test]
    async fn events_are_appended_once_and_posted_before_the_cursor_moves() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = reported(&dir.path().join("store")).await;
        // The operator's endpoint: refuses the first post, then takes everything.
        let received = Arc::new(Mutex::new(Vec::<(String, serde_json::Value)>::new()));
        let refuse_first = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let app = {
            let received = received.clone();
            axum::Router::new().route(
                "/events",
                axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                    let (received, refuse_first) = (received.clone(), refuse_first.clone());
                    async move {
                        if refuse_first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let id = headers.get("x-beacon-event-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
                        let event = serde_json::from_str(&body).unwrap_or_default();
                        received.lock().unwrap_or_else(|e| e.into_inner()).push((id.to_owned(), event));
                        axum::http::StatusCode::NO_CONTENT
                    }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = EndpointUrl::parse(&format!("http://{address}/events"), true).unwrap_or_else(|e| panic!("{e}"));
        let policy = beacon_notify::OutboundPolicy { allow_plain_http: true, allow_loopback: true };
        let http: Arc<dyn HttpTransport> =
            Arc::new(beacon_notify::GuardedHttp::new(policy).unwrap_or_else(|e| panic!("{e}")));
        let file = dir.path().join("events.jsonl");
        let sink = EventSink::new(file.clone(), Some((url, http)));

        // The refused post fails the batch: the cursor stays, the batch comes again.
        assert!(beacon_app::feed::drain(store.as_ref(), "events", &sink, 100).await.is_err());
        assert!(!store.read("events", 100).await.unwrap_or_default().is_empty(), "not acknowledged");
        let handled = beacon_app::feed::drain(store.as_ref(), "events", &sink, 100).await;
        assert!(handled.is_ok_and(|n| n > 0));

        let written = lines(&file);
        let types: Vec<&str> = written.iter().map(|e| e["type"].as_str().unwrap_or_default()).collect();
        assert_eq!(types, ["incident.created", "component.status_changed"], "{written:?}");
        let posted = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(posted.len(), written.len(), "each line written once, though its batch ran twice");
        for ((id, event), line) in posted.iter().zip(&written) {
            assert_eq!((id.as_str(), event), (line["id"].as_str().unwrap_or_default(), line));
        }
        assert_eq!(written[0]["incident"]["title"], "Errors");
        assert!(store.read("events", 100).await.unwrap_or_default().is_empty(), "acknowledged");
    }
}
