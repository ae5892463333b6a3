//! The public status page, rendered from one snapshot of the state.

pub mod markdown;
mod render;
mod snapshot;
pub mod statuspage;
pub mod uptime;

pub use render::{SHORT_CACHE, SiteObject, render};
pub use snapshot::{IncidentRecord, PageConfig, PageLink, Snapshot};
