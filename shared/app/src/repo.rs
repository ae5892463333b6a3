//! The single-table design: how every record maps onto items of the storage port.
//! Written once, over the port, for both adapters. The README's table design mirrors
//! this list.
//!
//! | pk              | sk            | what                                        |
//! |-----------------|---------------|---------------------------------------------|
//! | `INC#<id>`      | `A`           | the incident (versioned)                    |
//! | `INC#<id>`      | `U#<ulid>`    | a public update, in posting order           |
//! | `INC#<id>`      | `C#<ulid>`    | a private comment                           |
//! | `INC#<id>`      | `E#<ulid>`    | the timeline entries of one change          |
//! | `INCIDENTS`     | `<id>`        | listing summary, newest last (ULID order)   |
//! | `OPEN`          | `<id>`        | an open incident: summary, impositions      |
//! | `COMPONENTS`    | `<id>`        | a component (versioned)                     |
//! | `GROUPS`        | `<id>`        | a component group (versioned)               |
//! | `TEMPLATES`     | `<id>`        | an incident template (versioned)            |
//! | `MEMBERS`       | `<id>`        | a team member (versioned)                   |
//! | `MEMBER_EMAIL`  | `<email>`     | uniqueness guard of members' addresses      |
//! | `CHANGE#<ulid>` | `CHANGE`      | a change record (`feed`, expires by `ttl`)  |
//! | `AUDIT`         | `<change id>` | audit entry of a change outside incidents   |
//! | `TOKENS`        | `<token id>`  | API token: hash of its secret, member, role |
//! | `IDEMPOTENCY`   | `<scope>#<key>` | a POST's stored response (24 h `ttl`)     |
//!
//! Every record keeps its fields as JSON in `data`; `type`, `version`, `feed` and `ttl`
//! are top-level attributes because conditions, the stream filter and TTL read them.

use crate::error::{AppError, AppResult};
use beacon_domain::{AffectedComponent, Change, ChangeId, Impact, Incident, IncidentId, IncidentStatus, Title};
use beacon_store::{Condition, Cursor, FEED_ATTRIBUTE, Item, Key, Query, Store, StoreError, Value, Write};
use jiff::Timestamp;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub const INCIDENT_SK: &str = "A";
pub const INCIDENTS_PK: &str = "INCIDENTS";
pub const OPEN_PK: &str = "OPEN";
pub const COMPONENTS_PK: &str = "COMPONENTS";
pub const GROUPS_PK: &str = "GROUPS";
pub const TEMPLATES_PK: &str = "TEMPLATES";
pub const MEMBERS_PK: &str = "MEMBERS";
pub const MEMBER_EMAIL_PK: &str = "MEMBER_EMAIL";
pub const CHANGE_SK: &str = "CHANGE";
pub const AUDIT_PK: &str = "AUDIT";
pub const TOKENS_PK: &str = "TOKENS";
pub const IDEMPOTENCY_PK: &str = "IDEMPOTENCY";
pub const UPDATE_PREFIX: &str = "U#";
pub const COMMENT_PREFIX: &str = "C#";
pub const ENTRIES_PREFIX: &str = "E#";
/// Change records expire after a week: long past any consumer's retry window.
pub const CHANGE_TTL_SECONDS: i64 = 7 * 24 * 3600;

pub fn incident_pk(id: IncidentId) -> String {
    format!("INC#{id}")
}

pub fn incident_key(id: IncidentId) -> Key {
    Key::new(incident_pk(id), INCIDENT_SK)
}

/// A record encoded into an item: its JSON in `data`, and its type.
pub fn record<T: Serialize>(key: Key, kind: &str, value: &T) -> AppResult<Item> {
    let data = serde_json::to_string(value)
        .map_err(|e| AppError::Store(StoreError::Corrupt(format!("cannot encode {kind}: {e}"))))?;
    Ok(Item::new(key).with("type", Value::S(kind.to_owned())).with("data", Value::S(data)))
}

/// A versioned record: `version` is also a top-level attribute for conditions.
pub fn versioned<T: Serialize>(key: Key, kind: &str, value: &T, version: u64) -> AppResult<Item> {
    Ok(record(key, kind, value)?.with("version", Value::N(i64::try_from(version).unwrap_or(i64::MAX))))
}

