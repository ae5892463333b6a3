//! Domain events: the public, versioned form of committed changes, for the team's own
//! automation (EventBridge rules on AWS, a JSON Lines file or a URL on one machine).
//!
//! The schema is `docs/events.schema.json`; `docs/events.md` explains it. A change
//! gives zero or more events, each with an id derived from the change's stable id, so
//! a change delivered twice yields the same events twice, never new ones.

use crate::change::{Change, ChangeKind, IncidentFacts, MaintenanceEvent, MaintenanceFacts};
use crate::component::ComponentStatus;
use crate::ids::{ChangeId, ComponentId, IncidentId, MaintenanceId, MonitorId, UpdateId};
use crate::monitor::{CheckOutcome, Finding};
use crate::timeline::Actor;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The version of the event schema; a breaking change to it bumps this.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// What happened, as `<subject>.<verb>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "incident.created")]
    IncidentCreated,
    /// A public update without a status change, or an edit (title, impact, components).
    #[serde(rename = "incident.updated")]
    IncidentUpdated,
    #[serde(rename = "incident.status_changed")]
    IncidentStatusChanged,
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    #[serde(rename = "incident.reopened")]
    IncidentReopened,
    /// An internal incident was made public.
    #[serde(rename = "incident.published")]
    IncidentPublished,
    #[serde(rename = "component.status_changed")]
    ComponentStatusChanged,
    #[serde(rename = "monitor.state_changed")]
    MonitorStateChanged,
    #[serde(rename = "maintenance.scheduled")]
    MaintenanceScheduled,
    /// A public update without a move of the window or the status, or an edit.
    #[serde(rename = "maintenance.updated")]
    MaintenanceUpdated,
    #[serde(rename = "maintenance.rescheduled")]
    MaintenanceRescheduled,
    #[serde(rename = "maintenance.cancelled")]
    MaintenanceCancelled,
    #[serde(rename = "maintenance.started")]
    MaintenanceStarted,
    #[serde(rename = "maintenance.completed")]
    MaintenanceCompleted,
}

impl EventType {
    /// The name on the wire (EventBridge's `detail-type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentCreated => "incident.created",
            Self::IncidentUpdated => "incident.updated",
            Self::IncidentStatusChanged => "incident.status_changed",
            Self::IncidentResolved => "incident.resolved",
            Self::IncidentReopened => "incident.reopened",
            Self::IncidentPublished => "incident.published",
            Self::ComponentStatusChanged => "component.status_changed",
            Self::MonitorStateChanged => "monitor.state_changed",
            Self::MaintenanceScheduled => "maintenance.scheduled",
            Self::MaintenanceUpdated => "maintenance.updated",
            Self::MaintenanceRescheduled => "maintenance.rescheduled",
            Self::MaintenanceCancelled => "maintenance.cancelled",
            Self::MaintenanceStarted => "maintenance.started",
            Self::MaintenanceCompleted => "maintenance.completed",
        }
    }
}

/// The incident an event is about, as the change left it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventIncident {
    pub id: IncidentId,
    /// The public update the change posted, if it posted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_id: Option<UpdateId>,
    /// Absent only on changes recorded before events carried them.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<IncidentFacts>,
}

/// A component whose shown status moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventComponent {
    pub id: ComponentId,
    pub from: ComponentStatus,
    pub to: ComponentStatus,
    /// The incident that moved it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<IncidentId>,
    /// The maintenance that moved it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_id: Option<MaintenanceId>,
}

/// The maintenance an event is about, as the change left it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMaintenance {
    pub id: MaintenanceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_id: Option<UpdateId>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<MaintenanceFacts>,
}

/// A monitor whose confirmed state moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMonitor {
    pub id: MonitorId,
    pub finding: Finding,
    pub outcome: CheckOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<IncidentId>,
}

/// One domain event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// [`EVENT_SCHEMA_VERSION`].
    pub version: u32,
    /// Stable: the change's id, with `/<component id>` for component events.
    pub id: String,
    pub change_id: ChangeId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub time: Timestamp,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<EventIncident>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<EventComponent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<EventMonitor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<EventMaintenance>,
}

impl DomainEvent {
    fn of(change: &Change, id: String, event_type: EventType) -> Self {
        Self {
            version: EVENT_SCHEMA_VERSION,
            id,
            change_id: change.id,
            event_type,
            time: change.at,
            actor: change.actor.clone(),
            incident: None,
            component: None,
            monitor: None,
            maintenance: None,
        }
    }

