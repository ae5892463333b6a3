//! When a monitor's results open or resolve an incident: the rules, pure.
//!
//! A round is one check from every region the monitor runs in. The round is down only
//! when at least half of the regions that answered say down (one flaky region opens
//! nothing, and is recorded as such); degraded when at least half say degraded or
//! worse. An incident opens after `confirm_after` consecutive failing rounds and resolves
//! after `recover_after` consecutive passing ones; a monitor never has two incidents
//! open.

use serde::{Deserialize, Serialize};

/// What one check, or one round, found.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    Up,
    Degraded,
    Down,
}

/// A round's verdict across regions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundVerdict {
    pub outcome: CheckOutcome,
    /// Regions whose result the quorum overruled (a flaky region, recorded, not hidden).
    pub dissenting: Vec<String>,
}

/// The quorum of one round: the worst outcome at least half of the regions share.
pub fn round_verdict(results: &[(String, CheckOutcome)]) -> Option<RoundVerdict> {
    if results.is_empty() {
        return None;
    }
    let at_least = |level: CheckOutcome| results.iter().filter(|(_, o)| *o >= level).count() * 2 >= results.len();
    let outcome = if at_least(CheckOutcome::Down) {
        CheckOutcome::Down
    } else if at_least(CheckOutcome::Degraded) {
        CheckOutcome::Degraded
    } else {
        CheckOutcome::Up
    };
    let dissenting = results.iter().filter(|(_, o)| *o != outcome).map(|(r, _)| r.clone()).collect();
    Some(RoundVerdict { outcome, dissenting })
}

/// How many rounds confirm a failure and a recovery.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    pub confirm_after: u32,
    pub recover_after: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { confirm_after: 2, recover_after: 2 }
    }
}

/// Where a monitor stands between rounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorState {
    /// The outcome an open incident stands for (`None`: no incident open).
    pub confirmed: Option<CheckOutcome>,
    /// Consecutive rounds at `Degraded` or worse, and at `Down`.
    pub failing_rounds: u32,
    pub down_rounds: u32,
    /// Consecutive passing rounds while an incident is open.
    pub passing_rounds: u32,
}

/// What a round asks of the incident the monitor owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    Stay,
    /// Open an incident for this outcome.
    Open(CheckOutcome),
    /// The open incident's outcome changed (degraded to down, or back).
    Change(CheckOutcome),
    /// Resolve the open incident.
    Resolve,
}

