//! Publishing the page: the site bucket port, its folder adapter, the publisher, and
//! the change-feed consumer that republishes on every public change.

mod bucket;
mod dir;
pub mod lambda;
mod publisher;

pub use bucket::{BucketError, Precondition, SiteBucket, Upload};
pub use dir::{DirBucket, etag_of};
pub use publisher::{MANIFEST, Manifest, ManifestEntry, PublishError, PublishReport, Publisher};

use beacon_app::feed::{ChangeHandler, HandlerError};
use beacon_app::{AppResult, Service};
use beacon_domain::Change;
use beacon_site::{IncidentRecord, PageConfig, Snapshot};

/// Reads the public state into a snapshot. Its version is the time the read began: a
/// snapshot whose read began later reflects every change committed before the earlier
/// one began, so it is never older.
pub async fn snapshot(service: &Service, page: &PageConfig) -> AppResult<(Snapshot, i64)> {
    let started = service.clock().now();
    let state = service.public_state().await?;
    let snapshot = Snapshot {
        page: page.clone(),
        generated_at: started,
        components: state.components,
        groups: state.groups,
        incidents: state
            .incidents
            .into_iter()
            .map(|d| IncidentRecord { incident: d.incident, updates: d.updates })
            .collect(),
    };
    Ok((snapshot, started.as_microsecond()))
}

/// Republishes the page for every public change the feed delivers. A batch of changes
/// costs one publish: a change committed before the last snapshot began is already in it.
#[derive(Debug)]
pub struct PublishOnChange {
    service: Service,
    publisher: Publisher,
    page: PageConfig,
    last_snapshot: tokio::sync::Mutex<Option<jiff::Timestamp>>,
}

impl PublishOnChange {
    pub fn new(service: Service, publisher: Publisher, page: PageConfig) -> Self {
        Self { service, publisher, page, last_snapshot: tokio::sync::Mutex::new(None) }
    }

    /// Publishes the current state (also the periodic reconcile).
    pub async fn publish_now(&self) -> Result<PublishReport, HandlerError> {
        let mut last = self.last_snapshot.lock().await;
        let (snapshot, version) = snapshot(&self.service, &self.page).await.map_err(|e| HandlerError(e.to_string()))?;
        *last = Some(snapshot.generated_at);
        let report = self.publisher.publish(&snapshot, version).await.map_err(|e| HandlerError(e.to_string()))?;
        tracing::debug!(
            written = report.written.len(),
            deleted = report.deleted.len(),
            superseded = report.superseded,
            "page published"
        );
        Ok(report)
    }
}

#[async_trait::async_trait]
impl ChangeHandler for PublishOnChange {
    async fn handle(&self, change: &Change) -> Result<(), HandlerError> {
        let covered = self.last_snapshot.lock().await.is_some_and(|at| change.at < at);
        if change.is_public() && !covered {
            self.publish_now().await?;
        }
        Ok(())
    }
}
