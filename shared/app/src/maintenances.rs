//! Planned maintenance: scheduling, public updates, rescheduling and cancelling, the
//! scheduler step that starts, completes and reminds on its own, and recurring series
//! whose occurrences are created ahead.
//!
//! Items (see `repo` for the rest of the table):
//!
//! | pk            | sk         | what                                                  |
//! |---------------|------------|-------------------------------------------------------|
//! | `MNT#<id>`    | `A`        | the maintenance (versioned)                           |
//! | `MNT#<id>`    | `U#<ulid>` | a public update                                       |
//! | `MAINTENANCES`| `<id>`     | listing copy, newest last                             |
//! | `MAINT_OPEN`  | `<id>`     | a maintenance not yet closed: the scheduler's work and what it imposes |
//! | `SERIES`      | `<id>`     | a recurring series (versioned)                        |

use crate::error::{AppError, AppResult};
use crate::repo::{self, Listing};
use crate::service::{Imposer, MAX_ATTEMPTS, Service, version_conflict};
use beacon_domain::{
    Actor, AffectedComponent, Automation, ChangeKind, ComponentId, ComponentStatus, DomainError, Due, FieldError,
    Maintenance, MaintenanceEdit, MaintenanceEvent, MaintenanceId, MaintenanceSeries, MaintenanceStatus,
    MaintenanceUpdate, Markdown, NewMaintenance, Recurrence, Title, Window,
};
use beacon_store::{Condition, Cursor, Key, Query, Write};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

pub const MAINTENANCES_PK: &str = "MAINTENANCES";
pub const MAINT_OPEN_PK: &str = "MAINT_OPEN";
pub const SERIES_PK: &str = "SERIES";
const MAINTENANCE_SK: &str = "A";

pub fn maintenance_pk(id: MaintenanceId) -> String {
    format!("MNT#{id}")
}

fn maintenance_key(id: MaintenanceId) -> Key {
    Key::new(maintenance_pk(id), MAINTENANCE_SK)
}

fn series_key(id: MaintenanceId) -> Key {
    Key::new(SERIES_PK, id.to_string())
}

/// The time zone a window is entered in when none is named.
pub const DEFAULT_TIME_ZONE: &str = "Etc/UTC";

/// A window as entered: each end either an RFC 3339 instant (`2027-03-28T01:00:00Z`,
/// `…+02:00`) or a local date and time (`2027-03-28T03:00`) in `time_zone`.
#[derive(Clone, Debug, Default)]
pub struct WindowInput {
    pub starts_at: String,
    pub ends_at: String,
    pub time_zone: Option<String>,
}

/// Looks an IANA time zone up.
pub fn time_zone(name: &str, field: &str) -> Result<TimeZone, FieldError> {
    TimeZone::get(name)
        .map_err(|_| FieldError::new(field, format!("{name:?} is not an IANA time zone, such as Europe/Berlin")))
}

/// Reads one end of a window: an instant, or a local time in `zone` (a local time a DST
/// change skips moves forward by the gap, one it repeats is the earlier).
fn instant(raw: &str, zone: &TimeZone, field: &str) -> Result<Timestamp, FieldError> {
    if let Ok(at) = raw.parse::<Timestamp>() {
        return Ok(at);
    }
    let local: DateTime = raw.parse().map_err(|_| {
        FieldError::new(field, "an RFC 3339 time (2027-03-28T01:00:00Z) or a local one (2027-03-28T03:00)")
    })?;
    zone.to_ambiguous_zoned(local)
        .compatible()
        .map(|z: Zoned| z.timestamp())
        .map_err(|e| FieldError::new(field, format!("not a time in this zone: {e}")))
}

impl WindowInput {
    pub fn resolve(&self) -> Result<Window, Vec<FieldError>> {
        let name = self.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE);
        let zone = time_zone(name, "time_zone").map_err(|e| vec![e])?;
        let starts = instant(&self.starts_at, &zone, "starts_at");
        let ends = instant(&self.ends_at, &zone, "ends_at");
        match (starts, ends) {
            (Ok(starts), Ok(ends)) => Ok(Window::in_zone(starts, ends, name, &zone)),
            (starts, ends) => Err([starts.err(), ends.err()].into_iter().flatten().collect()),
        }
    }
}

/// Schedule a maintenance.
#[derive(Clone, Debug, Default)]
pub struct ScheduleMaintenance {
    pub title: String,
    pub message: String,
    pub window: WindowInput,
    pub components: Vec<ComponentId>,
    pub automation: Option<Automation>,
}

