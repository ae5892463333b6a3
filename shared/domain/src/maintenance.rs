//! Planned maintenance: a window announced ahead, with its own forward-only status
//! (scheduled, in progress, verifying, completed; or cancelled before it starts), public
//! updates as incidents have, and the automation that starts, completes and reminds on
//! its own, each exactly once.

use crate::Stamp;
use crate::error::{DomainError, FieldError};
use crate::ids::{ComponentId, MaintenanceId, UpdateId};
use crate::incident::MAX_AFFECTED_COMPONENTS;
use crate::recurrence::Recurrence;
use crate::text::{Markdown, Title};
use crate::timeline::Actor;
use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The longest window one maintenance may span.
pub const MAX_WINDOW_SECONDS: i64 = 30 * 24 * 3600;
/// The subscribers' reminder, by default, this long before the start.
pub const DEFAULT_REMIND_SUBSCRIBERS_MINUTES: u32 = 60;
/// The team's reminder, this long before the start.
pub const TEAM_REMINDER_MINUTES: u32 = 180;

/// Where a maintenance stands. Only moves forward; `Cancelled` only from `Scheduled`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceStatus {
    #[default]
    Scheduled,
    InProgress,
    Verifying,
    Completed,
    Cancelled,
}

impl MaintenanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::InProgress => "in_progress",
            Self::Verifying => "verifying",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Scheduled => "Scheduled",
            Self::InProgress => "In progress",
            Self::Verifying => "Verifying",
            Self::Completed => "Completed",
            Self::Cancelled => "Cancelled",
        }
    }

    /// Whether the window is running: components are under maintenance, monitors muted.
    pub fn is_active(self) -> bool {
        matches!(self, Self::InProgress | Self::Verifying)
    }

    /// Whether nothing more will happen to it.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Checks an update's move. Staying is allowed; cancelling goes through
    /// [`Maintenance::cancel`].
    fn check_move(self, to: Self) -> Result<(), DomainError> {
        let allowed = match (self, to) {
            (_, Self::Cancelled) => false,
            (from, to) => !from.is_closed() && to >= from,
        };
        if allowed {
            Ok(())
        } else {
            Err(DomainError::field("status", format!("a {} maintenance cannot move to {}", self.as_str(), to.as_str())))
        }
    }
}

/// What the maintenance runs on its own. Every step is optional.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Automation {
    /// Start at the window's start.
    #[serde(default = "yes")]
    pub start: bool,
    /// Complete at the window's end.
    #[serde(default = "yes")]
    pub complete: bool,
    /// Remind subscribers this many minutes before the start; `None`: no reminder.
    #[serde(default = "default_reminder")]
    pub remind_subscribers_minutes: Option<u32>,
    /// Remind the team three hours before the start.
    #[serde(default = "yes")]
    pub remind_team: bool,
}

fn yes() -> bool {
    true
}

fn default_reminder() -> Option<u32> {
    Some(DEFAULT_REMIND_SUBSCRIBERS_MINUTES)
}

impl Default for Automation {
    fn default() -> Self {
        Self { start: true, complete: true, remind_subscribers_minutes: default_reminder(), remind_team: true }
    }
}

/// The window, in UTC; `time_zone` is how it was entered and is shown.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub starts_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ends_at: Timestamp,
    /// An IANA name (`Europe/Berlin`); the caller checks that it exists.
    pub time_zone: String,
    /// The zone's offsets from UTC at the start and at the end, in seconds, so the window
    /// can be shown in local time where no time zone database is at hand (the page).
    #[serde(default)]
    pub start_offset_seconds: i32,
    #[serde(default)]
    pub end_offset_seconds: i32,
}

impl Window {
    /// A window in `zone` (named `name`), with the zone's offsets at each end.
    pub fn in_zone(starts_at: Timestamp, ends_at: Timestamp, name: &str, zone: &TimeZone) -> Self {
        Self {
            starts_at,
            ends_at,
            time_zone: name.to_owned(),
            start_offset_seconds: zone.to_offset(starts_at).seconds(),
            end_offset_seconds: zone.to_offset(ends_at).seconds(),
        }
    }

    /// The start and end in the window's own local time.
    pub fn local(&self) -> (jiff::Zoned, jiff::Zoned) {
        let fixed = |seconds: i32| TimeZone::fixed(Offset::from_seconds(seconds).unwrap_or(Offset::UTC));
        (
            self.starts_at.to_zoned(fixed(self.start_offset_seconds)),
            self.ends_at.to_zoned(fixed(self.end_offset_seconds)),
        )
    }

