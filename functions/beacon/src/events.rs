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
