//! Team alert rules: who on the team hears what, through which channel. A rule's
//! recipient is delivered to like a subscriber (signing, retries, delivery log), but is
//! never told of public news, and subscribers are never told of alerts.

use crate::FieldError;
use crate::ids::{AlertRuleId, MonitorId, SubscriberId};
use crate::text::Name;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What an alert announces.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertEvent {
    IncidentOpened,
    IncidentResolved,
    /// A monitor's confirmed state moved: failing confirmed, changed, recovered.
    MonitorChanged,
    /// A planned maintenance starts in three hours (for maintenances that remind the
    /// team).
    MaintenanceReminder,
}

/// Which events a rule fires on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertOn {
    #[serde(default)]
    pub incident_opened: bool,
    #[serde(default)]
    pub incident_resolved: bool,
    #[serde(default)]
    pub monitor_changed: bool,
    #[serde(default)]
    pub maintenance_reminder: bool,
}

impl AlertOn {
    pub fn wants(self, event: AlertEvent) -> bool {
        match event {
            AlertEvent::IncidentOpened => self.incident_opened,
            AlertEvent::IncidentResolved => self.incident_resolved,
            AlertEvent::MonitorChanged => self.monitor_changed,
            AlertEvent::MaintenanceReminder => self.maintenance_reminder,
        }
    }
}

/// A rule: the events it fires on, for all monitors or chosen ones, to one recipient.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: AlertRuleId,
    pub name: Name,
    pub on: AlertOn,
    /// `None`: every monitor, and incidents opened by hand too; otherwise only these
    /// monitors and the incidents they opened.
    pub monitors: Option<BTreeSet<MonitorId>>,
    /// The recipient delivered to (a subscriber record only this rule uses).
    pub recipient: SubscriberId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub updated_at: Timestamp,
    pub version: u64,
}

/// Monitors a rule may name at most.
pub const MAX_RULE_MONITORS: usize = 100;

impl AlertRule {
    /// Whether the rule fires for this event, about this monitor (`None`: an incident
    /// opened by hand, or by an integration).
    pub fn fires(&self, event: AlertEvent, monitor: Option<MonitorId>) -> bool {
        self.on.wants(event)
            && match &self.monitors {
                // A maintenance concerns no monitor: a rule for chosen monitors hears it too.
                _ if event == AlertEvent::MaintenanceReminder => true,
                None => true,
                Some(chosen) => monitor.is_some_and(|m| chosen.contains(&m)),
            }
    }

    /// Checks a rule's choices: at least one event, and a bounded, non-empty choice of
    /// monitors when it chooses.
    pub fn validate(on: AlertOn, monitors: Option<&BTreeSet<MonitorId>>) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if !(on.incident_opened || on.incident_resolved || on.monitor_changed || on.maintenance_reminder) {
            errors.push(FieldError::new("on", "choose at least one event to alert on"));
        }
        if let Some(m) = monitors
            && (m.is_empty() || m.len() > MAX_RULE_MONITORS)
        {
            errors.push(FieldError::new(
                "monitors",
                format!("choose 1 to {MAX_RULE_MONITORS} monitors, or leave it out for all of them"),
            ));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(on: AlertOn, monitors: Option<BTreeSet<MonitorId>>) -> AlertRule {
        let at = Timestamp::UNIX_EPOCH;
        AlertRule {
            id: AlertRuleId::new(ulid::Ulid::from_parts(1, 1)),
            name: Name::parse("On call").unwrap_or_else(|e| panic!("{e}")),
            on,
            monitors,
            recipient: SubscriberId::new(ulid::Ulid::from_parts(1, 2)),
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn a_rule_fires_on_its_events_for_its_monitors() {
        let checkout = MonitorId::new(ulid::Ulid::from_parts(2, 1));
        let search = MonitorId::new(ulid::Ulid::from_parts(2, 2));
        let opened = AlertOn { incident_opened: true, ..AlertOn::default() };
        let everything = rule(opened, None);
        assert!(everything.fires(AlertEvent::IncidentOpened, None), "incidents opened by hand too");
        assert!(everything.fires(AlertEvent::IncidentOpened, Some(search)));
        assert!(!everything.fires(AlertEvent::IncidentResolved, None));
        let chosen = rule(opened, Some([checkout].into()));
        assert!(chosen.fires(AlertEvent::IncidentOpened, Some(checkout)));
        assert!(!chosen.fires(AlertEvent::IncidentOpened, Some(search)));
        assert!(!chosen.fires(AlertEvent::IncidentOpened, None));
    }

    #[test]
    fn a_rule_must_choose_something() {
        let fields = |r: Result<(), Vec<FieldError>>| {
            r.err().unwrap_or_default().into_iter().map(|e| e.field).collect::<Vec<_>>()
        };
        assert_eq!(fields(AlertRule::validate(AlertOn::default(), Some(&BTreeSet::new()))), vec!["on", "monitors"]);
        assert!(AlertRule::validate(AlertOn { monitor_changed: true, ..AlertOn::default() }, None).is_ok());
    }
}
