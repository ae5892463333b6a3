//! Team alert rules: their records, and the recipient each delivers to.
//!
//! | pk            | sk     | item                         |
//! |---------------|--------|------------------------------|
//! | `ALERT_RULES` | `<id>` | a rule (versioned)           |
//!
//! A rule's recipient is a subscriber record with a `team` interest: the delivery
//! machinery (signing, retries, quarantine, the delivery log) serves it as any other,
//! while no follow index lists it, so public news never reaches it, and admin listings
//! of subscribers leave it out. Rule and recipient are written in one transaction.

use crate::error::{AppError, AppResult};
use crate::repo;
use crate::service::{MAX_ATTEMPTS, Service, version_conflict};
use crate::subscribers::target_key;
use base64::Engine as _;
use beacon_domain::{
    Actor, AlertOn, AlertRule, AlertRuleId, ChangeKind, Channel, ChannelKind, Email, Events, FieldError, Interest,
    MonitorId, Name, Subscriber, SubscriberId, SubscriberState,
};
use beacon_store::{Condition, Key, Query, Value, Write};
use std::collections::BTreeSet;

pub const ALERT_RULES_PK: &str = "ALERT_RULES";

fn rule_key(id: AlertRuleId) -> Key {
    Key::new(ALERT_RULES_PK, id.to_string())
}

/// A new rule and where it delivers.
#[derive(Clone, Debug)]
pub struct NewAlertRule {
    pub name: String,
    pub on: AlertOn,
    /// `None`: every monitor (and incidents opened by hand).
    pub monitors: Option<BTreeSet<MonitorId>>,
    pub channel: Channel,
    /// Who hears of it if a webhook-like recipient is quarantined.
    pub contact: Option<Email>,
}

/// Changes to a rule; `monitors: Some(None)` widens it to every monitor. A new channel
/// is a new rule.
#[derive(Clone, Debug, Default)]
pub struct AlertRulePatch {
    pub name: Option<String>,
    pub on: Option<AlertOn>,
    pub monitors: Option<Option<BTreeSet<MonitorId>>>,
}

/// A rule with its recipient, and the webhook signing secret when one was just made.
#[derive(Clone, Debug)]
pub struct RuleWithRecipient {
    pub rule: AlertRule,
    pub recipient: Subscriber,
    pub signing_secret: Option<String>,
}