    /// Checks the window's shape: it ends after it starts, spans at most 30 days, and
    /// (for a new or moved window) has not already ended at `now`.
    pub fn check(&self, now: Timestamp) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let span = self.ends_at.as_second() - self.starts_at.as_second();
        if span <= 0 {
            errors.push(FieldError::new("ends_at", "the window must end after it starts"));
        } else if span > MAX_WINDOW_SECONDS {
            errors.push(FieldError::new("ends_at", "a window spans at most 30 days"));
        }
        if self.ends_at <= now {
            errors.push(FieldError::new("ends_at", "the window has already ended"));
        }
        if self.time_zone.trim().is_empty() || self.time_zone.len() > 64 {
            errors.push(FieldError::new("time_zone", "an IANA time zone, such as Europe/Berlin"));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// A planned maintenance.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    pub id: MaintenanceId,
    pub title: Title,
    pub status: MaintenanceStatus,
    pub window: Window,
    /// Put under maintenance while it runs (an incident's outage on one still wins).
    pub components: Vec<ComponentId>,
    pub automation: Automation,
    /// The recurring series it is an occurrence of, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_id: Option<MaintenanceId>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub updated_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub started_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub completed_at: Option<Timestamp>,
    /// When each reminder went out: a reminder is sent once, however often the scheduler
    /// runs.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub subscribers_reminded_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub team_reminded_at: Option<Timestamp>,
    pub version: u64,
}

/// A public update on a maintenance.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceUpdate {
    pub id: UpdateId,
    pub maintenance_id: MaintenanceId,
    pub message: Markdown,
    pub status: MaintenanceStatus,
    /// The window as this update announced it, when it moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    pub author: Actor,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: Timestamp,
}

/// What to schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMaintenance {
    pub title: Title,
    pub message: Markdown,
    pub window: Window,
    pub components: Vec<ComponentId>,
    pub automation: Automation,
    pub series_id: Option<MaintenanceId>,
}

/// A maintenance as one operation left it, and the public update it posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceOutcome {
    pub maintenance: Maintenance,
    pub update: MaintenanceUpdate,
}

/// What a maintenance edit changes; `None` keeps the field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceEdit {
    pub title: Option<Title>,
    pub components: Option<Vec<ComponentId>>,
    pub automation: Option<Automation>,
}

/// A step taken: the maintenance after it, and the public update it posted, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    pub maintenance: Maintenance,
    pub update: Option<MaintenanceUpdate>,
}

/// How many occurrences of a series exist ahead of now, at least.
pub const OCCURRENCES_AHEAD: usize = 3;

/// A recurring maintenance: the rule, its time zone and the local start of the first
/// window; each occurrence is created ahead as a maintenance of its own.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceSeries {
    pub id: MaintenanceId,
    pub title: Title,
    /// The announcement each occurrence is scheduled with.
    pub message: Markdown,
    /// An RFC 5545 RRULE (`FREQ=WEEKLY;BYDAY=SU`).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub recurrence: Recurrence,
    pub time_zone: String,
    /// The first window's start, in local time in `time_zone`: every occurrence keeps
    /// this local time of day.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub first_start: DateTime,
    pub duration_minutes: u32,
    pub components: Vec<ComponentId>,
    pub automation: Automation,
    /// The start of the latest occurrence created.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub created_through: Option<Timestamp>,
    /// A stopped series creates no more occurrences.
    #[serde(default)]
    pub stopped: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub updated_at: Timestamp,
    pub version: u64,
}

impl MaintenanceSeries {
    /// Checks a series' shape before it is created.
    pub fn check(&self) -> Result<(), DomainError> {
        let minutes = i64::from(self.duration_minutes);
        if minutes == 0 || minutes * 60 > MAX_WINDOW_SECONDS {
            return Err(DomainError::field("duration_minutes", "between 1 minute and 30 days"));
        }
        check_components(&self.components)
    }

    /// The windows still to create at `now`: those of the next [`OCCURRENCES_AHEAD`]
    /// occurrences (counting one under way) that are later than any created before.
    pub fn windows_to_create(&self, zone: &TimeZone, now: Timestamp) -> Vec<Window> {
        if self.stopped {
            return Vec::new();
        }
        let length = SignedDuration::from_mins(i64::from(self.duration_minutes));
        let from = now.checked_sub(length).unwrap_or(now);
        self.recurrence
            .occurrences(self.first_start, zone, from, OCCURRENCES_AHEAD + 1)
            .into_iter()
            .filter_map(|start| {
                let end = start.checked_add(length).ok()?;
                (end > now).then(|| Window::in_zone(start, end, &self.time_zone, zone))
            })
            .take(OCCURRENCES_AHEAD)
            .filter(|window| self.created_through.is_none_or(|through| window.starts_at > through))
            .collect()
    }
}

