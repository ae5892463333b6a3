//! DynamoDB's limits, checked once for every adapter.

use crate::{Item, Key, Query, StoreError, Update, Write};
use std::collections::HashSet;

pub const MAX_TRANSACTION_WRITES: usize = 100;
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;
pub const MAX_QUERY_LIMIT: usize = 1000;
/// Attribute names the port reserves for the key.
pub const KEY_ATTRIBUTES: [&str; 2] = ["pk", "sk"];

pub fn key(key: &Key) -> Result<(), StoreError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Invalid("partition and sort keys must not be empty".into()));
    }
    // NUL separates partition and sort key in the embedded store's byte keys.
    if key.pk.contains('\0') || key.sk.contains('\0') {
        return Err(StoreError::Invalid("keys must not contain NUL characters".into()));
    }
    if key.pk.len() > MAX_PARTITION_KEY_BYTES {
        return Err(StoreError::Invalid(format!("partition key over {MAX_PARTITION_KEY_BYTES} bytes")));
    }
    if key.sk.len() > MAX_SORT_KEY_BYTES {
        return Err(StoreError::Invalid(format!("sort key over {MAX_SORT_KEY_BYTES} bytes")));
    }
    Ok(())
}

fn attribute_names<'a>(mut names: impl Iterator<Item = &'a String>) -> Result<(), StoreError> {
    if let Some(name) = names.find(|n| n.is_empty() || KEY_ATTRIBUTES.contains(&n.as_str())) {
        return Err(StoreError::Invalid(format!("attribute name {name:?} is reserved or empty")));
    }
    Ok(())
}

pub fn item(item: &Item) -> Result<(), StoreError> {
    key(&item.key)?;
    attribute_names(item.attrs.keys())?;
    if item.size() > MAX_ITEM_BYTES {
        return Err(StoreError::Invalid(format!("item {} bytes, over the {MAX_ITEM_BYTES}-byte limit", item.size())));
    }
    Ok(())
}

pub fn update(update: &Update) -> Result<(), StoreError> {
    key(&update.key)?;
    attribute_names(update.set.keys().chain(update.remove.iter()).chain(update.add.keys()))?;
    let mut seen = HashSet::new();
    let names = update.set.keys().chain(update.remove.iter()).chain(update.add.keys());
    for name in names {
        if !seen.insert(name) {
            return Err(StoreError::Invalid(format!("attribute {name} changed twice in one update")));
        }
    }
    if update.set.is_empty() && update.remove.is_empty() && update.add.is_empty() {
        return Err(StoreError::Invalid("an update must change something".into()));
    }
    Ok(())
}

/// Checks the result of an update against the item size limit.
pub fn updated_item(item: &Item) -> Result<(), StoreError> {
    if item.size() > MAX_ITEM_BYTES {
        return Err(StoreError::Invalid(format!("item {} bytes, over the {MAX_ITEM_BYTES}-byte limit", item.size())));
    }
    Ok(())
}

pub fn transaction(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Err(StoreError::Invalid("a transaction needs at least one write".into()));
    }
    if writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Invalid(format!(
            "{} writes in one transaction; at most {MAX_TRANSACTION_WRITES}",
            writes.len()
        )));
    }
    let mut keys = HashSet::new();
    for write in writes {
        if !keys.insert(write.key()) {
            return Err(StoreError::Invalid(format!(
                "two writes on {}/{} in one transaction",
                write.key().pk,
                write.key().sk
            )));
        }
        match write {
            Write::Put { item: i, .. } => item(i)?,
            Write::Update(u) => update(u)?,
            Write::Delete { key: k, .. } | Write::Check { key: k, .. } => key(k)?,
        }
    }
    Ok(())
}

pub fn query(query: &Query) -> Result<(), StoreError> {
    if query.pk.is_empty() {
        return Err(StoreError::Invalid("partition key must not be empty".into()));
    }
    if query.limit == 0 || query.limit > MAX_QUERY_LIMIT {
        return Err(StoreError::Invalid(format!("query limit must be 1 to {MAX_QUERY_LIMIT}")));
    }
    if let Some(cursor) = &query.cursor {
        cursor.sort_key()?;
    }
    Ok(())
}
