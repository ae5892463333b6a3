//! Integrations: alerting tools' webhooks turned into incidents, one per alert group.
//!
//! | pk             | sk                       | item                                          |
//! |----------------|--------------------------|-----------------------------------------------|
//! | `INTEGRATIONS` | `<id>`                   | an integration (versioned)                    |
//! | `HOOKS`        | `<sha256 of secret>`     | which integration a hook URL belongs to       |
//! | `INT#<id>`     | `K#<sha256 of key>`      | an alert group: its alerts, its incident      |
//! | `INT#<id>`     | `L#<ulid>`               | one delivery's log entry (`ttl`, 30 days)     |
//!
//! An alert group is written in the same transaction as the incident it opens, changes
//! or reopens, guarded by its version (or by its absence), so deliveries racing for one
//! key open one incident: the losers find the group on their next attempt and add to it.

use crate::error::{AppError, AppResult};
use crate::monitors::hash_secret;
use crate::repo::{self, Listing};
use crate::service::{MAX_ATTEMPTS, Service, version_conflict};
use base64::Engine as _;
use beacon_domain::{
    Actor, AffectedComponent, AlertDelta, AlertGroup, AlertReport, ChangeKind, DEFAULT_ALERT_MESSAGE,
    DEFAULT_REOPEN_WINDOW_SECONDS, DEFAULT_RESOLVED_MESSAGE, EventKind, Impact, ImpactMapping, Incident, IncidentEdit,
    IncidentId, IncidentSource, IncidentStatus, Integration, IntegrationComponent, IntegrationId, IntegrationKind,
    Markdown, Name, NewIncident, NewUpdate, ResolveTo, TimelineEntry, Title, apply_reports, validate_integration,
};
use beacon_integrations::{Alert, Delivery, fill};
use beacon_store::{Condition, Cursor, Key, Query, Value, Write};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const INTEGRATIONS_PK: &str = "INTEGRATIONS";
pub const HOOKS_PK: &str = "HOOKS";
/// How long a delivery's log entry is kept.
pub const DELIVERY_LOG_TTL_SECONDS: i64 = 30 * 24 * 3600;
/// Incidents one delivery may touch: a tool that sends hundreds of ungrouped alerts at
/// once is misconfigured, and a page of hundreds of incidents helps nobody.
pub const MAX_KEYS_PER_DELIVERY: usize = 50;

fn integration_key(id: IntegrationId) -> Key {
    Key::new(INTEGRATIONS_PK, id.to_string())
}

fn hook_key(secret_hash: &str) -> Key {
    Key::new(HOOKS_PK, secret_hash)
}

fn integration_pk(id: IntegrationId) -> String {
    format!("INT#{id}")
}

fn group_key(id: IntegrationId, key: &str) -> Key {
    Key::new(integration_pk(id), format!("K#{}", hash_secret(key)))
}

fn new_secret(prefix: &str) -> String {
    let random: [u8; 32] = rand::random();
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
}

/// A new integration; unset fields take their defaults.
#[derive(Clone, Debug, Default)]
pub struct NewIntegration {
    pub name: String,
    pub kind: Option<IntegrationKind>,
    pub key_field: Option<String>,
    pub components: Vec<IntegrationComponent>,
    pub impact: Option<ImpactMapping>,
    pub title_template: Option<String>,
    pub message_template: Option<String>,
    pub resolved_message: Option<String>,
    pub publish: Option<bool>,
    pub resolve_to: Option<ResolveTo>,
    pub reopen_window_seconds: Option<u32>,
    pub require_signature: Option<bool>,
}

/// Changes to an integration; `rotate_secret` issues a new hook URL (the old one stops
/// working at once), `rotate_signing_secret` a new signing secret. The kind is fixed.
#[derive(Clone, Debug, Default)]
pub struct IntegrationPatch {
    pub name: Option<String>,
    pub key_field: Option<String>,
    pub components: Option<Vec<IntegrationComponent>>,
    pub impact: Option<ImpactMapping>,
    pub title_template: Option<String>,
    pub message_template: Option<String>,
    pub resolved_message: Option<String>,
    pub publish: Option<bool>,
    pub resolve_to: Option<ResolveTo>,
    pub reopen_window_seconds: Option<u32>,
    pub require_signature: Option<bool>,
    pub rotate_secret: bool,
    pub rotate_signing_secret: bool,
}