/// A step the scheduler owes a maintenance at some moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    RemindTeam,
    RemindSubscribers,
    Start,
    Complete,
}

fn check_components(components: &[ComponentId]) -> Result<(), DomainError> {
    if components.len() > MAX_AFFECTED_COMPONENTS {
        return Err(DomainError::field("components", format!("at most {MAX_AFFECTED_COMPONENTS} components")));
    }
    let mut ids = components.to_vec();
    ids.sort();
    ids.dedup();
    if ids.len() != components.len() {
        return Err(DomainError::field("components", "a component is listed twice"));
    }
    Ok(())
}

impl Maintenance {
    /// Schedules a maintenance and posts its announcement. Ids are drawn in this order:
    /// the maintenance, then its first update.
    pub fn schedule(new: NewMaintenance, stamp: &mut Stamp<'_>) -> Result<MaintenanceOutcome, DomainError> {
        new.window.check(stamp.at).map_err(DomainError::Invalid)?;
        check_components(&new.components)?;
        let id = MaintenanceId::new((stamp.next_id)());
        let maintenance = Maintenance {
            id,
            title: new.title,
            status: MaintenanceStatus::Scheduled,
            window: new.window,
            components: new.components,
            automation: new.automation,
            series_id: new.series_id,
            created_at: stamp.at,
            updated_at: stamp.at,
            started_at: None,
            completed_at: None,
            subscribers_reminded_at: None,
            team_reminded_at: None,
            version: 1,
        };
        let update = maintenance.update(new.message, None, stamp);
        Ok(MaintenanceOutcome { maintenance, update })
    }

    fn update(&self, message: Markdown, window: Option<Window>, stamp: &mut Stamp<'_>) -> MaintenanceUpdate {
        MaintenanceUpdate {
            id: UpdateId::new((stamp.next_id)()),
            maintenance_id: self.id,
            message,
            status: self.status,
            window,
            author: stamp.actor.clone(),
            created_at: stamp.at,
        }
    }

    fn next(&self, at: Timestamp) -> Self {
        let mut next = self.clone();
        next.updated_at = at;
        next.version += 1;
        next
    }

    /// Posts a public update, optionally moving the status forward.
    pub fn post_update(
        &self,
        message: Markdown,
        status: Option<MaintenanceStatus>,
        stamp: &mut Stamp<'_>,
    ) -> Result<MaintenanceOutcome, DomainError> {
        let mut next = self.next(stamp.at);
        if let Some(status) = status {
            self.status.check_move(status)?;
            next.enter(status, stamp.at);
        } else if self.status.is_closed() {
            return Err(DomainError::field("status", format!("the maintenance is {}", self.status.as_str())));
        }
        let update = next.update(message, None, stamp);
        Ok(MaintenanceOutcome { maintenance: next, update })
    }

    fn enter(&mut self, status: MaintenanceStatus, at: Timestamp) {
        self.status = status;
        if status.is_active() {
            self.started_at.get_or_insert(at);
        }
        if status == MaintenanceStatus::Completed {
            self.started_at.get_or_insert(at);
            self.completed_at.get_or_insert(at);
        }
    }

    /// Moves a maintenance that has not started to a new window, saying why.
    pub fn reschedule(
        &self,
        window: Window,
        message: Markdown,
        stamp: &mut Stamp<'_>,
    ) -> Result<MaintenanceOutcome, DomainError> {
        if self.status != MaintenanceStatus::Scheduled {
            return Err(DomainError::field(
                "status",
                format!("only a scheduled maintenance can be rescheduled; this one is {}", self.status.as_str()),
            ));
        }
        window.check(stamp.at).map_err(DomainError::Invalid)?;
        let mut next = self.next(stamp.at);
        next.window = window.clone();
        // A new start deserves its reminders again.
        next.subscribers_reminded_at = None;
        next.team_reminded_at = None;
        let update = next.update(message, Some(window), stamp);
        Ok(MaintenanceOutcome { maintenance: next, update })
    }

