use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An attribute value: the subset of DynamoDB's types this system stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    S(String),
    N(i64),
    Bool(bool),
    B(Vec<u8>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::S(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::N(n) => Some(*n),
            _ => None,
        }
    }

    /// The size DynamoDB charges for the value, in bytes.
    pub fn size(&self) -> usize {
        match self {
            Self::S(s) => s.len(),
            // Numbers are stored as up to 21 bytes; the digit count is a close bound.
            Self::N(n) => n.to_string().len().div_ceil(2) + 1,
            Self::Bool(_) => 1,
            Self::B(b) => b.len(),
        }
    }
}

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

/// A stored item: its key and its other attributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub key: Key,
    pub attrs: BTreeMap<String, Value>,
}

impl Item {
    pub fn new(key: Key) -> Self {
        Self { key, attrs: BTreeMap::new() }
    }

    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.attrs.insert(name.to_owned(), value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.attrs.get(name)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    pub fn num(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }

    /// The size DynamoDB counts against its 400 KB item limit: names plus values.
    pub fn size(&self) -> usize {
        let key = "pk".len() + self.key.pk.len() + "sk".len() + self.key.sk.len();
        key + self.attrs.iter().map(|(k, v)| k.len() + v.size()).sum::<usize>()
    }
}

/// What must hold on the currently stored item for a write to apply.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Condition {
    #[default]
    None,
    /// No item with this key exists.
    NotExists,
    /// An item with this key exists.
    Exists,
    /// The item exists and the attribute equals the value (the optimistic-concurrency
    /// guard: `version = N`).
    Equals(String, Value),
}

impl Condition {
    pub fn version(v: u64) -> Self {
        Self::Equals("version".into(), Value::N(i64::try_from(v).unwrap_or(i64::MAX)))
    }

    /// Evaluates the condition against the stored item (`None` when absent). Adapters
    /// that evaluate conditions themselves use this, so the semantics are written once.
    pub fn holds(&self, current: Option<&Item>) -> bool {
        match self {
            Self::None => true,
            Self::NotExists => current.is_none(),
            Self::Exists => current.is_some(),
            Self::Equals(name, value) => current.and_then(|i| i.get(name)) == Some(value),
        }
    }
}

/// A partial change of one item's attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub key: Key,
    /// Attributes to set (overwriting).
    pub set: BTreeMap<String, Value>,
    /// Attributes to remove.
    pub remove: Vec<String>,
    /// Numbers to add to (an absent attribute counts as 0), as DynamoDB's `ADD`.
    pub add: BTreeMap<String, i64>,
    pub condition: Condition,
}

impl Update {
    pub fn new(key: Key) -> Self {
        Self { key, set: BTreeMap::new(), remove: Vec::new(), add: BTreeMap::new(), condition: Condition::None }
    }

    pub fn set(mut self, name: &str, value: Value) -> Self {
        self.set.insert(name.to_owned(), value);
        self
    }

    pub fn add(mut self, name: &str, by: i64) -> Self {
        self.add.insert(name.to_owned(), by);
        self
    }

    pub fn remove(mut self, name: &str) -> Self {
        self.remove.push(name.to_owned());
        self
    }

    pub fn when(mut self, condition: Condition) -> Self {
        self.condition = condition;
        self
    }

    /// Applies the change to the stored item (or a new one), as an adapter that
    /// evaluates updates itself must.
    pub fn apply(&self, current: Option<Item>) -> Result<Item, crate::StoreError> {
        let mut item = current.unwrap_or_else(|| Item::new(self.key.clone()));
        for (name, value) in &self.set {
            item.attrs.insert(name.clone(), value.clone());
        }
        for name in &self.remove {
            item.attrs.remove(name);
        }
        for (name, by) in &self.add {
            let now = match item.attrs.get(name) {
                None => 0,
                Some(Value::N(n)) => *n,
                Some(_) => {
                    return Err(crate::StoreError::Invalid(format!("ADD on non-numeric attribute {name}")));
                }
            };
            let sum = now
                .checked_add(*by)
                .ok_or_else(|| crate::StoreError::Invalid(format!("ADD overflows attribute {name}")))?;
            item.attrs.insert(name.clone(), Value::N(sum));
        }
        Ok(item)
    }
}

/// One write of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    Put {
        item: Item,
        condition: Condition,
    },
    Update(Update),
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing; only requires the condition to hold.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Self::Put { item, .. } => &item.key,
            Self::Update(u) => &u.key,
            Self::Delete { key, .. } | Self::Check { key, .. } => key,
        }
    }

    pub fn condition(&self) -> &Condition {
        match self {
            Self::Put { condition, .. } | Self::Delete { condition, .. } | Self::Check { condition, .. } => condition,
            Self::Update(u) => &u.condition,
        }
    }
}

/// Which sort keys of the partition a query reads.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum SortKeyRange {
    #[default]
    All,
    /// Sort keys starting with the prefix.
    Prefix(String),
    /// Sort keys from `start` to `end`, both inclusive.
    Between(String, String),
}

impl SortKeyRange {
    pub fn contains(&self, sk: &str) -> bool {
        match self {
            Self::All => true,
            Self::Prefix(p) => sk.starts_with(p.as_str()),
            Self::Between(a, b) => a.as_str() <= sk && sk <= b.as_str(),
        }
    }
}

/// An opaque position in a query's results: pass it back to read the next page.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// The cursor after the item with sort key `sk`.
    pub fn after(sk: &str) -> Self {
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk.as_bytes()))
    }

    /// The sort key the cursor points after.
    pub fn sort_key(&self) -> Result<String, crate::StoreError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(self.0.as_bytes())
            .map_err(|_| crate::StoreError::Invalid("malformed page cursor".into()))?;
        String::from_utf8(bytes).map_err(|_| crate::StoreError::Invalid("malformed page cursor".into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Accepts a cursor a client handed back; it is checked when used.
    pub fn from_token(token: impl Into<String>) -> Self {
        Self(token.into())
    }
}

/// A query of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub pk: String,
    pub range: SortKeyRange,
    /// Newest (highest sort key) first when true.
    pub descending: bool,
    /// At most this many items per page (1 to 1,000).
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Self { pk: pk.into(), range: SortKeyRange::All, descending: false, limit: 100, cursor: None }
    }

    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.range = SortKeyRange::Prefix(prefix.into());
        self
    }

    pub fn between(mut self, start: impl Into<String>, end: impl Into<String>) -> Self {
        self.range = SortKeyRange::Between(start.into(), end.into());
        self
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of query results. `next` is present when more items may follow.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Cursor>,
}