/// An integration, with the secrets made by this call (shown once).
#[derive(Clone, Debug)]
pub struct CreatedIntegration {
    pub integration: Integration,
    /// The hook URL's secret, when this call made one.
    pub hook_secret: Option<String>,
    /// The generic kind's signing secret, when this call made one.
    pub signing_secret: Option<String>,
}

/// What a delivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// An incident was opened.
    Opened,
    /// Alerts fired or resolved on an open incident (its timeline records which).
    Updated,
    /// Every alert resolved, and the incident resolved.
    Resolved,
    /// Every alert resolved, and the incident moved to monitoring.
    Monitoring,
    /// A resolved incident was reopened.
    Reopened,
    /// Nothing new: alerts already known in the state they are reported in.
    Repeat,
    /// Nothing to act on (resolutions of alerts never seen firing, a notification
    /// without an alarm).
    Ignored,
    /// An SNS subscription was confirmed.
    Confirmed,
    /// The delivery was refused (see the error).
    Rejected,
}

impl DeliveryOutcome {
    /// When one delivery touches several groups, the most telling outcome names it.
    fn weight(self) -> u8 {
        match self {
            Self::Rejected => 9,
            Self::Opened => 8,
            Self::Reopened => 7,
            Self::Resolved => 6,
            Self::Monitoring => 5,
            Self::Updated => 4,
            Self::Confirmed => 3,
            Self::Repeat => 2,
            Self::Ignored => 1,
        }
    }
}

