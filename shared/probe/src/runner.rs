//! One region's prober: runs every check that is due, concurrently within a bound, and
//! hands each result to the use cases, which close rounds and open or resolve incidents.

use crate::checks::{HttpClients, ProbeResult, heartbeat, run_monitor};
use beacon_app::{AppResult, DueCheck, Recorded, Service};
use beacon_domain::{MonitorId, MonitorKind, RegionResult, Step};
use beacon_notify::http::OutboundPolicy;
use futures::stream::{self, StreamExt as _};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Checks run at once at most, per prober.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    pub checked: usize,
    /// Rounds this region closed, and how many of them opened or resolved an incident.
    pub rounds_closed: usize,
    pub opened: usize,
    pub resolved: usize,
    /// Checks whose result could not be stored (logged; the round closes without it).
    pub failed: usize,
}

/// Runs one region's checks.
#[derive(Clone, Debug)]
pub struct Prober {
    service: Service,
    region: String,
    clients: HttpClients,
    roots: Option<Arc<rustls::RootCertStore>>,
    concurrency: usize,
    /// The round each monitor last reported here: a round waiting for other regions is
    /// not checked again, and the next wake-up is when it is overdue.
    reported: Arc<Mutex<HashMap<MonitorId, Timestamp>>>,
}

impl Prober {
    pub fn new(service: Service, region: impl Into<String>, policy: OutboundPolicy) -> Result<Self, String> {
        Ok(Self {
            service,
            region: region.into(),
            clients: HttpClients::new(policy)?,
            roots: None,
            concurrency: DEFAULT_CONCURRENCY,
            reported: Arc::default(),
        })
    }

    fn reported(&self) -> std::sync::MutexGuard<'_, HashMap<MonitorId, Timestamp>> {
        self.reported.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When this region next has something to do: a round it has not reported, or the
    /// end of one it has (`None`: no active monitor runs here).
    async fn next_wake(&self) -> AppResult<Option<Timestamp>> {
        let monitors = self.service.region_monitors(&self.region).await?;
        let reported = self.reported();
        Ok(monitors
            .iter()
            .map(|m| if reported.get(&m.id) == Some(&m.round_at) { m.next_round_at() } else { m.round_at })
            .min())
    }

    /// Trusts these roots instead of the public ones (tests with generated certificates).
    pub fn with_roots(mut self, roots: Arc<rustls::RootCertStore>) -> Self {
        self.roots = Some(roots);
        self
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Runs every check due now, once.
    pub async fn tick(&self) -> AppResult<TickReport> {
        let now = self.service.clock().now();
        let mut due = self.service.due_checks(&self.region, now).await?;
        {
            let reported = self.reported();
            // A reported round is checked again only once overdue, to close it.
            due.retain(|d| reported.get(&d.monitor.id) != Some(&d.monitor.round_at) || d.monitor.round_over(now));
        }
        let outcomes: Vec<_> = stream::iter(due)
            .map(|check| self.check_and_record(check))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut report = TickReport::default();
        for outcome in outcomes {
            report.checked += 1;
            match outcome {
                Ok(Recorded::Closed { step, .. }) => {
                    report.rounds_closed += 1;
                    match step {
                        Step::Open(_) => report.opened += 1,
                        Step::Resolve => report.resolved += 1,
                        Step::Change(_) | Step::Stay => {}
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    report.failed += 1;
                    tracing::error!(region = %self.region, error = %e, "a check's result was not stored");
                }
            }
        }
        Ok(report)
    }

    async fn check_and_record(&self, due: DueCheck) -> AppResult<Recorded> {
        let DueCheck { monitor, last_ping } = due;
        let at = self.service.clock().now();
        let result: ProbeResult = match &monitor.check {
            MonitorKind::Heartbeat { grace_seconds } => heartbeat(
                last_ping,
                monitor.created_at,
                SignedDuration::from_secs(i64::from(monitor.interval_seconds)),
                SignedDuration::from_secs(i64::from(*grace_seconds)),
                at,
            ),
            kind => match run_monitor(kind, &self.clients, at, self.roots.clone()).await {
                Some(result) => result,
                None => return Ok(Recorded::Waiting),
            },
        };
        let result = RegionResult {
            region: self.region.clone(),
            at,
            outcome: result.outcome.into(),
            status_code: result.status_code,
            latency_ms: result.latency_ms,
            error: result.error,
            message: result.message,
        };
        let recorded = self.service.record_checked(&monitor, result).await?;
        self.reported().insert(monitor.id, monitor.round_at);
        Ok(recorded)
    }

    /// Ticks until `window` has passed, sleeping until the next round is due in between:
    /// one scheduled invocation (a minute apart on AWS) serves monitors of any interval
    /// from 30 s. Stops early when nothing more is due inside the window.
    pub async fn run_window(&self, window: Duration) -> AppResult<TickReport> {
        let started = tokio::time::Instant::now();
        let mut total = TickReport::default();
        loop {
            let report = self.tick().await?;
            total.checked += report.checked;
            total.rounds_closed += report.rounds_closed;
            total.opened += report.opened;
            total.resolved += report.resolved;
            total.failed += report.failed;
            let Some(next) = self.next_wake().await? else { return Ok(total) };
            let wait = wait_until(self.service.clock().now(), next);
            if started.elapsed() + wait >= window {
                return Ok(total);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Ticks until `stop` turns true: the embedded runner's scheduler. Sleeps until the
    /// next round is due, at most `poll` (a monitor created meanwhile is due at once).
    pub async fn run(self, poll: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(region = %self.region, error = %e, "probe tick failed");
            }
            let wait = match self.next_wake().await {
                Ok(Some(next)) => wait_until(self.service.clock().now(), next).min(poll),
                Ok(None) | Err(_) => poll,
            };
            tokio::select! {
                () = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

fn wait_until(now: Timestamp, next: Timestamp) -> Duration {
    if next <= now { Duration::ZERO } else { Duration::try_from(next.duration_since(now)).unwrap_or(Duration::ZERO) }
}
