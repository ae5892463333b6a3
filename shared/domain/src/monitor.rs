//! When a monitor's results open or resolve an incident: the rules, pure.
//!
//! A round is one check from every region the monitor runs in. The round is down only
//! when at least half of the regions that answered say down (one flaky region opens
//! nothing, and is recorded as such); degraded when at least half say degraded or
//! worse. An incident opens after `confirm_after` consecutive failing rounds and resolves
//! after `recover_after` consecutive passing ones; a monitor never has two incidents
//! open.

use crate::{AffectedComponent, ComponentStatus, Impact, IncidentId, MonitorId, Name};
use jiff::{SignedDuration, Timestamp};
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

impl CheckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Why a check did not come out up, in classes a team can act on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The name does not resolve.
    Dns,
    /// Nothing accepted the connection.
    Connect,
    Timeout,
    /// The TLS handshake or certificate failed.
    Tls,
    /// The certificate is valid but expires soon.
    CertificateExpiring,
    /// An unexpected status code.
    Status,
    /// The keyword rule failed.
    Keyword,
    /// Slower than the degraded threshold.
    Slow,
    /// The address is one probes may not reach.
    Refused,
    /// No heartbeat in time.
    Missed,
}

/// One region's check in one round, as stored and as the timeline's evidence shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionResult {
    pub region: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: Timestamp,
    pub outcome: CheckOutcome,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<ErrorClass>,
    pub message: Option<String>,
}

/// What a monitor's round found, as its timeline entry says.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// The confirmation threshold was crossed: the incident opened.
    Confirmed,
    /// The confirmed outcome moved (degraded to down, or back).
    Changed,
    /// Failures came back while the incident was still open.
    FailingAgain,
    /// The recovery threshold was crossed and the incident resolved.
    Recovered,
    /// The recovery threshold was crossed, but a team member had taken the incident
    /// over, so it stays open.
    RecoveredTakenOver,
}

/// A monitor: what it checks, how often and from where, when its failures count, and
/// what its incidents say and impose.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitor {
    pub id: MonitorId,
    pub name: Name,
    /// What it checks.
    pub check: MonitorKind,
    pub interval_seconds: u32,
    pub regions: Vec<String>,
    pub thresholds: Thresholds,
    pub components: Vec<MonitoredComponent>,
    /// The title of the incidents it opens; `{monitor}` and `{state}` (down, degraded)
    /// are filled in.
    pub incident_title: String,
    /// The first public update of those incidents, Markdown, with the same fields.
    pub incident_message: String,
    /// `true`: its incidents are published at once; `false`: opened internally, for a
    /// responder to publish (team alert rules hear of them either way).
    #[serde(default = "yes")]
    pub publish: bool,
    pub paused: bool,
    /// The rounds so far (failing and passing runs, the outcome its incident stands for).
    pub state: MonitorState,
    /// The incident it opened, while that incident is open.
    pub incident_id: Option<IncidentId>,
    /// The start of the round being collected: checks are due from this moment.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub round_at: Timestamp,
    /// The last round's verdict, and when it was reached.
    pub last_outcome: Option<CheckOutcome>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_round_at: Option<Timestamp>,
    /// The regions the last round's quorum overruled (a flaky region is shown, not hidden).
    #[serde(default)]
    pub last_dissenting: Vec<String>,
    /// The last round fell in a maintenance of one of its components: recorded as
    /// maintenance, counted neither way, and no incident opens.
    #[serde(default)]
    pub last_round_muted: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub updated_at: Timestamp,
    pub version: u64,
}

/// The default title and message of a monitor's incidents.
pub const DEFAULT_INCIDENT_TITLE: &str = "{monitor} is {state}";
pub const DEFAULT_INCIDENT_MESSAGE: &str =
    "Our automated checks found {monitor} {state}. We are investigating and will post an update shortly.";

impl Monitor {
    /// A template with its fields filled in for an outcome.
    pub fn fill(&self, template: &str, outcome: CheckOutcome) -> String {
        template.replace("{monitor}", self.name.as_ref()).replace("{state}", outcome.as_str())
    }

    /// What an incident at `outcome` imposes on the components this monitor maps to.
    pub fn imposed(&self, outcome: CheckOutcome) -> Vec<AffectedComponent> {
        self.components
            .iter()
            .filter_map(|c| match outcome {
                CheckOutcome::Up => None,
                CheckOutcome::Degraded => Some(AffectedComponent { id: c.id, status: c.degraded }),
                CheckOutcome::Down => Some(AffectedComponent { id: c.id, status: c.down }),
            })
            .filter(|c| c.status != ComponentStatus::Operational)
            .collect()
    }

