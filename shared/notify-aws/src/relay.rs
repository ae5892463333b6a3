//! The relay: the table's stream has room for two readers (the publisher and this), so
//! change records go once onto the event bus, where the planner (and any integration)
//! subscribes with a rule.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use beacon_domain::Change;
use std::time::Duration;

/// The `source` of every change event on the bus; the `detail-type` is the change's
/// kind (`incident_reported`, …) and the `detail` the change record itself.
pub const CHANGE_SOURCE: &str = "beacon";

#[derive(Clone, Debug)]
pub struct BusRelay {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

fn kind_of(value: &serde_json::Value) -> String {
    value["kind"].as_str().unwrap_or("change").to_owned()
}

impl BusRelay {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self { client, bus: bus.into() }
    }

    /// Puts every change on the bus, retrying entries the bus refused; an error leaves
    /// the whole batch to the stream's retry (a repeat on the bus is harmless: its
    /// readers are idempotent).
    pub async fn relay(&self, changes: &[Change]) -> Result<usize, String> {
        let mut relayed = 0;
        for chunk in changes.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for change in chunk {
                let value = serde_json::to_value(change).map_err(|e| e.to_string())?;
                entries.push(
                    PutEventsRequestEntry::builder()
                        .source(CHANGE_SOURCE)
                        .detail_type(kind_of(&value))
                        .detail(value.to_string())
                        .event_bus_name(&self.bus)
                        .build(),
                );
            }
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
