use crate::component::ComponentStatus;
use crate::ids::{
    AlertRuleId, ChangeId, CommentId, ComponentId, GroupId, IncidentId, IntegrationId, MaintenanceId, MemberId,
    MonitorId, SubscriberId, TemplateId, TokenId, UpdateId,
};
use crate::incident::{AffectedComponent, Impact, IncidentSource, IncidentStatus};
use crate::monitor::{CheckOutcome, Finding};
use crate::timeline::Actor;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A committed change, written in the same transaction as the change itself. Downstream
/// consumers (the page publisher, notifications, the event bus) read these at least once
/// from the change feed; `id` is stable, so a consumer can drop a redelivery.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub id: ChangeId,
    pub at: Timestamp,
    pub actor: Actor,
    #[serde(flatten)]
    pub kind: ChangeKind,
    /// The incident as this change left it, on incident changes: the domain events
    /// carry it, so a consumer never reads a later state than the event describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentFacts>,
    /// The maintenance as this change left it, on maintenance changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<MaintenanceFacts>,
}

/// A maintenance's headline state, as one change left it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceFacts {
    pub title: String,
    pub status: crate::maintenance::MaintenanceStatus,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub starts_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ends_at: Timestamp,
    pub time_zone: String,
    pub components: Vec<ComponentId>,
}

impl From<&crate::maintenance::Maintenance> for MaintenanceFacts {
    fn from(m: &crate::maintenance::Maintenance) -> Self {
        Self {
            title: m.title.to_string(),
            status: m.status,
            starts_at: m.window.starts_at,
            ends_at: m.window.ends_at,
            time_zone: m.window.time_zone.clone(),
            components: m.components.clone(),
        }
    }
}

/// An incident's headline state, as one change left it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFacts {
    pub title: String,
    pub status: IncidentStatus,
    /// The status before the change, when the change moved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<IncidentStatus>,
    pub impact: Impact,
    pub published: bool,
    pub source: IncidentSource,
    pub components: Vec<AffectedComponent>,
}

impl Change {
    /// Whether the change can alter anything a visitor of the public page sees. Comments,
    /// templates and members are private, so the publisher may skip them.
    pub fn is_public(&self) -> bool {
        !matches!(
            self.kind,
            ChangeKind::CommentAdded { .. }
                | ChangeKind::TemplateChanged { .. }
                | ChangeKind::TemplateDeleted { .. }
                | ChangeKind::MemberChanged { .. }
                | ChangeKind::MemberDeleted { .. }
                | ChangeKind::TokenCreated { .. }
                | ChangeKind::TokenRevoked { .. }
                | ChangeKind::SubscriberChanged { .. }
                | ChangeKind::SubscriberDeleted { .. }
                | ChangeKind::IntegrationChanged { .. }
                | ChangeKind::IntegrationDeleted { .. }
                | ChangeKind::PostmortemChanged { published: false, .. }
                | ChangeKind::MaintenanceChanged { event: MaintenanceEvent::TeamReminded, .. }
        )
    }
}