    /// The impact of an incident at `outcome`.
    pub fn impact(outcome: CheckOutcome) -> Impact {
        match outcome {
            CheckOutcome::Up => Impact::None,
            CheckOutcome::Degraded => Impact::Minor,
            CheckOutcome::Down => Impact::Major,
        }
    }

    /// Whether the round at `round_at` has run its course at `now`: the next one is due.
    pub fn round_over(&self, now: Timestamp) -> bool {
        now >= self.next_round_at()
    }

    /// When the round after the current one starts.
    pub fn next_round_at(&self) -> Timestamp {
        self.round_at.checked_add(SignedDuration::from_secs(i64::from(self.interval_seconds))).unwrap_or(self.round_at)
    }

    /// The start of the round after one that closed at `now`: one interval on, or now
    /// if the monitor fell more than a round behind (rounds are never made up).
    pub fn following_round(&self, now: Timestamp) -> Timestamp {
        let next = self.next_round_at();
        let interval = SignedDuration::from_secs(i64::from(self.interval_seconds));
        if next.checked_add(interval).is_ok_and(|after| after <= now) { now } else { next }
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

/// What a monitor checks.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MonitorKind {
    /// An HTTP(S) request: the status must be expected, an optional keyword present (or
    /// absent), and an answer slower than `degraded_after_ms` is degraded.
    Http {
        /// http or https: sites served over plain HTTP are monitored too.
        url: String,
        #[serde(default = "get")]
        method: String,
        #[serde(default)]
        headers: Vec<(String, String)>,
        #[serde(default)]
        body: Option<String>,
        /// Accepted status codes as inclusive ranges; 200–399 by default.
        #[serde(default = "ok_statuses")]
        expected: Vec<(u16, u16)>,
        #[serde(default = "default_timeout")]
        timeout_ms: u32,
        #[serde(default)]
        follow_redirects: bool,
        #[serde(default)]
        keyword: Option<String>,
        /// With `keyword`: `true` it must be present, `false` absent.
        #[serde(default = "yes")]
        keyword_present: bool,
        #[serde(default)]
        degraded_after_ms: Option<u32>,
    },
    /// A TLS certificate: invalid or expired is down, expiring within `warn_days` degraded.
    Tls {
        host: String,
        port: u16,
        #[serde(default = "warn_days")]
        warn_days: u16,
    },
    /// A TCP connection.
    Tcp {
        host: String,
        port: u16,
        #[serde(default = "default_timeout")]
        timeout_ms: u32,
    },
    /// The team's job calls a secret URL; no call within the interval plus grace is down.
    Heartbeat {
        #[serde(default = "grace")]
        grace_seconds: u32,
    },
}

fn get() -> String {
    "GET".into()
}
fn ok_statuses() -> Vec<(u16, u16)> {
    vec![(200, 399)]
}
fn default_timeout() -> u32 {
    10_000
}
fn yes() -> bool {
    true
}
fn warn_days() -> u16 {
    14
}
fn grace() -> u32 {
    60
}

/// The component status a monitor's outcome imposes on one component.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitoredComponent {
    pub id: crate::ComponentId,
    #[serde(default = "major")]
    pub down: crate::ComponentStatus,
    #[serde(default = "degraded")]
    pub degraded: crate::ComponentStatus,
}

fn major() -> crate::ComponentStatus {
    crate::ComponentStatus::MajorOutage
}
fn degraded() -> crate::ComponentStatus {
    crate::ComponentStatus::DegradedPerformance
}

/// Interval bounds, in seconds.
pub const MIN_INTERVAL_SECONDS: u32 = 30;
pub const MAX_INTERVAL_SECONDS: u32 = 3600;
/// Regions a monitor may run from at most.
pub const MAX_REGIONS: usize = 10;

