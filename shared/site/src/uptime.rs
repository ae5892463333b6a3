//! Downtime per component and day, from the public incident history.
//!
//! Uptime = 1 − (minutes of major outage + 0.3 × minutes of partial outage) ÷ minutes
//! in the period. Degraded performance is shown on the bars but is not downtime.

use crate::snapshot::IncidentRecord;
use beacon_domain::{ComponentId, ComponentStatus, IncidentStatus};
use jiff::{SignedDuration, Timestamp};

pub const DAYS: i64 = 90;
const DAY: SignedDuration = SignedDuration::from_hours(24);

/// What a component endured on one day, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Day {
    pub major: i64,
    pub partial: i64,
    pub degraded: i64,
    /// The component did not exist yet.
    pub no_data: bool,
}

impl Day {
    pub fn class(&self) -> &'static str {
        if self.no_data {
            "none"
        } else if self.major > 0 {
            "major"
        } else if self.partial > 0 {
            "partial"
        } else if self.degraded > 0 {
            "degraded"
        } else {
            "ok"
        }
    }
}

/// The intervals during which an incident imposed a status on the component, replayed
/// from its public updates (each carries the component changes and the status).
fn segments(
    record: &IncidentRecord,
    component: ComponentId,
    now: Timestamp,
) -> Vec<(Timestamp, Timestamp, ComponentStatus)> {
    let mut out = Vec::new();
    let mut imposed: Option<ComponentStatus> = None;
    let mut open = true;
    let mut since: Option<Timestamp> = None;
    for update in &record.updates {
        let current = if open { imposed } else { None };
        if let (Some(status), Some(start)) = (current, since) {
            out.push((start, update.created_at, status));
        }
        for change in update.affected_components.iter().filter(|c| c.id == component) {
            imposed = change.new;
        }
        open = update.status != IncidentStatus::Resolved;
        since = Some(update.created_at);
    }
    if let (true, Some(status), Some(start)) = (open, imposed, since) {
        out.push((start, now, status));
    }
    out
}

/// The last [`DAYS`] days (oldest first, the last one being today) for one component.
pub fn days(component: ComponentId, created_at: Timestamp, incidents: &[IncidentRecord], now: Timestamp) -> Vec<Day> {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).start_of_day().map(|z| z.timestamp()).unwrap_or(now);
    let all: Vec<_> = incidents.iter().flat_map(|r| segments(r, component, now)).collect();
    (0..DAYS)
        .map(|back| {
            let start = today.checked_sub(DAY * (DAYS - 1 - back) as i32).unwrap_or(today);
            let end = start.checked_add(DAY).unwrap_or(start);
            let mut day = Day { no_data: end <= created_at, ..Day::default() };
            for (from, to, status) in &all {
                let overlap = (*to.min(&end)).duration_since(*from.max(&start)).as_secs();
                if overlap <= 0 {
                    continue;
                }
                match status {
                    ComponentStatus::MajorOutage => day.major += overlap,
                    ComponentStatus::PartialOutage => day.partial += overlap,
                    ComponentStatus::DegradedPerformance => day.degraded += overlap,
                    ComponentStatus::Operational | ComponentStatus::UnderMaintenance => {}
                }
            }
            day
        })
        .collect()
}

/// Uptime over the days with data, as a fraction.
pub fn uptime(days: &[Day]) -> f64 {
    let counted: Vec<_> = days.iter().filter(|d| !d.no_data).collect();
    if counted.is_empty() {
        return 1.0;
    }
    let total = counted.len() as f64 * DAY.as_secs_f64();
    let down: f64 = counted.iter().map(|d| d.major as f64 + 0.3 * d.partial as f64).sum();
    (1.0 - down / total).clamp(0.0, 1.0)
}
