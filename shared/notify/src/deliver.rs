//! Delivery: one job's subscribers, each claimed before its send and marked after.
//!
//! The claim is a conditional write on the (notice, subscriber) delivery record. A sent
//! record is never sent again; a claim held by a live worker is left alone (its job is
//! retried after the lease); a claim whose lease ran out (its worker died between claim
//! and send) is taken over. Only a crash after the provider accepted the message and
//! before the mark can repeat it, and the repeat carries the same Message-ID (mail) or
//! delivery id (webhooks) for the receiver to drop.

use crate::notice::{self, Notice};
use crate::queue::{Job, QueueError, WorkQueue};
use crate::render::{self, MessageConfig};
use crate::transport::{HttpTransport, MailTransport, SendError};
use beacon_app::subscribers::{
    DELIVERY_TOKENS_ATTRIBUTE, DeliveryAttempt, DeliveryOutcome, delivery_key, mint_delivery_token,
};
use beacon_app::{AppError, Service};
use beacon_domain::{Channel, ChannelKind, NoticeId, Subscriber, SubscriberId};
use beacon_store::{Condition, Item, Key, StoreError, Update, Value};
use futures::stream::{self, StreamExt as _};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ulid::Ulid;

/// How long a claim holds before another worker may take the delivery over. Longer
/// than any send (webhooks time out after 10 s).
pub const LEASE: Duration = Duration::from_secs(60);
/// Tries of a webhook-like delivery: with the backoff below, about an hour in all
/// (waits of 0.5, 1, 2, 4, 8, 15, 15 and 15 minutes).
pub const WEBHOOK_ATTEMPTS: u32 = 9;
/// Delivery records (and so the manage links of sent messages) are kept half a year.
pub const DELIVERY_TTL_SECONDS: i64 = 182 * 24 * 3600;
/// Tries of a mail before it is given up on: about three days at the longest wait.
pub const EMAIL_ATTEMPTS: u32 = 300;
/// The longest wait between tries (SQS's longest delay).
const MAX_WAIT: Duration = Duration::from_secs(900);
/// Subscribers of one job delivered at once.
const CONCURRENCY: usize = 16;
/// Token hashes kept per delivery record (a taken-over claim mints a new one).
const TOKENS_KEPT: usize = 3;

/// The wait before try `failures + 1`: 30 s doubling to 15 minutes (the longest delay
/// SQS allows), with ±20% jitter below that cap so a recovering endpoint is not hit by
/// every retry at once.
pub fn backoff(failures: u32) -> Duration {
    let base = 30u64.saturating_mul(1 << failures.saturating_sub(1).min(5)).min(900);
    let jitter = rand::random::<u64>() % (base * 2 / 5 + 1);
    Duration::from_secs((base - base / 5 + jitter).min(900))
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<StoreError> for DeliverError {
    fn from(e: StoreError) -> Self {
        Self::App(e.into())
    }
}

/// What a job came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobReport {
    pub sent: u32,
    pub skipped: u32,
    pub retried: u32,
    pub failed: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Sent,
    Skipped,
    Retry(Duration),
    Failed,
}

enum Claim {
    Mine {
        version: i64,
        failures: u32,
        throttles: u32,
        token: String,
    },
    /// Sent, or given up on for good: nothing more to do.
    AlreadySent,
    /// Claimed by a live worker, or waiting for its next try: come back then.
    Busy(Duration),
}

/// What a claimed delivery came to.
#[derive(Clone, Copy, Debug)]
enum Mark {
    RetryAt { after: Duration, failures: u32, throttles: u32 },
    GaveUp { failures: u32 },
}

/// Delivers jobs.
#[derive(Debug)]
pub struct Deliverer {
    service: Service,
    queue: Arc<dyn WorkQueue>,
    mail: Arc<dyn MailTransport>,
    http: Arc<dyn HttpTransport>,
    config: MessageConfig,
    notices: Mutex<HashMap<NoticeId, Arc<Notice>>>,
}

impl Deliverer {
    pub fn new(
        service: Service,
        queue: Arc<dyn WorkQueue>,
        mail: Arc<dyn MailTransport>,
        http: Arc<dyn HttpTransport>,
        config: MessageConfig,
    ) -> Self {
        Self { service, queue, mail, http, config, notices: Mutex::new(HashMap::new()) }
    }

