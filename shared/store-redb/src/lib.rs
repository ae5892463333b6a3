//! The embedded adapter of the storage port, on redb.
//!
//! Items live in one table keyed by `pk NUL sk` bytes, so a partition is one contiguous,
//! sort-key-ordered range: queries are range scans. redb runs one write transaction at
//! a time, which makes conditions and transactions atomic without further locking; its
//! commits are durable (fsync) by default, so an acknowledged write survives a crash.

use beacon_store::{
    ChangeFeed, Condition, Cursor, FEED_ATTRIBUTE, FeedEntry, Item, Key, Page, Query, SortKeyRange, Store, StoreError,
    StoreResult, Update, Value, Write, validate,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
const FEED: TableDefinition<u64, &[u8]> = TableDefinition::new("feed");
const FEED_CURSORS: TableDefinition<&str, u64> = TableDefinition::new("feed_cursors");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const FEED_SEQUENCE: &str = "feed_sequence";

/// How long change records stay in the feed, like a stream's retention: a consumer that
/// falls further behind relies on the periodic reconcile instead.
pub const FEED_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The file inside the data folder.
pub const DATABASE_FILE: &str = "beacon.redb";

/// The embedded store. Cheap to clone; all clones share one open database.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    path: PathBuf,
    /// The feed's last sequence number, announced after each commit that appended to it,
    /// so consumers wait for changes instead of polling.
    appended: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).finish()
    }
}

#[derive(Serialize, Deserialize)]
struct StoredItem {
    attrs: BTreeMap<String, Value>,
}

#[derive(Serialize, Deserialize)]
struct StoredFeedEntry {
    /// Milliseconds since the epoch when the entry was committed, for retention.
    at_ms: u64,
    pk: String,
    sk: String,
    attrs: BTreeMap<String, Value>,
}

fn unavailable(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(e.into().to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn raw_key(pk: &str, sk: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(pk.len() + 1 + sk.len());
    key.extend_from_slice(pk.as_bytes());
    key.push(0);
    key.extend_from_slice(sk.as_bytes());
    key
}

fn split_key(raw: &[u8]) -> StoreResult<Key> {
    let at = raw.iter().position(|b| *b == 0).ok_or_else(|| corrupt("item key without separator"))?;
    let pk = std::str::from_utf8(&raw[..at]).map_err(corrupt)?;
    let sk = std::str::from_utf8(&raw[at + 1..]).map_err(corrupt)?;
    Ok(Key::new(pk, sk))
}

/// The smallest byte string greater than every string that starts with `prefix`, or
/// `None` when there is none (all 0xFF).
fn prefix_end(mut prefix: Vec<u8>) -> Option<Vec<u8>> {
    while let Some(last) = prefix.pop() {
        if last < 0xFF {
            prefix.push(last + 1);
            return Some(prefix);
        }
    }
    None
}

fn encode(item: &Item) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(&StoredItem { attrs: item.attrs.clone() }).map_err(corrupt)
}

fn decode(key: Key, bytes: &[u8]) -> StoreResult<Item> {
    let stored: StoredItem = serde_json::from_slice(bytes).map_err(corrupt)?;
    Ok(Item { key, attrs: stored.attrs })
}

/// The page cache redb may hold in memory. Its default (a gigabyte) lets the resident
/// size grow with every page ever read, a full scan of a large partition included; a
/// status page's working set fits well within this.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

impl RedbStore {
    /// Opens (creating if needed) the store in `data_dir`. A second process opening the
    /// same folder gets a clear error rather than a corrupted file.
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DATABASE_FILE);
        let db = redb::Builder::new().set_cache_size(CACHE_BYTES).create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                StoreError::Unavailable(format!("{} is already open in another process", path.display()))
            }
            other => StoreError::Unavailable(format!("cannot open {}: {other}", path.display())),
        })?;
        let txn = db.begin_write().map_err(unavailable)?;
        {
            txn.open_table(ITEMS).map_err(unavailable)?;
            txn.open_table(FEED).map_err(unavailable)?;
            txn.open_table(FEED_CURSORS).map_err(unavailable)?;
            txn.open_table(META).map_err(unavailable)?;
        }
        txn.commit().map_err(unavailable)?;
        Ok(Self { db: Arc::new(db), path, appended: tokio::sync::watch::Sender::new(0) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?
    }

    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&WriteTransaction) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let (result, sequence) = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(unavailable)?;
                // An error drops `txn` uncommitted, which aborts it: nothing is written.
                let result = work(&txn)?;
                let sequence = txn
                    .open_table(META)
                    .map_err(unavailable)?
                    .get(FEED_SEQUENCE)
                    .map_err(unavailable)?
                    .map_or(0, |v| v.value());
                txn.commit().map_err(unavailable)?;
                Ok((result, sequence))
            })
            .await?;
        self.appended.send_if_modified(|announced| {
            let news = sequence > *announced;
            if news {
                *announced = sequence;
            }
            news
        });
        Ok(result)
    }
}

