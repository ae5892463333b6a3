//! The public status page, rendered from one snapshot of the state.

pub mod chart;
pub mod console;
pub mod forms;
pub mod markdown;
mod render;
mod snapshot;
pub mod statuspage;
pub mod uptime;

pub use render::{IMMUTABLE_CACHE, RenderCache, SHORT_CACHE, SiteObject, render, render_cached, window_text};
pub use snapshot::{IncidentRecord, MaintenanceRecord, MonitoredDay, PageConfig, PageLink, Snapshot};