    async fn notice(&self, id: NoticeId) -> Result<Option<Arc<Notice>>, DeliverError> {
        if let Some(n) = self.notices.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(Some(n));
        }
        let Some(n) = notice::load(&self.service, id).await? else { return Ok(None) };
        let n = Arc::new(n);
        if let Ok(mut cache) = self.notices.lock() {
            // A handful of notices are live at once; the cache only spares re-reads.
            if cache.len() >= 64 {
                cache.clear();
            }
            cache.insert(id, n.clone());
        }
        Ok(Some(n))
    }

    /// Delivers one job. Subscribers that must be tried again later go back on the
    /// queue as a new job; an error means the whole job should be redelivered (which
    /// the claims make harmless).
    pub async fn process(&self, job: &Job) -> Result<JobReport, DeliverError> {
        let mut report = JobReport::default();
        let Some(notice) = self.notice(job.notice).await? else {
            tracing::warn!(notice = %job.notice, "the notice of a job is gone (expired); dropping the job");
            report.skipped = u32::try_from(job.subscribers.len()).unwrap_or(u32::MAX);
            return Ok(report);
        };
        let config = self.config_now().await;
        let config = &config;
        let outcomes: Vec<(SubscriberId, Outcome)> = stream::iter(job.subscribers.iter().copied())
            .map(|id| {
                let notice = notice.clone();
                async move {
                    let outcome = match self.deliver_one(&notice, id, config).await {
                        Ok(outcome) => outcome,
                        Err(e) => {
                            tracing::warn!(subscriber = %id, notice = %notice.id, error = %e, "delivery step failed; will retry");
                            Outcome::Retry(backoff(1))
                        }
                    };
                    (id, outcome)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        // Retries grouped by when they are due, one job per group.
        let mut retries: BTreeMap<u64, Vec<SubscriberId>> = BTreeMap::new();
        for (id, outcome) in outcomes {
            match outcome {
                Outcome::Sent => report.sent += 1,
                Outcome::Skipped => report.skipped += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Retry(after) => {
                    report.retried += 1;
                    // Rounded up: a retry must not come back before its subscriber's
                    // next try may start.
                    let seconds = u64::try_from(after.as_millis().div_ceil(1000)).unwrap_or(900);
                    retries.entry(seconds.max(1)).or_default().push(id);
                }
            }
        }
        for (after, subscribers) in retries {
            let retry = Job { id: Ulid::new(), notice: job.notice, subscribers, attempt: job.attempt + 1 };
            self.queue.enqueue(vec![retry], Duration::from_secs(after)).await?;
        }
        Ok(report)
    }

    /// The message configuration with the page's saved settings laid over it (its name
    /// and links as the team set them); the deployment's own if they cannot be read.
    async fn config_now(&self) -> MessageConfig {
        match self.service.page_settings().await {
            Ok(settings) => {
                MessageConfig { page: self.config.page.with_settings(settings.as_ref()), ..self.config.clone() }
            }
            Err(e) => {
                tracing::warn!(error = %e, "page settings unreadable; messages use the configured page");
                self.config.clone()
            }
        }
    }

    async fn deliver_one(
        &self,
        notice: &Notice,
        id: SubscriberId,
        config: &MessageConfig,
    ) -> Result<Outcome, DeliverError> {
        let subscriber = match self.service.subscriber(id).await {
            Ok(s) => s,
            Err(AppError::NotFound { .. }) => return Ok(Outcome::Skipped),
            Err(e) => return Err(e.into()),
        };
        // Checked again at send time: the subscriber may have changed its mind, or been
        // quarantined, since the plan.
        if !notice.reaches(&subscriber) {
            return Ok(Outcome::Skipped);
        }
        let key = delivery_key(notice.id, id);
        let (version, failures, throttles, token) = match self.claim(&key, notice, id).await? {
            Claim::Mine { version, failures, throttles, token } => (version, failures, throttles, token),
            Claim::AlreadySent => return Ok(Outcome::Skipped),
            Claim::Busy(wait) => return Ok(Outcome::Retry(wait)),
        };
        let started = Instant::now();
        let delivery_id = format!("{}.{id}", notice.id);
        let result = self.send(&subscriber, notice, &token, &delivery_id, config).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let kind = subscriber.channel.kind();
        let mut attempt = DeliveryAttempt {
            at: self.service.clock().now(),
            notice: notice.id,
            channel: kind,
            outcome: DeliveryOutcome::Sent,
            status_code: None,
            latency_ms,
            error: None,
        };
        let error = match result {
            Ok(status) => {
                attempt.status_code = status;
                // The provider has the message: from here on nothing may lead to a
                // second send, so a failing mark is retried, then only logged.
                self.mark_sent(&key, version, failures).await;
                self.log(id, &attempt).await;
                if subscriber.consecutive_failures > 0
                    && let Err(e) = self.service.record_delivery_outcome(id, true).await
                {
                    tracing::warn!(subscriber = %id, error = %e, "could not reset the failure count");
                }
                self.end_incident_follow(notice, &subscriber).await;
                return Ok(Outcome::Sent);
            }
            Err((status, error)) => {
                attempt.status_code = status;
                error
            }
        };
        attempt.error = Some(error.to_string());
        if let SendError::Throttled { retry_after } = error {
            // Not the recipient's fault and never a reason to give up; waits grow while
            // the provider keeps asking to slow down.
            let throttles = throttles + 1;
            let wait = retry_after.max(Duration::from_secs(2u64.saturating_pow(throttles.min(9)))).min(MAX_WAIT);
            attempt.outcome = DeliveryOutcome::Throttled;
            self.mark(&key, version, Mark::RetryAt { after: wait, failures, throttles }).await?;
            self.log(id, &attempt).await;
            return Ok(Outcome::Retry(wait));
        }
        let failures = failures + 1;
        let permanent = matches!(error, SendError::Rejected(_) | SendError::Refused(_));
        let outcome = if kind == ChannelKind::Email {
            // Mail is never dropped for a passing failure; only a rejection of the
            // message itself, or three days of failures, ends it.
            if permanent || failures >= EMAIL_ATTEMPTS { Outcome::Failed } else { Outcome::Retry(backoff(failures)) }
        } else {
            let quarantined = match self.service.record_delivery_outcome(id, false).await? {
                Some((after, true)) => {
                    self.tell_owner_of_quarantine(&after).await;
                    true
                }
                _ => false,
            };
            if quarantined || permanent || failures >= WEBHOOK_ATTEMPTS {
                Outcome::Failed
            } else {
                Outcome::Retry(backoff(failures))
            }
        };
        let mark = match outcome {
            Outcome::Retry(after) => Mark::RetryAt { after, failures, throttles },
            _ => Mark::GaveUp { failures },
        };
        self.mark(&key, version, mark).await?;
        attempt.outcome =
            if matches!(outcome, Outcome::Failed) { DeliveryOutcome::Failed } else { DeliveryOutcome::Retrying };
        tracing::info!(subscriber = %id, notice = %notice.id, channel = %kind, error = %error, failures, "delivery failed");
        self.log(id, &attempt).await;
        Ok(outcome)
    }

    /// "Follow this incident" ends with the incident: once its resolution is delivered,
    /// the follower is removed.
    async fn end_incident_follow(&self, notice: &Notice, subscriber: &Subscriber) {
        let resolved = notice.event == beacon_domain::NoticeEvent::Resolved;
        if resolved && matches!(subscriber.interest, beacon_domain::Interest::Incident { .. }) {
            match self.service.remove_subscriber(&beacon_domain::Actor::System, subscriber.id).await {
                Ok(_) | Err(AppError::NotFound { .. }) => {}
                Err(e) => tracing::warn!(subscriber = %subscriber.id, error = %e, "could not end an incident follow"),
            }
        }
    }

    /// Sends one message; the HTTP status (when there was one) with any failure.
    async fn send(
        &self,
        subscriber: &Subscriber,
        notice: &Notice,
        token: &str,
        delivery_id: &str,
        config: &MessageConfig,
    ) -> Result<Option<u16>, (Option<u16>, SendError)> {
        let alert = matches!(notice.subject, crate::notice::Subject::Alert { .. });
        let (url, body, signed) = match &subscriber.channel {
            Channel::Email { address } if alert => {
                let mail = render::alert_mail(config, notice, address.as_str(), subscriber.id)
                    .map_err(|e| (None, SendError::Rejected(e.to_string())))?;
                return self.mail.send(&mail).await.map(|()| None).map_err(|e| (None, e));
            }
            Channel::Slack { url } | Channel::Teams { url } | Channel::Discord { url } if alert => {
                (url, render::alert_chat_body(config, notice, subscriber.channel.kind()), false)
            }
            Channel::Email { address } => {
                let mail = render::notice_mail(config, notice, address.as_str(), subscriber.id, token)
                    .map_err(|e| (None, SendError::Rejected(e.to_string())))?;
                return self.mail.send(&mail).await.map(|()| None).map_err(|e| (None, e));
            }
            Channel::Webhook { url } => (url, Ok(render::webhook_body(config, notice, token)), true),
            Channel::Slack { url } => (url, render::slack_body(config, notice), false),
            Channel::Teams { url } => (url, render::teams_body(config, notice), false),
            Channel::Discord { url } => (url, render::discord_body(config, notice), false),
        };
        let body = body.map_err(|e| (None, SendError::Rejected(e.to_string())))?;
        let mut headers = vec![("X-Beacon-Delivery", delivery_id.to_owned())];
        if signed {
            let timestamp = self.service.clock().now().as_second();
            let secret = subscriber.signing_secret.as_deref().unwrap_or_default();
            headers.push(("X-Beacon-Signature", render::signature(secret, timestamp, &body)));
            headers.push(("X-Beacon-Event", event_name(notice).to_owned()));
        }
        match self.http.post(url, &headers, body).await {
            Ok(answer) if answer.is_success() => Ok(Some(answer.status)),
            Ok(answer) if answer.status == 429 => {
                Err((Some(answer.status), SendError::Failed("the endpoint answered 429 Too Many Requests".into())))
            }
            Ok(answer) => {
                Err((Some(answer.status), SendError::Failed(format!("the endpoint answered {}", answer.status))))
            }
            Err(e) => Err((None, e)),
        }
    }

    async fn claim(&self, key: &Key, notice: &Notice, id: SubscriberId) -> Result<Claim, DeliverError> {
        let store = self.service.store();
        let (token, hash) = mint_delivery_token(notice.id, id);
        for _ in 0..3 {
            let now = self.service.clock().now();
            let now_ms = now.as_millisecond();
            let lease_end = now_ms + i64::try_from(LEASE.as_millis()).unwrap_or(60_000);
            match store.get(key).await? {
                None => {
                    let item = Item::new(key.clone())
                        .with("type", Value::S("delivery".into()))
                        .with("state", Value::S("claimed".into()))
                        .with("lease", Value::N(lease_end))
                        .with("failures", Value::N(0))
                        .with("throttles", Value::N(0))
                        .with("version", Value::N(1))
                        .with(DELIVERY_TOKENS_ATTRIBUTE, Value::S(hash.clone()))
                        .with("ttl", Value::N(now.as_second() + DELIVERY_TTL_SECONDS));
                    match store.put(item, Condition::NotExists).await {
                        Ok(()) => {
                            return Ok(Claim::Mine {
                                version: 1,
                                failures: 0,
                                throttles: 0,
                                token: token.expose().to_owned(),
                            });
                        }
                        Err(StoreError::ConditionFailed { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(current) => {
                    let state = current.str("state").unwrap_or_default();
                    if state == "sent" || state == "gave_up" {
                        return Ok(Claim::AlreadySent);
                    }
                    // A live claim's lease, or a failed try's next attempt time.
                    let lease = current.num("lease").unwrap_or(0);
                    if lease > now_ms {
                        let wait = u64::try_from(lease - now_ms).unwrap_or(0);
                        return Ok(Claim::Busy(Duration::from_millis(wait)));
                    }
                    let version = current.num("version").unwrap_or(0);
                    let failures = u32::try_from(current.num("failures").unwrap_or(0)).unwrap_or(0);
                    let throttles = u32::try_from(current.num("throttles").unwrap_or(0)).unwrap_or(0);
                    let mut tokens: Vec<&str> = current
                        .str(DELIVERY_TOKENS_ATTRIBUTE)
                        .unwrap_or_default()
                        .split(',')
                        .filter(|h| !h.is_empty())
                        .collect();
                    tokens.insert(0, &hash);
                    tokens.truncate(TOKENS_KEPT);
                    let update = Update::new(key.clone())
                        .set("state", Value::S("claimed".into()))
                        .set("lease", Value::N(lease_end))
                        .set("version", Value::N(version + 1))
                        .set(DELIVERY_TOKENS_ATTRIBUTE, Value::S(tokens.join(",")))
                        .when(Condition::Equals("version".into(), Value::N(version)));
                    match store.update(update).await {
                        Ok(_) => {
                            return Ok(Claim::Mine {
                                version: version + 1,
                                failures,
                                throttles,
                                token: token.expose().to_owned(),
                            });
                        }
                        Err(StoreError::ConditionFailed { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(Claim::Busy(Duration::from_secs(1)))
    }

    /// Records a send the provider accepted; retried a few times, then only logged (a
    /// repeat is then possible, with the same message id).
    async fn mark_sent(&self, key: &Key, version: i64, failures: u32) {
        for attempt in 0..3u32 {
            let update = Update::new(key.clone())
                .set("state", Value::S("sent".into()))
                .set("lease", Value::N(0))
                .set("failures", Value::N(i64::from(failures)))
                .set("version", Value::N(version + 1))
                .when(Condition::Equals("version".into(), Value::N(version)));
            match self.service.store().update(update).await {
                Ok(_) => return,
                Err(StoreError::ConditionFailed { .. }) => {
                    tracing::warn!(delivery = %key.pk, "the delivery was taken over while this worker sent it");
                    return;
                }
                Err(e) => {
                    tracing::warn!(delivery = %key.pk, error = %e, attempt, "could not mark a sent delivery; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        tracing::error!(delivery = %key.pk, "a sent delivery could not be marked; a retry may repeat it");
    }

    /// Records a failed try: when the next may start, or that there will be none. Losing
    /// the record to a worker that took the claim over is only logged.
    async fn mark(&self, key: &Key, version: i64, mark: Mark) -> Result<(), DeliverError> {
        let (state, next, failures, throttles) = match mark {
            Mark::RetryAt { after, failures, throttles } => {
                let next = self.service.clock().now().as_millisecond()
                    + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
                ("failed", next, failures, throttles)
            }
            Mark::GaveUp { failures } => ("gave_up", 0, failures, 0),
        };
        let update = Update::new(key.clone())
            .set("state", Value::S(state.into()))
            .set("lease", Value::N(next))
            .set("failures", Value::N(i64::from(failures)))
            .set("throttles", Value::N(i64::from(throttles)))
            .set("version", Value::N(version + 1))
            .when(Condition::Equals("version".into(), Value::N(version)));
        match self.service.store().update(update).await {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => {
                tracing::warn!(delivery = %key.pk, "the delivery was taken over while this worker sent it");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn log(&self, id: SubscriberId, attempt: &DeliveryAttempt) {
        if let Err(e) = self.service.log_delivery(id, attempt).await {
            tracing::warn!(subscriber = %id, error = %e, "could not write the delivery log");
        }
    }

    async fn tell_owner_of_quarantine(&self, subscriber: &Subscriber) {
        let Some(contact) = subscriber.contact.as_ref() else {
            tracing::warn!(subscriber = %subscriber.id, "quarantined subscriber has no contact to tell");
            return;
        };
        let target = subscriber.channel.url().map(|u| u.redacted()).unwrap_or_default();
        let paragraphs = vec![
            format!(
                "Notifications of {} to your {} endpoint {target} failed {} times in a row, so they are paused.",
                self.config.page.name,
                subscriber.channel.kind(),
                subscriber.consecutive_failures
            ),
            "Once the endpoint answers again, ask the page's team to reactivate it; nothing is sent until then.".into(),
        ];
        match render::plain_mail(&self.config, contact.as_str(), "Notifications paused", &paragraphs, None) {
            Ok(mail) => {
                if let Err(e) = self.mail.send(&mail).await {
                    tracing::warn!(subscriber = %subscriber.id, error = %e, "could not tell the owner of a quarantine");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not build the quarantine notice"),
        }
    }
}

/// What a webhook delivery is about, for receivers that route on a header.
fn event_name(notice: &Notice) -> &'static str {
    use beacon_domain::NoticeEvent::*;
    match (&notice.subject, notice.event) {
        (crate::notice::Subject::Alert { alert }, _) => alert.event_name(),
        (crate::notice::Subject::Component { .. }, _) => "component.updated",
        (crate::notice::Subject::Postmortem { .. }, _) => "incident.postmortem",
        (crate::notice::Subject::Maintenance { what, .. }, _) => match what {
            beacon_domain::MaintenanceEvent::Scheduled => "maintenance.scheduled",
            beacon_domain::MaintenanceEvent::Rescheduled => "maintenance.rescheduled",
            beacon_domain::MaintenanceEvent::Cancelled => "maintenance.cancelled",
            beacon_domain::MaintenanceEvent::SubscribersReminded => "maintenance.reminder",
            beacon_domain::MaintenanceEvent::Started => "maintenance.started",
            beacon_domain::MaintenanceEvent::Completed => "maintenance.completed",
            _ => "maintenance.updated",
        },
        (_, Created) => "incident.created",
        (_, Updated) => "incident.updated",
        (_, Resolved) => "incident.resolved",
        (_, Maintenance) => "maintenance",
    }
}