impl MonitorState {
    /// Takes one round's verdict; returns the next state and what to do.
    pub fn advance(self, outcome: CheckOutcome, thresholds: Thresholds) -> (Self, Step) {
        let mut next = self;
        if outcome == CheckOutcome::Up {
            next.failing_rounds = 0;
            next.down_rounds = 0;
            if self.confirmed.is_none() {
                next.passing_rounds = 0;
                return (next, Step::Stay);
            }
            next.passing_rounds = self.passing_rounds.saturating_add(1);
            if next.passing_rounds >= thresholds.recover_after.max(1) {
                return (Self::default(), Step::Resolve);
            }
            return (next, Step::Stay);
        }
        next.passing_rounds = 0;
        next.failing_rounds = self.failing_rounds.saturating_add(1);
        next.down_rounds = if outcome == CheckOutcome::Down { self.down_rounds.saturating_add(1) } else { 0 };
        let confirm = thresholds.confirm_after.max(1);
        // The outcome confirmed by now: down once enough rounds were down, else degraded.
        let confirmed_now = if next.down_rounds >= confirm {
            Some(CheckOutcome::Down)
        } else if next.failing_rounds >= confirm {
            Some(CheckOutcome::Degraded)
        } else {
            None
        };
        match (self.confirmed, confirmed_now) {
            (None, Some(level)) => {
                next.confirmed = Some(level);
                (next, Step::Open(level))
            }
            (Some(open), Some(level)) if level != open => {
                next.confirmed = Some(level);
                (next, Step::Change(level))
            }
            _ => (next, Step::Stay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CheckOutcome::*;
    use super::*;

    fn round(outcomes: &[CheckOutcome]) -> CheckOutcome {
        let results: Vec<(String, CheckOutcome)> =
            outcomes.iter().enumerate().map(|(n, o)| (format!("region-{n}"), *o)).collect();
        round_verdict(&results).map_or(Up, |v| v.outcome)
    }

    #[test]
    fn one_flaky_region_of_three_opens_nothing_and_is_named() {
        let results = vec![("eu".to_owned(), Up), ("us".to_owned(), Down), ("ap".to_owned(), Up)];
        let verdict = round_verdict(&results).unwrap_or_else(|| panic!("a verdict"));
        assert_eq!(verdict.outcome, Up);
        assert_eq!(verdict.dissenting, vec!["us".to_owned()]);
        assert_eq!(round(&[Down, Down, Up]), Down);
        assert_eq!(round(&[Down, Up]), Down, "half is enough");
        assert_eq!(round(&[Degraded, Down, Up]), Degraded, "two of three fail, one of them down");
        assert_eq!(round_verdict(&[]), None);
    }

    #[test]
    fn an_incident_opens_after_the_confirmation_threshold_and_resolves_after_recovery() {
        let t = Thresholds { confirm_after: 3, recover_after: 2 };
        let mut state = MonitorState::default();
        let mut steps = Vec::new();
        for outcome in [Down, Down, Up, Down, Down, Down, Down, Up, Down, Up, Up, Up] {
            let (next, step) = state.advance(outcome, t);
            steps.push(step);
            state = next;
        }
        use Step::*;
        assert_eq!(
            steps,
            vec![Stay, Stay, Stay, Stay, Stay, Open(Down), Stay, Stay, Stay, Stay, Resolve, Stay],
            "a passing round resets the count; a failing one resets the recovery"
        );
        assert_eq!(state, MonitorState::default());
    }

    #[test]
    fn degraded_and_down_are_told_apart_and_an_open_incident_follows_the_change() {
        let t = Thresholds { confirm_after: 2, recover_after: 1 };
        let (s, a) = MonitorState::default().advance(Degraded, t);
        let (s, b) = s.advance(Degraded, t);
        assert_eq!((a, b), (Step::Stay, Step::Open(Degraded)));
        let (s, c) = s.advance(Down, t);
        let (s, d) = s.advance(Down, t);
        assert_eq!((c, d), (Step::Stay, Step::Change(Down)));
        let (_, e) = s.advance(Up, t);
        assert_eq!(e, Step::Resolve);
    }

    #[test]
    fn thresholds_of_zero_act_as_one() {
        let t = Thresholds { confirm_after: 0, recover_after: 0 };
        let (s, open) = MonitorState::default().advance(Down, t);
        assert_eq!(open, Step::Open(Down));
        assert_eq!(s.advance(Up, t).1, Step::Resolve);
    }

    proptest::proptest! {
        /// Whatever the rounds: never two incidents open, a resolve only of an open one,
        /// and an open incident only after `confirm_after` failing rounds in a row.
        #[test]
        fn one_incident_at_a_time(
            rounds in proptest::collection::vec(0u8..3, 0..200),
            confirm in 1u32..5,
            recover in 1u32..5,
        ) {
            let t = Thresholds { confirm_after: confirm, recover_after: recover };
            let mut state = MonitorState::default();
            let mut open = false;
            let mut failing_run = 0u32;
            for r in rounds {
                let outcome = [Up, Degraded, Down][usize::from(r)];
                failing_run = if outcome == Up { 0 } else { failing_run + 1 };
                let (next, step) = state.advance(outcome, t);
                match step {
                    Step::Open(_) => {
                        proptest::prop_assert!(!open, "opened twice");
                        proptest::prop_assert!(failing_run >= confirm, "opened before confirmation");
                        open = true;
                    }
                    Step::Resolve => {
                        proptest::prop_assert!(open, "resolved nothing");
                        open = false;
                    }
                    Step::Change(_) => proptest::prop_assert!(open),
                    Step::Stay => {}
                }
                proptest::prop_assert_eq!(next.confirmed.is_some(), open);
                state = next;
            }
        }
    }
}
