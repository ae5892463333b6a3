//! Monitors: their settings, the rounds of checks their regions report, and the
//! incidents they open and resolve on their own.
//!
//! | pk            | sk                      | item                                        |
//! |---------------|-------------------------|---------------------------------------------|
//! | `MONITORS`    | `<id>`                  | a monitor with its state (versioned)        |
//! | `HEARTBEATS`  | `<sha256 of secret>`    | which monitor a heartbeat URL belongs to    |
//! | `MON#<id>`    | `PING`                  | the heartbeat's last call, its secret's hash |
//! | `MON#<id>`    | `R#<region>#<round>`    | one region's result of one round (`ttl`)    |
//! | `MON#<id>`    | `D#<yyyy-mm-dd>`        | the day's aggregate, kept a year (`ttl`)    |
//!
//! A round is closed by whichever region completes it (or, once the next round is due,
//! by whichever region comes next): the monitor's state, the day's aggregate and any
//! incident it opens, changes or resolves are one transaction guarded by the monitor's
//! version, so regions racing to close a round open one incident, never two.

use crate::error::{AppError, AppResult};
use crate::repo::{self, Listing};
use crate::service::{MAX_ATTEMPTS, Service, component_key, version_conflict};
use base64::Engine as _;
use beacon_domain::{
    Actor, ChangeKind, CheckOutcome, ComponentEdit, ComponentStatus, DEFAULT_INCIDENT_MESSAGE, DEFAULT_INCIDENT_TITLE,
    EventId, EventKind, FieldError, Finding, Incident, IncidentSource, IncidentStatus, Markdown, Monitor, MonitorId,
    MonitorKind, MonitorState, MonitoredComponent, Name, NewIncident, NewUpdate, RegionResult, Step, Thresholds,
    TimelineEntry, Title, round_verdict, validate_monitor,
};
use beacon_store::{Condition, Cursor, Item, Key, Query, Update, Value, Write};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MONITORS_PK: &str = "MONITORS";
pub const HEARTBEATS_PK: &str = "HEARTBEATS";
const PING_SK: &str = "PING";
/// Raw results are kept two weeks; the daily aggregates a year (and a month).
pub const RESULT_RETENTION_SECONDS: i64 = 14 * 24 * 3600;
pub const AGGREGATE_RETENTION_SECONDS: i64 = 400 * 24 * 3600;
/// Upper bounds (ms) of the latency histogram the daily aggregate keeps; the last
/// bucket takes everything slower.
pub const LATENCY_BUCKETS_MS: [u64; 14] = [25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000];

pub fn monitor_pk(id: MonitorId) -> String {
    format!("MON#{id}")
}

fn monitor_key(id: MonitorId) -> Key {
    Key::new(MONITORS_PK, id.to_string())
}

fn ping_key(id: MonitorId) -> Key {
    Key::new(monitor_pk(id), PING_SK)
}

/// Rounds sort by their start in seconds, zero-padded.
fn result_key(id: MonitorId, region: &str, round_at: Timestamp) -> Key {
    Key::new(monitor_pk(id), format!("R#{region}#{:012}", round_at.as_second()))
}

/// A result as stored, expiring after the retention period.
fn result_item(id: MonitorId, round_at: Timestamp, result: &RegionResult) -> AppResult<Item> {
    let expires = result.at.as_second() + RESULT_RETENTION_SECONDS;
    Ok(repo::record(result_key(id, &result.region, round_at), "monitor_result", result)?.with("ttl", Value::N(expires)))
}

fn day_of(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d").to_string()
}

fn day_key(id: MonitorId, day: &str) -> Key {
    Key::new(monitor_pk(id), format!("D#{day}"))
}

pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A monitor's settings, as created; unset fields take their defaults.
#[derive(Clone, Debug)]
pub struct MonitorSettings {
    pub name: String,
    pub check: MonitorKind,
    /// 60 seconds by default.
    pub interval_seconds: Option<u32>,
    /// Every region probes run in, by default.
    pub regions: Option<Vec<String>>,
    pub thresholds: Option<Thresholds>,
    pub components: Vec<MonitoredComponent>,
    pub incident_title: Option<String>,
    pub incident_message: Option<String>,
    /// `false`: its incidents are opened internally, for a responder to publish.
    pub publish: bool,
    pub paused: bool,
}

/// Changes to a monitor's settings; unset fields stay.
#[derive(Clone, Debug, Default)]
pub struct MonitorPatch {
    pub name: Option<String>,
    pub check: Option<MonitorKind>,
    pub interval_seconds: Option<u32>,
    pub regions: Option<Vec<String>>,
    pub thresholds: Option<Thresholds>,
    pub components: Option<Vec<MonitoredComponent>>,
    pub incident_title: Option<String>,
    pub incident_message: Option<String>,
    pub publish: Option<bool>,
}

