//! Planning: from a change to jobs on the work queue, streaming through the follow
//! index so memory stays flat however many subscribers a page has.
//!
//! A notice reaches every subscriber listed under the page, under one of the incident's
//! components, under one of their groups, or under the incident itself. Each index
//! partition is read in subscriber-id order, a page at a time; the partitions are
//! merged by id, so a subscriber listed under several keys is planned once.

use crate::alert;
use crate::notice::{self, Notice, Subject};
use crate::queue::{JOB_SIZE, Job, QueueError, WorkQueue};
use beacon_app::feed::{ChangeHandler, HandlerError};
use beacon_app::subscribers::{FOLLOW_CHANNEL_ATTRIBUTE, FOLLOW_EVENTS_ATTRIBUTE, follow_pk};
use beacon_app::{AppError, Service};
use beacon_domain::{Actor, AlertRule, Change, Channel, EventId, EventKind, FollowKey, SubscriberId, TimelineEntry};
use beacon_store::{Condition, Cursor, Item, Key, Query, Store, StoreError, Value};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use ulid::Ulid;

/// The kinds of change (their `kind` on the wire) that can carry news for subscribers or
/// the team: on AWS the bus rule that feeds the planner lists exactly these (the CDK
/// app's `NOTICE_CHANGES`; a test keeps the two equal).
pub const PLANNED_CHANGES: &[&str] = &[
    "incident_reported",
    "incident_updated",
    "incident_resolved",
    "incident_reopened",
    "incident_edited",
    "incident_published",
    "component_changed",
    "monitor_state_changed",
    "maintenance_changed",
    "postmortem_changed",
];

/// Index entries read per query.
pub const INDEX_PAGE: usize = 1000;
/// Jobs handed to the queue per call.
const ENQUEUE_BATCH: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<StoreError> for PlanError {
    fn from(e: StoreError) -> Self {
        Self::App(e.into())
    }
}

/// What one planning run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    pub recipients: u64,
    pub jobs: u64,
}

/// Turns announcing changes into delivery jobs.
#[derive(Clone, Debug)]
pub struct Planner {
    service: Service,
    queue: Arc<dyn WorkQueue>,
}

/// Marks a notice as fully planned, so a redelivered change does not enqueue again.
fn planned_key(notice: &Notice) -> Key {
    Key::new(format!("NOTICE#{}", notice.id), "PLANNED")
}

impl Planner {
    pub fn new(service: Service, queue: Arc<dyn WorkQueue>) -> Self {
        Self { service, queue }
    }

    /// Plans every notice a change carries (its incident news, and each component
    /// status it moved).
    pub async fn plan_change(&self, change: &Change) -> Result<Planned, PlanError> {
        let mut total = Planned::default();
        for notice in notice::build_all(&self.service, change).await? {
            notice::save(&self.service, &notice).await?;
            let planned = self.plan(&notice).await?;
            total.recipients += planned.recipients;
            total.jobs += planned.jobs;
        }
        if let Some(notice) = alert::build(&self.service, change).await? {
            let planned = self.plan_alert(&notice).await?;
            total.recipients += planned.recipients;
            total.jobs += planned.jobs;
        }
        Ok(total)
    }

