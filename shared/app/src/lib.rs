//! The use cases of the system, written once over the storage port and used by every
//! host: the API (Lambda and local), the one-machine runner and the command line.
//!
//! Every mutating use case validates its input, then commits everything it changes in
//! one storage transaction together with a change record, guarded by the versions it
//! read. A refused request has changed nothing; a conflicting one is retried when the
//! caller did not pin a version, and reported as [`AppError::Conflict`] when it did.

pub mod alerts;
mod clock;
mod components;
mod demo;
mod error;
pub mod feed;
mod idempotency;
mod incidents;
pub mod integrations;
pub mod maintenances;
mod members;
pub mod monitors;
pub mod repo;
mod service;
pub mod sessions;
mod settings;
pub mod subscribers;
mod templates;
mod tokens;

pub use alerts::{AlertRulePatch, NewAlertRule, RuleWithRecipient};
pub use clock::{Clock, ManualClock, SystemClock, UlidSource};
pub use components::{ComponentPatch, GroupPatch, NewComponent, NewGroup};
pub use demo::seed_demo;
pub use error::{AppError, AppResult};
pub use idempotency::{Claim, IDEMPOTENCY_WINDOW, StoredResponse};
pub use incidents::{
    BackfillIncident, BackfillUpdate, EditIncident, IncidentDetail, IncidentFilter, IncidentState, PostUpdate, Posted,
    PublicState, ReportIncident,
};
pub use integrations::{
    CreatedIntegration, DeliveryOutcome, DeliveryRecord, IntegrationPatch, MAX_KEYS_PER_DELIVERY, NewIntegration,
};
pub use maintenances::{
    MaintenanceDetail, MaintenancePatch, MaintenanceState, NewSeries, ScheduleMaintenance, SchedulerRun, WindowInput,
};
pub use members::{MemberPatch, NewMember};
pub use monitors::{CreatedMonitor, DailyStats, DueCheck, MonitorPatch, MonitorSettings, Recorded};
pub use repo::{IncidentSummary, Listing, OpenMarker};
pub use service::Service;
pub use sessions::{Secret, Session, SignInRequest, SignedIn};
pub use subscribers::{
    CreatedSubscriber, NewSubscriber, RateLimited, SubscribeOutcome, SubscriberFilter, SubscriberToken,
};
pub use templates::{NewTemplate, TemplatePatch};
pub use tokens::{Caller, Token, TokenSecret};
