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
use beacon_app::{AppResult, PublicState, Service};
use beacon_domain::Change;
use beacon_site::{IncidentRecord, PageConfig, Snapshot};

/// Reads the public state into a snapshot. Its version is the time the read began: a
/// snapshot whose read began later reflects every change committed before the earlier
/// one began, so it is never older.
pub async fn snapshot(service: &Service, page: &PageConfig) -> AppResult<(Snapshot, i64)> {
    let (snapshot, version, _) = snapshot_since(service, page, None).await?;
    Ok((snapshot, version))
}

/// [`snapshot`], reusing the unchanged incidents of the state read before; also returns
/// the state read, for the next call.
pub async fn snapshot_since(
    service: &Service,
    page: &PageConfig,
    previous: Option<&PublicState>,
) -> AppResult<(Snapshot, i64, PublicState)> {
    let started = service.clock().now();
    let state = service.public_state_since(previous).await?;
    let snapshot = Snapshot {
        page: page.clone(),
        generated_at: started,
        components: state.components.clone(),
        groups: state.groups.clone(),
        incidents: state
            .incidents
            .iter()
            .map(|d| IncidentRecord { incident: d.incident.clone(), updates: d.updates.clone() })
            .collect(),
    };
    Ok((snapshot, started.as_microsecond(), state))
}

/// Republishes the page for every public change the feed delivers. A batch of changes
/// costs one publish: a change committed before the last snapshot began is already in it.
#[derive(Debug)]
pub struct PublishOnChange {
    service: Service,
    publisher: Publisher,
    page: PageConfig,
    last_snapshot: tokio::sync::Mutex<Option<(jiff::Timestamp, PublicState)>>,
}

impl PublishOnChange {
    pub fn new(service: Service, publisher: Publisher, page: PageConfig) -> Self {
        Self { service, publisher, page, last_snapshot: tokio::sync::Mutex::new(None) }
    }

    /// Publishes the current state, reading again only the incidents that changed.
    pub async fn publish_now(&self) -> Result<PublishReport, HandlerError> {
        self.publish(true).await
    }

    /// The periodic repair: reads the whole state again, trusting nothing remembered.
    pub async fn reconcile(&self) -> Result<PublishReport, HandlerError> {
        self.publish(false).await
    }

    async fn publish(&self, reuse: bool) -> Result<PublishReport, HandlerError> {
        let mut last = self.last_snapshot.lock().await;
        let previous = last.as_ref().filter(|_| reuse).map(|(_, state)| state);
        let (snapshot, version, state) =
            snapshot_since(&self.service, &self.page, previous).await.map_err(|e| HandlerError(e.to_string()))?;
        *last = Some((snapshot.generated_at, state));
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
        let covered = self.last_snapshot.lock().await.as_ref().is_some_and(|(at, _)| change.at < *at);
        if change.is_public() && !covered {
            self.publish_now().await?;
        }
        Ok(())
    }
}
