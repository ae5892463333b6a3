//! Downtime per component and day: from automated checks on the days a component's
//! monitors observed it, from the public incident history on the others.
//!
//! Uptime = 1 − (seconds down + 0.3 × seconds of partial outage) ÷ seconds observed,
//! where a day from incident history observes all of its seconds but those of planned
//! maintenance, and a checked day those its checks covered (and is down while the
//! checks' verdict was down; checks muted by a maintenance count neither way). Degraded
//! performance is shown on the bars but is not downtime.

use crate::snapshot::{IncidentRecord, MaintenanceRecord, MonitoredDay};
use beacon_domain::{Component, ComponentId, ComponentStatus, IncidentStatus};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::collections::HashMap;

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
    /// Seconds automated checks covered; `0`: the day comes from incident history.
    pub observed: i64,
    /// Seconds of planned maintenance: not part of the day's observed time.
    pub maintenance: i64,
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
        } else if self.maintenance > 0 {
            "maintenance"
        } else {
            "ok"
        }
    }
}

/// A span during which an incident imposed a status on a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    from: Timestamp,
    to: Timestamp,
    status: ComponentStatus,
}

/// The start of the oldest day shown: midnight UTC, [`DAYS`]` - 1` days before today.
pub fn window_start(now: Timestamp) -> Timestamp {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).start_of_day().map(|z| z.timestamp()).unwrap_or(now);
    today.checked_sub(DAY * (DAYS - 1) as i32).unwrap_or(today)
}

/// Replays one incident's public updates (each carries the component changes and the
/// incident status) into the spans during which it imposed a status on each component.
fn replay(record: &IncidentRecord, now: Timestamp, out: &mut HashMap<ComponentId, Vec<Segment>>) {
    let mut imposed: Vec<(ComponentId, ComponentStatus)> = Vec::new();
    let mut open = true;
    let mut since: Option<Timestamp> = None;
    for update in &record.updates {
        if let (true, Some(from)) = (open, since) {
            for &(component, status) in &imposed {
                out.entry(component).or_default().push(Segment { from, to: update.created_at, status });
            }
        }
        for change in &update.affected_components {
            imposed.retain(|(c, _)| *c != change.id);
            if let Some(status) = change.new {
                imposed.push((change.id, status));
            }
        }
        open = update.status != IncidentStatus::Resolved;
        since = Some(update.created_at);
    }
    if let (true, Some(from)) = (open, since) {
        for &(component, status) in &imposed {
            out.entry(component).or_default().push(Segment { from, to: now, status });
        }
    }
}

/// The last [`DAYS`] days (oldest first, the last one being today) of every component,
/// from one pass over the incidents that reach into the window.
pub fn days_by_component(
    components: &[Component],
    incidents: &[IncidentRecord],
    maintenances: &[MaintenanceRecord],
    monitored: &BTreeMap<ComponentId, Vec<MonitoredDay>>,
    now: Timestamp,
) -> HashMap<ComponentId, Vec<Day>> {
    let start = window_start(now);
    let mut segments: HashMap<ComponentId, Vec<Segment>> = HashMap::new();
    // The time each maintenance actually ran (not its planned window): under way since
    // it started, until it completed.
    for r in maintenances {
        let m = &r.maintenance;
        let Some(from) = m.started_at else { continue };
        let to = m.completed_at.unwrap_or(now);
        if to < start {
            continue;
        }
        for id in &m.components {
            segments.entry(*id).or_default().push(Segment { from, to, status: ComponentStatus::UnderMaintenance });
        }
    }
    for record in incidents {
        // A closed incident last touched before the window imposed nothing inside it.
        if !record.incident.status.is_open() && record.incident.updated_at < start {
            continue;
        }
        replay(record, now, &mut segments);
    }
    components
        .iter()
        .map(|c| {
            let mut days = days(c.created_at, segments.get(&c.id).map_or(&[][..], Vec::as_slice), start);
            if let Some(checked) = monitored.get(&c.id) {
                measured(&mut days, checked, start);
            }
            (c.id, days)
        })
        .collect()
}

