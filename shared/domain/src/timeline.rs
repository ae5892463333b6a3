use crate::component::ComponentStatus;
use crate::ids::{CommentId, ComponentId, EventId, IncidentId, MemberId, TemplateId, UpdateId};
use crate::incident::{Impact, IncidentSource, IncidentStatus};
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
    Created { title: String, status: IncidentStatus, impact: Impact, source: IncidentSource },
    TitleChanged { from: String, to: String },
    StatusChanged { from: IncidentStatus, to: IncidentStatus },
    ImpactChanged { from: Impact, to: Impact },
    ComponentAdded { component_id: ComponentId, status: ComponentStatus },
    ComponentRemoved { component_id: ComponentId },
    ComponentStatusChanged { component_id: ComponentId, from: ComponentStatus, to: ComponentStatus },
    UpdatePosted { update_id: UpdateId, status: IncidentStatus },
    CommentAdded { comment_id: CommentId },
    TemplateApplied { template_id: TemplateId },
    Reopened,
}