/// One delivery's entry in its integration's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub at: Timestamp,
    pub outcome: DeliveryOutcome,
    /// Alerts the delivery carried.
    pub alerts: usize,
    /// Incidents it opened, changed or reopened (or found open, on a repeat).
    pub incidents: Vec<IncidentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Service {
    /// Every integration, oldest first.
    pub async fn integrations(&self) -> AppResult<Vec<Integration>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(INTEGRATIONS_PK)).await?;
        items.iter().map(repo::decode).collect()
    }

    pub async fn integration(&self, id: IntegrationId) -> AppResult<Integration> {
        let item = self.store.get(&integration_key(id)).await?.ok_or_else(|| AppError::not_found("integration", id))?;
        repo::decode(&item)
    }

    /// The integration a hook URL's secret belongs to. An unknown secret is not found,
    /// exactly like an unknown integration: secrets cannot be told apart by probing.
    pub async fn integration_by_secret(&self, secret: &str) -> AppResult<Integration> {
        let not_found = || AppError::not_found("hook", "this URL");
        if secret.len() > 200 {
            return Err(not_found());
        }
        let Some(item) = self.store.get(&hook_key(&hash_secret(secret))).await? else {
            return Err(not_found());
        };
        let id: IntegrationId = item.str("integration_id").and_then(|s| s.parse().ok()).ok_or_else(not_found)?;
        match self.integration(id).await {
            Err(AppError::NotFound { .. }) => Err(not_found()),
            other => other,
        }
    }

    async fn check_components(&self, components: &[IntegrationComponent]) -> AppResult<Vec<beacon_domain::FieldError>> {
        let mut errors = Vec::new();
        for c in components {
            if self.store.get(&crate::service::component_key(c.id)).await?.is_none() {
                errors.push(beacon_domain::FieldError::new("components", format!("component {} does not exist", c.id)));
            }
        }
        Ok(errors)
    }

    fn hook_writes(&self, id: IntegrationId, secret_hash: &str, previous: Option<&str>) -> AppResult<Vec<Write>> {
        let mut writes = vec![Write::Put {
            item: repo::record(hook_key(secret_hash), "hook", &serde_json::json!({ "integration_id": id }))?
                .with("integration_id", Value::S(id.to_string())),
            condition: Condition::NotExists,
        }];
        if let Some(previous) = previous {
            writes.push(Write::Delete { key: hook_key(previous), condition: Condition::None });
        }
        Ok(writes)
    }

    /// Creates an integration with its hook URL (and, for the generic kind, its signing
    /// secret), both returned this once.
    #[tracing::instrument(skip(self, input))]
    pub async fn create_integration(&self, actor: Actor, input: NewIntegration) -> AppResult<CreatedIntegration> {
        let mut errors = Vec::new();
        let name = Name::parse(&input.name).map_err(|e| errors.push(e)).ok();
        let Some(kind) = input.kind else {
            errors.push(beacon_domain::FieldError::new("kind", "choose generic, alertmanager, grafana or sns"));
            return Err(errors.into());
        };
        let at = self.now();
        let id = IntegrationId::new(self.new_id(at));
        let hook_secret = new_secret("hook_");
        let signing_secret = (kind == IntegrationKind::Generic).then(|| new_secret("whsec_"));
        let integration = Integration {
            id,
            name: name.clone().unwrap_or_else(|| Name::parse("unnamed").unwrap_or_else(|_| unreachable!())),
            kind,
            key_field: input.key_field,
            components: input.components,
            impact: input.impact.unwrap_or_default(),
            title_template: input.title_template.unwrap_or_else(|| kind.default_title().into()),
            message_template: input.message_template.unwrap_or_else(|| DEFAULT_ALERT_MESSAGE.into()),
            resolved_message: input.resolved_message.unwrap_or_else(|| DEFAULT_RESOLVED_MESSAGE.into()),
            publish: input.publish.unwrap_or(true),
            resolve_to: input.resolve_to.unwrap_or_default(),
            reopen_window_seconds: input.reopen_window_seconds.unwrap_or(DEFAULT_REOPEN_WINDOW_SECONDS),
            require_signature: input.require_signature.unwrap_or(false),
            signing_secret: signing_secret.clone(),
            secret_hash: hash_secret(&hook_secret),
            created_at: at,
            updated_at: at,
            version: 1,
        };
        errors.extend(validate_integration(&integration).err().unwrap_or_default());
        errors.extend(self.check_components(&integration.components).await?);
        if name.is_none() || !errors.is_empty() {
            return Err(errors.into());
        }
        let mut writes = self.hook_writes(id, &integration.secret_hash, None)?;
        writes.push(Write::Put {
            item: repo::versioned(integration_key(id), "integration", &integration, 1)?,
            condition: Condition::NotExists,
        });
        self.record_change(&mut writes, at, &actor, ChangeKind::IntegrationChanged { integration_id: id })?;
        if !self.commit(writes).await? {
            return Err(Self::too_busy("integration"));
        }
        Ok(CreatedIntegration { integration, hook_secret: Some(hook_secret), signing_secret })
    }

    /// Changes an integration, guarded by `expected_version` if given.
    pub async fn update_integration(
        &self,
        actor: Actor,
        id: IntegrationId,
        expected_version: Option<u64>,
        patch: IntegrationPatch,
    ) -> AppResult<CreatedIntegration> {
        let name = patch.name.as_deref().map(Name::parse).transpose()?;
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.integration(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("integration", expected, current.version));
            }
            let mut next = current.clone();
            if let Some(name) = name.clone() {
                next.name = name;
            }
            if let Some(field) = patch.key_field.clone() {
                next.key_field = Some(field);
            }
            if let Some(components) = patch.components.clone() {
                next.components = components;
            }
            if let Some(impact) = patch.impact.clone() {
                next.impact = impact;
            }
            for (slot, value) in [
                (&mut next.title_template, &patch.title_template),
                (&mut next.message_template, &patch.message_template),
                (&mut next.resolved_message, &patch.resolved_message),
            ] {
                if let Some(value) = value {
                    value.clone_into(slot);
                }
            }
            next.publish = patch.publish.unwrap_or(next.publish);
            next.resolve_to = patch.resolve_to.unwrap_or(next.resolve_to);
            next.reopen_window_seconds = patch.reopen_window_seconds.unwrap_or(next.reopen_window_seconds);
            next.require_signature = patch.require_signature.unwrap_or(next.require_signature);
            let hook_secret = patch.rotate_secret.then(|| new_secret("hook_"));
            if let Some(secret) = &hook_secret {
                next.secret_hash = hash_secret(secret);
            }
            let mut signing_secret = None;
            if patch.rotate_signing_secret {
                if next.kind != IntegrationKind::Generic {
                    return Err(AppError::invalid(
                        "rotate_signing_secret",
                        "only the generic kind has a signing secret",
                    ));
                }
                signing_secret = Some(new_secret("whsec_"));
                next.signing_secret.clone_from(&signing_secret);
            }
            let mut errors = validate_integration(&next).err().unwrap_or_default();
            if patch.components.is_some() {
                errors.extend(self.check_components(&next.components).await?);
            }
            if !errors.is_empty() {
                return Err(errors.into());
            }
            let at = self.now();
            next.updated_at = at;
            next.version = current.version + 1;
            let mut writes = match &hook_secret {
                Some(_) => self.hook_writes(id, &next.secret_hash, Some(&current.secret_hash))?,
                None => Vec::new(),
            };
            writes.push(Write::Put {
                item: repo::versioned(integration_key(id), "integration", &next, next.version)?,
                condition: Condition::version(current.version),
            });
            self.record_change(&mut writes, at, &actor, ChangeKind::IntegrationChanged { integration_id: id })?;
            if self.commit(writes).await? {
                return Ok(CreatedIntegration { integration: next, hook_secret, signing_secret });
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("integration"))
    }

    /// Deletes an integration and its hook URL. Its alert groups and log stay behind,
    /// unreachable (the log expires; groups are small).
    pub async fn delete_integration(&self, actor: Actor, id: IntegrationId) -> AppResult<()> {
        let current = self.integration(id).await?;
        let at = self.now();
        let mut writes = vec![
            Write::Delete { key: integration_key(id), condition: Condition::version(current.version) },
            Write::Delete { key: hook_key(&current.secret_hash), condition: Condition::None },
        ];
        self.record_change(&mut writes, at, &actor, ChangeKind::IntegrationDeleted { integration_id: id })?;
        if !self.commit(writes).await? {
            return Err(Self::too_busy("integration"));
        }
        Ok(())
    }

    /// Appends a delivery to its integration's log.
    pub async fn log_integration_delivery(&self, id: IntegrationId, record: &DeliveryRecord) -> AppResult<()> {
        let key = Key::new(integration_pk(id), format!("L#{}", self.new_id(record.at)));
        let item = repo::record(key, "integration_delivery", record)?
            .with("ttl", Value::N(record.at.as_second() + DELIVERY_LOG_TTL_SECONDS));
        self.store.put(item, Condition::None).await?;
        Ok(())
    }

    /// An integration's delivery log, newest first.
    pub async fn integration_deliveries(
        &self,
        id: IntegrationId,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> AppResult<Listing<DeliveryRecord>> {
        if !(1..=200).contains(&limit) {
            return Err(AppError::invalid("limit", "limit must be 1 to 200"));
        }
        self.integration(id).await?;
        let query = Query::partition(integration_pk(id)).prefix("L#").descending().limit(limit).after(cursor);
        let page = self.store.query(query).await?;
        let items = page.items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        Ok(Listing { items, next: page.next })
    }

    /// Applies a delivery's alerts: per deduplication key, opens, changes, resolves or
    /// reopens one incident. Returns the log record (not yet written).
    #[tracing::instrument(skip(self, integration, delivery), fields(integration = %integration.id))]
    pub async fn receive_alerts(&self, integration: &Integration, delivery: &Delivery) -> AppResult<DeliveryRecord> {
        let keys = delivery.incident_keys();
        if keys.len() > MAX_KEYS_PER_DELIVERY {
            return Err(AppError::invalid(
                "alerts",
                format!(
                    "the delivery carries {} separate alerts; at most {MAX_KEYS_PER_DELIVERY} (group them in the tool)",
                    keys.len()
                ),
            ));
        }
        let mut outcome = DeliveryOutcome::Ignored;
        let mut incidents = Vec::new();
        for key in &keys {
            let alerts: Vec<&Alert> = match &delivery.group {
                Some(_) => delivery.alerts.iter().collect(),
                None => delivery.alerts.iter().filter(|a| &a.key == key).collect(),
            };
            let (done, incident) = self.receive_group(integration, key, &alerts).await?;
            if done.weight() > outcome.weight() {
                outcome = done;
            }
            incidents.extend(incident);
        }
        incidents.sort();
        incidents.dedup();
        Ok(DeliveryRecord { at: self.now(), outcome, alerts: delivery.alerts.len(), incidents, error: None })
    }

    async fn receive_group(
        &self,
        integration: &Integration,
        key: &str,
        alerts: &[&Alert],
    ) -> AppResult<(DeliveryOutcome, Option<IncidentId>)> {
        let reports: Vec<AlertReport> = alerts
            .iter()
            .map(|a| AlertReport {
                key: a.key.clone(),
                name: alert_name(a),
                firing: a.firing,
                since: a.starts_at,
                impact: integration.impact.impact(&a.fields),
            })
            .collect();
        // The fields templates see: the first firing alert's (else the first's), and
        // how many alerts the delivery carries for this key.
        let mut fields =
            alerts.iter().find(|a| a.firing).or(alerts.first()).map(|a| a.fields.clone()).unwrap_or_default();
        fields.insert("alert_count".into(), alerts.len().to_string());
        let actor = Actor::Integration { id: integration.id.to_string() };
        for attempt in 0..MAX_ATTEMPTS {
            let now = self.now();
            let stored = self.store.get(&group_key(integration.id, key)).await?;
            let group: Option<AlertGroup> = stored.as_ref().map(repo::decode).transpose()?;
            let incident = match &group {
                Some(g) => match self.load_incident(g.incident_id).await {
                    Ok(incident) => Some(incident),
                    Err(AppError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            let group_condition = match &group {
                Some(g) => Condition::version(g.version),
                None => Condition::NotExists,
            };
            let within_window = |i: &Incident| {
                i.resolved_at
                    .is_some_and(|r| now.as_second() - r.as_second() <= i64::from(integration.reopen_window_seconds))
            };
            let plan = match (group, incident) {
                // An open incident: the alerts' news goes to its timeline; the last one
                // resolving resolves it.
                (Some(mut group), Some(incident)) if incident.status.is_open() => {
                    let delta = apply_reports(&mut group.alerts, &reports, now);
                    if delta.is_empty() {
                        return Ok((DeliveryOutcome::Repeat, Some(incident.id)));
                    }
                    group.cleared_at = (!delta.any_firing).then_some(now);
                    let ours = incident.integration_id == Some(integration.id) && incident.auto_resolve;
                    if !delta.any_firing && ours {
                        let status = match integration.resolve_to {
                            ResolveTo::Resolved => IncidentStatus::Resolved,
                            ResolveTo::Monitoring => IncidentStatus::Monitoring,
                        };
                        let outcome = if status == IncidentStatus::Resolved {
                            DeliveryOutcome::Resolved
                        } else {
                            DeliveryOutcome::Monitoring
                        };
                        let update = NewUpdate {
                            message: markdown(&fill(&integration.resolved_message, &fields), DEFAULT_RESOLVED_MESSAGE)?,
                            status: (incident.status != status).then_some(status),
                            impact: None,
                            components: Vec::new(),
                        };
                        Plan::Update { incident, update, group, delta, outcome }
                    } else if ours && delta.impact.is_some_and(|worse| worse > incident.impact) {
                        // A worse alert joined the group: the incident's impact follows.
                        let edit = IncidentEdit { impact: delta.impact, ..IncidentEdit::default() };
                        Plan::Edit { incident, edit, group, delta }
                    } else {
                        Plan::Note { incident, group, delta }
                    }
                }
                // A resolved incident: a key firing again within the window reopens it.
                (Some(mut group), Some(incident)) if within_window(&incident) => {
                    let delta = apply_reports(&mut group.alerts, &reports, now);
                    if delta.fired.is_empty() {
                        if delta.is_empty() {
                            return Ok((DeliveryOutcome::Repeat, Some(incident.id)));
                        }
                        group.cleared_at = (!delta.any_firing).then_some(now);
                        Plan::Quiet { group }
                    } else {
                        group.cleared_at = None;
                        let update = NewUpdate {
                            message: markdown(&fill(&integration.message_template, &fields), DEFAULT_ALERT_MESSAGE)?,
                            status: Some(IncidentStatus::Investigating),
                            impact: delta.impact.filter(|i| *i != incident.impact),
                            components: Vec::new(),
                        };
                        Plan::Update { incident, update, group, delta, outcome: DeliveryOutcome::Reopened }
                    }
                }
                // No group, or one whose incident is gone or closed too long ago: a new
                // incident, if anything fires.
                (previous, _) => {
                    let mut alerts = BTreeMap::new();
                    let delta = apply_reports(&mut alerts, &reports, now);
                    if !delta.any_firing {
                        let known = previous.as_ref().map(|g| g.incident_id);
                        let outcome = if known.is_some() { DeliveryOutcome::Repeat } else { DeliveryOutcome::Ignored };
                        return Ok((outcome, known));
                    }
                    let group = AlertGroup {
                        integration_id: integration.id,
                        key: key.to_owned(),
                        incident_id: IncidentId::new(ulid::Ulid::nil()),
                        alerts,
                        opened_at: now,
                        cleared_at: None,
                        // Replacing a stale group moves its version on, so writers that
                        // read the stale one cannot replace it a second time.
                        version: previous.as_ref().map_or(0, |g| g.version),
                    };
                    let components = self
                        .existing(
                            integration
                                .components
                                .iter()
                                .map(|c| AffectedComponent { id: c.id, status: c.status })
                                .collect(),
                        )
                        .await?;
                    let new = NewIncident {
                        title: title(&fill(&integration.title_template, &fields), integration.name.as_ref()),
                        status: IncidentStatus::Investigating,
                        impact: delta.impact.unwrap_or(Impact::Minor),
                        message: markdown(&fill(&integration.message_template, &fields), DEFAULT_ALERT_MESSAGE)?,
                        components,
                        source: IncidentSource::Webhook,
                        template_id: None,
                        monitor_id: None,
                        integration_id: Some(integration.id),
                        published: integration.publish,
                    };
                    Plan::Open { new, group, delta }
                }
            };
            let (writes, outcome, incident_id) = self.plan_writes(integration, plan, &actor, group_condition).await?;
            if self.commit(writes).await? {
                tracing::info!(?outcome, incident = ?incident_id, "alerts applied");
                return Ok((outcome, incident_id));
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("alert group"))
    }

    async fn plan_writes(
        &self,
        integration: &Integration,
        plan: Plan,
        actor: &Actor,
        group_condition: Condition,
    ) -> AppResult<(Vec<Write>, DeliveryOutcome, Option<IncidentId>)> {
        let group_write = |mut group: AlertGroup, condition: Condition| -> AppResult<Write> {
            group.trim();
            group.version += 1;
            Ok(Write::Put {
                item: repo::versioned(group_key(integration.id, &group.key), "alert_group", &group, group.version)?,
                condition,
            })
        };
        let alert_entries = |entries: &mut Vec<TimelineEntry>, id: IncidentId, at: Timestamp, delta: &AlertDelta| {
            if !delta.fired.is_empty() {
                let kind = EventKind::AlertsFiring { integration_id: integration.id, alerts: delta.fired.clone() };
                self.push_entry(entries, id, at, actor, kind);
            }
            if !delta.resolved.is_empty() {
                let kind = EventKind::AlertsResolved {
                    integration_id: integration.id,
                    alerts: delta.resolved.clone(),
                    all: !delta.any_firing,
                };
                self.push_entry(entries, id, at, actor, kind);
            }
        };
        Ok(match plan {
            Plan::Open { new, mut group, delta } => {
                let (at, outcome) = self.stamped(actor, |stamp| Incident::report(new, stamp));
                let mut outcome = outcome?;
                let id = outcome.incident.id;
                alert_entries(&mut outcome.entries, id, at, &delta);
                group.incident_id = id;
                group.opened_at = at;
                let mut writes = self.outcome_writes(None, &outcome, actor, at).await?;
                writes.push(group_write(group, group_condition)?);
                (writes, DeliveryOutcome::Opened, Some(id))
            }
            Plan::Update { incident, update, group, delta, outcome: done } => {
                let (at, outcome) = self.stamped(actor, |stamp| incident.post_update(update, stamp));
                let mut outcome = outcome?;
                alert_entries(&mut outcome.entries, incident.id, at, &delta);
                let mut writes = self.outcome_writes(Some(&incident), &outcome, actor, at).await?;
                writes.push(group_write(group, group_condition)?);
                (writes, done, Some(incident.id))
            }
            Plan::Edit { incident, edit, group, delta } => {
                let (at, outcome) = self.stamped(actor, |stamp| incident.edit(edit, stamp));
                let mut outcome = outcome?;
                alert_entries(&mut outcome.entries, incident.id, at, &delta);
                let mut writes = self.outcome_writes(Some(&incident), &outcome, actor, at).await?;
                writes.push(group_write(group, group_condition)?);
                (writes, DeliveryOutcome::Updated, Some(incident.id))
            }
            Plan::Note { incident, group, delta } => {
                let at = self.now();
                let mut entries = Vec::new();
                alert_entries(&mut entries, incident.id, at, &delta);
                let mut writes = vec![repo::entries_write(incident.id, &entries)?];
                writes.push(Write::Check {
                    key: repo::incident_key(incident.id),
                    condition: Condition::version(incident.version),
                });
                writes.push(group_write(group, group_condition)?);
                (writes, DeliveryOutcome::Updated, Some(incident.id))
            }
            Plan::Quiet { group } => {
                let id = group.incident_id;
                (vec![group_write(group, group_condition)?], DeliveryOutcome::Updated, Some(id))
            }
        })
    }
}

/// What applying a group's alerts comes to.
enum Plan {
    Open {
        new: NewIncident,
        group: AlertGroup,
        delta: AlertDelta,
    },
    Update {
        incident: Incident,
        update: NewUpdate,
        group: AlertGroup,
        delta: AlertDelta,
        outcome: DeliveryOutcome,
    },
    /// A worse impact on an open incident (no public words).
    Edit {
        incident: Incident,
        edit: IncidentEdit,
        group: AlertGroup,
        delta: AlertDelta,
    },
    /// Timeline entries on an open incident, nothing public.
    Note {
        incident: Incident,
        group: AlertGroup,
        delta: AlertDelta,
    },
    /// The group's alerts alone (resolutions after its incident closed).
    Quiet {
        group: AlertGroup,
    },
}

/// An alert's readable name: Prometheus' `alertname`, CloudWatch's alarm name, else its
/// key.
fn alert_name(alert: &Alert) -> String {
    let name = alert.fields.get("alertname").or_else(|| alert.fields.get("alarm_name")).unwrap_or(&alert.key);
    name.chars().take(200).collect()
}

/// A filled title made fit for a title: one line, at most 200 characters; the
/// integration's name if the template filled to nothing.
fn title(filled: &str, fallback: &str) -> Title {
    let line: String = filled.split_whitespace().collect::<Vec<_>>().join(" ");
    let line: String = line.chars().filter(|c| !c.is_control()).take(Title::MAX_CHARS).collect();
    Title::parse(&line)
        .or_else(|_| Title::parse(fallback))
        .unwrap_or_else(|_| Title::parse("Alert").unwrap_or_else(|_| unreachable!("a literal title is valid")))
}

/// A filled message made fit for Markdown: clipped to its measure, or `fallback` if it
/// filled to nothing.
fn markdown(filled: &str, fallback: &str) -> AppResult<Markdown> {
    let clipped: String =
        filled.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).take(Markdown::MAX_CHARS).collect();
    match Markdown::parse(&clipped) {
        Ok(m) => Ok(m),
        Err(_) => Ok(Markdown::parse(fallback)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_titles_are_one_clipped_line() {
        assert_eq!(title("Disk\nfull  on\tdb-1", "x").as_ref(), "Disk full on db-1");
        assert_eq!(title("   ", "Prometheus").as_ref(), "Prometheus");
        assert_eq!(title(&"a".repeat(500), "x").as_ref().chars().count(), Title::MAX_CHARS);
    }
}