/// A new monitor, with its heartbeat secret when it is a heartbeat monitor (shown once).
#[derive(Clone, Debug)]
pub struct CreatedMonitor {
    pub monitor: Monitor,
    pub heartbeat_secret: Option<String>,
}

/// A monitor due in a region, with its heartbeat's last call when it has one.
#[derive(Clone, Debug)]
pub struct DueCheck {
    pub monitor: Monitor,
    pub last_ping: Option<Timestamp>,
}

/// What recording a region's result came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Stored; the round waits for other regions.
    Waiting,
    /// This region had already reported the round; the result was dropped.
    Duplicate,
    /// The round closed with this outcome and step.
    Closed { outcome: CheckOutcome, step: Step },
    /// The round was closed by another region (or the monitor changed) meanwhile.
    Superseded,
}

/// A day of a monitor's checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyStats {
    pub day: String,
    pub checks: u64,
    pub failures: u64,
    /// Seconds the rounds' verdict was down, and degraded.
    pub down_seconds: u64,
    pub degraded_seconds: u64,
    /// Seconds of rounds judged (any outcome): the denominator of uptime.
    pub observed_seconds: u64,
    /// Seconds of rounds muted by a maintenance: left out of uptime.
    #[serde(default)]
    pub maintenance_seconds: u64,
    /// To the histogram's bucket precision.
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

/// The quantile of a latency histogram, as the upper bound of the bucket it falls in
/// (the slowest bucket reports its lower bound).
fn quantile(counts: &[u64], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(
                LATENCY_BUCKETS_MS.get(i).copied().unwrap_or(LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.len() - 1]),
            );
        }
    }
    None
}

fn bucket_of(latency_ms: u64) -> usize {
    LATENCY_BUCKETS_MS.iter().position(|b| latency_ms <= *b).unwrap_or(LATENCY_BUCKETS_MS.len())
}

impl DailyStats {
    fn from_item(item: &Item) -> Self {
        let n = |name: &str| u64::try_from(item.num(name).unwrap_or(0)).unwrap_or(0);
        let counts: Vec<u64> = (0..=LATENCY_BUCKETS_MS.len()).map(|i| n(&format!("l{i}"))).collect();
        Self {
            day: item.key.sk.trim_start_matches("D#").to_owned(),
            checks: n("checks"),
            failures: n("failures"),
            down_seconds: n("down_seconds"),
            degraded_seconds: n("degraded_seconds"),
            observed_seconds: n("observed_seconds"),
            maintenance_seconds: n("maintenance_seconds"),
            p50_ms: quantile(&counts, 0.50),
            p95_ms: quantile(&counts, 0.95),
        }
    }
}

/// What the page needs of a monitor: read without the rest of its settings, which keeps
/// the publisher (a Lambda function whose size counts) free of their decoding.
#[derive(Deserialize)]
struct PageMonitor {
    id: MonitorId,
    components: Vec<MonitoredComponent>,
    #[serde(default = "published_by_default")]
    publish: bool,
}

fn published_by_default() -> bool {
    true
}

fn collect<T>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

