//! Integrations: alerting tools (Prometheus Alertmanager, Grafana, CloudWatch through
//! SNS, anything that can post JSON) opening, updating and resolving incidents by
//! webhook, one incident per alert group.

use crate::component::ComponentStatus;
use crate::error::FieldError;
use crate::ids::{ComponentId, IncidentId, IntegrationId};
use crate::incident::{Impact, MAX_AFFECTED_COMPONENTS};
use crate::text::{Markdown, Name, Title};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The longest a key may be kept open for reopening: a week.
pub const MAX_REOPEN_WINDOW_SECONDS: u32 = 7 * 24 * 3600;
/// The most distinct alerts an alert group remembers; the oldest resolved go first.
pub const MAX_GROUP_ALERTS: usize = 500;

/// The tool that sends, which decides how a delivery is read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// Any JSON object (or array of objects); the key is a field the integration names.
    Generic,
    /// Prometheus Alertmanager's webhook receiver (payload version 4).
    Alertmanager,
    /// Grafana alerting's webhook contact point.
    Grafana,
    /// An Amazon SNS topic carrying CloudWatch alarm state changes.
    Sns,
}

/// Where an incident goes when every alert behind it has resolved.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveTo {
    #[default]
    Resolved,
    /// Monitoring: a responder confirms the recovery and resolves it.
    Monitoring,
}

/// A component an integration's incidents affect, with the status they give it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationComponent {
    pub id: ComponentId,
    #[serde(default = "partial")]
    pub status: ComponentStatus,
}

fn partial() -> ComponentStatus {
    ComponentStatus::PartialOutage
}

/// How an alert's fields decide the incident's impact: the value of `field` looked up
/// in `values` (case-insensitively), else `default`. An incident of several alerts takes
/// the worst.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactMapping {
    pub field: String,
    #[serde(default)]
    pub values: BTreeMap<String, Impact>,
    #[serde(default = "minor")]
    pub default: Impact,
}

fn minor() -> Impact {
    Impact::Minor
}

impl Default for ImpactMapping {
    /// Prometheus' habit: a `severity` label.
    fn default() -> Self {
        Self {
            field: "severity".into(),
            values: BTreeMap::from([
                ("critical".into(), Impact::Critical),
                ("error".into(), Impact::Major),
                ("major".into(), Impact::Major),
                ("warning".into(), Impact::Minor),
                ("info".into(), Impact::None),
            ]),
            default: Impact::Minor,
        }
    }
}

impl IntegrationKind {
    /// The title template an integration of this kind starts with: the field its tool
    /// names alerts by.
    pub fn default_title(self) -> &'static str {
        match self {
            Self::Alertmanager | Self::Grafana => "{alertname}",
            Self::Sns => "{alarm_name}",
            Self::Generic => "{title}",
        }
    }
}

impl ImpactMapping {
    pub fn impact(&self, fields: &BTreeMap<String, String>) -> Impact {
        let Some(value) = fields.get(&self.field) else {
            return self.default;
        };
        let value = value.trim().to_lowercase();
        self.values.iter().find(|(k, _)| k.to_lowercase() == value).map(|(_, i)| *i).unwrap_or(self.default)
    }
}

pub const DEFAULT_MESSAGE_TEMPLATE: &str = "Our monitoring has detected a problem and we are investigating.";
pub const DEFAULT_RESOLVED_MESSAGE: &str = "The problem has cleared and service is back to normal.";
pub const DEFAULT_REOPEN_WINDOW_SECONDS: u32 = 3600;

/// An integration: a webhook URL of its own that turns the alerts of one tool into
/// incidents, as its settings say.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub id: IntegrationId,
    pub name: Name,
    pub kind: IntegrationKind,
    /// The generic kind's deduplication field (dotted for nested objects, `service.id`).
    #[serde(default)]
    pub key_field: Option<String>,
    pub components: Vec<IntegrationComponent>,
    pub impact: ImpactMapping,
    /// Title of the incidents it opens: `{field}` placeholders over the alert's fields.
    pub title_template: String,
    /// The incident's first public update, Markdown, with the same placeholders.
    pub message_template: String,
    /// The public update posted when every alert has resolved.
    pub resolved_message: String,
    /// `true`: published at once; `false`: opened internally for a responder to publish.
    pub publish: bool,
    pub resolve_to: ResolveTo,
    /// A key firing again within this many seconds of its incident's resolution reopens
    /// that incident instead of opening another.
    pub reopen_window_seconds: u32,
    /// The generic kind only: deliveries must carry a valid signature.
    #[serde(default)]
    pub require_signature: bool,
    /// The generic kind's HMAC key. The verifier needs it whole, so unlike the URL's
    /// secret it is kept, and never shown again after it is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub signing_secret: Option<String>,
    /// SHA-256 (hex) of the URL's secret; the secret itself is shown once.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub secret_hash: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// Checks an integration's settings, reporting every problem at once.