fn read_item(table: &impl ReadableTable<&'static [u8], &'static [u8]>, key: &Key) -> StoreResult<Option<Item>> {
    match table.get(raw_key(&key.pk, &key.sk).as_slice()).map_err(unavailable)? {
        Some(bytes) => decode(key.clone(), bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// Applies checked writes inside an open write transaction, appending change records
/// to the feed in the same transaction.
fn apply(txn: &WriteTransaction, writes: Vec<Write>, single: bool) -> StoreResult<Vec<Option<Item>>> {
    let mut items = txn.open_table(ITEMS).map_err(unavailable)?;
    let mut planned = Vec::with_capacity(writes.len());
    for (index, write) in writes.into_iter().enumerate() {
        let current = read_item(&items, write.key())?;
        if !write.condition().holds(current.as_ref()) {
            return Err(StoreError::ConditionFailed { index: (!single).then_some(index) });
        }
        let after = match write {
            Write::Put { item, .. } => Some(item),
            Write::Update(update) => {
                let item = update.apply(current)?;
                validate::updated_item(&item)?;
                Some(item)
            }
            Write::Delete { key, .. } => {
                items.remove(raw_key(&key.pk, &key.sk).as_slice()).map_err(unavailable)?;
                None
            }
            Write::Check { .. } => None,
        };
        planned.push(after);
    }
    let mut feed_items = Vec::new();
    for item in planned.iter().flatten() {
        items.insert(raw_key(&item.key.pk, &item.key.sk).as_slice(), encode(item)?.as_slice()).map_err(unavailable)?;
        if item.get(FEED_ATTRIBUTE) == Some(&Value::Bool(true)) {
            feed_items.push(item);
        }
    }
    if !feed_items.is_empty() {
        append_to_feed(txn, &feed_items)?;
    }
    Ok(planned)
}

fn append_to_feed(txn: &WriteTransaction, entries: &[&Item]) -> StoreResult<()> {
    let mut meta = txn.open_table(META).map_err(unavailable)?;
    let mut feed = txn.open_table(FEED).map_err(unavailable)?;
    let mut sequence = meta.get(FEED_SEQUENCE).map_err(unavailable)?.map(|v| v.value()).unwrap_or(0);
    let at_ms = now_ms();
    for item in entries {
        sequence += 1;
        let stored =
            StoredFeedEntry { at_ms, pk: item.key.pk.clone(), sk: item.key.sk.clone(), attrs: item.attrs.clone() };
        let bytes = serde_json::to_vec(&stored).map_err(corrupt)?;
        feed.insert(sequence, bytes.as_slice()).map_err(unavailable)?;
    }
    meta.insert(FEED_SEQUENCE, sequence).map_err(unavailable)?;
    // Trim expired entries now and then; the oldest come first, so stop at the first
    // one still within retention.
    if sequence % 256 == 0 {
        let horizon = at_ms.saturating_sub(FEED_RETENTION.as_millis() as u64);
        let mut expired = Vec::new();
        for entry in feed.iter().map_err(unavailable)? {
            let (position, bytes) = entry.map_err(unavailable)?;
            let stored: StoredFeedEntry = serde_json::from_slice(bytes.value()).map_err(corrupt)?;
            if stored.at_ms >= horizon {
                break;
            }
            expired.push(position.value());
        }
        for position in expired {
            feed.remove(position).map_err(unavailable)?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Store for RedbStore {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        validate::key(key)?;
        let key = key.clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            read_item(&table, &key)
        })
        .await
    }

    async fn put(&self, item: Item, condition: Condition) -> StoreResult<()> {
        validate::item(&item)?;
        self.write(move |txn| apply(txn, vec![Write::Put { item, condition }], true).map(drop)).await
    }

    async fn update(&self, update: Update) -> StoreResult<Item> {
        validate::update(&update)?;
        let written = self.write(move |txn| apply(txn, vec![Write::Update(update)], true)).await?;
        written.into_iter().flatten().next().ok_or_else(|| corrupt("update wrote no item"))
    }

    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        validate::key(key)?;
        let key = key.clone();
        self.write(move |txn| apply(txn, vec![Write::Delete { key, condition }], true).map(drop)).await
    }

    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        validate::transaction(&writes)?;
        self.write(move |txn| apply(txn, writes, false).map(drop)).await
    }

    async fn query(&self, query: Query) -> StoreResult<Page> {
        validate::query(&query)?;
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let (mut lower, mut upper) = match &query.range {
                SortKeyRange::All => (Bound::Included(raw_key(&query.pk, "")), prefix_end(raw_key(&query.pk, "")).map_or(Bound::Unbounded, Bound::Excluded)),
                SortKeyRange::Prefix(p) => (
                    Bound::Included(raw_key(&query.pk, p)),
                    prefix_end(raw_key(&query.pk, p)).map_or(Bound::Unbounded, Bound::Excluded),
                ),
                SortKeyRange::Between(a, b) => (Bound::Included(raw_key(&query.pk, a)), Bound::Included(raw_key(&query.pk, b))),
            };
            if let Some(cursor) = &query.cursor {
                let after = raw_key(&query.pk, &cursor.sort_key()?);
                if query.descending {
                    upper = tighter_upper(upper, after);
                } else {
                    lower = tighter_lower(lower, after);
                }
            }
            if !range_is_valid(&lower, &upper) {
                return Ok(Page::default());
            }
            let range = (as_slice(&lower), as_slice(&upper));
            let iter = table.range::<&[u8]>(range).map_err(unavailable)?;
            let mut items = Vec::with_capacity(query.limit.min(64));
            let mut more = false;
            let mut push = |entry: Result<(redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>), redb::StorageError>| -> StoreResult<bool> {
                let (k, v) = entry.map_err(unavailable)?;
                if items.len() == query.limit {
                    more = true;
                    return Ok(false);
                }
                items.push(decode(split_key(k.value())?, v.value())?);
                Ok(true)
            };
            if query.descending {
                for entry in iter.rev() {
                    if !push(entry)? {
                        break;
                    }
                }
            } else {
                for entry in iter {
                    if !push(entry)? {
                        break;
                    }
                }
            }
            let next = if more { items.last().map(|i| Cursor::after(&i.key.sk)) } else { None };
            Ok(Page { items, next })
        })
        .await
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn tighter_lower(current: Bound<Vec<u8>>, after: Vec<u8>) -> Bound<Vec<u8>> {
    match current {
        Bound::Included(v) | Bound::Excluded(v) if v > after => Bound::Included(v),
        _ => Bound::Excluded(after),
    }
}

fn tighter_upper(current: Bound<Vec<u8>>, before: Vec<u8>) -> Bound<Vec<u8>> {
    match current {
        Bound::Included(v) if v < before => Bound::Included(v),
        Bound::Excluded(v) if v <= before => Bound::Excluded(v),
        _ => Bound::Excluded(before),
    }
}

/// redb panics on a range whose start is after its end, so empty ranges are caught first.
fn range_is_valid(lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
    match (lower, upper) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b)) | (Bound::Excluded(a), Bound::Included(b)) => {
            a < b
        }
        _ => true,
    }
}