    /// Cancels a maintenance that has not started; it stays in history as cancelled.
    pub fn cancel(&self, message: Markdown, stamp: &mut Stamp<'_>) -> Result<MaintenanceOutcome, DomainError> {
        if self.status != MaintenanceStatus::Scheduled {
            return Err(DomainError::field(
                "status",
                format!("only a scheduled maintenance can be cancelled; this one is {}", self.status.as_str()),
            ));
        }
        let mut next = self.next(stamp.at);
        next.status = MaintenanceStatus::Cancelled;
        let update = next.update(message, None, stamp);
        Ok(MaintenanceOutcome { maintenance: next, update })
    }

    /// The steps owed at `now`, in the order they fall due. A scheduler that runs late
    /// gets every step it missed; one that runs twice gets none the second time, since
    /// each step, once taken, is recorded on the maintenance (and the store writes it
    /// guarded by the version it read). Reminders are for what is still ahead: once the
    /// window has started they are no longer owed.
    pub fn due(&self, now: Timestamp) -> Vec<Due> {
        let mut due = Vec::new();
        if self.status.is_closed() {
            return due;
        }
        let before_start = |minutes: u32| {
            self.window
                .starts_at
                .checked_sub(SignedDuration::from_mins(i64::from(minutes)))
                .unwrap_or(self.window.starts_at)
        };
        let not_started = self.status == MaintenanceStatus::Scheduled && now < self.window.starts_at;
        if not_started
            && self.automation.remind_team
            && self.team_reminded_at.is_none()
            && now >= before_start(TEAM_REMINDER_MINUTES)
        {
            due.push(Due::RemindTeam);
        }
        if let Some(minutes) = self.automation.remind_subscribers_minutes
            && not_started
            && self.subscribers_reminded_at.is_none()
            && now >= before_start(minutes)
        {
            due.push(Due::RemindSubscribers);
        }
        if self.automation.start && self.status == MaintenanceStatus::Scheduled && now >= self.window.starts_at {
            due.push(Due::Start);
        }
        if self.automation.complete && now >= self.window.ends_at {
            due.push(Due::Complete);
        }
        due
    }

    /// Edits what a maintenance covers and runs, with no public words; refused once it
    /// is closed.
    pub fn edit(&self, edit: MaintenanceEdit, at: Timestamp) -> Result<Maintenance, DomainError> {
        if self.status.is_closed() {
            return Err(DomainError::field("status", format!("the maintenance is {}", self.status.as_str())));
        }
        let mut next = self.next(at);
        if let Some(title) = edit.title {
            next.title = title;
        }
        if let Some(components) = edit.components {
            check_components(&components)?;
            next.components = components;
        }
        if let Some(automation) = edit.automation {
            next.automation = automation;
        }
        Ok(next)
    }

    /// Takes one step the scheduler owes. Start and completion post the public update a
    /// person would have (`message`); reminders only record that they went out.
    pub fn take(&self, due: Due, message: Markdown, stamp: &mut Stamp<'_>) -> Result<Taken, DomainError> {
        match due {
            Due::RemindTeam => {
                let mut next = self.next(stamp.at);
                next.team_reminded_at = Some(stamp.at);
                Ok(Taken { maintenance: next, update: None })
            }
            Due::RemindSubscribers => {
                let mut next = self.next(stamp.at);
                next.subscribers_reminded_at = Some(stamp.at);
                Ok(Taken { maintenance: next, update: None })
            }
            Due::Start => {
                let outcome = self.post_update(message, Some(MaintenanceStatus::InProgress), stamp)?;
                Ok(Taken { maintenance: outcome.maintenance, update: Some(outcome.update) })
            }
            Due::Complete => {
                let outcome = self.post_update(message, Some(MaintenanceStatus::Completed), stamp)?;
                Ok(Taken { maintenance: outcome.maintenance, update: Some(outcome.update) })
            }
        }
    }

