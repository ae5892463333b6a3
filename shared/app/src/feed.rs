//! Consuming the change feed at least once.
//!
//! A consumer reads a batch after its cursor, handles every change record in it, and
//! only then acknowledges the batch. A crash anywhere before the acknowledgement
//! redelivers the batch on restart, so handlers must be idempotent (change ids are
//! stable for exactly that).

use crate::error::AppResult;
use crate::repo;
use beacon_domain::Change;
use beacon_store::ChangeFeed;
use std::time::Duration;
use tokio::sync::watch;

/// What a consumer does with each change.
#[async_trait::async_trait]
pub trait ChangeHandler: Send + Sync {
    /// Handles one change. An error stops the batch; it is delivered again later.
    async fn handle(&self, change: &Change) -> Result<(), HandlerError>;
}

/// A handler's failure; the change is retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

/// Handles everything currently in the feed for `consumer`; returns how many changes
/// were handled.
pub async fn drain(
    feed: &dyn ChangeFeed,
    consumer: &str,
    handler: &dyn ChangeHandler,
    batch: usize,
) -> AppResult<usize> {
    let mut handled = 0;
    loop {
        let entries = feed.read(consumer, batch).await?;
        let Some(last) = entries.last().map(|e| e.position) else {
            return Ok(handled);
        };
        for entry in &entries {
            if let Some(change) = repo::change_from_item(&entry.item)? {
                handler.handle(&change).await.map_err(|e| {
                    beacon_store::StoreError::Unavailable(format!("{consumer} failed on change {}: {e}", change.id))
                })?;
                handled += 1;
            }
        }
        feed.ack(consumer, last).await?;
    }
}

/// Drains the feed whenever woken (or every `poll`), until `shutdown` turns true.
/// Failures are logged and retried after the poll interval.
pub async fn run(
    feed: &dyn ChangeFeed,
    consumer: &str,
    handler: &dyn ChangeHandler,
    wake: &tokio::sync::Notify,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = drain(feed, consumer, handler, 100).await {
            tracing::warn!(consumer, error = %e, "change feed consumer failed; will retry");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
