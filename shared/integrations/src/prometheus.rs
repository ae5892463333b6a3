//! Alertmanager's webhook (version 4) and Grafana's alerting webhook, which follows the
//! same shape with a few additions: a group of alerts, each with labels, annotations, a
//! fingerprint and its times.

use crate::{Alert, Delivery, MAX_ALERTS, PayloadError, clip, time};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    version: Option<String>,
    group_key: Option<String>,
    status: Option<String>,
    #[serde(default)]
    alerts: Vec<GroupAlert>,
    /// Grafana's.
    title: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupAlert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    generator_url: Option<String>,
    fingerprint: Option<String>,
    /// Grafana's: the query values that fired, as text.
    value_string: Option<String>,
}

fn read(body: &[u8], tool: &str) -> Result<Group, PayloadError> {
    let group: Group = serde_json::from_slice(body).map_err(|e| PayloadError::Malformed(format!("{tool}: {e}")))?;
    if group.alerts.is_empty() {
        return Err(PayloadError::Invalid(format!("{tool}: the payload carries no alerts")));
    }
    if group.alerts.len() > MAX_ALERTS {
        return Err(PayloadError::Invalid(format!("{tool}: more than {MAX_ALERTS} alerts in one delivery")));
    }
    Ok(group)
}

fn alerts(group: &Group, extra: &[(&str, Option<&String>)]) -> Result<Vec<Alert>, PayloadError> {
    group
        .alerts
        .iter()
        .map(|a| {
            let firing = match a.status.as_str() {
                "firing" => true,
                "resolved" => false,
                other => {
                    return Err(PayloadError::Invalid(format!(
                        "alert status {other:?} is neither firing nor resolved"
                    )));
                }
            };
            // Annotations first, labels over them: a label is what identifies the alert.
            let mut fields: BTreeMap<String, String> =
                a.annotations.iter().chain(&a.labels).map(|(k, v)| (k.clone(), clip(v))).collect();
            fields.insert("status".into(), a.status.clone());
            for (name, value) in extra
                .iter()
                .copied()
                .chain([("generator_url", a.generator_url.as_ref()), ("value", a.value_string.as_ref())])
            {
                if let Some(value) = value {
                    fields.entry(name.to_owned()).or_insert_with(|| clip(value));
                }
            }
            // Without a fingerprint, the labels are the alert's identity (as Alertmanager's
            // own fingerprint is a hash of them).
            let key = match &a.fingerprint {
                Some(f) if !f.is_empty() => f.clone(),
                _ => a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            };
            if key.is_empty() {
                return Err(PayloadError::Invalid("an alert has neither a fingerprint nor labels".into()));
            }
            Ok(Alert {
                key,
                firing,
                fields,
                starts_at: time(a.starts_at.as_deref()),
                ends_at: time(a.ends_at.as_deref()),
            })
        })
        .collect()
}

/// Alertmanager's webhook: version 4, one group of alerts. The group key deduplicates.
pub fn alertmanager(body: &[u8]) -> Result<Delivery, PayloadError> {
    let group = read(body, "alertmanager")?;
    match group.version.as_deref() {
        Some("4") => {}
        Some(other) => {
            return Err(PayloadError::Invalid(format!("alertmanager webhook version {other}; version 4 is read")));
        }
        None => return Err(PayloadError::Invalid("alertmanager: the payload has no version".into())),
    }
    let alerts = alerts(&group, &[])?;
    Ok(Delivery { group: group.group_key.clone().filter(|k| !k.is_empty()), alerts })
}

/// Grafana's alerting webhook contact point: Alertmanager's shape with a title and a
/// message of its own, offered to templates as `title` and `message`.
pub fn grafana(body: &[u8]) -> Result<Delivery, PayloadError> {
    let group = read(body, "grafana")?;
    if group.status.is_none() {
        return Err(PayloadError::Invalid("grafana: the payload has no status".into()));
    }
    let alerts = alerts(&group, &[("title", group.title.as_ref()), ("message", group.message.as_ref())])?;
    Ok(Delivery { group: group.group_key.clone().filter(|k| !k.is_empty()), alerts })
}