/// Change a maintenance's title, components or automation (no public update).
#[derive(Clone, Debug, Default)]
pub struct MaintenancePatch {
    pub title: Option<String>,
    pub components: Option<Vec<ComponentId>>,
    pub automation: Option<Automation>,
}

/// Create a recurring series.
#[derive(Clone, Debug, Default)]
pub struct NewSeries {
    pub title: String,
    pub message: String,
    pub recurrence: String,
    /// The first window's start, in local time (`2027-01-03T02:00`).
    pub first_start: String,
    pub time_zone: String,
    pub duration_minutes: u32,
    pub components: Vec<ComponentId>,
    pub automation: Option<Automation>,
}

/// A maintenance with its public updates in posting order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceDetail {
    pub maintenance: Maintenance,
    pub updates: Vec<MaintenanceUpdate>,
}

/// Which maintenances to list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MaintenanceState {
    #[default]
    All,
    /// Scheduled, not started.
    Upcoming,
    /// In progress or verifying.
    Active,
    /// Completed or cancelled.
    Past,
}

impl MaintenanceState {
    fn admits(self, status: MaintenanceStatus) -> bool {
        match self {
            Self::All => true,
            Self::Upcoming => status == MaintenanceStatus::Scheduled,
            Self::Active => status.is_active(),
            Self::Past => status.is_closed(),
        }
    }
}

/// What one scheduler run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedulerRun {
    /// Steps taken, in order.
    pub taken: Vec<(MaintenanceId, Due)>,
    /// Occurrences of series created.
    pub created: Vec<MaintenanceId>,
}

/// The public words the scheduler posts for the steps it takes.
const STARTED_MESSAGE: &str = "The scheduled maintenance has begun.";
const COMPLETED_MESSAGE: &str = "The scheduled maintenance has been completed.";

fn message_of(due: Due) -> &'static str {
    match due {
        Due::Complete => COMPLETED_MESSAGE,
        _ => STARTED_MESSAGE,
    }
}

fn event_of(due: Due) -> MaintenanceEvent {
    match due {
        Due::RemindTeam => MaintenanceEvent::TeamReminded,
        Due::RemindSubscribers => MaintenanceEvent::SubscribersReminded,
        Due::Start => MaintenanceEvent::Started,
        Due::Complete => MaintenanceEvent::Completed,
    }
}

/// What a status move by hand announces.
fn event_of_move(from: MaintenanceStatus, to: MaintenanceStatus) -> MaintenanceEvent {
    match to {
        _ if from == to => MaintenanceEvent::Updated,
        MaintenanceStatus::InProgress if from == MaintenanceStatus::Scheduled => MaintenanceEvent::Started,
        MaintenanceStatus::Verifying if from == MaintenanceStatus::Scheduled => MaintenanceEvent::Started,
        MaintenanceStatus::Completed => MaintenanceEvent::Completed,
        _ => MaintenanceEvent::Updated,
    }
}

fn under_maintenance(m: &Maintenance) -> Vec<AffectedComponent> {
    m.imposed().map(|id| AffectedComponent { id, status: ComponentStatus::UnderMaintenance }).collect()
}

/// One operation's result: the maintenance after it, the update it posted, and what to
/// call the change.
struct Step {
    maintenance: Maintenance,
    update: Option<MaintenanceUpdate>,
    event: MaintenanceEvent,
}

