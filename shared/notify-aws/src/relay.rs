//! The relay: the table's stream has room for two readers (the publisher and this), so
//! change records go once onto the event bus: as internal change records, which the
//! planner subscribes to, and as the public domain events (`docs/events.md`) teams route
//! to their own targets.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use beacon_domain::{Change, DomainEvent};
use std::time::Duration;

/// The `source` of internal change records on the bus; the `detail-type` is the
/// change's kind (`incident_reported`, …) and the `detail` the change record itself.
pub const CHANGE_SOURCE: &str = "beacon.changes";
/// The `source` of domain events; the `detail-type` is the event's type
/// (`incident.resolved`, …) and the `detail` the event.
pub const EVENT_SOURCE: &str = "beacon";
/// The most entries one `PutEvents` call takes.
const BATCH: usize = 10;

#[derive(Clone, Debug)]
pub struct BusRelay {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

fn kind_of(value: &serde_json::Value) -> String {
    value["kind"].as_str().unwrap_or("change").to_owned()
}

impl BusRelay {
    fn entry(&self, source: &str, detail_type: &str, detail: String) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(source)
            .detail_type(detail_type)
            .detail(detail)
            .event_bus_name(&self.bus)
            .build()
    }

    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self { client, bus: bus.into() }
    }

    /// Puts every change on the bus, with the domain events it gives, in order, ten to
    /// a call, retrying entries the bus refused; an error leaves the whole batch to the
    /// stream's retry (a repeat on the bus is harmless: every event carries the stable
    /// id of its change, and the planner is idempotent). Returns the entries put.
    pub async fn relay(&self, changes: &[Change]) -> Result<usize, String> {
        let mut all = Vec::new();
        for change in changes {
            let value = serde_json::to_value(change).map_err(|e| e.to_string())?;
            all.push(self.entry(CHANGE_SOURCE, &kind_of(&value), value.to_string()));
            for event in DomainEvent::from_change(change) {
                let detail = serde_json::to_string(&event).map_err(|e| e.to_string())?;
                all.push(self.entry(EVENT_SOURCE, event.event_type.as_str(), detail));
            }
        }
        let mut relayed = 0;
        for chunk in all.chunks(BATCH) {
            let mut entries = chunk.to_vec();
            let mut attempt = 0;
            loop {
                let out = self
                    .client
                    .put_events()
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string())?;
                let refused: Vec<PutEventsRequestEntry> = out
                    .entries()
                    .iter()
                    .zip(&entries)
                    .filter(|(result, _)| result.error_code().is_some())
                    .map(|(_, entry)| entry.clone())
                    .collect();
                relayed += entries.len() - refused.len();
                if refused.is_empty() {
                    break;
                }
                attempt += 1;
                if attempt >= 3 {
                    return Err(format!("the bus refused {} change events three times", refused.len()));
                }
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                entries = refused;
            }
        }
        Ok(relayed)
    }
}