    /// The components it puts under maintenance now.
    pub fn imposed(&self) -> impl Iterator<Item = ComponentId> + '_ {
        self.components.iter().copied().filter(|_| self.status.is_active())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulid::Ulid;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn with_stamp<T>(second: i64, op: impl FnOnce(&mut Stamp<'_>) -> T) -> T {
        let mut n = 0u128;
        let mut next = move || {
            n += 1;
            Ulid::from(n)
        };
        let mut stamp = Stamp { at: at(second), actor: Actor::System, next_id: &mut next };
        op(&mut stamp)
    }

    fn text(s: &str) -> Markdown {
        Markdown::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn window(start: i64, end: i64) -> Window {
        Window::in_zone(at(start), at(end), "Europe/Berlin", &TimeZone::fixed(Offset::UTC))
    }

    fn scheduled() -> Maintenance {
        let new = NewMaintenance {
            title: Title::parse("Database upgrade").unwrap_or_else(|e| panic!("{e}")),
            message: text("We will upgrade the database."),
            window: window(4 * 3600, 6 * 3600),
            components: vec![ComponentId::new(Ulid::from(99u128))],
            automation: Automation::default(),
            series_id: None,
        };
        with_stamp(0, |s| Maintenance::schedule(new, s)).unwrap_or_else(|e| panic!("{e}")).maintenance
    }

    #[test]
    fn the_status_only_moves_forward_and_cancelling_is_only_before_the_start() {
        let m = scheduled();
        assert_eq!(m.imposed().count(), 0);
        let started = with_stamp(10, |s| m.post_update(text("Started."), Some(MaintenanceStatus::InProgress), s));
        let started = started.unwrap_or_else(|e| panic!("{e}")).maintenance;
        assert_eq!((started.started_at, started.imposed().count()), (Some(at(10)), 1));
        let back = with_stamp(20, |s| started.post_update(text("Oops."), Some(MaintenanceStatus::Scheduled), s));
        assert!(back.is_err(), "backwards");
        assert!(with_stamp(20, |s| started.cancel(text("No."), s)).is_err(), "cancel once started");
        assert!(with_stamp(20, |s| started.reschedule(window(9000, 9999), text("Later."), s)).is_err());
        let done = with_stamp(30, |s| started.post_update(text("Done."), Some(MaintenanceStatus::Completed), s));
        let done = done.unwrap_or_else(|e| panic!("{e}")).maintenance;
        assert_eq!((done.completed_at, done.imposed().count()), (Some(at(30)), 0));
        assert!(with_stamp(40, |s| done.post_update(text("More?"), None, s)).is_err(), "closed");

        let cancelled = with_stamp(5, |s| m.cancel(text("Not needed."), s)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cancelled.maintenance.status, MaintenanceStatus::Cancelled);
        assert_eq!(cancelled.update.status, MaintenanceStatus::Cancelled);
        assert!(cancelled.maintenance.due(at(10 * 3600)).is_empty(), "a cancelled window does nothing");
    }

    #[test]
    fn windows_are_checked_and_rescheduling_owes_the_reminders_again() {
        let errors =
            |w: Window| w.check(at(0)).err().unwrap_or_default().into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(errors(window(100, 50)), ["ends_at"]);
        assert_eq!(errors(window(-7200, -3600)), ["ends_at"]);
        assert_eq!(errors(window(0, MAX_WINDOW_SECONDS + 1)), ["ends_at"]);
        assert_eq!(errors(Window { time_zone: String::new(), ..window(10, 20) }), ["time_zone"]);

        let mut m = scheduled();
        m.team_reminded_at = Some(at(3600));
        m.subscribers_reminded_at = Some(at(3 * 3600));
        let moved = with_stamp(3 * 3600 + 60, |s| m.reschedule(window(8 * 3600, 9 * 3600), text("Moved."), s));
        let moved = moved.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(moved.update.window, Some(window(8 * 3600, 9 * 3600)));
        assert_eq!((moved.maintenance.team_reminded_at, moved.maintenance.subscribers_reminded_at), (None, None));
    }

    #[test]
    fn steps_fall_due_in_order_and_a_late_run_gets_what_it_missed() {
        let m = scheduled(); // 04:00 to 06:00 after the start of the clock
        assert!(m.due(at(0)).is_empty());
        assert_eq!(m.due(at(3600)), [Due::RemindTeam], "three hours before");
        assert_eq!(m.due(at(3 * 3600)), [Due::RemindTeam, Due::RemindSubscribers], "an hour before");
        let mut reminded = m.clone();
        reminded.team_reminded_at = Some(at(3600));
        reminded.subscribers_reminded_at = Some(at(3 * 3600));
        assert!(reminded.due(at(3 * 3600 + 1)).is_empty(), "each reminder once");
        assert_eq!(reminded.due(at(4 * 3600)), [Due::Start]);
        // A scheduler that was down through the whole window: start and complete, and
        // no reminder for something already under way.
        assert_eq!(m.due(at(7 * 3600)), [Due::Start, Due::Complete]);
        let manual = Maintenance {
            automation: Automation {
                start: false,
                complete: false,
                remind_subscribers_minutes: None,
                remind_team: false,
            },
            ..m
        };
        assert!(manual.due(at(7 * 3600)).is_empty());
    }
}