impl Service {
    /// Every maintenance not yet completed or cancelled.
    pub async fn open_maintenances(&self) -> AppResult<Vec<Maintenance>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(MAINT_OPEN_PK)).await?;
        items.iter().map(repo::decode).collect()
    }

    /// The components some running maintenance covers now (their monitors are muted).
    pub async fn components_under_maintenance(&self) -> AppResult<std::collections::BTreeSet<ComponentId>> {
        Ok(self.impositions().await?.under_maintenance())
    }

    async fn check_components_exist(&self, components: &[ComponentId]) -> AppResult<()> {
        let mut errors = Vec::new();
        for id in components {
            if self.store.get(&crate::service::component_key(*id)).await?.is_none() {
                errors.push(FieldError::new("components", format!("component {id} does not exist")));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.into()) }
    }

    /// Schedules a maintenance and posts its announcement.
    #[tracing::instrument(skip(self, input))]
    pub async fn schedule_maintenance(&self, actor: Actor, input: ScheduleMaintenance) -> AppResult<MaintenanceDetail> {
        let mut errors = Vec::new();
        let title = Title::parse_field(&input.title, "title").map_err(|e| errors.push(e)).ok();
        let message = Markdown::parse_field(&input.message, "message").map_err(|e| errors.push(e)).ok();
        let window = input.window.resolve().map_err(|e| errors.extend(e)).ok();
        let (Some(title), Some(message), Some(window)) = (title, message, window) else {
            return Err(errors.into());
        };
        self.check_components_exist(&input.components).await?;
        let new = NewMaintenance {
            title,
            message,
            window,
            components: input.components,
            automation: input.automation.unwrap_or_default(),
            series_id: None,
        };
        let (at, outcome) = self.stamped(&actor, |stamp| Maintenance::schedule(new, stamp));
        let outcome = outcome?;
        let step =
            Step { maintenance: outcome.maintenance, update: Some(outcome.update), event: MaintenanceEvent::Scheduled };
        let writes = self.step_writes(None, &step, &actor, at).await?;
        if !self.commit(writes).await? {
            return Err(Self::too_busy("maintenance"));
        }
        tracing::info!(maintenance = %step.maintenance.id, "maintenance scheduled");
        Ok(MaintenanceDetail { maintenance: step.maintenance, updates: step.update.into_iter().collect() })
    }

    pub async fn load_maintenance(&self, id: MaintenanceId) -> AppResult<Maintenance> {
        let item = self.store.get(&maintenance_key(id)).await?.ok_or_else(|| AppError::not_found("maintenance", id))?;
        repo::decode(&item)
    }

    /// A maintenance with its public updates.
    pub async fn maintenance(&self, id: MaintenanceId) -> AppResult<MaintenanceDetail> {
        let maintenance = self.load_maintenance(id).await?;
        let query = Query::partition(maintenance_pk(id)).prefix(repo::UPDATE_PREFIX);
        let items = repo::query_all(self.store.as_ref(), query).await?;
        let updates = items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        Ok(MaintenanceDetail { maintenance, updates })
    }

    /// Maintenances newest first, a page at a time.
    pub async fn list_maintenances(
        &self,
        state: MaintenanceState,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> AppResult<Listing<Maintenance>> {
        if !(1..=200).contains(&limit) {
            return Err(AppError::invalid("limit", "limit must be 1 to 200"));
        }
        let mut items = Vec::new();
        let mut next = cursor;
        loop {
            let query = Query::partition(MAINTENANCES_PK).descending().limit(limit).after(next.clone());
            let page = self.store.query(query).await?;
            for item in &page.items {
                let maintenance: Maintenance = repo::decode(item)?;
                if state.admits(maintenance.status) {
                    items.push(maintenance);
                }
                if items.len() == limit {
                    let more = page.next.is_some() || item != page.items.last().unwrap_or(item);
                    return Ok(Listing { items, next: more.then(|| Cursor::after(&item.key.sk)) });
                }
            }
            next = page.next;
            if next.is_none() {
                return Ok(Listing { items, next: None });
            }
        }
    }

    /// Posts a public update, optionally moving the status forward.
    pub async fn post_maintenance_update(
        &self,
        actor: Actor,
        id: MaintenanceId,
        expected_version: Option<u64>,
        message: String,
        status: Option<MaintenanceStatus>,
    ) -> AppResult<MaintenanceDetail> {
        let message = Markdown::parse_field(&message, "message")?;
        let step = self
            .mutate_maintenance(&actor, id, expected_version, |m, stamp| {
                let outcome = m.post_update(message.clone(), status, stamp)?;
                let event = event_of_move(m.status, outcome.maintenance.status);
                Ok(Some(Step { maintenance: outcome.maintenance, update: Some(outcome.update), event }))
            })
            .await?;
        Ok(detail(step))
    }

    /// Edits title, components or automation, without public words.
    pub async fn edit_maintenance(
        &self,
        actor: Actor,
        id: MaintenanceId,
        expected_version: Option<u64>,
        patch: MaintenancePatch,
    ) -> AppResult<Maintenance> {
        let title = patch.title.as_deref().map(|t| Title::parse_field(t, "title")).transpose()?;
        if let Some(components) = &patch.components {
            self.check_components_exist(components).await?;
        }
        let edit = MaintenanceEdit { title, components: patch.components, automation: patch.automation };
        let step = self
            .mutate_maintenance(&actor, id, expected_version, |m, stamp| {
                let maintenance = m.edit(edit.clone(), stamp.at)?;
                Ok(Some(Step { maintenance, update: None, event: MaintenanceEvent::Edited }))
            })
            .await?;
        Ok(step.maintenance)
    }

    /// Moves a maintenance that has not started to a new window.
    pub async fn reschedule_maintenance(
        &self,
        actor: Actor,
        id: MaintenanceId,
        expected_version: Option<u64>,
        window: WindowInput,
        message: Option<String>,
    ) -> AppResult<MaintenanceDetail> {
        let window = window.resolve()?;
        let message = message.unwrap_or_else(|| "This maintenance has been rescheduled.".to_owned());
        let message = Markdown::parse_field(&message, "message")?;
        let step = self
            .mutate_maintenance(&actor, id, expected_version, |m, stamp| {
                let outcome = m.reschedule(window.clone(), message.clone(), stamp)?;
                Ok(Some(Step {
                    maintenance: outcome.maintenance,
                    update: Some(outcome.update),
                    event: MaintenanceEvent::Rescheduled,
                }))
            })
            .await?;
        Ok(detail(step))
    }

    /// Cancels a maintenance that has not started; it stays in history as cancelled.
    pub async fn cancel_maintenance(
        &self,
        actor: Actor,
        id: MaintenanceId,
        expected_version: Option<u64>,
        message: Option<String>,
    ) -> AppResult<MaintenanceDetail> {
        let message = message.unwrap_or_else(|| "This maintenance has been cancelled.".to_owned());
        let message = Markdown::parse_field(&message, "message")?;
        let step = self
            .mutate_maintenance(&actor, id, expected_version, |m, stamp| {
                let outcome = m.cancel(message.clone(), stamp)?;
                Ok(Some(Step {
                    maintenance: outcome.maintenance,
                    update: Some(outcome.update),
                    event: MaintenanceEvent::Cancelled,
                }))
            })
            .await?;
        Ok(detail(step))
    }

    /// Loads, applies and commits, re-reading on a lost race unless the caller pinned a
    /// version. `op` returning `None` means nothing is left to do (the scheduler's step
    /// was taken meanwhile by another run).
    async fn mutate_maintenance(
        &self,
        actor: &Actor,
        id: MaintenanceId,
        expected_version: Option<u64>,
        op: impl Fn(&Maintenance, &mut beacon_domain::Stamp<'_>) -> Result<Option<Step>, DomainError>,
    ) -> AppResult<Step> {
        self.try_mutate_maintenance(actor, id, expected_version, op)
            .await?
            .ok_or_else(|| AppError::invalid("status", "nothing to do"))
    }

    async fn try_mutate_maintenance(
        &self,
        actor: &Actor,
        id: MaintenanceId,
        expected_version: Option<u64>,
        op: impl Fn(&Maintenance, &mut beacon_domain::Stamp<'_>) -> Result<Option<Step>, DomainError>,
    ) -> AppResult<Option<Step>> {
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.load_maintenance(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("maintenance", expected, current.version));
            }
            let (at, step) = self.stamped(actor, |stamp| op(&current, stamp));
            let Some(step) = step? else { return Ok(None) };
            let writes = self.step_writes(Some(&current), &step, actor, at).await?;
            if self.commit(writes).await? {
                return Ok(Some(step));
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("maintenance"))
    }

    /// Everything one maintenance operation writes, as one transaction: the maintenance
    /// (guarded by the version read, or by absence), its listing copy and open marker,
    /// the update, the components' shown status and the change record.
    async fn step_writes(
        &self,
        before: Option<&Maintenance>,
        step: &Step,
        actor: &Actor,
        at: Timestamp,
    ) -> AppResult<Vec<Write>> {
        let after = &step.maintenance;
        let condition = match before {
            Some(b) => Condition::version(b.version),
            None => Condition::NotExists,
        };
        let mut writes = vec![
            Write::Put {
                item: repo::versioned(maintenance_key(after.id), "maintenance", after, after.version)?,
                condition,
            },
            Write::Put {
                item: repo::record(Key::new(MAINTENANCES_PK, after.id.to_string()), "maintenance_summary", after)?,
                condition: Condition::None,
            },
        ];
        let open_key = Key::new(MAINT_OPEN_PK, after.id.to_string());
        if after.status.is_closed() {
            if before.is_some() {
                writes.push(Write::Delete { key: open_key, condition: Condition::None });
            }
        } else {
            writes.push(Write::Put {
                item: repo::record(open_key, "open_maintenance", after)?,
                condition: Condition::None,
            });
        }
        if let Some(update) = &step.update {
            let key = Key::new(maintenance_pk(after.id), format!("{}{}", repo::UPDATE_PREFIX, update.id));
            writes.push(Write::Put {
                item: repo::record(key, "maintenance_update", update)?,
                condition: Condition::NotExists,
            });
        }
        let before_imposed = before.map(under_maintenance).unwrap_or_default();
        let after_imposed = under_maintenance(after);
        let (component_writes, status_changes) =
            self.component_writes(Imposer::Maintenance(after.id), &before_imposed, &after_imposed, at).await?;
        writes.extend(component_writes);
        let mut components = after.components.clone();
        if let Some(b) = before {
            components.extend(b.components.iter().copied());
        }
        components.sort();
        components.dedup();
        let kind = ChangeKind::MaintenanceChanged {
            maintenance_id: after.id,
            event: step.event,
            update_id: step.update.as_ref().map(|u| u.id),
            components,
            status_changes,
        };
        let mut change = self.change(at, actor, kind);
        change.maintenance = Some(beacon_domain::MaintenanceFacts::from(after));
        self.record(&mut writes, &change)?;
        Ok(writes)
    }

    /// The scheduler's step at the current time: creates the occurrences series owe,
    /// then takes every step owed (reminders, starts, completions) in time order. Safe to
    /// run twice or late: each step is recorded on its maintenance, guarded by the
    /// version read, so it is taken once; a late run takes what it missed.
    #[tracing::instrument(skip(self))]
    pub async fn run_maintenance_scheduler(&self) -> AppResult<SchedulerRun> {
        let mut run = SchedulerRun::default();
        for series in self.list_series().await? {
            run.created.extend(self.create_occurrences(series.id).await?);
        }
        let now = self.now();
        let mut owed: Vec<Maintenance> =
            self.open_maintenances().await?.into_iter().filter(|m| !m.due(now).is_empty()).collect();
        owed.sort_by_key(|m| m.window.starts_at);
        for m in owed {
            loop {
                let taken = self
                    .try_mutate_maintenance(&Actor::System, m.id, None, |current, stamp| {
                        let Some(due) = current.due(stamp.at).first().copied() else { return Ok(None) };
                        let message = Markdown::parse(message_of(due)).map_err(|e| DomainError::Invalid(vec![e]))?;
                        let taken = current.take(due, message, stamp)?;
                        Ok(Some(Step { maintenance: taken.maintenance, update: taken.update, event: event_of(due) }))
                    })
                    .await;
                match taken {
                    Ok(Some(step)) => {
                        let due = match step.event {
                            MaintenanceEvent::TeamReminded => Due::RemindTeam,
                            MaintenanceEvent::SubscribersReminded => Due::RemindSubscribers,
                            MaintenanceEvent::Completed => Due::Complete,
                            _ => Due::Start,
                        };
                        tracing::info!(maintenance = %m.id, ?due, "maintenance step taken");
                        run.taken.push((m.id, due));
                    }
                    Ok(None) | Err(AppError::NotFound { .. }) => break,
                    // One maintenance's refusal must not hold up the others.
                    Err(AppError::Domain(e)) => {
                        tracing::warn!(maintenance = %m.id, error = %e, "a maintenance step was refused");
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(run)
    }

    /// Creates a recurring series and its first occurrences.
    pub async fn create_series(
        &self,
        actor: Actor,
        input: NewSeries,
    ) -> AppResult<(MaintenanceSeries, Vec<Maintenance>)> {
        let mut errors = Vec::new();
        let title = Title::parse_field(&input.title, "title").map_err(|e| errors.push(e)).ok();
        let message = Markdown::parse_field(&input.message, "message").map_err(|e| errors.push(e)).ok();
        let recurrence = input
            .recurrence
            .parse::<Recurrence>()
            .map_err(|e: FieldError| errors.push(FieldError::new("recurrence", e.message)))
            .ok();
        let zone = time_zone(&input.time_zone, "time_zone").map_err(|e| errors.push(e)).ok();
        let first_start = input
            .first_start
            .parse::<DateTime>()
            .map_err(|_| errors.push(FieldError::new("first_start", "a local date and time, such as 2027-01-03T02:00")))
            .ok();
        let (Some(title), Some(message), Some(recurrence), Some(_zone), Some(first_start)) =
            (title, message, recurrence, zone, first_start)
        else {
            return Err(errors.into());
        };
        self.check_components_exist(&input.components).await?;
        let at = self.now();
        let series = MaintenanceSeries {
            id: MaintenanceId::new(self.new_id(at)),
            title,
            message,
            recurrence,
            time_zone: input.time_zone,
            first_start,
            duration_minutes: input.duration_minutes,
            components: input.components,
            automation: input.automation.unwrap_or_default(),
            created_through: None,
            stopped: false,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        series.check()?;
        let mut writes = vec![Write::Put {
            item: repo::versioned(series_key(series.id), "series", &series, series.version)?,
            condition: Condition::NotExists,
        }];
        self.record_change(&mut writes, at, &actor, ChangeKind::SeriesChanged { series_id: series.id })?;
        if !self.commit(writes).await? {
            return Err(Self::too_busy("series"));
        }
        let created = self.create_occurrences(series.id).await?;
        let mut occurrences = Vec::new();
        for id in created {
            occurrences.push(self.load_maintenance(id).await?);
        }
        Ok((self.series(series.id).await?, occurrences))
    }

    pub async fn series(&self, id: MaintenanceId) -> AppResult<MaintenanceSeries> {
        let item = self.store.get(&series_key(id)).await?.ok_or_else(|| AppError::not_found("series", id))?;
        repo::decode(&item)
    }

    pub async fn list_series(&self) -> AppResult<Vec<MaintenanceSeries>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(SERIES_PK)).await?;
        items.iter().map(repo::decode).collect()
    }

    /// Creates the occurrences a series owes now, in one transaction with the series'
    /// new `created_through`, guarded by its version: two runs racing create them once.
    async fn create_occurrences(&self, id: MaintenanceId) -> AppResult<Vec<MaintenanceId>> {
        for attempt in 0..MAX_ATTEMPTS {
            let series = self.series(id).await?;
            let zone = time_zone(&series.time_zone, "time_zone").map_err(|e| AppError::from(vec![e]))?;
            let now = self.now();
            let windows = series.windows_to_create(&zone, now);
            let Some(last) = windows.last() else { return Ok(Vec::new()) };
            let mut next = series.clone();
            next.created_through = Some(last.starts_at);
            next.updated_at = now;
            next.version += 1;
            let mut writes = vec![Write::Put {
                item: repo::versioned(series_key(id), "series", &next, next.version)?,
                condition: Condition::version(series.version),
            }];
            let mut created = Vec::new();
            for window in windows {
                let new = NewMaintenance {
                    title: series.title.clone(),
                    message: series.message.clone(),
                    window,
                    components: series.components.clone(),
                    automation: series.automation,
                    series_id: Some(series.id),
                };
                let (at, outcome) = self.stamped(&Actor::System, |stamp| Maintenance::schedule(new, stamp));
                let outcome = outcome?;
                let step = Step {
                    maintenance: outcome.maintenance,
                    update: Some(outcome.update),
                    event: MaintenanceEvent::Scheduled,
                };
                writes.extend(self.step_writes(None, &step, &Actor::System, at).await?);
                created.push(step.maintenance.id);
            }
            if self.commit(writes).await? {
                return Ok(created);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("series"))
    }

    /// Stops a series: no more occurrences, and its scheduled ones are cancelled.
    pub async fn stop_series(&self, actor: Actor, id: MaintenanceId) -> AppResult<MaintenanceSeries> {
        for attempt in 0..MAX_ATTEMPTS {
            let series = self.series(id).await?;
            if series.stopped {
                break;
            }
            let at = self.now();
            let mut next = series.clone();
            next.stopped = true;
            next.updated_at = at;
            next.version += 1;
            let mut writes = vec![Write::Put {
                item: repo::versioned(series_key(id), "series", &next, next.version)?,
                condition: Condition::version(series.version),
            }];
            self.record_change(&mut writes, at, &actor, ChangeKind::SeriesChanged { series_id: id })?;
            if self.commit(writes).await? {
                break;
            }
            Self::back_off(attempt).await;
        }
        for m in self.open_maintenances().await? {
            if m.series_id == Some(id) && m.status == MaintenanceStatus::Scheduled {
                match self
                    .cancel_maintenance(
                        actor.clone(),
                        m.id,
                        None,
                        Some("This maintenance will not take place: its series has ended.".into()),
                    )
                    .await
                {
                    // Started meanwhile: it runs its course.
                    Ok(_) | Err(AppError::Domain(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.series(id).await
    }
}

fn detail(step: Step) -> MaintenanceDetail {
    MaintenanceDetail { maintenance: step.maintenance, updates: step.update.into_iter().collect() }
}