#[async_trait::async_trait]
impl ChangeFeed for RedbStore {
    fn appended(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.appended.subscribe())
    }

    async fn read(&self, consumer: &str, limit: usize) -> StoreResult<Vec<FeedEntry>> {
        let consumer = consumer.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let cursors = txn.open_table(FEED_CURSORS).map_err(unavailable)?;
            let after = cursors.get(consumer.as_str()).map_err(unavailable)?.map(|v| v.value()).unwrap_or(0);
            let feed = txn.open_table(FEED).map_err(unavailable)?;
            let mut entries = Vec::new();
            for entry in feed.range((Bound::Excluded(after), Bound::Unbounded)).map_err(unavailable)?.take(limit) {
                let (position, bytes) = entry.map_err(unavailable)?;
                let stored: StoredFeedEntry = serde_json::from_slice(bytes.value()).map_err(corrupt)?;
                entries.push(FeedEntry {
                    position: position.value(),
                    item: Item { key: Key::new(stored.pk, stored.sk), attrs: stored.attrs },
                });
            }
            Ok(entries)
        })
        .await
    }

    async fn ack(&self, consumer: &str, position: u64) -> StoreResult<()> {
        let consumer = consumer.to_owned();
        self.write(move |txn| {
            let mut cursors = txn.open_table(FEED_CURSORS).map_err(unavailable)?;
            let current = cursors.get(consumer.as_str()).map_err(unavailable)?.map(|v| v.value()).unwrap_or(0);
            if position > current {
                cursors.insert(consumer.as_str(), position).map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
