//! The durable work queue between planning and delivery.
//!
//! A job names one notice and up to [`JOB_SIZE`] subscribers. On AWS it is an SQS
//! message (the queue triggers the delivery function, with partial batch responses);
//! on one machine, [`StoreQueue`] keeps jobs in the embedded store. Either way a job is
//! delivered at least once: deliveries are claimed per (notice, subscriber), so a job
//! seen twice sends nothing twice.

use beacon_app::Clock;
use beacon_domain::{NoticeId, SubscriberId};
use beacon_store::{Condition, Item, Key, Query, Store, StoreError, Value, Write};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use ulid::Ulid;

/// Subscribers per job: small enough that a retried job repeats little work, large
/// enough that a million recipients are ten thousand messages.
pub const JOB_SIZE: usize = 100;

/// One unit of delivery work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: Ulid,
    /// The notice.
    pub notice: NoticeId,
    pub subscribers: Vec<SubscriberId>,
    /// How many times these subscribers were tried before (0 on the first plan).
    #[serde(default)]
    pub attempt: u32,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    #[error("the work queue is unavailable: {0}")]
    Unavailable(String),
    #[error("a job could not be encoded: {0}")]
    Encode(String),
}

impl From<StoreError> for QueueError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Where planners and retries put jobs.
#[async_trait::async_trait]
pub trait WorkQueue: Send + Sync + std::fmt::Debug {
    /// Adds jobs, each visible after `delay`. All or an error (jobs added before the
    /// error may stay; they are harmless repeats).
    async fn enqueue(&self, jobs: Vec<Job>, delay: Duration) -> Result<(), QueueError>;
}

/// A job taken from the [`StoreQueue`], invisible to others until its lease ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leased {
    pub job: Job,
    lease: Key,
}

const QUEUE_PK: &str = "QUEUE";

/// A work queue in the store: one item per job, keyed by when it becomes visible, so
/// the due jobs are a range read. Taking a job moves it to its lease's end in one
/// transaction; a worker that dies leaves it to reappear there.
#[derive(Clone, Debug)]
pub struct StoreQueue {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    wake: Arc<tokio::sync::Notify>,
}

fn sort_key(visible_at_ms: i64, id: Ulid) -> String {
    format!("{visible_at_ms:015}#{id}")
}

impl StoreQueue {
    /// A queue over `store`, telling due jobs by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, wake: Arc::new(tokio::sync::Notify::new()) }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().as_millisecond()
    }

    /// Notified whenever jobs are added through this queue (or a clone of it), so an
    /// idle worker in the same process starts at once.
    pub fn wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Takes up to `max` due jobs for `lease`.
    pub async fn receive(&self, max: usize, lease: Duration) -> Result<Vec<Leased>, QueueError> {
        let now = self.now_ms();
        let page = self
            .store
            .query(Query::partition(QUEUE_PK).between("0", sort_key(now, Ulid(u128::MAX))).limit(max.clamp(1, 1000)))
            .await?;
        let until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut taken = Vec::new();
        for item in page.items {
            let job: Job = match item.str("data").map(serde_json::from_str) {
                Some(Ok(job)) => job,
                other => {
                    // A job that cannot be read never will be: dropped loudly, so it
                    // does not stop the queue behind it.
                    tracing::error!(key = %item.key.sk, ?other, "an unreadable job in the queue; dropped");
                    self.store.delete(&item.key, Condition::None).await?;
                    continue;
                }
            };
            let key = Key::new(QUEUE_PK, sort_key(until, job.id));
            if key == item.key {
                // A zero lease on a job due this very millisecond: nothing to move.
                taken.push(Leased { job, lease: key });
                continue;
            }
            let moved = Item { key: key.clone(), attrs: item.attrs.clone() };
            match self
                .store
                .transact(vec![
                    Write::Delete { key: item.key.clone(), condition: Condition::Exists },
                    Write::Put { item: moved, condition: Condition::NotExists },
                ])
                .await
            {
                Ok(()) => taken.push(Leased { job, lease: key }),
                // Another worker took it first.
                Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(taken)
    }

    /// Removes a finished job.
    pub async fn ack(&self, leased: &Leased) -> Result<(), QueueError> {
        self.store.delete(&leased.lease, Condition::None).await.map_err(Into::into)
    }
}

#[async_trait::async_trait]
impl WorkQueue for StoreQueue {
    async fn enqueue(&self, jobs: Vec<Job>, delay: Duration) -> Result<(), QueueError> {
        let visible = self.now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        for chunk in jobs.chunks(25) {
            let mut writes = Vec::with_capacity(chunk.len());
            for job in chunk {
                let data = serde_json::to_string(job).map_err(|e| QueueError::Encode(e.to_string()))?;
                let item = Item::new(Key::new(QUEUE_PK, sort_key(visible, job.id)))
                    .with("type", Value::S("job".into()))
                    .with("data", Value::S(data));
                writes.push(Write::Put { item, condition: Condition::None });
            }
            self.store.transact(writes).await?;
        }
        self.wake.notify_one();
        Ok(())
    }
}
