use crate::{Item, StoreResult};

/// Items written with this attribute set to `Bool(true)` are change records: besides
/// being stored, they are delivered to the change feed. On DynamoDB the table's stream
/// carries them (a filter on this attribute picks them out); the embedded store appends
/// them to its own log in the same transaction.
pub const FEED_ATTRIBUTE: &str = "feed";

/// One change record, at its position in the feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    /// Strictly increasing in commit order.
    pub position: u64,
    pub item: Item,
}

/// The change feed of a store that keeps its own: consumers read committed change
/// records in commit order, at least once, each from a cursor that survives restarts.
#[async_trait::async_trait]
pub trait ChangeFeed: Send + Sync + std::fmt::Debug {
    /// Up to `limit` entries after the consumer's acknowledged position.
    async fn read(&self, consumer: &str, limit: usize) -> StoreResult<Vec<FeedEntry>>;

    /// Records that the consumer has handled everything up to and including `position`.
    /// A position at or behind the current cursor changes nothing.
    async fn ack(&self, consumer: &str, position: u64) -> StoreResult<()>;

    /// A receiver whose value changes whenever entries were appended, so a consumer can
    /// wait for news instead of polling; `None` when the feed cannot tell (consumers
    /// then poll).
    fn appended(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}