    /// Enqueues the recipients of every alert rule the alert fires, and records each
    /// firing in the incident's timeline. Safe to repeat, as [`Self::plan`].
    pub async fn plan_alert(&self, notice: &Notice) -> Result<Planned, PlanError> {
        let Subject::Alert { alert } = &notice.subject else { return Ok(Planned::default()) };
        let store = self.service.store().as_ref();
        if store.get(&planned_key(notice)).await?.is_some() {
            return Ok(Planned::default());
        }
        let rules = self.service.alert_rules().await?;
        let fired: Vec<&AlertRule> = alert::firing(&rules, alert).collect();
        let mut planned = Planned::default();
        if !fired.is_empty() {
            notice::save(&self.service, notice).await?;
            let recipients: Vec<SubscriberId> = fired.iter().map(|r| r.recipient).collect();
            planned.recipients = recipients.len() as u64;
            let jobs: Vec<Job> = recipients.chunks(JOB_SIZE).map(|chunk| self.job(notice, chunk.to_vec())).collect();
            planned.jobs = jobs.len() as u64;
            for batch in jobs.chunks(ENQUEUE_BATCH) {
                self.queue.enqueue(batch.to_vec(), Duration::ZERO).await?;
            }
            if let Some(incident) = &alert.incident {
                let mut entries = Vec::new();
                for rule in &fired {
                    let (channel, target) = match self.service.subscriber(rule.recipient).await {
                        Ok(r) => (r.channel.kind(), shown_target(&r.channel)),
                        Err(AppError::NotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    entries.push(TimelineEntry {
                        id: firing_entry_id(notice, rule.id),
                        incident_id: incident.id,
                        at: alert.at,
                        actor: Actor::System,
                        kind: EventKind::AlertFired {
                            rule_id: rule.id,
                            rule: rule.name.to_string(),
                            channel,
                            target,
                            alert: alert.event,
                        },
                    });
                }
                self.service.append_timeline(incident.id, &entries).await?;
            }
        }
        let marker = Item::new(planned_key(notice))
            .with("type", Value::S("notice_planned".into()))
            .with("recipients", Value::N(i64::try_from(planned.recipients).unwrap_or(i64::MAX)))
            .with("ttl", Value::N(notice.expires()));
        store.put(marker, Condition::None).await?;
        tracing::info!(notice = %notice.id, rules = planned.recipients, "alert planned");
        Ok(planned)
    }

    /// Enqueues every subscriber the notice reaches. Safe to repeat: a repeat after the
    /// whole plan landed does nothing, and a repeat of a partial plan enqueues jobs
    /// whose deliveries are already claimed, which send nothing twice.
    pub async fn plan(&self, notice: &Notice) -> Result<Planned, PlanError> {
        let store = self.service.store().as_ref();
        if store.get(&planned_key(notice)).await?.is_some() {
            return Ok(Planned::default());
        }
        let mut keys = vec![FollowKey::Page];
        if let Subject::Incident { incident, .. } | Subject::Postmortem { incident, .. } = &notice.subject {
            keys.push(FollowKey::Incident(incident.id));
        }
        keys.extend(notice.components.iter().map(|c| FollowKey::Component(c.id)));
        keys.extend(notice.groups.iter().map(|g| FollowKey::Group(g.id)));
        keys.sort();
        keys.dedup();
        let bit = i64::from(notice.event.bit());
        // Component status news is for webhooks only (entries written before the channel
        // was indexed carry none and are left to the deliverer's check).
        let webhooks_only = matches!(notice.subject, Subject::Component { .. });
        let mut merged = Merge::new(store, keys.iter().map(|k| follow_pk(*k)).collect());
        let mut planned = Planned::default();
        let mut batch: Vec<SubscriberId> = Vec::with_capacity(JOB_SIZE);
        let mut jobs: Vec<Job> = Vec::with_capacity(ENQUEUE_BATCH);
        while let Some((id, events, channel)) = merged.next().await? {
            if events & bit == 0 || (webhooks_only && channel.as_deref().is_some_and(|c| c != "webhook")) {
                continue;
            }
            let Ok(id) = id.parse::<SubscriberId>() else { continue };
            batch.push(id);
            planned.recipients += 1;
            if batch.len() == JOB_SIZE {
                jobs.push(self.job(notice, std::mem::take(&mut batch)));
                if jobs.len() == ENQUEUE_BATCH {
                    planned.jobs += jobs.len() as u64;
                    self.queue.enqueue(std::mem::take(&mut jobs), Duration::ZERO).await?;
                }
            }
        }
        if !batch.is_empty() {
            jobs.push(self.job(notice, batch));
        }
        if !jobs.is_empty() {
            planned.jobs += jobs.len() as u64;
            self.queue.enqueue(jobs, Duration::ZERO).await?;
        }
        let expires = notice.expires();
        let marker = Item::new(planned_key(notice))
            .with("type", Value::S("notice_planned".into()))
            .with("recipients", Value::N(i64::try_from(planned.recipients).unwrap_or(i64::MAX)))
            .with("ttl", Value::N(expires));
        store.put(marker, Condition::None).await?;
        tracing::info!(
            notice = %notice.id,
            recipients = planned.recipients,
            jobs = planned.jobs,
            "notice planned"
        );
        Ok(planned)
    }

    fn job(&self, notice: &Notice, subscribers: Vec<SubscriberId>) -> Job {
        Job { id: Ulid::new(), notice: notice.id, subscribers, attempt: 0 }
    }
}

#[async_trait::async_trait]
impl ChangeHandler for Planner {
    async fn handle(&self, change: &Change) -> Result<(), HandlerError> {
        self.plan_change(change).await.map(|_| ()).map_err(|e| HandlerError(e.to_string()))
    }
}

/// The timeline entry of one rule's firing: derived from the notice and the rule, so a
/// repeated plan writes the same entry (and the store keeps the first).
fn firing_entry_id(notice: &Notice, rule: beacon_domain::AlertRuleId) -> EventId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}/{rule}", notice.id));
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    EventId::new(Ulid::from_parts(notice.id.ulid().timestamp_ms(), u128::from_be_bytes(random)))
}

