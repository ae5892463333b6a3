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
use serde_json::Value;
use std::time::Duration;
use tokio::sync::watch;

/// What a consumer does with each change.
#[async_trait::async_trait]
pub trait ChangeHandler: Send + Sync {
    /// Handles one change. An error stops the batch; it is delivered again later.
    async fn handle(&self, change: &Change) -> Result<(), HandlerError>;

    /// Handles a batch of changes, every one of them committed before the batch was
    /// read. By default one at a time, in order; a handler that reacts to the state
    /// rather than to each change (the page publisher) acts once for the batch.
    async fn handle_batch(&self, changes: &[Change]) -> Result<(), HandlerError> {
        for change in changes {
            self.handle(change).await?;
        }
        Ok(())
    }
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
        let mut changes = Vec::with_capacity(entries.len());
        for entry in &entries {
            changes.extend(repo::change_from_item(&entry.item)?);
        }
        handler.handle_batch(&changes).await.map_err(|e| {
            let first = changes.first().map(|c| c.id.to_string()).unwrap_or_default();
            beacon_store::StoreError::Unavailable(format!("{consumer} failed on the batch from change {first}: {e}"))
        })?;
        handled += changes.len();
        feed.ack(consumer, last).await?;
    }
}

/// Drains the feed whenever it announces new entries (or every `poll`, as a fallback
/// and for feeds that cannot announce), until `shutdown` turns true. Failures are
/// logged and retried after the poll interval.
pub async fn run(
    feed: &dyn ChangeFeed,
    consumer: &str,
    handler: &dyn ChangeHandler,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut appended = feed.appended();
    loop {
        // Marked seen before draining: an append during the drain wakes the next wait.
        if let Some(appended) = appended.as_mut() {
            appended.borrow_and_update();
        }
        let failed = match drain(feed, consumer, handler, 100).await {
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(consumer, error = %e, "change feed consumer failed; will retry");
                true
            }
        };
        let news = async {
            match appended.as_mut() {
                Some(appended) if !failed => {
                    if appended.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = news => {}
            () = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// The change records carried by a DynamoDB stream event, in order.
pub fn changes_in_stream_event(event: &Value) -> Result<Vec<Change>, HandlerError> {
    let mut changes = Vec::new();
    for record in event["Records"].as_array().into_iter().flatten() {
        let image = &record["dynamodb"]["NewImage"];
        let is_change = image["type"]["S"] == "change" && image["feed"]["BOOL"] == true;
        if !is_change {
            continue;
        }
        let data = image["data"]["S"]
            .as_str()
            .ok_or_else(|| HandlerError("a change record without data in the stream".into()))?;
        let change: Change =
            serde_json::from_str(data).map_err(|e| HandlerError(format!("an unreadable change record: {e}")))?;
        changes.push(change);
    }
    Ok(changes)
}