pub fn decode<T: DeserializeOwned>(item: &Item) -> AppResult<T> {
    let data = item
        .str("data")
        .ok_or_else(|| StoreError::Corrupt(format!("item {}/{} has no data", item.key.pk, item.key.sk)))?;
    serde_json::from_str(data)
        .map_err(|e| AppError::Store(StoreError::Corrupt(format!("item {}/{}: {e}", item.key.pk, item.key.sk))))
}

/// The listing entry of an incident (and the summary kept in its open marker).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: IncidentId,
    pub title: Title,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub version: u64,
    /// `false` while internal: the page, page status and components leave it out.
    #[serde(default = "published_by_default")]
    pub published: bool,
}

fn published_by_default() -> bool {
    true
}

impl From<&Incident> for IncidentSummary {
    fn from(i: &Incident) -> Self {
        Self {
            id: i.id,
            title: i.title.clone(),
            status: i.status,
            impact: i.impact,
            created_at: i.created_at,
            updated_at: i.updated_at,
            resolved_at: i.resolved_at,
            version: i.version,
            published: i.published,
        }
    }
}

/// What an open incident imposes, kept beside its summary in the `OPEN` partition so
/// one query yields everything needed to derive component and page status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenMarker {
    pub summary: IncidentSummary,
    pub components: Vec<AffectedComponent>,
}

/// The writes that store an incident's new state: the incident (guarded by its previous
/// version, or by absence when new), its listing summary and its open marker.
pub fn incident_writes(incident: &Incident, previous_version: Option<u64>) -> AppResult<Vec<Write>> {
    let condition = match previous_version {
        Some(v) => Condition::version(v),
        None => Condition::NotExists,
    };
    let summary = IncidentSummary::from(incident);
    let mut writes = vec![
        Write::Put { item: versioned(incident_key(incident.id), "incident", incident, incident.version)?, condition },
        Write::Put {
            item: record(Key::new(INCIDENTS_PK, incident.id.to_string()), "incident_summary", &summary)?,
            condition: Condition::None,
        },
    ];
    let open_key = Key::new(OPEN_PK, incident.id.to_string());
    if incident.status.is_open() {
        let marker = OpenMarker { summary, components: incident.components.clone() };
        writes.push(Write::Put { item: record(open_key, "open_incident", &marker)?, condition: Condition::None });
    } else if previous_version.is_some() {
        writes.push(Write::Delete { key: open_key, condition: Condition::None });
    }
    Ok(writes)
}

/// A batch of timeline entries, one item keyed by the first entry's id.
pub fn entries_write(incident: IncidentId, entries: &[beacon_domain::TimelineEntry]) -> AppResult<Write> {
    let first = entries.first().map(|e| e.id.to_string()).unwrap_or_default();
    let key = Key::new(incident_pk(incident), format!("{ENTRIES_PREFIX}{first}"));
    Ok(Write::Put { item: record(key, "timeline", &entries)?, condition: Condition::NotExists })
}

/// The change record, written in the same transaction as the change it describes.
pub fn change_write(change: &Change) -> AppResult<Write> {
    let expires = change.at.as_second() + CHANGE_TTL_SECONDS;
    let item = record(Key::new(change_pk(change.id), CHANGE_SK), "change", change)?
        .with(FEED_ATTRIBUTE, Value::Bool(true))
        .with("ttl", Value::N(expires));
    Ok(Write::Put { item, condition: Condition::NotExists })
}

/// The audit entry of a change outside incidents (those are audited in the incident's
/// own timeline). Kept without expiry, newest last, in the `AUDIT` partition.
pub fn audit_write(change: &Change) -> AppResult<Write> {
    let item = record(Key::new(AUDIT_PK, change.id.to_string()), "audit", change)?;
    Ok(Write::Put { item, condition: Condition::NotExists })
}

pub fn change_pk(id: ChangeId) -> String {
    format!("CHANGE#{id}")
}

/// Decodes a change record from a feed or stream item; `None` for any other item.
pub fn change_from_item(item: &Item) -> AppResult<Option<Change>> {
    if item.str("type") != Some("change") {
        return Ok(None);
    }
    decode(item).map(Some)
}

/// Reads every item of a partition (or prefix of it), following cursors.
pub async fn query_all(store: &dyn Store, mut query: Query) -> AppResult<Vec<Item>> {
    let mut items = Vec::new();
    query.limit = 1000;
    loop {
        let page = store.query(query.clone()).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return Ok(items),
        }
    }
}

/// A page of records plus the cursor of the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}