impl Service {
    /// Every rule, oldest first.
    pub async fn alert_rules(&self) -> AppResult<Vec<AlertRule>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(ALERT_RULES_PK)).await?;
        items.iter().map(repo::decode).collect()
    }

    pub async fn alert_rule(&self, id: AlertRuleId) -> AppResult<RuleWithRecipient> {
        let item = self.store.get(&rule_key(id)).await?.ok_or_else(|| AppError::not_found("alert rule", id))?;
        let rule: AlertRule = repo::decode(&item)?;
        let recipient = self.subscriber(rule.recipient).await?;
        Ok(RuleWithRecipient { rule, recipient, signing_secret: None })
    }

    async fn check_monitors(
        &self,
        monitors: Option<&BTreeSet<MonitorId>>,
        errors: &mut Vec<FieldError>,
    ) -> AppResult<()> {
        for id in monitors.into_iter().flatten() {
            if self.store.get(&Key::new(crate::monitors::MONITORS_PK, id.to_string())).await?.is_none() {
                errors.push(FieldError::new("monitors", format!("monitor {id} does not exist")));
            }
        }
        Ok(())
    }

    /// Creates a rule and its recipient.
    #[tracing::instrument(skip(self, input))]
    pub async fn create_alert_rule(&self, actor: Actor, input: NewAlertRule) -> AppResult<RuleWithRecipient> {
        let mut errors = Vec::new();
        let name = Name::parse(&input.name).map_err(|e| errors.push(e)).ok();
        errors.extend(AlertRule::validate(input.on, input.monitors.as_ref()).err().unwrap_or_default());
        self.check_monitors(input.monitors.as_ref(), &mut errors).await?;
        let (Some(name), true) = (name, errors.is_empty()) else {
            return Err(errors.into());
        };
        let at = self.now();
        let id = AlertRuleId::new(self.new_id(at));
        let recipient_id = SubscriberId::new(self.new_id(at));
        let signing_secret = (input.channel.kind() == ChannelKind::Webhook).then(|| {
            let random: [u8; 32] = rand::random();
            format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
        });
        let interest = Interest::Team { rule_id: id };
        let recipient = Subscriber {
            id: recipient_id,
            channel: input.channel,
            interest,
            events: Events::default(),
            state: SubscriberState::Active,
            contact: input.contact,
            manage_token_hashes: Vec::new(),
            confirm_token_hash: None,
            signing_secret: signing_secret.clone(),
            consecutive_failures: 0,
            created_at: at,
            confirmed_at: Some(at),
            updated_at: at,
            version: 1,
        };
        let rule = AlertRule {
            id,
            name,
            on: input.on,
            monitors: input.monitors,
            recipient: recipient_id,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let mut writes = self.replace_writes_guarded(None, Some(&recipient), Condition::NotExists)?;
        writes.push(Write::Put {
            item: repo::versioned(rule_key(id), "alert_rule", &rule, 1)?,
            condition: Condition::NotExists,
        });
        for m in rule.monitors.iter().flatten() {
            writes.push(Write::Check {
                key: Key::new(crate::monitors::MONITORS_PK, m.to_string()),
                condition: Condition::Exists,
            });
        }
        self.record_change(&mut writes, at, &actor, ChangeKind::AlertRuleChanged { rule_id: id })?;
        if !self.commit(writes).await? {
            return Err(AppError::invalid("monitors", "a monitor was deleted meanwhile"));
        }
        Ok(RuleWithRecipient { rule, recipient, signing_secret })
    }

    /// Changes a rule's name, events or monitors, guarded by `expected_version` if given.
    pub async fn update_alert_rule(
        &self,
        actor: Actor,
        id: AlertRuleId,
        expected_version: Option<u64>,
        patch: AlertRulePatch,
    ) -> AppResult<RuleWithRecipient> {
        let name = patch.name.as_deref().map(Name::parse).transpose()?;
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.alert_rule(id).await?;
            let rule = &current.rule;
            if let Some(expected) = expected_version
                && expected != rule.version
            {
                return Err(version_conflict("alert rule", expected, rule.version));
            }
            let mut next = rule.clone();
            if let Some(name) = name.clone() {
                next.name = name;
            }
            next.on = patch.on.unwrap_or(next.on);
            if let Some(monitors) = patch.monitors.clone() {
                next.monitors = monitors;
            }
            let mut errors = AlertRule::validate(next.on, next.monitors.as_ref()).err().unwrap_or_default();
            self.check_monitors(next.monitors.as_ref(), &mut errors).await?;
            if !errors.is_empty() {
                return Err(errors.into());
            }
            let at = self.now();
            next.updated_at = at;
            next.version = rule.version + 1;
            let mut writes = vec![Write::Put {
                item: repo::versioned(rule_key(id), "alert_rule", &next, next.version)?,
                condition: Condition::version(rule.version),
            }];
            self.record_change(&mut writes, at, &actor, ChangeKind::AlertRuleChanged { rule_id: id })?;
            if self.commit(writes).await? {
                return Ok(RuleWithRecipient { rule: next, recipient: current.recipient, signing_secret: None });
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("alert rule"))
    }

    /// Deletes a rule and its recipient (whose delivery log expires on its own).
    pub async fn delete_alert_rule(&self, actor: Actor, id: AlertRuleId) -> AppResult<()> {
        let current = self.alert_rule(id).await?;
        let at = self.now();
        let recipient = &current.recipient;
        let guard = Condition::Equals("subscriber_id".into(), Value::S(recipient.id.to_string()));
        let owns_guard = self
            .store
            .get(&target_key(&recipient.channel, &recipient.interest))
            .await?
            .is_some_and(|g| g.str("subscriber_id") == Some(recipient.id.to_string().as_str()));
        let mut writes =
            self.replace_writes_guarded(Some(recipient), None, if owns_guard { guard } else { Condition::None })?;
        writes.push(Write::Delete { key: rule_key(id), condition: Condition::version(current.rule.version) });
        self.record_change(&mut writes, at, &actor, ChangeKind::AlertRuleDeleted { rule_id: id })?;
        if !self.commit(writes).await? {
            return Err(Self::too_busy("alert rule"));
        }
        Ok(())
    }
}