/// Checks a monitor's settings: kind, interval, regions (from those the deployment
/// runs), thresholds and components; every problem at once.
pub fn validate_monitor(
    kind: &MonitorKind,
    interval_seconds: u32,
    regions: &[String],
    known_regions: &[String],
    thresholds: Thresholds,
    components: &[MonitoredComponent],
) -> Result<(), Vec<crate::FieldError>> {
    use crate::FieldError;
    let mut errors = Vec::new();
    if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(&interval_seconds) {
        errors.push(FieldError::new(
            "interval_seconds",
            format!("the interval must be {MIN_INTERVAL_SECONDS} to {MAX_INTERVAL_SECONDS} seconds"),
        ));
    }
    if regions.is_empty() || regions.len() > MAX_REGIONS {
        errors.push(FieldError::new("regions", format!("choose 1 to {MAX_REGIONS} regions")));
    }
    let distinct: std::collections::BTreeSet<&String> = regions.iter().collect();
    if distinct.len() != regions.len() {
        errors.push(FieldError::new("regions", "a region is named twice"));
    }
    for region in regions {
        if !known_regions.contains(region) {
            errors.push(FieldError::new(
                "regions",
                format!("{region:?} is not a region probes run in; known: {}", known_regions.join(", ")),
            ));
        }
    }
    for (name, value) in [("confirm_after", thresholds.confirm_after), ("recover_after", thresholds.recover_after)] {
        if !(1..=20).contains(&value) {
            errors.push(FieldError::new(name, format!("{name} must be 1 to 20 rounds")));
        }
    }
    if components.len() > crate::MAX_AFFECTED_COMPONENTS {
        errors.push(FieldError::new("components", format!("at most {} components", crate::MAX_AFFECTED_COMPONENTS)));
    }
    let host_error = |host: &str| -> Option<FieldError> {
        let valid = !host.is_empty()
            && host.len() <= 253
            && url::Host::parse(host).is_ok()
            && !host.contains(['/', ':', '@', ' '])
            || host.parse::<std::net::IpAddr>().is_ok();
        (!valid).then(|| FieldError::new("host", format!("{host:?} is not a host name or address")))
    };
    match kind {
        MonitorKind::Http { url, method, expected, timeout_ms, keyword, headers, .. } => {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => {
                    if !u.username().is_empty() || u.password().is_some() {
                        errors.push(FieldError::new("url", "put credentials in headers, not in the url"));
                    }
                    if let Some(url::Host::Ipv4(ip)) = u.host()
                        && never_probed(std::net::IpAddr::V4(ip))
                    {
                        errors.push(FieldError::new("url", format!("{ip} is never probed")));
                    }
                    if let Some(url::Host::Ipv6(ip)) = u.host()
                        && never_probed(std::net::IpAddr::V6(ip))
                    {
                        errors.push(FieldError::new("url", format!("{ip} is never probed")));
                    }
                }
                Ok(_) => errors.push(FieldError::new("url", "the url must be http or https with a host")),
                Err(e) => errors.push(FieldError::new("url", format!("the url is not valid: {e}"))),
            }
            if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&method.as_str()) {
                errors.push(FieldError::new("method", format!("{method:?} is not an HTTP method probes use")));
            }
            if expected.is_empty() || expected.iter().any(|(a, b)| a > b || *a < 100 || *b > 599) {
                errors.push(FieldError::new("expected", "expected statuses are ranges within 100 to 599"));
            }
            if !(1_000..=30_000).contains(timeout_ms) {
                errors.push(FieldError::new("timeout_ms", "the timeout must be 1,000 to 30,000 ms"));
            }
            if keyword.as_ref().is_some_and(|k| k.is_empty() || k.len() > 1_000) {
                errors.push(FieldError::new("keyword", "a keyword is 1 to 1,000 characters"));
            }
            if headers.len() > 20 || headers.iter().any(|(n, v)| n.is_empty() || n.len() > 200 || v.len() > 4_000) {
                errors.push(FieldError::new(
                    "headers",
                    "at most 20 headers, names 1 to 200 and values up to 4,000 characters",
                ));
            }
            // RFC 9110: a name is a token; a value has no control characters (a line
            // break would make every request fail, and so the monitor look down).
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            for (name, value) in headers {
                if !name.chars().all(token) {
                    errors.push(FieldError::new("headers", format!("{name:?} is not a header name")));
                }
                if value.chars().any(|c| c.is_control() && c != '\t') {
                    errors.push(FieldError::new("headers", format!("the value of {name:?} has a control character")));
                }
            }
        }
        MonitorKind::Tls { host, port, warn_days } => {
            errors.extend(host_error(host));
            errors.extend(literal_never_probed(host));
            if *port == 0 {
                errors.push(FieldError::new("port", "the port must be 1 to 65535"));
            }
            if !(1..=365).contains(warn_days) {
                errors.push(FieldError::new("warn_days", "warn 1 to 365 days before expiry"));
            }
        }
        MonitorKind::Tcp { host, port, timeout_ms } => {
            errors.extend(host_error(host));
            errors.extend(literal_never_probed(host));
            if *port == 0 {
                errors.push(FieldError::new("port", "the port must be 1 to 65535"));
            }
            if !(1_000..=30_000).contains(timeout_ms) {
                errors.push(FieldError::new("timeout_ms", "the timeout must be 1,000 to 30,000 ms"));
            }
        }
        MonitorKind::Heartbeat { grace_seconds } => {
            if *grace_seconds > 86_400 {
                errors.push(FieldError::new("grace_seconds", "the grace is at most a day"));
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Addresses refused when the monitor is saved, whatever the deployment allows: the
/// unspecified address and link-local ranges (the cloud's instance metadata service at
/// 169.254.169.254 and fd00:ec2::254 among them). Every other inside range is refused
/// when probed, before connecting (see `beacon_notify::http`).
fn never_probed(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_unspecified() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_unicast_link_local()
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_unspecified() || v4.is_link_local())
        }
    }
}

