//! Time and ids come from here, never from the domain, so tests can control both.

use jiff::Timestamp;
use std::sync::Mutex;
use ulid::Ulid;

/// The clock port.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to: for tests, seeding the past and replays.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now = now.checked_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Makes ULIDs from a clock's time, strictly increasing within the process even when
/// several are made in one millisecond, so records created in sequence also sort in
/// sequence.
#[derive(Debug, Default)]
pub struct UlidSource {
    last: Mutex<Ulid>,
}

impl UlidSource {
    pub fn next(&self, at: Timestamp) -> Ulid {
        let ms = u64::try_from(at.as_millisecond()).unwrap_or(0);
        let fresh = Ulid::from_parts(ms, rand::random::<u128>());
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let id = if fresh > *last { fresh } else { last.increment().unwrap_or(fresh) };
        *last = id;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_made_in_one_millisecond_still_increase() {
        let source = UlidSource::default();
        let at = Timestamp::from_second(1_700_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let ids: Vec<_> = (0..1000).map(|_| source.next(at)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.iter().all(|id| id.timestamp_ms() == 1_700_000_000_000));
    }
}
