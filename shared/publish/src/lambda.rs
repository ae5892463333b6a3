//! What the publish function does with an event, independent of the Lambda runtime so
//! tests can feed it real event JSON.
//!
//! Two kinds of event arrive: batches of DynamoDB stream records (the change feed on
//! AWS; the event source mapping filters on `feed = true`, but the records are checked
//! again here) and the reconcile schedule's events. A batch with at least one public
//! change costs one publish; the schedule always publishes.

use crate::PublishOnChange;
use beacon_app::feed::HandlerError;
use beacon_domain::Change;
use serde_json::Value;

pub use beacon_app::feed::changes_in_stream_event;

fn is_stream_event(event: &Value) -> bool {
    event["Records"].as_array().is_some_and(|r| r.iter().all(|r| r["eventSource"] == "aws:dynamodb"))
}

/// What the function did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Published { written: usize, deleted: usize },
    NothingPublic,
}

/// Handles one invocation. An error fails the whole batch, which the event source
/// mapping retries (bisecting) and finally sends to its on-failure destination.
pub async fn handle_event(event: &Value, handler: &PublishOnChange) -> Result<Outcome, HandlerError> {
    let report = if is_stream_event(event) {
        if !changes_in_stream_event(event)?.iter().any(Change::is_public) {
            return Ok(Outcome::NothingPublic);
        }
        // A warm function remembers the state it read last and reads only what changed.
        handler.publish_now().await?
    } else {
        // The schedule's reconcile reads everything again.
        handler.reconcile().await?
    };
    Ok(Outcome::Published { written: report.written.len(), deleted: report.deleted.len() })
}