pub fn validate_integration(integration: &Integration) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let generic = integration.kind == IntegrationKind::Generic;
    match (&integration.key_field, generic) {
        (None, true) => {
            errors.push(FieldError::new("key_field", "the generic kind needs the field alerts are keyed by"))
        }
        (Some(f), true) if !valid_field_path(f) => {
            errors.push(FieldError::new("key_field", "a field name, or a dotted path such as service.id"))
        }
        (Some(_), false) => errors.push(FieldError::new(
            "key_field",
            "only the generic kind takes a key field; the others key alerts themselves",
        )),
        _ => {}
    }
    if integration.require_signature && !generic {
        errors.push(FieldError::new("require_signature", "only the generic kind is signed this way"));
    }
    if integration.components.len() > MAX_AFFECTED_COMPONENTS {
        errors.push(FieldError::new("components", format!("at most {MAX_AFFECTED_COMPONENTS} components")));
    }
    let mut ids: Vec<_> = integration.components.iter().map(|c| c.id).collect();
    ids.sort();
    ids.dedup();
    if ids.len() != integration.components.len() {
        errors.push(FieldError::new("components", "a component is listed twice"));
    }
    if integration.components.iter().any(|c| c.status == ComponentStatus::Operational) {
        errors.push(FieldError::new("components", "an alert cannot make a component operational"));
    }
    if !valid_field_path(&integration.impact.field) {
        errors.push(FieldError::new("impact.field", "a field name, such as severity"));
    }
    if integration.impact.values.len() > 50 || integration.impact.values.keys().any(|k| k.chars().count() > 100) {
        errors.push(FieldError::new("impact.values", "at most 50 values of up to 100 characters"));
    }
    for (field, template, max) in [
        ("title_template", &integration.title_template, Title::MAX_CHARS),
        ("message_template", &integration.message_template, Markdown::MAX_CHARS),
        ("resolved_message", &integration.resolved_message, Markdown::MAX_CHARS),
    ] {
        if template.trim().is_empty() || template.chars().count() > max {
            errors.push(FieldError::new(field, format!("1 to {max} characters")));
        }
    }
    if integration.title_template.contains(['\n', '\r']) {
        errors.push(FieldError::new("title_template", "a title is one line"));
    }
    if integration.reopen_window_seconds > MAX_REOPEN_WINDOW_SECONDS {
        errors.push(FieldError::new("reopen_window_seconds", format!("at most {MAX_REOPEN_WINDOW_SECONDS} (a week)")));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn valid_field_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 100
        && path.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || "_-".contains(c)))
}

/// What is known of one alert of a group.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownAlert {
    /// A readable name (`alertname`, the alarm's name, or the key).
    pub name: String,
    pub firing: bool,
    /// When the tool says it began (or when it was first seen firing).
    pub since: Timestamp,
    pub impact: Impact,
}

/// An alert group: the alerts one deduplication key stands for, and the incident they
/// opened. Written in the same transaction as that incident, guarded by its version,
/// so concurrent deliveries for one key open one incident.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertGroup {
    pub integration_id: IntegrationId,
    pub key: String,
    pub incident_id: IncidentId,
    /// By alert key.
    pub alerts: BTreeMap<String, KnownAlert>,
    pub opened_at: Timestamp,
    /// When every alert had resolved, if they all have.
    pub cleared_at: Option<Timestamp>,
    pub version: u64,
}

impl AlertGroup {
    pub fn firing(&self) -> impl Iterator<Item = &KnownAlert> {
        self.alerts.values().filter(|a| a.firing)
    }

    /// Keeps the map bounded: the oldest resolved alerts are forgotten first.
    pub fn trim(&mut self) {
        while self.alerts.len() > MAX_GROUP_ALERTS {
            let oldest = self
                .alerts
                .iter()
                .filter(|(_, a)| !a.firing)
                .min_by_key(|(_, a)| a.since)
                .or_else(|| self.alerts.iter().min_by_key(|(_, a)| a.since))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.alerts.remove(&k);
                }
                None => break,
            }
        }
    }
}

/// One delivery's word on one alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertReport {
    pub key: String,
    pub name: String,
    pub firing: bool,
    /// When the tool says the alert began; tools that do not say leave it out.
    pub since: Option<Timestamp>,
    pub impact: Impact,
}

/// What a delivery changes in a group's alerts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertDelta {
    /// Names of alerts that began firing (new, or firing again after resolving).
    pub fired: Vec<String>,
    /// Names of alerts that resolved.
    pub resolved: Vec<String>,
    /// The worst impact among the alerts firing afterwards.
    pub impact: Option<Impact>,
    /// Whether any alert is firing afterwards.
    pub any_firing: bool,
}

impl AlertDelta {
    pub fn is_empty(&self) -> bool {
        self.fired.is_empty() && self.resolved.is_empty()
    }
}

