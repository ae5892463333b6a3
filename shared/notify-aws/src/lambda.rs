//! What the fan-out function does with each kind of event, independent of the Lambda
//! runtime so tests can feed it real event JSON. One binary, deployed as four functions
//! with their own trigger and permissions:
//!
//! - **relay**: DynamoDB stream records (the table's second reader) → change events on
//!   the bus;
//! - **planner**: change events from the bus → jobs on the SQS queue;
//! - **deliverer**: SQS messages (jobs) → mail and webhooks, answering with partial
//!   batch failures;
//! - **feedback**: SES bounce and complaint events → suppressed addresses.

use crate::BusRelay;
use beacon_app::Service;
use beacon_domain::{Change, Email};
use beacon_notify::bounces::{Feedback, ses_feedback};
use beacon_notify::{Deliverer, Job, Planner};
use serde_json::{Value, json};

/// The parts a deployment gives the function (each role needs its own).
#[derive(Debug, Default)]
pub struct Fanout {
    pub service: Option<Service>,
    pub relay: Option<BusRelay>,
    pub planner: Option<Planner>,
    pub deliverer: Option<Deliverer>,
}

/// What an event was, and what came of it.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Relayed(usize),
    Planned { recipients: u64, jobs: u64 },
    Delivered { jobs: usize, failed: Vec<String> },
    Suppressed(usize),
    Ignored,
}

impl Handled {
    /// The function's answer: SQS and stream triggers read `batchItemFailures`.
    pub fn response(&self) -> Value {
        match self {
            Self::Delivered { failed, .. } => {
                json!({ "batchItemFailures": failed.iter().map(|id| json!({ "itemIdentifier": id })).collect::<Vec<_>>() })
            }
            _ => json!({ "batchItemFailures": [] }),
        }
    }
}

fn records_from(event: &Value, source: &str) -> bool {
    event["Records"].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["eventSource"] == source))
}

fn missing(role: &str) -> String {
    format!("this function is not configured as the {role} (its environment lacks what that role needs)")
}

/// Handles one event. An error fails the whole invocation (the trigger retries it).
pub async fn handle(event: &Value, fanout: &Fanout) -> Result<Handled, String> {
    if records_from(event, "aws:dynamodb") {
        let relay = fanout.relay.as_ref().ok_or_else(|| missing("relay"))?;
        let changes = beacon_app::feed::changes_in_stream_event(event).map_err(|e| e.0)?;
        return relay.relay(&changes).await.map(Handled::Relayed);
    }
    if records_from(event, "aws:sqs") {
        let deliverer = fanout.deliverer.as_ref().ok_or_else(|| missing("deliverer"))?;
        let mut failed = Vec::new();
        let records = event["Records"].as_array().map(Vec::as_slice).unwrap_or_default();
        for record in records {
            let id = record["messageId"].as_str().unwrap_or_default().to_owned();
            let job: Job = match record["body"].as_str().map(serde_json::from_str) {
                Some(Ok(job)) => job,
                other => {
                    // A body that is not a job can never succeed: drop it loudly rather
                    // than retry it into the dead-letter queue forever.
                    tracing::error!(message = %id, ?other, "a queue message that is not a job; dropped");
                    continue;
                }
            };
            match deliverer.process(&job).await {
                Ok(report) => tracing::info!(job = %job.id, ?report, "job delivered"),
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "job failed; SQS will deliver it again");
                    failed.push(id);
                }
            }
        }
        return Ok(Handled::Delivered { jobs: records.len(), failed });
    }
    if event["source"] == crate::CHANGE_SOURCE {
        let planner = fanout.planner.as_ref().ok_or_else(|| missing("planner"))?;
        let change: Change =
            serde_json::from_value(event["detail"].clone()).map_err(|e| format!("an unreadable change event: {e}"))?;
        let planned = planner.plan_change(&change).await.map_err(|e| e.to_string())?;
        return Ok(Handled::Planned { recipients: planned.recipients, jobs: planned.jobs });
    }
    match ses_feedback(event) {
        Feedback::Suppress { addresses, reason } => {
            let service = fanout.service.as_ref().ok_or_else(|| missing("feedback handler"))?;
            let mut removed = 0;
            for address in addresses {
                let Ok(email) = Email::parse(&address) else {
                    tracing::warn!(reason, "feedback names an address that is not one; skipped");
                    continue;
                };
                removed += service.suppress_address(&email).await.map_err(|e| e.to_string())?;
                tracing::info!(reason, "address suppressed");
            }
            Ok(Handled::Suppressed(removed))
        }
        Feedback::Ignore => Ok(Handled::Ignored),
    }
}
