//! Inbound alerts, read from the payloads alerting tools really send into one shape: a
//! deduplication key, firing or resolved, when, and the alert's fields (labels,
//! annotations, alarm attributes) for the integration's templates.
//!
//! - [`alertmanager`]: Prometheus Alertmanager's webhook, version 4.
//! - [`grafana`]: Grafana's alerting webhook contact point.
//! - [`sns`]: Amazon SNS messages; a notification carrying a CloudWatch alarm state
//!   change becomes an alert. [`verify_sns_signature`] checks it against the signing
//!   certificate, which the caller fetches from SNS (only from [`genuine_sns_url`]s).
//! - [`generic`]: any JSON object (or array of them), keyed by a field the integration
//!   names, optionally signed ([`verify_generic_signature`]).
//!
//! Nothing here touches the network or the store: a payload in, alerts or a reason out.

mod generic;
mod prometheus;
mod sns;

pub use generic::{SIGNATURE_TOLERANCE_SECONDS, generic, verify_generic_signature};
pub use prometheus::{alertmanager, grafana};
pub use sns::{Sns, SnsMessage, genuine_sns_host, genuine_sns_url, sns, sns_string_to_sign, verify_sns_signature};

use jiff::Timestamp;
use std::collections::BTreeMap;

/// The most of an alert's field a template ever sees (a label can be long).
pub const FIELD_CHARS: usize = 1_000;
/// Alerts one delivery may carry.
pub const MAX_ALERTS: usize = 500;

/// One alert, whatever sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// What deduplicates it: the same key is the same alert.
    pub key: String,
    pub firing: bool,
    /// Labels, annotations and attributes by name, as text.
    pub fields: BTreeMap<String, String>,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
}

/// What one delivery carries: its alerts, and the key of the group they belong to when
/// the tool groups them (one incident per group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub group: Option<String>,
    pub alerts: Vec<Alert>,
}

impl Delivery {
    /// The key an incident is deduplicated by: the group's when there is one, else each
    /// alert's own.
    pub fn incident_keys(&self) -> Vec<String> {
        match &self.group {
            Some(group) => vec![group.clone()],
            None => {
                let mut keys: Vec<String> = self.alerts.iter().map(|a| a.key.clone()).collect();
                keys.sort();
                keys.dedup();
                keys
            }
        }
    }
}

/// Why a payload is refused: unreadable (HTTP 400) or readable but not an alert this
/// integration takes (422).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the payload is not readable: {0}")]
    Malformed(String),
    #[error("the payload is not a valid alert: {0}")]
    Invalid(String),
}

/// Keeps a field to a template's measure, cutting on a character boundary.
fn clip(value: &str) -> String {
    if value.chars().count() <= FIELD_CHARS {
        return value.to_owned();
    }
    value.chars().take(FIELD_CHARS).collect()
}

/// A timestamp in RFC 3339; the zero time tools use for "not yet" is none.
fn time(value: Option<&str>) -> Option<Timestamp> {
    let t: Timestamp = value?.parse().ok()?;
    (t.as_second() > 0).then_some(t)
}

/// Fills `{name}` placeholders with the alert's fields; a missing field is left empty.
/// The result is plain text: the page escapes it (and Markdown is sanitised) like any
/// text a person typed.
pub fn fill(template: &str, fields: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if after[..close].chars().all(|c| c.is_alphanumeric() || "_.-".contains(c)) => {
                if let Some(value) = fields.get(&after[..close]) {
                    out.push_str(value);
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_known_fields_and_leave_the_rest() {
        let fields = BTreeMap::from([("alertname".to_owned(), "HighLatency".to_owned())]);
        assert_eq!(fill("{alertname} on {instance}", &fields), "HighLatency on ");
        assert_eq!(fill("{ not a field } and {alertname", &fields), "{ not a field } and {alertname");
        assert_eq!(fill("plain", &fields), "plain");
    }

    #[test]
    fn long_fields_are_clipped_and_zero_times_are_none() {
        assert_eq!(clip(&"é".repeat(2_000)).chars().count(), FIELD_CHARS);
        assert_eq!(time(Some("0001-01-01T00:00:00Z")), None);
        assert!(time(Some("2026-11-30T10:00:00Z")).is_some());
        assert_eq!(time(Some("yesterday")), None);
    }
}
