//! The storage port.
//!
//! It is deliberately close to DynamoDB's own model so that both adapters (DynamoDB and
//! the embedded redb store) can honour it exactly: items keyed by a partition key and a
//! sort key; get; conditional put, update and delete; transactions of up to 100
//! conditional writes that all land or none do; and queries of one partition by sort-key
//! prefix or range, in order, with a limit and a page cursor.
//!
//! Limits are DynamoDB's and are checked here, once, for every adapter (see
//! [`validate`]), so a write that the embedded store accepts is never refused in the
//! cloud.

mod feed;
mod item;
pub mod validate;

#[cfg(feature = "contract")]
pub mod contract;

pub use feed::{ChangeFeed, FEED_ATTRIBUTE, FeedEntry};
pub use item::{Condition, Cursor, Item, Key, Page, Query, SortKeyRange, Update, Value, Write};

/// Why a storage call failed. The variants say whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A condition did not hold. In a transaction, `index` names the first write whose
    /// condition failed; nothing was written.
    #[error("condition failed{}", .index.map(|i| format!(" on write {i}")).unwrap_or_default())]
    ConditionFailed { index: Option<usize> },
    /// Another transaction touched the same items at the same time; nothing was written
    /// and the same call may succeed if retried.
    #[error("transaction conflict: another write touched the same items")]
    TransactionConflict,
    /// The request breaks a rule of the port (sizes, counts, key shapes). Retrying the
    /// same request fails the same way.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The backend is unreachable, throttling or failing; retrying later may help.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (corruption or an incompatible format).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::TransactionConflict | Self::Unavailable(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A DynamoDB-shaped key-value store. Every method is atomic; reads are strongly
/// consistent.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Reads one item.
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>>;

    /// Writes one item whole, if `condition` holds on the item currently stored.
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<()>;

    /// Changes attributes of one item (creating it when absent, as DynamoDB does) if
    /// `condition` holds, and returns the item as stored afterwards.
    async fn update(&self, update: Update) -> StoreResult<Item>;

    /// Deletes one item if `condition` holds. Deleting an absent item is not an error
    /// unless the condition requires it to exist.
    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()>;

    /// Applies up to [`validate::MAX_TRANSACTION_WRITES`] writes, on distinct keys, all
    /// or none.
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()>;

    /// Reads one partition in sort-key order.
    async fn query(&self, query: Query) -> StoreResult<Page>;
}