impl Service {
    /// Every monitor, by name.
    pub async fn monitors(&self) -> AppResult<Vec<Monitor>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(MONITORS_PK)).await?;
        let mut monitors: Vec<Monitor> = items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        monitors.sort_by(|a, b| (a.name.as_str(), a.id).cmp(&(b.name.as_str(), b.id)));
        Ok(monitors)
    }

    pub async fn monitor(&self, id: MonitorId) -> AppResult<Monitor> {
        let item = self.store.get(&monitor_key(id)).await?.ok_or_else(|| AppError::not_found("monitor", id))?;
        repo::decode(&item)
    }

    /// Checks settings against the regions probes run in and the components that exist.
    async fn check_settings(&self, monitor: &Monitor, known_regions: &[String]) -> AppResult<()> {
        let mut errors = validate_monitor(
            &monitor.check,
            monitor.interval_seconds,
            &monitor.regions,
            known_regions,
            monitor.thresholds,
            &monitor.components,
        )
        .err()
        .unwrap_or_default();
        for (field, template) in
            [("incident_title", &monitor.incident_title), ("incident_message", &monitor.incident_message)]
        {
            // Filled with the longest state, so no round can make it too long.
            let filled = monitor.fill(template, CheckOutcome::Degraded);
            let valid = if field == "incident_title" {
                Title::parse(&filled).map(|_| ())
            } else {
                Markdown::parse_field(&filled, field).map(|_| ())
            };
            if let Err(e) = valid {
                errors.push(FieldError::new(field, e.message));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &monitor.components {
            if !seen.insert(c.id) {
                errors.push(FieldError::new("components", format!("component {} is listed twice", c.id)));
            } else if self.store.get(&component_key(c.id)).await?.is_none() {
                errors.push(FieldError::new("components", format!("component {} does not exist", c.id)));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.into()) }
    }

    /// Creates a monitor; its first round is due at once.
    #[tracing::instrument(skip(self, input, known_regions))]
    pub async fn create_monitor(
        &self,
        actor: Actor,
        input: MonitorSettings,
        known_regions: &[String],
    ) -> AppResult<CreatedMonitor> {
        let mut errors = Vec::new();
        let name = collect(&mut errors, Name::parse(&input.name));
        let Some(name) = name else {
            return Err(errors.into());
        };
        let at = self.now();
        let monitor = Monitor {
            id: MonitorId::new(self.new_id(at)),
            name,
            check: input.check,
            interval_seconds: input.interval_seconds.unwrap_or(60),
            regions: input.regions.unwrap_or_else(|| known_regions.to_vec()),
            thresholds: input.thresholds.unwrap_or_default(),
            components: input.components,
            incident_title: input.incident_title.unwrap_or_else(|| DEFAULT_INCIDENT_TITLE.to_owned()),
            incident_message: input.incident_message.unwrap_or_else(|| DEFAULT_INCIDENT_MESSAGE.to_owned()),
            publish: input.publish,
            paused: input.paused,
            state: MonitorState::default(),
            incident_id: None,
            round_at: at,
            last_outcome: None,
            last_round_at: None,
            last_dissenting: Vec::new(),
            last_round_muted: false,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        self.check_settings(&monitor, known_regions).await?;
        let mut writes = vec![Write::Put {
            item: repo::versioned(monitor_key(monitor.id), "monitor", &monitor, 1)?,
            condition: Condition::NotExists,
        }];
        let heartbeat_secret = self.heartbeat_writes(&monitor, None, &mut writes)?;
        for c in &monitor.components {
            writes.push(Write::Check { key: component_key(c.id), condition: Condition::Exists });
        }
        self.record_change(&mut writes, at, &actor, ChangeKind::MonitorChanged { monitor_id: monitor.id })?;
        if !self.commit(writes).await? {
            return Err(AppError::invalid("components", "a component was deleted meanwhile"));
        }
        tracing::info!(monitor = %monitor.id, "monitor created");
        Ok(CreatedMonitor { monitor, heartbeat_secret })
    }

    /// A heartbeat monitor gets a fresh secret (its URL), stored hashed; `old_hash` is
    /// the one it replaces.
    fn heartbeat_writes(
        &self,
        monitor: &Monitor,
        old_hash: Option<&str>,
        writes: &mut Vec<Write>,
    ) -> AppResult<Option<String>> {
        if !matches!(monitor.check, MonitorKind::Heartbeat { .. }) {
            return Ok(None);
        }
        let random: [u8; 32] = rand::random();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        let hash = hash_secret(&secret);
        if let Some(old) = old_hash {
            writes.push(Write::Delete { key: Key::new(HEARTBEATS_PK, old), condition: Condition::None });
        }
        writes.push(Write::Put {
            item: Item::new(Key::new(HEARTBEATS_PK, &hash))
                .with("type", Value::S("heartbeat".into()))
                .with("monitor", Value::S(monitor.id.to_string())),
            condition: Condition::NotExists,
        });
        writes.push(Write::Put {
            item: Item::new(ping_key(monitor.id))
                .with("type", Value::S("ping".into()))
                .with("hash", Value::S(hash))
                .with("at", Value::N(self.now().as_millisecond())),
            condition: Condition::None,
        });
        Ok(Some(secret))
    }

    /// Changes settings, guarded by `expected_version` when given. A heartbeat monitor
    /// keeps its secret unless `rotate_secret` (or it just became one).
    #[tracing::instrument(skip(self, patch, known_regions))]
    pub async fn update_monitor(
        &self,
        actor: Actor,
        id: MonitorId,
        expected_version: Option<u64>,
        patch: MonitorPatch,
        known_regions: &[String],
        rotate_secret: bool,
    ) -> AppResult<CreatedMonitor> {
        let name = patch.name.as_deref().map(Name::parse).transpose()?;
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.monitor(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("monitor", expected, current.version));
            }
            let at = self.now();
            let mut next = current.clone();
            if let Some(name) = name.clone() {
                next.name = name;
            }
            if let Some(kind) = patch.check.clone() {
                next.check = kind;
            }
            next.interval_seconds = patch.interval_seconds.unwrap_or(next.interval_seconds);
            if let Some(regions) = patch.regions.clone() {
                next.regions = regions;
            }
            next.thresholds = patch.thresholds.unwrap_or(next.thresholds);
            if let Some(components) = patch.components.clone() {
                next.components = components;
            }
            if let Some(title) = patch.incident_title.clone() {
                next.incident_title = title;
            }
            if let Some(message) = patch.incident_message.clone() {
                next.incident_message = message;
            }
            next.publish = patch.publish.unwrap_or(next.publish);
            self.check_settings(&next, known_regions).await?;
            next.updated_at = at;
            next.version = current.version + 1;
            let mut writes = vec![Write::Put {
                item: repo::versioned(monitor_key(id), "monitor", &next, next.version)?,
                condition: Condition::version(current.version),
            }];
            let was_heartbeat = matches!(current.check, MonitorKind::Heartbeat { .. });
            let is_heartbeat = matches!(next.check, MonitorKind::Heartbeat { .. });
            let old_hash = self.ping(id).await?.and_then(|item| item.str("hash").map(str::to_owned));
            let heartbeat_secret = if is_heartbeat && (rotate_secret || !was_heartbeat) {
                self.heartbeat_writes(&next, old_hash.as_deref(), &mut writes)?
            } else {
                if !is_heartbeat && let Some(old) = &old_hash {
                    writes.push(Write::Delete { key: Key::new(HEARTBEATS_PK, old), condition: Condition::None });
                    writes.push(Write::Delete { key: ping_key(id), condition: Condition::None });
                }
                None
            };
            for c in &next.components {
                writes.push(Write::Check { key: component_key(c.id), condition: Condition::Exists });
            }
            self.record_change(&mut writes, at, &actor, ChangeKind::MonitorChanged { monitor_id: id })?;
            if self.commit(writes).await? {
                return Ok(CreatedMonitor { monitor: next, heartbeat_secret });
            }
            if expected_version.is_some() {
                let now = self.monitor(id).await?;
                return Err(version_conflict("monitor", now.version, now.version.max(current.version + 1)));
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("monitor"))
    }

    /// Pauses or resumes a monitor. A resumed monitor's next round is due at once and
    /// its failure counts start afresh (an open incident stays linked).
    pub async fn set_monitor_paused(&self, actor: Actor, id: MonitorId, paused: bool) -> AppResult<Monitor> {
        self.mutate_monitor(&actor, id, |monitor, at| {
            if monitor.paused == paused {
                return false;
            }
            monitor.paused = paused;
            if !paused {
                monitor.round_at = at;
                monitor.state = MonitorState { confirmed: monitor.state.confirmed, ..MonitorState::default() };
            }
            true
        })
        .await
    }

    /// Makes the monitor's next round due now: every region checks at its next tick.
    pub async fn check_monitor_now(&self, actor: Actor, id: MonitorId) -> AppResult<Monitor> {
        let monitor = self.monitor(id).await?;
        if monitor.paused {
            return Err(AppError::invalid("paused", "the monitor is paused: resume it to check"));
        }
        self.mutate_monitor(&actor, id, |monitor, at| {
            if monitor.round_at <= at {
                return false;
            }
            monitor.round_at = at;
            true
        })
        .await
    }

    async fn mutate_monitor(
        &self,
        actor: &Actor,
        id: MonitorId,
        op: impl Fn(&mut Monitor, Timestamp) -> bool,
    ) -> AppResult<Monitor> {
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.monitor(id).await?;
            let at = self.now();
            let mut next = current.clone();
            if !op(&mut next, at) {
                return Ok(current);
            }
            next.updated_at = at;
            next.version = current.version + 1;
            let mut writes = vec![Write::Put {
                item: repo::versioned(monitor_key(id), "monitor", &next, next.version)?,
                condition: Condition::version(current.version),
            }];
            self.record_change(&mut writes, at, actor, ChangeKind::MonitorChanged { monitor_id: id })?;
            if self.commit(writes).await? {
                return Ok(next);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("monitor"))
    }

    /// Deletes a monitor and its heartbeat URL. Its incident, if open, stays open (now
    /// run by hand); its results and aggregates expire on their own.
    pub async fn delete_monitor(&self, actor: Actor, id: MonitorId) -> AppResult<()> {
        let current = self.monitor(id).await?;
        let at = self.now();
        let mut writes = vec![Write::Delete { key: monitor_key(id), condition: Condition::version(current.version) }];
        if let Some(hash) = self.ping(id).await?.and_then(|item| item.str("hash").map(str::to_owned)) {
            writes.push(Write::Delete { key: Key::new(HEARTBEATS_PK, hash), condition: Condition::None });
            writes.push(Write::Delete { key: ping_key(id), condition: Condition::None });
        }
        self.record_change(&mut writes, at, &actor, ChangeKind::MonitorDeleted { monitor_id: id })?;
        if !self.commit(writes).await? {
            return Err(Self::too_busy("monitor"));
        }
        Ok(())
    }

    async fn ping(&self, id: MonitorId) -> AppResult<Option<Item>> {
        Ok(self.store.get(&ping_key(id)).await?)
    }

    /// A heartbeat call: records the time against the monitor whose secret this is.
    /// An unknown secret is not found (and says nothing about which secrets exist).
    pub async fn record_heartbeat(&self, secret: &str) -> AppResult<MonitorId> {
        let unknown = || AppError::not_found("heartbeat", "this URL");
        if secret.is_empty() || secret.len() > 128 {
            return Err(unknown());
        }
        let item = self.store.get(&Key::new(HEARTBEATS_PK, hash_secret(secret))).await?.ok_or_else(unknown)?;
        let id: MonitorId = item.str("monitor").and_then(|s| s.parse().ok()).ok_or_else(unknown)?;
        let at = self.now();
        let update = Update::new(ping_key(id)).set("at", Value::N(at.as_millisecond())).when(Condition::Exists);
        match self.store.update(update).await {
            Ok(_) => Ok(id),
            Err(beacon_store::StoreError::ConditionFailed { .. }) => Err(unknown()),
            Err(e) => Err(e.into()),
        }
    }

    /// The monitors due in `region` at `now` (not paused, their round started).
    pub async fn due_checks(&self, region: &str, now: Timestamp) -> AppResult<Vec<DueCheck>> {
        let mut due = Vec::new();
        for monitor in self.region_monitors(region).await? {
            if monitor.round_at > now {
                continue;
            }
            let last_ping = match monitor.check {
                MonitorKind::Heartbeat { .. } => self
                    .ping(monitor.id)
                    .await?
                    .and_then(|item| item.num("at"))
                    .and_then(|ms| Timestamp::from_millisecond(ms).ok()),
                _ => None,
            };
            due.push(DueCheck { monitor, last_ping });
        }
        Ok(due)
    }

    /// The active (not paused) monitors that run in `region`.
    pub async fn region_monitors(&self, region: &str) -> AppResult<Vec<Monitor>> {
        let mut monitors = self.monitors().await?;
        monitors.retain(|m| !m.paused && m.regions.iter().any(|r| r == region));
        Ok(monitors)
    }

    /// Records a region's result of the round `monitor` (as read when its check was due)
    /// stands in, closing the round in the same transaction when this result completes
    /// it, as it always does for a monitor of one region: one write where
    /// [`Self::record_result`] takes two. Falls back to that when the monitor changed
    /// meanwhile, or the region already reported.
    pub async fn record_checked(&self, monitor: &Monitor, result: RegionResult) -> AppResult<Recorded> {
        let now = self.now();
        let round_at = monitor.round_at;
        let mut results = Vec::with_capacity(monitor.regions.len());
        for region in monitor.regions.iter().filter(|r| **r != result.region) {
            if let Some(item) = self.store.get(&result_key(monitor.id, region, round_at)).await? {
                results.push(repo::decode::<RegionResult>(&item)?);
            }
        }
        if results.len() + 1 >= monitor.regions.len() || monitor.round_over(now) {
            results.push(result.clone());
            let (mut writes, outcome, step) = self.round_writes(monitor, &results, now).await?;
            writes.push(Write::Put {
                item: result_item(monitor.id, round_at, &result)?,
                condition: Condition::NotExists,
            });
            if self.commit(writes).await? {
                return Ok(Recorded::Closed { outcome: outcome.unwrap_or(CheckOutcome::Up), step });
            }
        }
        self.record_result(monitor.id, round_at, result).await
    }

    /// Stores one region's result of the monitor's current round (`round_at`), then
    /// closes the round if every region has reported or the next one is due.
    #[tracing::instrument(skip(self, result), fields(region = %result.region, outcome = ?result.outcome))]
    pub async fn record_result(&self, id: MonitorId, round_at: Timestamp, result: RegionResult) -> AppResult<Recorded> {
        let stored = match self.store.put(result_item(id, round_at, &result)?, Condition::NotExists).await {
            Ok(()) => true,
            Err(beacon_store::StoreError::ConditionFailed { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        let closed = self.close_round(id, round_at).await?;
        Ok(match closed {
            Some(r) => r,
            None if stored => Recorded::Waiting,
            None => Recorded::Duplicate,
        })
    }

    /// Closes the round at `round_at` when it is complete or overdue: `None` while it
    /// still waits for regions.
    pub async fn close_round(&self, id: MonitorId, round_at: Timestamp) -> AppResult<Option<Recorded>> {
        for attempt in 0..MAX_ATTEMPTS {
            let monitor = match self.monitor(id).await {
                Ok(m) => m,
                Err(AppError::NotFound { .. }) => return Ok(Some(Recorded::Superseded)),
                Err(e) => return Err(e),
            };
            if monitor.round_at != round_at {
                return Ok(Some(Recorded::Superseded));
            }
            let now = self.now();
            let mut results = Vec::new();
            for region in &monitor.regions {
                if let Some(item) = self.store.get(&result_key(id, region, round_at)).await? {
                    results.push(repo::decode::<RegionResult>(&item)?);
                }
            }
            if results.len() < monitor.regions.len() && !monitor.round_over(now) {
                return Ok(None);
            }
            let (writes, outcome, step) = self.round_writes(&monitor, &results, now).await?;
            if self.commit(writes).await? {
                if let Some(outcome) = outcome {
                    tracing::info!(monitor = %id, ?outcome, ?step, "round closed");
                }
                return Ok(Some(Recorded::Closed { outcome: outcome.unwrap_or(CheckOutcome::Up), step }));
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("monitor"))
    }

    /// Everything closing a round writes: the monitor's next state and round, the day's
    /// aggregate, and the incident it opens, changes, resolves or adds evidence to.
    async fn round_writes(
        &self,
        monitor: &Monitor,
        results: &[RegionResult],
        now: Timestamp,
    ) -> AppResult<(Vec<Write>, Option<CheckOutcome>, Step)> {
        let mut next = monitor.clone();
        next.round_at = monitor.following_round(now);
        next.version = monitor.version + 1;
        let mut writes = Vec::new();
        let Some(verdict) = round_verdict(&results.iter().map(|r| (r.region.clone(), r.outcome)).collect::<Vec<_>>())
        else {
            // No region answered in time: the round is skipped, judged neither way.
            writes.push(Write::Put {
                item: repo::versioned(monitor_key(monitor.id), "monitor", &next, next.version)?,
                condition: Condition::version(monitor.version),
            });
            return Ok((writes, None, Step::Stay));
        };
        // The incident it opened, if still open: one resolved by a person lets go of it.
        let linked = match monitor.incident_id {
            Some(id) => match self.load_incident(id).await {
                Ok(incident) if incident.status.is_open() => Some(incident),
                Ok(_) | Err(AppError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        // During a maintenance of one of its components the monitor is muted: the round
        // is recorded as maintenance, moves no state, opens nothing and counts neither
        // way in uptime.
        if !monitor.components.is_empty() {
            let under = self.components_under_maintenance().await?;
            if monitor.components.iter().any(|c| under.contains(&c.id)) {
                next.last_outcome = Some(verdict.outcome);
                next.last_round_at = Some(now);
                next.last_dissenting = verdict.dissenting.clone();
                next.last_round_muted = true;
                writes.push(Write::Put {
                    item: repo::versioned(monitor_key(monitor.id), "monitor", &next, next.version)?,
                    condition: Condition::version(monitor.version),
                });
                let seconds = i64::from(monitor.interval_seconds);
                writes.push(Write::Update(
                    Update::new(day_key(monitor.id, &day_of(now)))
                        .set("type", Value::S("monitor_day".into()))
                        .set("ttl", Value::N(now.as_second() + AGGREGATE_RETENTION_SECONDS))
                        .add("checks", results.len() as i64)
                        .add("maintenance_seconds", seconds),
                ));
                return Ok((writes, Some(verdict.outcome), Step::Stay));
            }
        }
        next.last_round_muted = false;
        let mut state = monitor.state;
        if linked.is_none() {
            state.confirmed = None;
            state.passing_rounds = 0;
            next.incident_id = None;
        }
        let (state, mut step) = state.advance(verdict.outcome, monitor.thresholds);
        // A taken-over incident handed back (auto-resolve on again) after the monitor
        // already recovered: nothing would resolve it, so the next passing round does.
        if step == Step::Stay
            && verdict.outcome == CheckOutcome::Up
            && monitor.state.confirmed.is_none()
            && linked.as_ref().is_some_and(|i| i.auto_resolve)
        {
            step = Step::Resolve;
        }
        next.state = state;
        next.last_outcome = Some(verdict.outcome);
        next.last_round_at = Some(now);
        next.last_dissenting = verdict.dissenting.clone();
        let actor = Actor::Monitor { id: monitor.id.to_string() };
        let evidence = |finding: Finding, outcome: CheckOutcome| EventKind::MonitorEvidence {
            monitor_id: monitor.id,
            finding,
            outcome,
            results: results.to_vec(),
            dissenting: verdict.dissenting.clone(),
            thresholds: monitor.thresholds,
        };
        // What the round found, for the team's alert rules (a change record of its own).
        let found: Option<(Finding, CheckOutcome, Option<beacon_domain::IncidentId>)> = match (step, &linked) {
            (Step::Open(level), None) => {
                let new = NewIncident {
                    title: Title::parse(&monitor.fill(&monitor.incident_title, level))?,
                    status: IncidentStatus::Investigating,
                    impact: Monitor::impact(level),
                    message: Markdown::parse(&monitor.fill(&monitor.incident_message, level))?,
                    components: self.existing(monitor.imposed(level)).await?,
                    source: IncidentSource::Monitor,
                    template_id: None,
                    monitor_id: Some(monitor.id),
                    integration_id: None,
                    published: monitor.publish,
                };
                let (at, outcome) = self.stamped(&actor, |stamp| Incident::report(new, stamp));
                let mut outcome = outcome?;
                self.push_entry(
                    &mut outcome.entries,
                    outcome.incident.id,
                    at,
                    &actor,
                    evidence(Finding::Confirmed, level),
                );
                next.incident_id = Some(outcome.incident.id);
                writes.extend(self.outcome_writes(None, &outcome, &actor, at).await?);
                Some((Finding::Confirmed, level, Some(outcome.incident.id)))
            }
            (Step::Change(level), Some(incident)) if incident.auto_resolve => {
                let components = self
                    .existing(monitor.imposed(level))
                    .await?
                    .into_iter()
                    .map(|c| ComponentEdit::Set { id: c.id, status: c.status })
                    .collect();
                // Public words: the monitor's name stays with the team.
                let message = match level {
                    CheckOutcome::Down => "Our automated checks now find the service down.",
                    _ => "Our automated checks now find the service degraded.",
                };
                let new = NewUpdate {
                    message: Markdown::parse(message)?,
                    status: None,
                    impact: Some(Monitor::impact(level)),
                    components,
                };
                let (at, outcome) = self.stamped(&actor, |stamp| incident.post_update(new, stamp));
                let mut outcome = outcome?;
                self.push_entry(&mut outcome.entries, incident.id, at, &actor, evidence(Finding::Changed, level));
                writes.extend(self.outcome_writes(Some(incident), &outcome, &actor, at).await?);
                Some((Finding::Changed, level, Some(incident.id)))
            }
            (Step::Resolve, Some(incident)) if incident.auto_resolve => {
                let message = "Our automated checks find the service up again. This incident has been resolved.";
                let new = NewUpdate {
                    message: Markdown::parse(message)?,
                    status: Some(IncidentStatus::Resolved),
                    impact: None,
                    components: Vec::new(),
                };
                let (at, outcome) = self.stamped(&actor, |stamp| incident.post_update(new, stamp));
                let mut outcome = outcome?;
                self.push_entry(
                    &mut outcome.entries,
                    incident.id,
                    at,
                    &actor,
                    evidence(Finding::Recovered, CheckOutcome::Up),
                );
                next.incident_id = None;
                writes.extend(self.outcome_writes(Some(incident), &outcome, &actor, at).await?);
                Some((Finding::Recovered, CheckOutcome::Up, Some(incident.id)))
            }
            // A taken-over incident, or failures coming back to an open one: evidence
            // in its timeline, and nothing public.
            (Step::Open(level) | Step::Change(level), Some(incident)) => {
                let finding = if matches!(step, Step::Open(_)) { Finding::FailingAgain } else { Finding::Changed };
                writes.extend(self.evidence_writes(incident, &actor, now, evidence(finding, level))?);
                Some((finding, level, Some(incident.id)))
            }
            (Step::Resolve, Some(incident)) => {
                writes.extend(self.evidence_writes(
                    incident,
                    &actor,
                    now,
                    evidence(Finding::RecoveredTakenOver, CheckOutcome::Up),
                )?);
                Some((Finding::RecoveredTakenOver, CheckOutcome::Up, Some(incident.id)))
            }
            // Failing again while recovering: the same incident gets the evidence.
            (Step::Stay, Some(incident)) if monitor.state.passing_rounds > 0 && verdict.outcome != CheckOutcome::Up => {
                writes.extend(self.evidence_writes(
                    incident,
                    &actor,
                    now,
                    evidence(Finding::FailingAgain, verdict.outcome),
                )?);
                None
            }
            (Step::Change(_) | Step::Resolve | Step::Stay, None) | (Step::Stay, Some(_)) => None,
        };
        if let Some((finding, outcome, incident_id)) = found {
            let kind = ChangeKind::MonitorStateChanged { monitor_id: monitor.id, incident_id, finding, outcome };
            self.record_change(&mut writes, now, &actor, kind)?;
        }
        writes.push(Write::Put {
            item: repo::versioned(monitor_key(monitor.id), "monitor", &next, next.version)?,
            condition: Condition::version(monitor.version),
        });
        writes.push(Write::Update(self.aggregate_update(monitor, results, verdict.outcome, now)));
        Ok((writes, Some(verdict.outcome), step))
    }

    /// The components of `imposed` that still exist: a component deleted after the monitor
    /// was set up must not stop its rounds from closing.
    pub(crate) async fn existing(
        &self,
        imposed: Vec<beacon_domain::AffectedComponent>,
    ) -> AppResult<Vec<beacon_domain::AffectedComponent>> {
        let mut kept = Vec::with_capacity(imposed.len());
        for c in imposed {
            if self.store.get(&component_key(c.id)).await?.is_some() {
                kept.push(c);
            }
        }
        Ok(kept)
    }

    pub(crate) fn push_entry(
        &self,
        entries: &mut Vec<TimelineEntry>,
        incident_id: beacon_domain::IncidentId,
        at: Timestamp,
        actor: &Actor,
        kind: EventKind,
    ) {
        entries.push(TimelineEntry { id: EventId::new(self.new_id(at)), incident_id, at, actor: actor.clone(), kind });
    }

    /// Timeline entries alone: the incident itself is unchanged, so nothing public moves
    /// and no change record is written.
    pub(crate) fn evidence_writes(
        &self,
        incident: &Incident,
        actor: &Actor,
        at: Timestamp,
        kind: EventKind,
    ) -> AppResult<Vec<Write>> {
        let mut entries = Vec::new();
        self.push_entry(&mut entries, incident.id, at, actor, kind);
        Ok(vec![repo::entries_write(incident.id, &entries)?])
    }

    /// The day's aggregate, added to atomically.
    fn aggregate_update(
        &self,
        monitor: &Monitor,
        results: &[RegionResult],
        outcome: CheckOutcome,
        now: Timestamp,
    ) -> Update {
        let seconds = i64::from(monitor.interval_seconds);
        let failures = results.iter().filter(|r| r.outcome != CheckOutcome::Up).count();
        let mut update = Update::new(day_key(monitor.id, &day_of(now)))
            .set("type", Value::S("monitor_day".into()))
            .set("ttl", Value::N(now.as_second() + AGGREGATE_RETENTION_SECONDS))
            .add("checks", results.len() as i64)
            .add("failures", failures as i64)
            .add("observed_seconds", seconds);
        match outcome {
            CheckOutcome::Down => update = update.add("down_seconds", seconds),
            CheckOutcome::Degraded => update = update.add("degraded_seconds", seconds),
            CheckOutcome::Up => {}
        }
        let mut buckets = std::collections::BTreeMap::new();
        // Latency means something only for checks that reached the target (heartbeats
        // measure none).
        let measures_latency = !matches!(monitor.check, MonitorKind::Heartbeat { .. });
        for r in results.iter().filter(|r| measures_latency && (r.error.is_none() || r.status_code.is_some())) {
            *buckets.entry(bucket_of(r.latency_ms)).or_insert(0i64) += 1;
        }
        for (bucket, n) in buckets {
            update = update.add(&format!("l{bucket}"), n);
        }
        update
    }

    /// A region's recent results, newest first, a page at a time.
    pub async fn monitor_results(
        &self,
        id: MonitorId,
        region: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> AppResult<Listing<RegionResult>> {
        self.monitor(id).await?;
        let query =
            Query::partition(monitor_pk(id)).prefix(format!("R#{region}#")).descending().limit(limit).after(cursor);
        let page = self.store.query(query).await?;
        let items = page.items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        Ok(Listing { items, next: page.next })
    }

    /// For every component a monitor maps to, the days its monitors checked from `since`
    /// on, oldest first: each day the worst of them (most down, most degraded, slowest).
    pub async fn component_checks(
        &self,
        since: Timestamp,
    ) -> AppResult<std::collections::BTreeMap<beacon_domain::ComponentId, Vec<DailyStats>>> {
        let mut by_component: std::collections::BTreeMap<_, std::collections::BTreeMap<String, DailyStats>> =
            Default::default();
        let items = repo::query_all(self.store.as_ref(), Query::partition(MONITORS_PK)).await?;
        for item in &items {
            let monitor: PageMonitor = repo::decode(item)?;
            // An internal monitor's findings are the team's, like its incidents.
            if monitor.components.is_empty() || !monitor.publish {
                continue;
            }
            let days = self.monitor_days(monitor.id, since).await?;
            for component in &monitor.components {
                let merged = by_component.entry(component.id).or_default();
                // A mapping that imposes nothing for an outcome shows none of it either.
                let shown = |d: &DailyStats| DailyStats {
                    down_seconds: if component.down == ComponentStatus::Operational { 0 } else { d.down_seconds },
                    degraded_seconds: if component.degraded == ComponentStatus::Operational {
                        0
                    } else {
                        d.degraded_seconds
                    },
                    ..d.clone()
                };
                for day in days.iter().map(shown) {
                    let day = &day;
                    merged
                        .entry(day.day.clone())
                        .and_modify(|m| {
                            m.checks += day.checks;
                            m.failures += day.failures;
                            m.down_seconds = m.down_seconds.max(day.down_seconds);
                            m.degraded_seconds = m.degraded_seconds.max(day.degraded_seconds);
                            m.observed_seconds = m.observed_seconds.max(day.observed_seconds);
                            m.maintenance_seconds = m.maintenance_seconds.max(day.maintenance_seconds);
                            m.p50_ms = m.p50_ms.max(day.p50_ms);
                            m.p95_ms = m.p95_ms.max(day.p95_ms);
                        })
                        .or_insert_with(|| day.clone());
                }
            }
        }
        Ok(by_component.into_iter().map(|(id, days)| (id, days.into_values().collect())).collect())
    }

    /// The daily aggregates from `since` (a day, `yyyy-mm-dd`) on, oldest first.
    pub async fn monitor_days(&self, id: MonitorId, since: Timestamp) -> AppResult<Vec<DailyStats>> {
        let query = Query::partition(monitor_pk(id)).between(format!("D#{}", day_of(since)), "D#9999");
        let items = repo::query_all(self.store.as_ref(), query).await?;
        Ok(items.iter().map(DailyStats::from_item).collect())
    }
}
