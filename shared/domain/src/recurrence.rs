//! Recurring maintenance windows: the part of RFC 5545's RRULE that maintenance needs
//! (`FREQ=DAILY|WEEKLY|MONTHLY`, `INTERVAL`, `BYDAY` with ordinals for monthly rules,
//! `COUNT`, `UNTIL`), expanded in the series' own time zone so that a window keeps its
//! local time across daylight-saving changes. Anything else in a rule is refused when it
//! is entered, never silently ignored.
//!
//! Why not a general RRULE crate: the one well-kept expander is built on chrono with the
//! whole tz database compiled in (over a megabyte in every Lambda zip); the project keeps
//! time in jiff, whose `compatible` disambiguation is RFC 5545's own rule for local times
//! that a DST change skips or repeats. The tests check this expander against that crate.

use crate::error::FieldError;
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How far an expansion looks before giving up: a rule whose next occurrence is further
/// than this many periods away is treated as having none.
const MAX_PERIODS: i64 = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

/// A day of the week, with an ordinal in monthly rules (`1SU`: the first Sunday, `-1FR`:
/// the last Friday).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByDay {
    pub ordinal: Option<i8>,
    pub weekday: Weekday,
}

/// A parsed recurrence rule. Its text form is kept as entered (normalised) for storage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Recurrence {
    pub frequency: Frequency,
    pub interval: u32,
    pub by_day: Vec<ByDay>,
    pub count: Option<u32>,
    pub until: Option<Timestamp>,
}

fn weekday(code: &str) -> Option<Weekday> {
    Some(match code {
        "MO" => Weekday::Monday,
        "TU" => Weekday::Tuesday,
        "WE" => Weekday::Wednesday,
        "TH" => Weekday::Thursday,
        "FR" => Weekday::Friday,
        "SA" => Weekday::Saturday,
        "SU" => Weekday::Sunday,
        _ => return None,
    })
}

fn code(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "MO",
        Weekday::Tuesday => "TU",
        Weekday::Wednesday => "WE",
        Weekday::Thursday => "TH",
        Weekday::Friday => "FR",
        Weekday::Saturday => "SA",
        Weekday::Sunday => "SU",
    }
}

fn invalid(message: impl Into<String>) -> FieldError {
    FieldError::new("recurrence", message)
}

impl FromStr for Recurrence {
    type Err = FieldError;

    /// Reads `FREQ=WEEKLY;BYDAY=SU` (an `RRULE:` prefix is allowed).
    fn from_str(raw: &str) -> Result<Self, FieldError> {
        let text = raw.trim();
        let text = text.strip_prefix("RRULE:").unwrap_or(text);
        if text.is_empty() || text.len() > 300 {
            return Err(invalid("a rule such as FREQ=WEEKLY;BYDAY=SU"));
        }
        let (mut frequency, mut interval, mut by_day, mut count, mut until) = (None, 1u32, Vec::new(), None, None);
        for part in text.split(';').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| invalid(format!("{part:?} is not NAME=VALUE")))?;
            match name.to_ascii_uppercase().as_str() {
                "FREQ" => {
                    frequency = Some(match value.to_ascii_uppercase().as_str() {
                        "DAILY" => Frequency::Daily,
                        "WEEKLY" => Frequency::Weekly,
                        "MONTHLY" => Frequency::Monthly,
                        other => {
                            return Err(invalid(format!("FREQ={other} is not supported (DAILY, WEEKLY or MONTHLY)")));
                        }
                    })
                }
                "INTERVAL" => {
                    interval = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=366).contains(n))
                        .ok_or_else(|| invalid("INTERVAL is a number from 1 to 366"))?
                }
                "COUNT" => {
                    count = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|n| (1..=10_000).contains(n))
                            .ok_or_else(|| invalid("COUNT is a number from 1 to 10000"))?,
                    )
                }
                "UNTIL" => until = Some(parse_until(value)?),
                "BYDAY" => {
                    for day in value.split(',') {
                        let day = day.trim().to_ascii_uppercase();
                        let split = day.len().saturating_sub(2);
                        let (ordinal, name) = day.split_at(split);
                        let weekday = weekday(name).ok_or_else(|| invalid(format!("BYDAY {day:?} is not a day")))?;
                        let ordinal = match ordinal.trim_start_matches('+') {
                            "" => None,
                            n => {
                                Some(n.parse::<i8>().ok().filter(|n| *n != 0 && (-5..=5).contains(n)).ok_or_else(
                                    || invalid(format!("BYDAY {day:?}: the ordinal is 1 to 5 or -1 to -5")),
                                )?)
                            }
                        };
                        by_day.push(ByDay { ordinal, weekday });
                    }
                }
                "WKST" if value.eq_ignore_ascii_case("MO") => {}
                other => return Err(invalid(format!("{other} is not supported in maintenance rules"))),
            }
        }
        let frequency = frequency.ok_or_else(|| invalid("the rule needs FREQ"))?;
        if count.is_some() && until.is_some() {
            return Err(invalid("COUNT and UNTIL cannot both be given"));
        }
        match frequency {
            Frequency::Daily if !by_day.is_empty() => return Err(invalid("BYDAY is for WEEKLY and MONTHLY rules")),
            Frequency::Weekly if by_day.iter().any(|d| d.ordinal.is_some()) => {
                return Err(invalid("a WEEKLY rule's BYDAY takes no ordinals"));
            }
            _ => {}
        }
        by_day.sort_by_key(|d| (d.ordinal, d.weekday.to_monday_zero_offset()));
        by_day.dedup();
        Ok(Self { frequency, interval, by_day, count, until })
    }
}