/// Applies a delivery's reports to a group's alerts, at `now`. An alert already firing
/// since the same moment (or firing, from a tool that gives no start) is a repeat
/// (Alertmanager resends firing alerts every `repeat_interval`) and changes nothing.
pub fn apply_reports(alerts: &mut BTreeMap<String, KnownAlert>, reports: &[AlertReport], now: Timestamp) -> AlertDelta {
    let mut delta = AlertDelta::default();
    for report in reports {
        match alerts.get_mut(&report.key) {
            Some(known) if report.firing && known.firing && report.since.is_none_or(|s| s == known.since) => {
                known.impact = report.impact;
            }
            Some(known) if !report.firing && !known.firing => {}
            Some(known) => {
                known.firing = report.firing;
                known.impact = report.impact;
                if report.firing {
                    known.since = report.since.unwrap_or(now);
                    delta.fired.push(report.name.clone());
                } else {
                    delta.resolved.push(report.name.clone());
                }
            }
            None if report.firing => {
                alerts.insert(
                    report.key.clone(),
                    KnownAlert {
                        name: report.name.clone(),
                        firing: true,
                        since: report.since.unwrap_or(now),
                        impact: report.impact,
                    },
                );
                delta.fired.push(report.name.clone());
            }
            // A resolution for an alert never seen firing: nothing to resolve.
            None => {}
        }
    }
    delta.any_firing = alerts.values().any(|a| a.firing);
    delta.impact = alerts.values().filter(|a| a.firing).map(|a| a.impact).max();
    delta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(key: &str, firing: bool, since: i64) -> AlertReport {
        AlertReport {
            key: key.into(),
            name: key.to_uppercase(),
            firing,
            since: Timestamp::from_second(since).ok(),
            impact: if key == "b" { Impact::Critical } else { Impact::Minor },
        }
    }

    #[test]
    fn repeats_change_nothing_and_refiring_counts_again() {
        let now = Timestamp::UNIX_EPOCH;
        let apply_reports =
            |alerts: &mut BTreeMap<String, KnownAlert>, reports: &[AlertReport]| apply_reports(alerts, reports, now);
        let mut alerts = BTreeMap::new();
        let first = apply_reports(&mut alerts, &[report("a", true, 10), report("b", true, 10)]);
        assert_eq!(first.fired, vec!["A", "B"]);
        assert_eq!(first.impact, Some(Impact::Critical));
        assert!(apply_reports(&mut alerts, &[report("a", true, 10)]).is_empty());
        let resolved = apply_reports(&mut alerts, &[report("b", false, 10)]);
        assert_eq!(
            (resolved.resolved.clone(), resolved.any_firing, resolved.impact),
            (vec!["B".into()], true, Some(Impact::Minor))
        );
        assert!(apply_reports(&mut alerts, &[report("b", false, 10), report("c", false, 10)]).is_empty());
        let all = apply_reports(&mut alerts, &[report("a", false, 10)]);
        assert!(!all.any_firing && all.impact.is_none());
        assert_eq!(apply_reports(&mut alerts, &[report("a", true, 99)]).fired, vec!["A"]);
        // A tool that gives no start: firing again while firing is a repeat.
        let timeless = AlertReport { since: None, ..report("a", true, 0) };
        assert!(apply_reports(&mut alerts, &[timeless]).is_empty());
    }

    #[test]
    fn impact_follows_the_mapped_field() {
        let mapping = ImpactMapping::default();
        let fields = |v: &str| BTreeMap::from([("severity".to_owned(), v.to_owned())]);
        assert_eq!(mapping.impact(&fields("Critical")), Impact::Critical);
        assert_eq!(mapping.impact(&fields("warning")), Impact::Minor);
        assert_eq!(mapping.impact(&fields("page-me")), Impact::Minor);
        assert_eq!(mapping.impact(&BTreeMap::new()), Impact::Minor);
    }

    #[test]
    fn settings_are_checked_together() {
        let at = Timestamp::UNIX_EPOCH;
        let mut integration = Integration {
            id: IntegrationId::new(ulid::Ulid::nil()),
            name: Name::parse("Prometheus").unwrap_or_else(|_| unreachable!()),
            kind: IntegrationKind::Generic,
            key_field: None,
            components: Vec::new(),
            impact: ImpactMapping::default(),
            title_template: "{alertname}\n".into(),
            message_template: String::new(),
            resolved_message: DEFAULT_RESOLVED_MESSAGE.into(),
            publish: true,
            resolve_to: ResolveTo::Resolved,
            reopen_window_seconds: MAX_REOPEN_WINDOW_SECONDS + 1,
            require_signature: false,
            signing_secret: None,
            secret_hash: String::new(),
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let fields: Vec<String> =
            validate_integration(&integration).err().unwrap_or_default().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["key_field", "message_template", "title_template", "reopen_window_seconds"]);
        integration.kind = IntegrationKind::Alertmanager;
        integration.require_signature = true;
        integration.title_template = IntegrationKind::Alertmanager.default_title().into();
        integration.message_template = DEFAULT_MESSAGE_TEMPLATE.into();
        integration.reopen_window_seconds = 60;
        assert!(validate_integration(&integration).is_err());
        integration.require_signature = false;
        assert_eq!(validate_integration(&integration), Ok(()));
    }
}
