use crate::alert::AlertEvent;
use crate::component::ComponentStatus;
use crate::ids::{
    AlertRuleId, CommentId, ComponentId, EventId, IncidentId, IntegrationId, MemberId, MonitorId, TemplateId, UpdateId,
};
use crate::incident::{Impact, IncidentSource, IncidentStatus};
use crate::monitor::{CheckOutcome, Finding, RegionResult, Thresholds};
use crate::subscriber::ChannelKind;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Who did something: a team member, a monitor, an integration, or the system itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    Member { id: MemberId },
    Monitor { id: String },
    Integration { id: String },
    System,
}

/// One entry of an incident's internal, append-only timeline. Never public.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub id: EventId,
    pub incident_id: IncidentId,
    pub at: Timestamp,
    pub actor: Actor,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Created {
        title: String,
        status: IncidentStatus,
        impact: Impact,
        source: IncidentSource,
    },
    TitleChanged {
        from: String,
        to: String,
    },
    StatusChanged {
        from: IncidentStatus,
        to: IncidentStatus,
    },
    ImpactChanged {
        from: Impact,
        to: Impact,
    },
    ComponentAdded {
        component_id: ComponentId,
        status: ComponentStatus,
    },
    ComponentRemoved {
        component_id: ComponentId,
    },
    ComponentStatusChanged {
        component_id: ComponentId,
        from: ComponentStatus,
        to: ComponentStatus,
    },
    UpdatePosted {
        update_id: UpdateId,
        status: IncidentStatus,
    },
    CommentAdded {
        comment_id: CommentId,
    },
    TemplateApplied {
        template_id: TemplateId,
    },
    Reopened,
    /// An internal incident was published.
    Published,
    /// A team member turned the monitor's auto-resolve off (took the incident over) or on.
    AutoResolveChanged {
        auto_resolve: bool,
    },
    /// A monitor's round changed its state: every region's result at that moment, the
    /// regions the quorum overruled, and the thresholds crossed.
    MonitorEvidence {
        monitor_id: MonitorId,
        finding: Finding,
        outcome: CheckOutcome,
        results: Vec<RegionResult>,
        dissenting: Vec<String>,
        thresholds: Thresholds,
    },
    /// Alerts of an integration's group began firing (new, or again after resolving)
    /// while its incident was open, or reopened it.
    AlertsFiring {
        integration_id: IntegrationId,
        alerts: Vec<String>,
    },
    /// Alerts of the group resolved; `all`: none is firing any more.
    AlertsResolved {
        integration_id: IntegrationId,
        alerts: Vec<String>,
        all: bool,
    },
    /// The postmortem was written or edited.
    PostmortemSaved,
    PostmortemPublished,
    /// The incident was recorded after the fact, with this many updates.
    Backfilled {
        title: String,
        impact: Impact,
        updates: usize,
    },
    /// A team alert rule fired: who was told, through what (chat URLs redacted).
    AlertFired {
        rule_id: AlertRuleId,
        rule: String,
        channel: ChannelKind,
        target: String,
        alert: AlertEvent,
    },
}