fn parse_until(value: &str) -> Result<Timestamp, FieldError> {
    // RFC 5545 form (`20271231T235959Z`) or RFC 3339.
    let bad = || invalid("UNTIL is a UTC time such as 20271231T235959Z");
    if let Ok(t) = value.parse::<Timestamp>() {
        return Ok(t);
    }
    let utc = value.strip_suffix('Z').ok_or_else(bad)?;
    let civil = jiff::fmt::strtime::parse("%Y%m%dT%H%M%S", utc).and_then(|t| t.to_datetime()).map_err(|_| bad())?;
    civil.to_zoned(TimeZone::UTC).map(|z| z.timestamp()).map_err(|_| bad())
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frequency = match self.frequency {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
        };
        write!(f, "FREQ={frequency}")?;
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        if !self.by_day.is_empty() {
            let days: Vec<String> = self
                .by_day
                .iter()
                .map(|d| format!("{}{}", d.ordinal.map(|n| n.to_string()).unwrap_or_default(), code(d.weekday)))
                .collect();
            write!(f, ";BYDAY={}", days.join(","))?;
        }
        if let Some(count) = self.count {
            write!(f, ";COUNT={count}")?;
        }
        if let Some(until) = self.until {
            write!(f, ";UNTIL={}", until.strftime("%Y%m%dT%H%M%SZ"))?;
        }
        Ok(())
    }
}

impl TryFrom<String> for Recurrence {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        s.parse()
    }
}

impl From<Recurrence> for String {
    fn from(r: Recurrence) -> String {
        r.to_string()
    }
}

/// The `n`th (1-based; negative from the end) `weekday` of a month, if the month has one.
fn nth_weekday(first_of_month: Date, weekday: Weekday, n: i8) -> Option<Date> {
    first_of_month.nth_weekday_of_month(n, weekday).ok()
}

impl Recurrence {
    /// The local dates of period `k` (the k-th day, week or month after the start's),
    /// in order.
    fn dates_in_period(&self, start: Date, k: i64) -> Vec<Date> {
        let step = k * i64::from(self.interval);
        match self.frequency {
            Frequency::Daily => start.checked_add(step.days()).ok().into_iter().collect(),
            Frequency::Weekly => {
                let monday = start
                    .checked_sub(i64::from(start.weekday().to_monday_zero_offset()).days())
                    .and_then(|m| m.checked_add((step * 7).days()));
                let Ok(monday) = monday else { return Vec::new() };
                let days: Vec<Weekday> = if self.by_day.is_empty() {
                    vec![start.weekday()]
                } else {
                    self.by_day.iter().map(|d| d.weekday).collect()
                };
                let mut dates: Vec<Date> = days
                    .into_iter()
                    .filter_map(|d| monday.checked_add(i64::from(d.to_monday_zero_offset()).days()).ok())
                    .collect();
                dates.sort();
                dates
            }
            Frequency::Monthly => {
                let Ok(first) = start.first_of_month().checked_add(step.months()) else { return Vec::new() };
                let mut dates: Vec<Date> = if self.by_day.is_empty() {
                    // The start's day of the month; months without it are skipped.
                    Date::new(first.year(), first.month(), start.day()).ok().into_iter().collect()
                } else {
                    self.by_day
                        .iter()
                        .flat_map(|d| match d.ordinal {
                            Some(n) => nth_weekday(first, d.weekday, n).into_iter().collect::<Vec<_>>(),
                            None => (1..=5).filter_map(|n| nth_weekday(first, d.weekday, n)).collect(),
                        })
                        .collect()
                };
                dates.sort();
                dates.dedup();
                dates
            }
        }
    }