    /// The events a change gives, in order: the incident's or monitor's own, then one
    /// per component whose shown status it moved. Configuration and private changes
    /// (members, tokens, templates, comments, subscribers) give none.
    pub fn from_change(change: &Change) -> Vec<Self> {
        let facts = change.incident.as_ref();
        let moved = |facts: Option<&IncidentFacts>| {
            facts.is_some_and(|f| f.previous_status.is_some_and(|previous| previous != f.status))
        };
        let incident = match &change.kind {
            ChangeKind::IncidentReported { incident_id, update_id, .. } => {
                Some((EventType::IncidentCreated, *incident_id, Some(*update_id)))
            }
            ChangeKind::IncidentUpdated { incident_id, update_id, .. } => {
                let kind = if moved(facts) { EventType::IncidentStatusChanged } else { EventType::IncidentUpdated };
                Some((kind, *incident_id, Some(*update_id)))
            }
            ChangeKind::IncidentResolved { incident_id, update_id, .. } => {
                Some((EventType::IncidentResolved, *incident_id, Some(*update_id)))
            }
            ChangeKind::IncidentReopened { incident_id, update_id, .. } => {
                Some((EventType::IncidentReopened, *incident_id, Some(*update_id)))
            }
            ChangeKind::IncidentPublished { incident_id, update_id, .. } => {
                Some((EventType::IncidentPublished, *incident_id, Some(*update_id)))
            }
            ChangeKind::IncidentEdited { incident_id, .. } => Some((EventType::IncidentUpdated, *incident_id, None)),
            _ => None,
        };
        let mut events = Vec::new();
        let incident_id = incident.map(|(_, id, _)| id);
        if let Some((event_type, id, update_id)) = incident {
            let mut event = Self::of(change, change.id.to_string(), event_type);
            event.incident = Some(EventIncident { id, update_id, facts: facts.cloned() });
            events.push(event);
        }
        if let ChangeKind::MonitorStateChanged { monitor_id, incident_id, finding, outcome } = &change.kind {
            let mut event = Self::of(change, change.id.to_string(), EventType::MonitorStateChanged);
            event.monitor =
                Some(EventMonitor { id: *monitor_id, finding: *finding, outcome: *outcome, incident_id: *incident_id });
            events.push(event);
        }
        let mut maintenance_id = None;
        if let ChangeKind::MaintenanceChanged { maintenance_id: id, event, update_id, .. } = &change.kind {
            maintenance_id = Some(*id);
            let event_type = match event {
                MaintenanceEvent::Scheduled => Some(EventType::MaintenanceScheduled),
                MaintenanceEvent::Updated | MaintenanceEvent::Edited => Some(EventType::MaintenanceUpdated),
                MaintenanceEvent::Rescheduled => Some(EventType::MaintenanceRescheduled),
                MaintenanceEvent::Cancelled => Some(EventType::MaintenanceCancelled),
                MaintenanceEvent::Started => Some(EventType::MaintenanceStarted),
                MaintenanceEvent::Completed => Some(EventType::MaintenanceCompleted),
                // Reminders are notifications, not changes of the maintenance.
                MaintenanceEvent::SubscribersReminded | MaintenanceEvent::TeamReminded => None,
            };
            if let Some(event_type) = event_type {
                let mut event = Self::of(change, change.id.to_string(), event_type);
                event.maintenance =
                    Some(EventMaintenance { id: *id, update_id: *update_id, facts: change.maintenance.clone() });
                events.push(event);
            }
        }
        for moved in change.kind.status_changes() {
            let mut event =
                Self::of(change, format!("{}/{}", change.id, moved.component_id), EventType::ComponentStatusChanged);
            event.component = Some(EventComponent {
                id: moved.component_id,
                from: moved.from,
                to: moved.to,
                incident_id,
                maintenance_id,
            });
            events.push(event);
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::StatusChange;
    use crate::incident::{AffectedComponent, Impact, IncidentSource, IncidentStatus};
    use ulid::Ulid;

    fn change(kind: ChangeKind, facts: Option<IncidentFacts>) -> Change {
        Change {
            id: ChangeId::new(Ulid::from_parts(1, 7)),
            at: Timestamp::UNIX_EPOCH,
            actor: Actor::System,
            kind,
            incident: facts,
            maintenance: None,
        }
    }

    fn facts(status: IncidentStatus, previous: Option<IncidentStatus>) -> IncidentFacts {
        IncidentFacts {
            title: "API errors".into(),
            status,
            previous_status: previous,
            impact: Impact::Major,
            published: true,
            source: IncidentSource::Webhook,
            components: vec![AffectedComponent {
                id: ComponentId::new(Ulid::from_parts(2, 2)),
                status: ComponentStatus::PartialOutage,
            }],
        }
    }

    #[test]
    fn a_maintenance_gives_its_own_event_then_its_components_but_reminders_give_none() {
        let id = MaintenanceId::new(Ulid::from_parts(1, 9));
        let component = ComponentId::new(Ulid::from_parts(1, 3));
        let kind = |event| ChangeKind::MaintenanceChanged {
            maintenance_id: id,
            event,
            update_id: Some(UpdateId::new(Ulid::from_parts(1, 4))),
            components: vec![component],
            status_changes: vec![StatusChange {
                component_id: component,
                from: ComponentStatus::Operational,
                to: ComponentStatus::UnderMaintenance,
            }],
        };
        let mut started = change(kind(MaintenanceEvent::Started), None);
        started.maintenance = Some(MaintenanceFacts {
            title: "Upgrade".into(),
            status: crate::maintenance::MaintenanceStatus::InProgress,
            starts_at: Timestamp::UNIX_EPOCH,
            ends_at: Timestamp::UNIX_EPOCH,
            time_zone: "Europe/Berlin".into(),
            components: vec![component],
        });
        let events = DomainEvent::from_change(&started);
        let types: Vec<_> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::MaintenanceStarted, EventType::ComponentStatusChanged]);
        assert_eq!(events[0].maintenance.as_ref().map(|m| m.id), Some(id));
        assert_eq!(events[1].component.as_ref().and_then(|c| c.maintenance_id), Some(id));
        assert_eq!(events[1].component.as_ref().and_then(|c| c.incident_id), None);
        let json = serde_json::to_value(&events[0]).unwrap_or_default();
        assert_eq!(
            (json["type"].as_str(), json["maintenance"]["status"].as_str()),
            (Some("maintenance.started"), Some("in_progress"))
        );
        let reminded = change(kind(MaintenanceEvent::TeamReminded), None);
        let types: Vec<_> = DomainEvent::from_change(&reminded).iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::ComponentStatusChanged], "a reminder is no event of its own");
    }

    #[test]
    fn an_update_that_moves_the_status_is_a_status_change_with_component_events() {
        let component = ComponentId::new(Ulid::from_parts(2, 2));
        let kind = ChangeKind::IncidentUpdated {
            incident_id: IncidentId::new(Ulid::from_parts(3, 3)),
            update_id: UpdateId::new(Ulid::from_parts(4, 4)),
            components: vec![component],
            status_changes: vec![StatusChange {
                component_id: component,
                from: ComponentStatus::Operational,
                to: ComponentStatus::PartialOutage,
            }],
        };
        let c = change(kind.clone(), Some(facts(IncidentStatus::Identified, Some(IncidentStatus::Investigating))));
        let events = DomainEvent::from_change(&c);
        let types: Vec<_> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::IncidentStatusChanged, EventType::ComponentStatusChanged]);
        assert_eq!(events[0].id, c.id.to_string());
        assert_eq!(events[1].id, format!("{}/{component}", c.id));
        assert_eq!(
            events[1].component.as_ref().and_then(|m| m.incident_id),
            Some(IncidentId::new(Ulid::from_parts(3, 3)))
        );
        // The same change gives the same events: redelivery is recognisable.
        assert_eq!(DomainEvent::from_change(&c), events);
        let same = change(kind, Some(facts(IncidentStatus::Identified, None)));
        assert_eq!(DomainEvent::from_change(&same)[0].event_type, EventType::IncidentUpdated);
    }

    #[test]
    fn private_and_configuration_changes_give_no_events() {
        let c = change(ChangeKind::MemberChanged { member_id: crate::MemberId::new(Ulid::nil()) }, None);
        assert!(DomainEvent::from_change(&c).is_empty());
        let comment = ChangeKind::CommentAdded {
            incident_id: IncidentId::new(Ulid::nil()),
            comment_id: crate::CommentId::new(Ulid::nil()),
        };
        assert!(DomainEvent::from_change(&change(comment, None)).is_empty());
    }

    #[test]
    fn the_wire_form_names_the_type_and_flattens_the_facts() {
        let kind = ChangeKind::IncidentResolved {
            incident_id: IncidentId::new(Ulid::from_parts(3, 3)),
            update_id: UpdateId::new(Ulid::from_parts(4, 4)),
            components: Vec::new(),
            status_changes: Vec::new(),
        };
        let c = change(kind, Some(facts(IncidentStatus::Resolved, Some(IncidentStatus::Monitoring))));
        let value = serde_json::to_value(&DomainEvent::from_change(&c)[0]).unwrap_or_default();
        assert_eq!(value["type"], "incident.resolved");
        assert_eq!(value["version"], 1);
        assert_eq!(value["incident"]["status"], "resolved");
        assert_eq!(value["incident"]["previous_status"], "monitoring");
        assert_eq!(value["incident"]["components"][0]["status"], "partial_outage");
        let back: DomainEvent = serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.event_type, EventType::IncidentResolved);
    }
}