fn literal_never_probed(host: &str) -> Option<crate::FieldError> {
    let ip: std::net::IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
    never_probed(ip).then(|| crate::FieldError::new("host", format!("{ip} is never probed")))
}

#[cfg(test)]
mod validation_tests {
    use super::*;

    fn regions() -> Vec<String> {
        vec!["eu-west-1".into(), "us-east-1".into()]
    }

    fn http() -> MonitorKind {
        serde_json::from_value(serde_json::json!({"kind": "http", "url": "https://example.com/health"}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_fill_an_http_monitor() {
        match http() {
            MonitorKind::Http { method, expected, timeout_ms, keyword_present, .. } => {
                assert_eq!(
                    (method.as_str(), expected, timeout_ms, keyword_present),
                    ("GET", vec![(200, 399)], 10_000, true)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(validate_monitor(&http(), 60, &regions()[..1], &regions(), Thresholds::default(), &[]).is_ok());
        let ftp: MonitorKind = serde_json::from_value(serde_json::json!({"kind": "http", "url": "ftp://example.com/"}))
            .unwrap_or_else(|e| panic!("{e}"));
        let errors = validate_monitor(&ftp, 60, &regions()[..1], &regions(), Thresholds::default(), &[]).err();
        assert_eq!(errors.map(|e| e[0].field.clone()).as_deref(), Some("url"));
    }

    #[test]
    fn headers_and_regions_are_checked() {
        let kind: MonitorKind = serde_json::from_value(serde_json::json!({
            "kind": "http", "url": "https://example.com/", "headers": [["bad name", "x"], ["X-Ok", "line\nbreak"]]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let errors = validate_monitor(&kind, 60, &regions(), &regions(), Thresholds::default(), &[]).err();
        assert_eq!(errors.map(|e| e.len()), Some(2));
        let twice = vec!["eu-west-1".to_owned(), "eu-west-1".to_owned()];
        assert!(validate_monitor(&http(), 60, &twice, &regions(), Thresholds::default(), &[]).is_err());
    }

    #[test]
    fn the_metadata_address_is_refused_when_saved() {
        for url in ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://0.0.0.0/"] {
            let kind: MonitorKind = serde_json::from_value(serde_json::json!({"kind": "http", "url": url}))
                .unwrap_or_else(|e| panic!("{e}"));
            let errors = validate_monitor(&kind, 60, &regions()[..1], &regions(), Thresholds::default(), &[]);
            assert!(errors.is_err_and(|e| e[0].message.contains("never probed")), "{url}");
        }
        let tcp = MonitorKind::Tcp { host: "169.254.169.254".into(), port: 80, timeout_ms: 2000 };
        assert!(validate_monitor(&tcp, 60, &regions()[..1], &regions(), Thresholds::default(), &[]).is_err());
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let kind = MonitorKind::Tcp { host: "bad host/".into(), port: 0, timeout_ms: 10 };
        let errors = validate_monitor(
            &kind,
            5,
            &["mars-1".into()],
            &regions(),
            Thresholds { confirm_after: 0, recover_after: 30 },
            &[],
        )
        .err()
        .unwrap_or_default();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["interval_seconds", "regions", "confirm_after", "recover_after", "host", "port", "timeout_ms"]
        );
    }
}