/// A recipient as the timeline names it: chat webhook URLs (whose path is their secret)
/// redacted.
fn shown_target(channel: &Channel) -> String {
    match channel {
        Channel::Slack { url } | Channel::Teams { url } | Channel::Discord { url } => url.redacted(),
        Channel::Email { address } => address.to_string(),
        Channel::Webhook { url } => url.as_str().to_owned(),
    }
}

/// One follow-index partition read page by page.
struct Source {
    pk: String,
    buffer: VecDeque<Entry>,
    cursor: Option<Cursor>,
    done: bool,
}

/// One follow-index entry: subscriber id, wanted news, channel kind.
type Entry = (String, i64, Option<String>);

/// A k-way merge of follow-index partitions by subscriber id, yielding each id once with
/// the union of its wanted events. Holds at most one page per partition.
struct Merge<'a> {
    store: &'a dyn Store,
    sources: Vec<Source>,
}

impl<'a> Merge<'a> {
    fn new(store: &'a dyn Store, pks: Vec<String>) -> Self {
        let sources =
            pks.into_iter().map(|pk| Source { pk, buffer: VecDeque::new(), cursor: None, done: false }).collect();
        Self { store, sources }
    }

    async fn fill(&mut self) -> Result<(), StoreError> {
        for source in &mut self.sources {
            if source.buffer.is_empty() && !source.done {
                let page = self
                    .store
                    .query(Query::partition(source.pk.clone()).limit(INDEX_PAGE).after(source.cursor.take()))
                    .await?;
                source.buffer.extend(page.items.into_iter().map(|item| {
                    let events = item.attrs.get(FOLLOW_EVENTS_ATTRIBUTE).and_then(Value::as_i64).unwrap_or(0);
                    let channel = item.str(FOLLOW_CHANNEL_ATTRIBUTE).map(str::to_owned);
                    (item.key.sk, events, channel)
                }));
                source.done = page.next.is_none();
                source.cursor = page.next;
            }
        }
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<Entry>, StoreError> {
        self.fill().await?;
        let Some(least) = self.sources.iter().filter_map(|s| s.buffer.front().map(|(id, _, _)| id)).min().cloned()
        else {
            return Ok(None);
        };
        let mut events = 0;
        let mut channel = None;
        for source in &mut self.sources {
            if source.buffer.front().is_some_and(|(id, _, _)| *id == least)
                && let Some((_, bits, kind)) = source.buffer.pop_front()
            {
                events |= bits;
                channel = channel.or(kind);
            }
        }
        Ok(Some((least, events, channel)))
    }
}

#[cfg(test)]
mod tests {
    /// The bus rule in front of the planner on AWS passes exactly the kinds planned here.
    #[test]
    fn the_cdk_rule_passes_every_kind_of_change_that_carries_news() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/lib/beacon-stack.ts");
        let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let start = source.find("export const NOTICE_CHANGES = [").unwrap_or_else(|| panic!("no NOTICE_CHANGES"));
        let list = &source[start..];
        let list = &list[..list.find("];").unwrap_or(list.len())];
        let listed: Vec<&str> = list.split('\'').skip(1).step_by(2).collect();
        assert_eq!(listed, super::PLANNED_CHANGES);
    }

    /// Every kind that builds a notice is planned: a change of each kind named here is
    /// what `notice::build_all` and `alert::build` act on.
    #[test]
    fn the_planned_kinds_are_the_wire_names_of_change_kinds() {
        use beacon_domain::{ChangeKind, ComponentId, IncidentId, MaintenanceEvent, MaintenanceId, UpdateId};
        let id = ulid::Ulid::nil();
        let kinds = [
            ChangeKind::MaintenanceChanged {
                maintenance_id: MaintenanceId::new(id),
                event: MaintenanceEvent::Scheduled,
                update_id: Some(UpdateId::new(id)),
                components: vec![ComponentId::new(id)],
                status_changes: vec![],
            },
            ChangeKind::PostmortemChanged { incident_id: IncidentId::new(id), published: true, notify: true },
        ];
        for kind in kinds {
            let wire = serde_json::to_value(&kind).unwrap_or_default();
            let name = wire["kind"].as_str().unwrap_or_default().to_owned();
            assert!(super::PLANNED_CHANGES.contains(&name.as_str()), "{name}");
        }
    }
}
