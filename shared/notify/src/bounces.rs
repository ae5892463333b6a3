//! Mail feedback from the provider: which addresses must not be mailed again.
//!
//! SES reports bounces and complaints as event records (from a configuration set's
//! event destination), delivered through EventBridge (`source: aws.ses`, the record in
//! `detail`) or SNS (the record as a JSON string in `Message`). A permanent bounce or a
//! complaint suppresses the address; a transient bounce (a full mailbox, say) does not:
//! SES has already retried it, and the next notice may well arrive.

use serde_json::Value;

/// What one feedback record means for the addresses it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feedback {
    /// Never mail these again.
    Suppress { addresses: Vec<String>, reason: &'static str },
    /// Nothing to do (a transient bounce, a delivery, an unrelated event).
    Ignore,
}

/// The SES record inside an event, however it was delivered.
fn record(event: &Value) -> Option<Value> {
    if event["source"] == "aws.ses" {
        return Some(event["detail"].clone());
    }
    if event["Type"] == "Notification" {
        return event["Message"].as_str().and_then(|m| serde_json::from_str(m).ok());
    }
    if event.get("eventType").is_some() || event.get("notificationType").is_some() {
        return Some(event.clone());
    }
    None
}

fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["emailAddress"].as_str())
        // Recipients may carry a display name: `Name <a@b>`.
        .map(|a| a.rsplit_once('<').map_or(a, |(_, rest)| rest.trim_end_matches('>')).trim().to_lowercase())
        .collect()
}

/// Reads an SES feedback event.
pub fn ses_feedback(event: &Value) -> Feedback {
    let Some(record) = record(event) else { return Feedback::Ignore };
    let kind = record["eventType"].as_str().or_else(|| record["notificationType"].as_str()).unwrap_or_default();
    match kind {
        "Bounce" if record["bounce"]["bounceType"] == "Permanent" => Feedback::Suppress {
            addresses: addresses(&record["bounce"]["bouncedRecipients"]),
            reason: "permanent bounce",
        },
        "Complaint" => Feedback::Suppress {
            addresses: addresses(&record["complaint"]["complainedRecipients"]),
            reason: "complaint",
        },
        _ => Feedback::Ignore,
    }
}