/// What changed, with the ids a consumer needs to find it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeKind {
    IncidentReported {
        incident_id: IncidentId,
        update_id: UpdateId,
        components: Vec<ComponentId>,
        /// Components whose shown status this change moved.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        status_changes: Vec<StatusChange>,
    },
    IncidentUpdated {
        incident_id: IncidentId,
        update_id: UpdateId,
        components: Vec<ComponentId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        status_changes: Vec<StatusChange>,
    },
    IncidentResolved {
        incident_id: IncidentId,
        update_id: UpdateId,
        components: Vec<ComponentId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        status_changes: Vec<StatusChange>,
    },
    IncidentReopened {
        incident_id: IncidentId,
        update_id: UpdateId,
        components: Vec<ComponentId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        status_changes: Vec<StatusChange>,
    },
    /// An internal incident was published: its news, as of its latest update, is new
    /// to the page and to subscribers.
    IncidentPublished {
        incident_id: IncidentId,
        update_id: UpdateId,
        #[serde(default)]
        components: Vec<ComponentId>,
        #[serde(default)]
        status_changes: Vec<StatusChange>,
    },
    IncidentEdited {
        incident_id: IncidentId,
        components: Vec<ComponentId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        status_changes: Vec<StatusChange>,
    },
    CommentAdded {
        incident_id: IncidentId,
        comment_id: CommentId,
    },
    ComponentChanged {
        component_id: ComponentId,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        status_changes: Vec<StatusChange>,
    },
    ComponentDeleted {
        component_id: ComponentId,
    },
    GroupChanged {
        group_id: GroupId,
    },
    GroupDeleted {
        group_id: GroupId,
    },
    TemplateChanged {
        template_id: TemplateId,
    },
    TemplateDeleted {
        template_id: TemplateId,
    },
    MemberChanged {
        member_id: MemberId,
    },
    MemberDeleted {
        member_id: MemberId,
    },
    TokenCreated {
        token_id: TokenId,
        member_id: MemberId,
    },
    TokenRevoked {
        token_id: TokenId,
        member_id: MemberId,
    },
    SubscriberChanged {
        subscriber_id: SubscriberId,
    },
    SubscriberDeleted {
        subscriber_id: SubscriberId,
    },
    MonitorChanged {
        monitor_id: MonitorId,
    },
    MonitorDeleted {
        monitor_id: MonitorId,
    },
    /// A monitor's confirmed state moved (the team's alert rules hear of it).
    MonitorStateChanged {
        monitor_id: MonitorId,
        incident_id: Option<IncidentId>,
        finding: Finding,
        outcome: CheckOutcome,
    },
    AlertRuleChanged {
        rule_id: AlertRuleId,
    },
    AlertRuleDeleted {
        rule_id: AlertRuleId,
    },
    IntegrationChanged {
        integration_id: IntegrationId,
    },
    IntegrationDeleted {
        integration_id: IntegrationId,
    },
    /// A maintenance was scheduled, updated, moved, cancelled, reminded of, started or
    /// completed (`event` says which).
    MaintenanceChanged {
        maintenance_id: MaintenanceId,
        event: MaintenanceEvent,
        /// The public update the change posted, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        update_id: Option<UpdateId>,
        #[serde(default)]
        components: Vec<ComponentId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        status_changes: Vec<StatusChange>,
    },
    SeriesChanged {
        series_id: MaintenanceId,
    },
    /// The page's name, logo, colours, links or time zone were changed: the page is
    /// rebuilt; nobody is notified.
    PageSettingsChanged,
    /// An incident's postmortem was saved as a draft (private) or published.
    PostmortemChanged {
        incident_id: IncidentId,
        published: bool,
        /// Whether subscribers are told of the publication.
        #[serde(default)]
        notify: bool,
    },
    /// An incident recorded after the fact: on the page and in uptime at its real
    /// times, and news to no one.
    IncidentBackfilled {
        incident_id: IncidentId,
        components: Vec<ComponentId>,
    },
}

/// What happened to a maintenance.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceEvent {
    Scheduled,
    /// A public update without a move of the window.
    Updated,
    /// Its title, components or automation were edited (no public words).
    Edited,
    Rescheduled,
    Cancelled,
    /// Subscribers were reminded that it starts soon.
    SubscribersReminded,
    /// The team was reminded that it starts soon.
    TeamReminded,
    Started,
    Completed,
}

impl MaintenanceEvent {
    /// Whether subscribers who follow maintenance hear of it.
    pub fn is_news(self) -> bool {
        !matches!(self, Self::Edited | Self::TeamReminded)
    }
}

/// A component's shown status moved, from one status to another.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub component_id: ComponentId,
    pub from: ComponentStatus,
    pub to: ComponentStatus,
}

impl ChangeKind {
    /// The components whose shown status the change moved.
    pub fn status_changes(&self) -> &[StatusChange] {
        match self {
            Self::IncidentReported { status_changes, .. }
            | Self::IncidentUpdated { status_changes, .. }
            | Self::IncidentResolved { status_changes, .. }
            | Self::IncidentReopened { status_changes, .. }
            | Self::IncidentEdited { status_changes, .. }
            | Self::IncidentPublished { status_changes, .. }
            | Self::ComponentChanged { status_changes, .. }
            | Self::MaintenanceChanged { status_changes, .. } => status_changes,
            _ => &[],
        }
    }

    /// Incident changes are audited in the incident's own timeline; every other change
    /// also goes to the audit log.
    pub fn is_incident_change(&self) -> bool {
        matches!(
            self,
            Self::IncidentReported { .. }
                | Self::IncidentUpdated { .. }
                | Self::IncidentResolved { .. }
                | Self::IncidentReopened { .. }
                | Self::IncidentEdited { .. }
                | Self::IncidentPublished { .. }
                | Self::CommentAdded { .. }
                | Self::PostmortemChanged { .. }
                | Self::IncidentBackfilled { .. }
        )
    }
}