/// Days the checks observed replace those from incident history.
fn measured(days: &mut [Day], checked: &[MonitoredDay], window_start: Timestamp) {
    let first = window_start.to_zoned(jiff::tz::TimeZone::UTC).date();
    for m in checked.iter().filter(|m| m.observed_seconds > 0) {
        let Ok(span) = m.date.since(first) else { continue };
        let Some(day) = usize::try_from(span.get_days()).ok().and_then(|n| days.get_mut(n)) else { continue };
        let observed = m.observed_seconds.min(DAY.as_secs());
        *day = Day {
            major: m.down_seconds.min(observed),
            partial: 0,
            degraded: m.degraded_seconds.min(observed),
            no_data: false,
            observed,
            maintenance: m.maintenance_seconds.min(DAY.as_secs()),
        };
    }
}

fn days(created_at: Timestamp, segments: &[Segment], window_start: Timestamp) -> Vec<Day> {
    (0..DAYS)
        .map(|n| {
            let start = window_start.checked_add(DAY * n as i32).unwrap_or(window_start);
            let end = start.checked_add(DAY).unwrap_or(start);
            let mut day = Day { no_data: end <= created_at, ..Day::default() };
            for segment in segments {
                let overlap = segment.to.min(end).duration_since(segment.from.max(start)).as_secs();
                if overlap <= 0 {
                    continue;
                }
                match segment.status {
                    ComponentStatus::MajorOutage => day.major += overlap,
                    ComponentStatus::PartialOutage => day.partial += overlap,
                    ComponentStatus::DegradedPerformance => day.degraded += overlap,
                    ComponentStatus::UnderMaintenance => day.maintenance += overlap,
                    ComponentStatus::Operational => {}
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
    // A checked day's observed time already leaves muted checks out; a day from history
    // leaves out its maintenance (never below its downtime).
    let total: f64 = counted
        .iter()
        .map(|d| {
            if d.observed > 0 {
                d.observed as f64
            } else {
                let down = d.major + d.partial;
                (DAY.as_secs() - d.maintenance.min(DAY.as_secs())).max(down) as f64
            }
        })
        .sum();
    if total <= 0.0 {
        return 1.0;
    }
    let down: f64 = counted.iter().map(|d| d.major as f64 + 0.3 * d.partial as f64).sum();
    (1.0 - down / total).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use beacon_domain::{
        Actor, AffectedChange, AffectedComponent, Impact, Incident, IncidentId, IncidentSource, Markdown, Name,
        PublicUpdate, Title, UpdateId,
    };

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn component(created_at: Timestamp) -> Component {
        Component {
            id: ComponentId::new(ulid::Ulid::new()),
            name: Name::parse("API").unwrap_or_else(|e| panic!("{e}")),
            description: beacon_domain::Description::empty(),
            position: 0,
            group_id: None,
            manual_status: ComponentStatus::Operational,
            status: ComponentStatus::Operational,
            created_at,
            updated_at: created_at,
            version: 1,
        }
    }

    /// One public update: when, the incident's status, and a component's new status.
    type Step<'a> = (&'a str, IncidentStatus, Option<(ComponentId, Option<ComponentStatus>)>);

    fn incident(steps: &[Step<'_>]) -> IncidentRecord {
        let id = IncidentId::new(ulid::Ulid::new());
        let updates: Vec<PublicUpdate> = steps
            .iter()
            .map(|(time, status, change)| PublicUpdate {
                id: UpdateId::new(ulid::Ulid::new()),
                incident_id: id,
                message: Markdown::parse("update").unwrap_or_else(|e| panic!("{e}")),
                status: *status,
                impact: None,
                affected_components: change
                    .iter()
                    .map(|(component, new)| AffectedChange { id: *component, old: None, new: *new })
                    .collect(),
                author: Actor::System,
                created_at: at(time),
                notify: true,
            })
            .collect();
        let first = updates.first().map_or(Timestamp::UNIX_EPOCH, |u| u.created_at);
        let last = updates.last().map_or(first, |u| u.created_at);
        let status = updates.last().map_or(IncidentStatus::Investigating, |u| u.status);
        IncidentRecord {
            incident: Incident {
                id,
                title: Title::parse("Outage").unwrap_or_else(|e| panic!("{e}")),
                status,
                impact: Impact::Major,
                components: Vec::<AffectedComponent>::new(),
                source: IncidentSource::Manual,
                template_id: None,
                created_at: first,
                updated_at: last,
                identified_at: None,
                monitoring_at: None,
                resolved_at: (status == IncidentStatus::Resolved).then_some(last),
                monitor_id: None,
                integration_id: None,
                auto_resolve: true,
                published: true,
                published_at: None,
                postmortem: None,
                backfilled: false,
                version: updates.len() as u64,
            },
            updates,
        }
    }

    const NOW: &str = "2026-06-30T12:00:00Z";

    fn day(days: &[Day], date: &str) -> Day {
        let start = window_start(at(NOW));
        let n = at(&format!("{date}T00:00:00Z")).duration_since(start).as_hours() / 24;
        days[usize::try_from(n).unwrap_or(usize::MAX)]
    }

    #[test]
    fn the_window_is_ninety_days_ending_today() {
        assert_eq!(window_start(at(NOW)), at("2026-04-02T00:00:00Z"));
    }

    #[test]
    fn an_outage_counts_from_its_update_to_its_resolution_split_at_midnight() {
        let api = component(at("2025-01-01T00:00:00Z"));
        let outage = incident(&[
            ("2026-06-10T23:00:00Z", IncidentStatus::Investigating, Some((api.id, Some(ComponentStatus::MajorOutage)))),
            ("2026-06-11T00:30:00Z", IncidentStatus::Identified, None),
            ("2026-06-11T01:00:00Z", IncidentStatus::Resolved, None),
        ]);
        let days = &days_by_component(std::slice::from_ref(&api), &[outage], &[], &BTreeMap::new(), at(NOW))[&api.id];
        assert_eq!(days.len(), DAYS as usize);
        assert_eq!(day(days, "2026-06-10").major, 3600);
        assert_eq!(day(days, "2026-06-11").major, 3600);
        assert_eq!(day(days, "2026-06-11").class(), "major");
        assert_eq!(day(days, "2026-06-12"), Day::default());
        // 2 h of major outage over 90 days with data.
        let expected = 1.0 - 7200.0 / (90.0 * 86_400.0);
        assert!((uptime(days) - expected).abs() < 1e-12, "{}", uptime(days));
    }

    #[test]
    fn partial_outage_weighs_less_and_degraded_is_not_downtime() {
        let api = component(at("2025-01-01T00:00:00Z"));
        let incidents = [incident(&[
            (
                "2026-06-01T10:00:00Z",
                IncidentStatus::Investigating,
                Some((api.id, Some(ComponentStatus::PartialOutage))),
            ),
            (
                "2026-06-01T11:00:00Z",
                IncidentStatus::Monitoring,
                Some((api.id, Some(ComponentStatus::DegradedPerformance))),
            ),
            ("2026-06-01T13:00:00Z", IncidentStatus::Resolved, None),
        ])];
        let days = &days_by_component(std::slice::from_ref(&api), &incidents, &[], &BTreeMap::new(), at(NOW))[&api.id];
        let june_first = day(days, "2026-06-01");
        assert_eq!((june_first.major, june_first.partial, june_first.degraded), (0, 3600, 7200));
        assert_eq!(june_first.class(), "partial");
        let expected = 1.0 - 0.3 * 3600.0 / (90.0 * 86_400.0);
        assert!((uptime(days) - expected).abs() < 1e-12);
    }

    #[test]
    fn an_open_incident_counts_until_now_and_a_removed_component_stops_counting() {
        let api = component(at("2025-01-01T00:00:00Z"));
        let web = component(at("2025-01-01T00:00:00Z"));
        let open = incident(&[
            ("2026-06-30T08:00:00Z", IncidentStatus::Investigating, Some((api.id, Some(ComponentStatus::MajorOutage)))),
            ("2026-06-30T09:00:00Z", IncidentStatus::Identified, Some((web.id, Some(ComponentStatus::MajorOutage)))),
            ("2026-06-30T10:00:00Z", IncidentStatus::Identified, Some((web.id, None))),
        ]);
        let all = days_by_component(&[api.clone(), web.clone()], &[open], &[], &BTreeMap::new(), at(NOW));
        assert_eq!(day(&all[&api.id], "2026-06-30").major, 4 * 3600);
        assert_eq!(day(&all[&web.id], "2026-06-30").major, 3600);
    }

    #[test]
    fn days_before_a_component_existed_have_no_data_and_do_not_count() {
        let api = component(at("2026-06-29T12:00:00Z"));
        let days = &days_by_component(std::slice::from_ref(&api), &[], &[], &BTreeMap::new(), at(NOW))[&api.id];
        assert!(day(days, "2026-06-28").no_data);
        assert_eq!(day(days, "2026-06-28").class(), "none");
        assert!(!day(days, "2026-06-29").no_data);
        assert_eq!(days.iter().filter(|d| !d.no_data).count(), 2);
        assert_eq!(uptime(days), 1.0);
    }

    #[test]
    fn incidents_closed_before_the_window_are_skipped() {
        let api = component(at("2025-01-01T00:00:00Z"));
        let old = incident(&[
            ("2026-01-10T10:00:00Z", IncidentStatus::Investigating, Some((api.id, Some(ComponentStatus::MajorOutage)))),
            ("2026-01-10T11:00:00Z", IncidentStatus::Resolved, None),
        ]);
        let days = &days_by_component(std::slice::from_ref(&api), &[old], &[], &BTreeMap::new(), at(NOW))[&api.id];
        assert!(days.iter().all(|d| *d == Day::default()));
    }

    #[test]
    fn checked_days_use_monitored_downtime_over_the_seconds_observed() {
        let api = component(at("2025-01-01T00:00:00Z"));
        // Incident history says an hour of major outage on June 10; the checks, which
        // observed 12 hours that day, found 30 minutes down and 10 degraded.
        let outage = incident(&[
            ("2026-06-10T10:00:00Z", IncidentStatus::Investigating, Some((api.id, Some(ComponentStatus::MajorOutage)))),
            ("2026-06-10T11:00:00Z", IncidentStatus::Resolved, None),
        ]);
        let date = |d: &str| d.parse::<jiff::civil::Date>().unwrap_or_else(|e| panic!("{e}"));
        let checked = vec![
            MonitoredDay {
                date: date("2026-06-10"),
                down_seconds: 1800,
                degraded_seconds: 600,
                observed_seconds: 43_200,
                maintenance_seconds: 0,
                p50_ms: Some(100),
                p95_ms: Some(300),
            },
            // Outside the window: ignored.
            MonitoredDay {
                date: date("2026-01-01"),
                down_seconds: 86_400,
                degraded_seconds: 0,
                observed_seconds: 86_400,
                maintenance_seconds: 0,
                p50_ms: None,
                p95_ms: None,
            },
        ];
        let monitored = BTreeMap::from([(api.id, checked)]);
        let days = &days_by_component(std::slice::from_ref(&api), &[outage], &[], &monitored, at(NOW))[&api.id];
        let june_tenth = day(days, "2026-06-10");
        assert_eq!((june_tenth.major, june_tenth.degraded, june_tenth.observed), (1800, 600, 43_200));
        assert_eq!(june_tenth.class(), "major");
        let expected = 1.0 - 1800.0 / (89.0 * 86_400.0 + 43_200.0);
        assert!((uptime(days) - expected).abs() < 1e-12, "{}", uptime(days));
    }
}