    /// The starts of the next `limit` occurrences that begin at or after `from`, for a
    /// series whose first window starts at `start` (local wall-clock time in `zone`).
    /// Each keeps the start's local time; a local time that a DST change skips moves
    /// forward by the gap, and one it repeats is the first of the two (RFC 5545's rule,
    /// jiff's `compatible`). `COUNT` counts from the series' start.
    pub fn occurrences(&self, start: DateTime, zone: &TimeZone, from: Timestamp, limit: usize) -> Vec<Timestamp> {
        let mut found = Vec::new();
        let mut counted = 0u32;
        for k in 0..MAX_PERIODS {
            for date in self.dates_in_period(start.date(), k) {
                let local = date.to_datetime(start.time());
                if local < start {
                    continue;
                }
                let Ok(zoned) = zone.to_ambiguous_zoned(local).compatible() else { continue };
                let at = zoned.timestamp();
                if self.until.is_some_and(|until| at > until) {
                    return found;
                }
                counted += 1;
                if self.count.is_some_and(|count| counted > count) {
                    return found;
                }
                if at >= from {
                    found.push(at);
                    if found.len() >= limit {
                        return found;
                    }
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap_or_else(|e| panic!("{e}"))
    }

    fn rule(s: &str) -> Recurrence {
        s.parse().unwrap_or_else(|e: FieldError| panic!("{s}: {e}"))
    }

    fn local(s: &str) -> DateTime {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn sundays_at_two_keep_their_local_time_across_both_dst_changes() {
        // Every Sunday 02:00 Berlin, from 2027-03-14: the clocks go forward on 28 March
        // (02:00 does not exist that day) and back on 31 October (02:00 happens twice).
        let sundays = rule("FREQ=WEEKLY;BYDAY=SU");
        let starts = sundays.occurrences(local("2027-03-14T02:00"), &berlin(), ts("2027-03-01T00:00Z"), 4);
        assert_eq!(
            starts,
            [
                ts("2027-03-14T01:00Z"), // CET, +01:00
                ts("2027-03-21T01:00Z"),
                ts("2027-03-28T01:00Z"), // the gap: 03:00 CEST, the instant 02:00 CET would be
                ts("2027-04-04T00:00Z"), // CEST, +02:00: still 02:00 local
            ]
        );
        let autumn = sundays.occurrences(local("2027-03-14T02:00"), &berlin(), ts("2027-10-24T00:00Z"), 2);
        assert_eq!(autumn, [ts("2027-10-24T00:00Z"), ts("2027-10-31T00:00Z")], "the first 02:00 of the two");
        let after = sundays.occurrences(local("2027-03-14T02:00"), &berlin(), ts("2027-11-01T00:00Z"), 1);
        assert_eq!(after, [ts("2027-11-07T01:00Z")], "CET again");
    }

    #[test]
    fn monthly_ordinals_intervals_counts_and_until() {
        let first_sunday = rule("FREQ=MONTHLY;BYDAY=1SU");
        let got = first_sunday.occurrences(local("2027-01-03T03:00"), &TimeZone::UTC, ts("2027-01-01T00:00Z"), 3);
        assert_eq!(got, [ts("2027-01-03T03:00Z"), ts("2027-02-07T03:00Z"), ts("2027-03-07T03:00Z")]);
        let last_friday = rule("FREQ=MONTHLY;BYDAY=-1FR");
        let got = last_friday.occurrences(local("2027-01-29T22:00"), &TimeZone::UTC, ts("2027-01-01T00:00Z"), 2);
        assert_eq!(got, [ts("2027-01-29T22:00Z"), ts("2027-02-26T22:00Z")]);
        // The 31st: months without one are skipped.
        let got =
            rule("FREQ=MONTHLY").occurrences(local("2027-01-31T01:00"), &TimeZone::UTC, ts("2027-01-01T00:00Z"), 3);
        assert_eq!(got, [ts("2027-01-31T01:00Z"), ts("2027-03-31T01:00Z"), ts("2027-05-31T01:00Z")]);
        let fortnightly = rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=3");
        let got = fortnightly.occurrences(local("2027-01-05T09:00"), &TimeZone::UTC, ts("2027-01-01T00:00Z"), 10);
        assert_eq!(got, [ts("2027-01-05T09:00Z"), ts("2027-01-07T09:00Z"), ts("2027-01-19T09:00Z")]);
        // COUNT counts from the start, not from `from`.
        let later = fortnightly.occurrences(local("2027-01-05T09:00"), &TimeZone::UTC, ts("2027-01-06T00:00Z"), 10);
        assert_eq!(later.len(), 2);
        let until = rule("FREQ=DAILY;UNTIL=20270103T000000Z");
        let got = until.occurrences(local("2027-01-01T00:00"), &TimeZone::UTC, ts("2026-12-01T00:00Z"), 10);
        assert_eq!(got.len(), 3, "the 1st, 2nd and 3rd: UNTIL is inclusive");
    }

    #[test]
    fn rules_are_read_strictly_and_written_back_the_same() {
        let r = rule("RRULE:freq=weekly;byday=SU,MO;interval=2");
        assert_eq!(r.to_string(), "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,SU");
        assert_eq!(rule(&r.to_string()), r);
        assert_eq!(
            rule("FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20271231T235959Z").to_string(),
            "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20271231T235959Z"
        );
        for bad in [
            "",
            "BYDAY=SU",
            "FREQ=YEARLY",
            "FREQ=HOURLY",
            "FREQ=WEEKLY;BYDAY=XX",
            "FREQ=WEEKLY;BYDAY=1SU",
            "FREQ=DAILY;BYDAY=MO",
            "FREQ=MONTHLY;BYDAY=6SU",
            "FREQ=WEEKLY;BYMONTH=1",
            "FREQ=WEEKLY;BYSETPOS=1",
            "FREQ=WEEKLY;COUNT=2;UNTIL=20271231T000000Z",
            "FREQ=WEEKLY;INTERVAL=0",
            "FREQ=WEEKLY;UNTIL=tomorrow",
        ] {
            assert!(bad.parse::<Recurrence>().is_err(), "{bad:?} was accepted");
        }
    }

    /// The reference: the `rrule` crate (chrono-based, test-only) agrees occurrence by
    /// occurrence on rules of each kind, across DST changes in two zones.
    #[test]
    fn the_expansion_agrees_with_the_rrule_crate() {
        let cases = [
            ("Europe/Berlin", "20270103T020000", "FREQ=WEEKLY;BYDAY=SU"),
            ("Europe/Berlin", "20270104T023000", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR"),
            ("America/New_York", "20270101T020000", "FREQ=DAILY;INTERVAL=3"),
            ("America/New_York", "20270103T013000", "FREQ=MONTHLY;BYDAY=1SU,-1SA"),
            ("Australia/Sydney", "20270131T020000", "FREQ=MONTHLY"),
        ];
        for (zone, start, text) in cases {
            let reference: rrule::RRuleSet = format!("DTSTART;TZID={zone}:{start}\nRRULE:{text};COUNT=60")
                .parse()
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            let expected: Vec<i64> = reference.all(60).dates.iter().map(|d| d.timestamp()).collect();
            let ours = rule(&format!("{text};COUNT=60"));
            let start = jiff::fmt::strtime::parse("%Y%m%dT%H%M%S", start)
                .and_then(|t| t.to_datetime())
                .unwrap_or_else(|e| panic!("{e}"));
            let zone = TimeZone::get(zone).unwrap_or_else(|e| panic!("{e}"));
            let got: Vec<i64> =
                ours.occurrences(start, &zone, Timestamp::MIN, 100).iter().map(|t| t.as_second()).collect();
            assert_eq!(got, expected, "{text} from {start} in {}", zone.iana_name().unwrap_or_default());
        }
    }
}
