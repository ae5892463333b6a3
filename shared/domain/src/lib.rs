//! The incident-management domain: what an incident, a component and a status page are,
//! and the rules that keep them consistent.
//!
//! This crate is pure. It reads no clock, generates no random ids and does no IO: callers
//! pass the current time and fresh ids in (see [`Stamp`]), which keeps every rule
//! deterministic and testable.

mod alert;
mod change;
mod component;
mod error;
mod event;
mod ids;
mod incident;
mod integration;
mod maintenance;
mod member;
mod monitor;
mod page;
mod recurrence;
mod settings;
mod subscriber;
mod template;
mod text;
mod timeline;

pub use alert::{AlertEvent, AlertOn, AlertRule, MAX_RULE_MONITORS};
pub use change::{Change, ChangeKind, IncidentFacts, MaintenanceEvent, MaintenanceFacts, StatusChange};
pub use component::{Component, ComponentGroup, ComponentStatus, effective_status};
pub use error::{DomainError, FieldError};
pub use event::{
    DomainEvent, EVENT_SCHEMA_VERSION, EventComponent, EventIncident, EventMaintenance, EventMonitor, EventType,
};
pub use ids::{
    AlertRuleId, ChangeId, CommentId, ComponentId, EventId, GroupId, IncidentId, IntegrationId, MaintenanceId,
    MemberId, MonitorId, NoticeId, SubscriberId, TemplateId, TokenId, UpdateId,
};
pub use incident::{
    AffectedChange, AffectedComponent, BackfilledIncident, BackfilledUpdate, Comment, ComponentEdit, Impact, Incident,
    IncidentEdit, IncidentOutcome, IncidentOutcomes, IncidentSource, IncidentStatus, MAX_AFFECTED_COMPONENTS,
    NewIncident, NewUpdate, Postmortem, PublicUpdate, Transition,
};
pub use integration::{
    AlertDelta, AlertGroup, AlertReport, DEFAULT_MESSAGE_TEMPLATE as DEFAULT_ALERT_MESSAGE,
    DEFAULT_REOPEN_WINDOW_SECONDS, DEFAULT_RESOLVED_MESSAGE, ImpactMapping, Integration, IntegrationComponent,
    IntegrationKind, KnownAlert, MAX_GROUP_ALERTS, MAX_REOPEN_WINDOW_SECONDS, ResolveTo, apply_reports,
    validate_integration,
};
pub use maintenance::{
    Automation, DEFAULT_REMIND_SUBSCRIBERS_MINUTES, Due, MAX_WINDOW_SECONDS, Maintenance, MaintenanceEdit,
    MaintenanceOutcome, MaintenanceSeries, MaintenanceStatus, MaintenanceUpdate, NewMaintenance, OCCURRENCES_AHEAD,
    TEAM_REMINDER_MINUTES, Taken, Window,
};
pub use member::{Member, Role};
pub use monitor::{
    CheckOutcome, DEFAULT_INCIDENT_MESSAGE, DEFAULT_INCIDENT_TITLE, ErrorClass, Finding, MAX_INTERVAL_SECONDS,
    MAX_REGIONS, MIN_INTERVAL_SECONDS, Monitor, MonitorKind, MonitorState, MonitoredComponent, RegionResult,
    RoundVerdict, Step, Thresholds, round_verdict, validate_monitor,
};
pub use page::{PageIndicator, PageStatus};
pub use recurrence::{ByDay, Frequency, Recurrence};
pub use settings::{CheckedSettings, Colour, HeaderLink, MAX_LINKS, MIN_CONTRAST, PageSettings, PageSettingsInput};
pub use subscriber::{
    CONFIRMATION_WINDOW_SECONDS, Channel, ChannelKind, EndpointUrl, Events, FollowKey, Interest, MANAGE_TOKENS_KEPT,
    MAX_FOLLOWED, NoticeEvent, QUARANTINE_AFTER_FAILURES, Subscriber, SubscriberState,
};
pub use template::{IncidentDraft, Template};
pub use text::{Description, Email, Markdown, Name, Title};
pub use timeline::{Actor, EventKind, TimelineEntry};

/// Who acts, when, and the fresh ids an operation may need.
///
/// Ids are ULIDs handed in by the caller, so the domain never touches a clock or a random
/// source; `next_id` is called once per new record, in a documented order per operation.
pub struct Stamp<'a> {
    pub at: jiff::Timestamp,
    pub actor: Actor,
    pub next_id: &'a mut dyn FnMut() -> ulid::Ulid,
}

impl std::fmt::Debug for Stamp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stamp").field("at", &self.at).field("actor", &self.actor).finish()
    }
}
