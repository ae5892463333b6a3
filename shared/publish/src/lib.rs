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
use beacon_site::{IncidentRecord, MaintenanceRecord, PageConfig, Snapshot};

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
    let window = beacon_site::uptime::window_start(started);
    let monitored = service
        .component_checks(window)
        .await?
        .into_iter()
        .map(|(id, days)| (id, days.into_iter().filter_map(monitored_day).collect()))
        .collect();
    let snapshot = Snapshot {
        page: page.with_settings(state.settings.as_ref()),
        generated_at: started,
        components: state.components.clone(),
        groups: state.groups.clone(),
        incidents: state
            .incidents
            .iter()
            .map(|d| IncidentRecord { incident: d.incident.clone(), updates: d.updates.clone() })
            .collect(),
        maintenances: state
            .maintenances
            .iter()
            .map(|d| MaintenanceRecord { maintenance: d.maintenance.clone(), updates: d.updates.clone() })
            .collect(),
        monitored,
    };
    Ok((snapshot, started.as_microsecond(), state))
}

fn monitored_day(d: beacon_app::DailyStats) -> Option<beacon_site::MonitoredDay> {
    let as_seconds = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Some(beacon_site::MonitoredDay {
        date: d.day.parse().ok()?,
        down_seconds: as_seconds(d.down_seconds),
        degraded_seconds: as_seconds(d.degraded_seconds),
        observed_seconds: as_seconds(d.observed_seconds),
        maintenance_seconds: as_seconds(d.maintenance_seconds),
        p50_ms: d.p50_ms,
        p95_ms: d.p95_ms,
    })
}

/// Republishes the page for every batch of changes the feed delivers that holds a public
/// one: every change of a batch was committed before the batch was read, so one
/// snapshot taken after that covers them all.
#[derive(Debug)]
pub struct PublishOnChange {
    service: Service,
    publisher: Publisher,
    page: PageConfig,
    /// The state read by the last publish, to read only what changed since.
    last_state: tokio::sync::Mutex<Option<PublicState>>,
}

impl PublishOnChange {
    pub fn new(service: Service, publisher: Publisher, page: PageConfig) -> Self {
        Self { service, publisher, page, last_state: tokio::sync::Mutex::new(None) }
    }

    /// Publishes the current state, reading again only the incidents that changed.
    pub async fn publish_now(&self) -> Result<PublishReport, HandlerError> {
        self.publish(true).await
    }

    /// The periodic repair: reads the whole state again and checks every object in the
    /// bucket, trusting nothing remembered.
    pub async fn reconcile(&self) -> Result<PublishReport, HandlerError> {
        self.publish(false).await
    }

    async fn publish(&self, reuse: bool) -> Result<PublishReport, HandlerError> {
        // Held for the whole publish: publishes of one process run one after another.
        let mut last = self.last_state.lock().await;
        let previous = last.as_ref().filter(|_| reuse);
        let (snapshot, version, state) =
            snapshot_since(&self.service, &self.page, previous).await.map_err(|e| HandlerError(e.to_string()))?;
        *last = Some(state);
        let published = if reuse {
            self.publisher.publish(&snapshot, version).await
        } else {
            self.publisher.publish_verifying(&snapshot, version).await
        };
        let report = published.map_err(|e| HandlerError(e.to_string()))?;
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
        self.handle_batch(std::slice::from_ref(change)).await
    }

    async fn handle_batch(&self, changes: &[Change]) -> Result<(), HandlerError> {
        if changes.iter().any(Change::is_public) {
            self.publish_now().await?;
        }
        Ok(())
    }
}
