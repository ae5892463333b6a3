//! Subscribers: self-service on the page (double opt-in, manage and unsubscribe links)
//! and the admin's list, import and removal.
//!
//! Storage (see [`crate::repo`]): the record under `SUBSCRIBERS/<id>`; a guard per
//! target and scope (`SUB_TARGET/<target>|<scope>`) so an address subscribes once; and,
//! for active subscribers only, one follow-index entry per followed key
//! (`FOLLOW#P`, `FOLLOW#C#<component>`, `FOLLOW#G#<group>`, `FOLLOW#I#<incident>`, sort
//! key the subscriber id, with the wanted events as bits) which planners stream through
//! without reading subscriber records. All of a subscriber's items change in one
//! transaction, guarded by its version.
//!
//! Tokens are `<subscriber id>.<secret>`: the id finds the record, the SHA-256 of the
//! whole token is compared in constant time with the stored hashes.

use crate::error::{AppError, AppResult};
use crate::repo::{self, Listing};
use crate::service::{MAX_ATTEMPTS, Service, version_conflict};
use base64::Engine as _;
use beacon_domain::{
    Actor, CONFIRMATION_WINDOW_SECONDS, ChangeKind, Channel, ChannelKind, Email, EndpointUrl, Events, FieldError,
    FollowKey, Interest, NoticeId, Subscriber, SubscriberId, SubscriberState,
};
use beacon_store::{Condition, Cursor, Item, Key, Query, Update, Value, Write};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const SUBSCRIBERS_PK: &str = "SUBSCRIBERS";
pub const SUB_TARGET_PK: &str = "SUB_TARGET";
pub const RATE_PK: &str = "RATE";
/// The follow index's entries carry the wanted events as bits under this attribute.
pub const FOLLOW_EVENTS_ATTRIBUTE: &str = "ev";
/// ... and the channel's kind, so news for webhooks only is planned for them only.
pub const FOLLOW_CHANNEL_ATTRIBUTE: &str = "ch";

/// Public subscribe requests allowed per client address per hour.
pub const SUBSCRIBES_PER_CLIENT_PER_HOUR: i64 = 10;
/// Mails a public request may cause to one address per hour.
pub const MAILS_PER_ADDRESS_PER_HOUR: i64 = 3;

/// The partition of one follow-index key.
pub fn follow_pk(key: FollowKey) -> String {
    match key {
        FollowKey::Page => "FOLLOW#P".into(),
        FollowKey::Component(id) => format!("FOLLOW#C#{id}"),
        FollowKey::Group(id) => format!("FOLLOW#G#{id}"),
        FollowKey::Incident(id) => format!("FOLLOW#I#{id}"),
    }
}

fn subscriber_key(id: SubscriberId) -> Key {
    Key::new(SUBSCRIBERS_PK, id.to_string())
}

fn scope(interest: &Interest) -> String {
    match interest {
        Interest::Incident { incident_id } => format!("incident:{incident_id}"),
        Interest::Team { rule_id } => format!("team:{rule_id}"),
        Interest::Page | Interest::Components { .. } => "page".into(),
    }
}

pub(crate) fn target_key(channel: &Channel, interest: &Interest) -> Key {
    Key::new(SUB_TARGET_PK, format!("{}|{}", channel.target(), scope(interest)))
}

/// A secret handed out once (in a mail or a response); redacted in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct SubscriberToken(String);

impl SubscriberToken {
    fn mint(id: SubscriberId) -> Self {
        let random: [u8; 32] = rand::random();
        Self(format!("{id}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> String {
        digest(&self.0)
    }
}

impl std::fmt::Debug for SubscriberToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubscriberToken(<redacted>)")
    }
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn token_matches(presented: &str, hash: &str) -> bool {
    digest(presented).as_bytes().ct_eq(hash.as_bytes()).into()
}

fn token_subscriber(presented: &str) -> Option<SubscriberId> {
    presented.split_once('.').and_then(|(id, _)| id.parse().ok())
}

/// The delivery record of one notice to one subscriber: its claim, its state, and the
/// hashes of the manage tokens its message carried.
pub fn delivery_key(notice: NoticeId, subscriber: SubscriberId) -> Key {
    Key::new(format!("DELIVERY#{notice}#{subscriber}"), "D")
}

/// The attribute of a delivery record listing its tokens' hashes, comma-separated.
pub const DELIVERY_TOKENS_ATTRIBUTE: &str = "tokens";

/// Mints the manage token a notification carries: `<subscriber>.<notice>.<secret>`.
/// Only its hash is kept, on the delivery record, so every message has its own link and
/// nothing that could rebuild one is stored.
pub fn mint_delivery_token(notice: NoticeId, subscriber: SubscriberId) -> (SubscriberToken, String) {
    let random: [u8; 32] = rand::random();
    let token = SubscriberToken(format!(
        "{subscriber}.{notice}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    ));
    let hash = token.hash();
    (token, hash)
}

/// What a public subscribe request came to. Either way the visitor sees the same
/// answer; only the mail differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscribeOutcome {
    /// A new or still-unconfirmed subscription: mail this confirmation link.
    ConfirmationNeeded { subscriber: Subscriber, confirm: SubscriberToken, manage: SubscriberToken },
    /// The address already hears this: mail a fresh manage link instead.
    AlreadySubscribed { subscriber: Subscriber, manage: SubscriberToken },
    /// The address had its share of mails this hour: nothing is sent.
    Quiet,
}

/// A subscriber as an admin creates or imports it: confirmed at once.
#[derive(Clone, Debug)]
pub struct NewSubscriber {
    pub channel: Channel,
    pub interest: Interest,
    pub events: Events,
    pub contact: Option<Email>,
}

/// A new subscriber and its secrets, shown once.
#[derive(Clone, Debug)]
pub struct CreatedSubscriber {
    pub subscriber: Subscriber,
    pub manage: SubscriberToken,
    /// The webhook signing secret (webhooks only).
    pub signing_secret: Option<String>,
}

/// Which subscribers to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriberFilter {
    pub state: Option<SubscriberState>,
    pub channel: Option<ChannelKind>,
    /// Words the address (or the endpoint's scheme and host) or the contact must
    /// contain, case ignored. Chat webhook paths are secrets and are never searched.
    pub search: Option<String>,
}

impl SubscriberFilter {
    /// Team alert recipients are not subscribers of the page: listings leave them out.
    fn accepts(&self, s: &Subscriber) -> bool {
        !matches!(s.interest, Interest::Team { .. })
            && self.state.is_none_or(|st| st == s.state)
            && self.channel.is_none_or(|c| c == s.channel.kind())
            && self.search.as_deref().is_none_or(|words| Self::found(words, s))
    }

    fn found(words: &str, s: &Subscriber) -> bool {
        let target = match &s.channel {
            Channel::Email { address } => address.to_string(),
            Channel::Webhook { url } => url.to_string(),
            Channel::Slack { url } | Channel::Teams { url } | Channel::Discord { url } => url.redacted(),
        };
        let haystack = format!(
            "{} {}",
            target.to_lowercase(),
            s.contact.as_ref().map(|c| c.to_string().to_lowercase()).unwrap_or_default()
        );
        words.split_whitespace().all(|w| haystack.contains(&w.to_lowercase()))
    }
}

/// Why a rate limit refused a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many requests from this address; try again in {retry_after_seconds} seconds")]
pub struct RateLimited {
    pub retry_after_seconds: i64,
}

impl Service {
    /// Counts one event against `limit` per hour for `scope`/`key`; `Err` with the wait
    /// when the hour's share is used up. Counters expire with their hour.
    pub async fn rate_limit(&self, scope: &str, key: &str, limit: i64) -> AppResult<Result<(), RateLimited>> {
        let now = self.now().as_second();
        let window = now - now.rem_euclid(3600);
        let item = self
            .store
            .update(
                Update::new(Key::new(RATE_PK, format!("{scope}#{key}#{window}")))
                    .add("count", 1)
                    .set("ttl", Value::N(window + 7200)),
            )
            .await?;
        if item.num("count").unwrap_or(0) > limit {
            return Ok(Err(RateLimited { retry_after_seconds: window + 3600 - now }));
        }
        Ok(Ok(()))
    }

    /// A visitor asks for email notices. Creates (or refreshes) an unconfirmed
    /// subscription, or finds the address already subscribed; the caller mails the
    /// outcome. Nothing in the outcome's shape reaches the visitor.
    pub async fn subscribe_email(
        &self,
        address: &str,
        interest: Interest,
        events: Events,
    ) -> AppResult<SubscribeOutcome> {
        let mut errors = Vec::new();
        let address = Email::parse(address).map_err(|e| errors.push(e)).ok();
        if let Err(e) = interest.validate() {
            errors.push(e);
        }
        if let Err(e) = events.validate() {
            errors.push(e);
        }
        let Some(address) = address else { return Err(errors.into()) };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        self.check_interest_exists(&interest).await?;
        if self.rate_limit("mail", address.as_str(), MAILS_PER_ADDRESS_PER_HOUR).await?.is_err() {
            return Ok(SubscribeOutcome::Quiet);
        }
        let channel = Channel::Email { address };
        for attempt in 0..MAX_ATTEMPTS {
            let at = self.now();
            let (guard, existing) = self.target(&channel, &interest, at).await?;
            let outcome = match existing {
                Some(mut current) if current.state != SubscriberState::Pending => {
                    let manage = SubscriberToken::mint(current.id);
                    let previous = current.version;
                    current.add_manage_token(manage.hash());
                    current.updated_at = at;
                    current.version += 1;
                    let writes =
                        vec![Write::Put { item: subscriber_item(&current)?, condition: Condition::version(previous) }];
                    (writes, SubscribeOutcome::AlreadySubscribed { subscriber: current, manage })
                }
                Some(mut pending) => {
                    // Re-asked before confirming: the newest choice counts, with a new link.
                    let confirm = SubscriberToken::mint(pending.id);
                    let manage = SubscriberToken::mint(pending.id);
                    let previous = pending.version;
                    pending.interest = interest.clone();
                    pending.events = events;
                    pending.confirm_token_hash = Some(confirm.hash());
                    pending.add_manage_token(manage.hash());
                    pending.created_at = at;
                    pending.updated_at = at;
                    pending.version += 1;
                    let mut writes =
                        vec![Write::Put { item: subscriber_item(&pending)?, condition: Condition::version(previous) }];
                    writes.push(target_write(&pending, Condition::None)?);
                    (writes, SubscribeOutcome::ConfirmationNeeded { subscriber: pending, confirm, manage })
                }
                None => {
                    let id = SubscriberId::new(self.new_id(at));
                    let confirm = SubscriberToken::mint(id);
                    let manage = SubscriberToken::mint(id);
                    let subscriber = Subscriber {
                        id,
                        channel: channel.clone(),
                        interest: interest.clone(),
                        events,
                        state: SubscriberState::Pending,
                        contact: None,
                        manage_token_hashes: vec![manage.hash()],
                        confirm_token_hash: Some(confirm.hash()),
                        signing_secret: None,
                        consecutive_failures: 0,
                        created_at: at,
                        confirmed_at: None,
                        updated_at: at,
                        version: 1,
                    };
                    // An expired pending guard may still be stored (TTL deletes lazily);
                    // it is overwritten, guarded by what was read.
                    let writes = vec![
                        Write::Put { item: subscriber_item(&subscriber)?, condition: Condition::NotExists },
                        target_write(&subscriber, guard)?,
                    ];
                    (writes, SubscribeOutcome::ConfirmationNeeded { subscriber, confirm, manage })
                }
            };
            let (mut writes, outcome) = outcome;
            let id = match &outcome {
                SubscribeOutcome::ConfirmationNeeded { subscriber, .. }
                | SubscribeOutcome::AlreadySubscribed { subscriber, .. } => subscriber.id,
                SubscribeOutcome::Quiet => return Ok(outcome),
            };
            self.record_change(&mut writes, at, &Actor::System, ChangeKind::SubscriberChanged { subscriber_id: id })?;
            if self.commit(writes).await? {
                return Ok(outcome);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("subscription"))
    }

    /// Confirms an email subscription from its link: it becomes active and joins the
    /// follow index. Returns the subscriber and a fresh manage link, or `None` for an
    /// unknown, used or expired link.
    pub async fn confirm_subscription(&self, token: &str) -> AppResult<Option<(Subscriber, SubscriberToken)>> {
        let Some(id) = token_subscriber(token) else { return Ok(None) };
        for attempt in 0..MAX_ATTEMPTS {
            let at = self.now();
            let Some(current) = self.live_subscriber(id, at).await? else { return Ok(None) };
            let Some(hash) = current.confirm_token_hash.as_deref() else { return Ok(None) };
            if current.state != SubscriberState::Pending || !token_matches(token, hash) {
                return Ok(None);
            }
            let manage = SubscriberToken::mint(id);
            let mut next = current.clone();
            next.state = SubscriberState::Active;
            next.confirm_token_hash = None;
            next.confirmed_at = Some(at);
            next.add_manage_token(manage.hash());
            next.updated_at = at;
            next.version += 1;
            let mut writes = self.replace_writes(Some(&current), Some(&next))?;
            self.record_change(&mut writes, at, &Actor::System, ChangeKind::SubscriberChanged { subscriber_id: id })?;
            if self.commit(writes).await? {
                tracing::info!(subscriber = %id, "subscription confirmed");
                return Ok(Some((next, manage)));
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("subscription"))
    }

    /// The subscriber a manage link belongs to; `None` for any link that is not valid.
    pub async fn subscriber_by_token(&self, token: &str) -> AppResult<Option<Subscriber>> {
        let Some(id) = token_subscriber(token) else { return Ok(None) };
        let Some(current) = self.live_subscriber(id, self.now()).await? else { return Ok(None) };
        let parts: Vec<&str> = token.split('.').collect();
        let valid = match parts.as_slice() {
            [_, _] => current.manage_token_hashes.iter().any(|h| token_matches(token, h)),
            [_, notice, _] => {
                let Ok(notice) = notice.parse::<NoticeId>() else { return Ok(None) };
                match self.store.get(&delivery_key(notice, id)).await? {
                    Some(delivery) => delivery
                        .str(DELIVERY_TOKENS_ATTRIBUTE)
                        .unwrap_or_default()
                        .split(',')
                        .any(|h| !h.is_empty() && token_matches(token, h)),
                    None => false,
                }
            }
            _ => false,
        };
        Ok(valid.then_some(current))
    }

    /// Changes what a subscriber follows and hears, from its manage link.
    pub async fn update_subscription_by_token(
        &self,
        token: &str,
        interest: Interest,
        events: Events,
    ) -> AppResult<Option<Subscriber>> {
        interest.validate()?;
        events.validate()?;
        self.check_interest_exists(&interest).await?;
        for attempt in 0..MAX_ATTEMPTS {
            let Some(current) = self.subscriber_by_token(token).await? else { return Ok(None) };
            if scope(&current.interest) != scope(&interest) {
                return Err(AppError::invalid("interest", "an incident follow cannot become a page subscription"));
            }
            let at = self.now();
            let mut next = current.clone();
            next.interest = interest.clone();
            next.events = events;
            next.updated_at = at;
            next.version += 1;
            let mut writes = self.replace_writes(Some(&current), Some(&next))?;
            self.record_change(
                &mut writes,
                at,
                &Actor::System,
                ChangeKind::SubscriberChanged { subscriber_id: current.id },
            )?;
            if self.commit(writes).await? {
                return Ok(Some(next));
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("subscription"))
    }

    /// Unsubscribes at once from a manage link (the one-click unsubscribe). `false` for
    /// a link that is not valid (including one already used to unsubscribe).
    pub async fn unsubscribe_by_token(&self, token: &str) -> AppResult<bool> {
        let Some(current) = self.subscriber_by_token(token).await? else { return Ok(false) };
        self.remove_subscriber(&Actor::System, current.id).await.map(|_| true).or_else(|e| match e {
            AppError::NotFound { .. } => Ok(false),
            other => Err(other),
        })
    }

    /// Adds a confirmed subscriber (admin creation and import). A target that is
    /// already subscribed is a duplicate.
    pub async fn create_subscriber(&self, actor: Actor, input: NewSubscriber) -> AppResult<CreatedSubscriber> {
        input.interest.validate()?;
        input.events.validate()?;
        self.check_interest_exists(&input.interest).await?;
        let at = self.now();
        let (guard, existing) = self.target(&input.channel, &input.interest, at).await?;
        if let Some(existing) = existing {
            return Err(AppError::Duplicate(format!(
                "subscriber {} already has this {} target",
                existing.id,
                input.channel.kind()
            )));
        }
        let id = SubscriberId::new(self.new_id(at));
        let manage = SubscriberToken::mint(id);
        let signing_secret = (input.channel.kind() == ChannelKind::Webhook).then(|| {
            let random: [u8; 32] = rand::random();
            format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
        });
        let subscriber = Subscriber {
            id,
            channel: input.channel,
            interest: input.interest,
            events: input.events,
            state: SubscriberState::Active,
            contact: input.contact,
            manage_token_hashes: vec![manage.hash()],
            confirm_token_hash: None,
            signing_secret: signing_secret.clone(),
            consecutive_failures: 0,
            created_at: at,
            confirmed_at: Some(at),
            updated_at: at,
            version: 1,
        };
        let mut writes = self.replace_writes_guarded(None, Some(&subscriber), guard)?;
        self.record_change(&mut writes, at, &actor, ChangeKind::SubscriberChanged { subscriber_id: id })?;
        if !self.commit(writes).await? {
            return Err(AppError::Duplicate(format!(
                "this {} target is already subscribed",
                subscriber.channel.kind()
            )));
        }
        Ok(CreatedSubscriber { subscriber, manage, signing_secret })
    }

    /// One subscriber (pending ones past their window count as gone).
    pub async fn subscriber(&self, id: SubscriberId) -> AppResult<Subscriber> {
        self.live_subscriber(id, self.now()).await?.ok_or_else(|| AppError::not_found("subscriber", id))
    }

    /// Subscribers in id (creation) order, filtered, a page at a time.
    pub async fn subscribers(
        &self,
        filter: SubscriberFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> AppResult<Listing<Subscriber>> {
        if !(1..=1000).contains(&limit) {
            return Err(AppError::invalid("limit", "limit must be 1 to 1000"));
        }
        let now = self.now();
        let mut items = Vec::new();
        let mut cursor = cursor;
        // Filters are applied to pages read in order; reading stops once a page is full
        // so the cursor points just past the last subscriber returned.
        loop {
            let page = self
                .store
                .query(Query::partition(SUBSCRIBERS_PK).limit(limit - items.len()).after(cursor.take()))
                .await?;
            for item in &page.items {
                let s: Subscriber = repo::decode(item)?;
                if !is_expired(&s, now) && filter.accepts(&s) {
                    items.push(s);
                }
            }
            match page.next {
                Some(next) if items.len() < limit => cursor = Some(next),
                next => return Ok(Listing { items, next }),
            }
        }
    }

    /// How many subscribers match, by state and channel.
    pub async fn count_subscribers(&self, filter: SubscriberFilter) -> AppResult<u64> {
        let now = self.now();
        let mut count = 0;
        let mut query = Query::partition(SUBSCRIBERS_PK).limit(1000);
        loop {
            let page = self.store.query(query.clone()).await?;
            for item in &page.items {
                let s: Subscriber = repo::decode(item)?;
                if !is_expired(&s, now) && filter.accepts(&s) {
                    count += 1;
                }
            }
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => return Ok(count),
            }
        }
    }

    /// Removes a subscriber with its guard and follow entries.
    pub async fn remove_subscriber(&self, actor: &Actor, id: SubscriberId) -> AppResult<Subscriber> {
        for attempt in 0..MAX_ATTEMPTS {
            let item =
                self.store.get(&subscriber_key(id)).await?.ok_or_else(|| AppError::not_found("subscriber", id))?;
            let current: Subscriber = repo::decode(&item)?;
            if let Interest::Team { rule_id } = current.interest {
                return Err(AppError::invalid(
                    "id",
                    format!("this is the recipient of alert rule {rule_id}: delete or change the rule instead"),
                ));
            }
            let at = self.now();
            let owns_guard = self
                .store
                .get(&target_key(&current.channel, &current.interest))
                .await?
                .is_some_and(|g| g.str("subscriber_id") == Some(id.to_string().as_str()));
            let guard = if owns_guard {
                Condition::Equals("subscriber_id".into(), Value::S(id.to_string()))
            } else {
                Condition::None
            };
            let mut writes = self.replace_writes_guarded(Some(&current), None, guard)?;
            self.record_change(&mut writes, at, actor, ChangeKind::SubscriberDeleted { subscriber_id: id })?;
            if self.commit(writes).await? {
                tracing::info!(subscriber = %id, "subscriber removed");
                return Ok(current);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("subscriber"))
    }

    /// Puts a quarantined subscriber back to active (an admin fixed its endpoint).
    pub async fn reactivate_subscriber(
        &self,
        actor: &Actor,
        id: SubscriberId,
        expected_version: Option<u64>,
    ) -> AppResult<Subscriber> {
        self.change_subscriber(actor, id, expected_version, |s, _| {
            if s.state == SubscriberState::Pending {
                return Err(AppError::invalid("state", "a pending subscriber is activated by its own confirmation"));
            }
            s.state = SubscriberState::Active;
            s.consecutive_failures = 0;
            Ok(())
        })
        .await
    }

    /// Applies `change` to a subscriber and rewrites its items, retrying lost races
    /// unless a version was pinned.
    pub async fn change_subscriber(
        &self,
        actor: &Actor,
        id: SubscriberId,
        expected_version: Option<u64>,
        change: impl Fn(&mut Subscriber, Timestamp) -> AppResult<()>,
    ) -> AppResult<Subscriber> {
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.subscriber(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("subscriber", expected, current.version));
            }
            let at = self.now();
            let mut next = current.clone();
            change(&mut next, at)?;
            next.updated_at = at;
            next.version += 1;
            let mut writes = self.replace_writes(Some(&current), Some(&next))?;
            self.record_change(&mut writes, at, actor, ChangeKind::SubscriberChanged { subscriber_id: id })?;
            if self.commit(writes).await? {
                return Ok(next);
            }
            if expected_version.is_some() {
                let now = self.subscriber(id).await?;
                return Err(version_conflict("subscriber", current.version, now.version));
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("subscriber"))
    }

    /// Reads a subscriber, treating an unconfirmed one past its window as absent (the
    /// TTL that deletes it may lag).
    async fn live_subscriber(&self, id: SubscriberId, now: Timestamp) -> AppResult<Option<Subscriber>> {
        let Some(item) = self.store.get(&subscriber_key(id)).await? else { return Ok(None) };
        let s: Subscriber = repo::decode(&item)?;
        Ok((!is_expired(&s, now)).then_some(s))
    }

    /// The live subscriber of a target, and the condition under which a new one may
    /// take the target: no guard, or the same stale guard that was read (an expired
    /// pending subscription, or one removed meanwhile).
    pub(crate) async fn target(
        &self,
        channel: &Channel,
        interest: &Interest,
        now: Timestamp,
    ) -> AppResult<(Condition, Option<Subscriber>)> {
        let Some(guard) = self.store.get(&target_key(channel, interest)).await? else {
            return Ok((Condition::NotExists, None));
        };
        let Some(raw) = guard.str("subscriber_id") else { return Ok((Condition::Exists, None)) };
        let condition = Condition::Equals("subscriber_id".into(), Value::S(raw.to_owned()));
        let Ok(id) = raw.parse() else { return Ok((condition, None)) };
        Ok((condition, self.live_subscriber(id, now).await?))
    }

    async fn check_interest_exists(&self, interest: &Interest) -> AppResult<()> {
        let mut errors = Vec::new();
        match interest {
            Interest::Page => {}
            Interest::Team { .. } => {
                errors.push(FieldError::new("interest", "team recipients are made by alert rules, not as subscribers"));
            }
            Interest::Incident { incident_id } => {
                if self.store.get(&repo::incident_key(*incident_id)).await?.is_none() {
                    errors.push(FieldError::new("incident_id", format!("incident {incident_id} does not exist")));
                }
            }
            Interest::Components { components, groups } => {
                for id in components {
                    if self.store.get(&Key::new(repo::COMPONENTS_PK, id.to_string())).await?.is_none() {
                        errors.push(FieldError::new("components", format!("component {id} does not exist")));
                    }
                }
                for id in groups {
                    if self.store.get(&Key::new(repo::GROUPS_PK, id.to_string())).await?.is_none() {
                        errors.push(FieldError::new("groups", format!("group {id} does not exist")));
                    }
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.into()) }
    }

    /// The writes that take a subscriber from `before` to `after` (either absent):
    /// record, target guard and follow entries, guarded by the version read.
    fn replace_writes(&self, before: Option<&Subscriber>, after: Option<&Subscriber>) -> AppResult<Vec<Write>> {
        self.replace_writes_guarded(before, after, Condition::None)
    }

    /// As [`Self::replace_writes`], with a condition on the target guard (creation
    /// guards against a racing subscribe of the same target).
    pub(crate) fn replace_writes_guarded(
        &self,
        before: Option<&Subscriber>,
        after: Option<&Subscriber>,
        guard: Condition,
    ) -> AppResult<Vec<Write>> {
        let mut writes = Vec::new();
        let listed = |s: Option<&Subscriber>| -> Vec<FollowKey> {
            s.filter(|s| s.state == SubscriberState::Active).map(|s| s.interest.follow_keys()).unwrap_or_default()
        };
        let (old_keys, new_keys) = (listed(before), listed(after));
        let condition = before.map_or(Condition::NotExists, |b| Condition::version(b.version));
        match after {
            Some(next) => {
                writes.push(Write::Put { item: subscriber_item(next)?, condition });
                writes.push(target_write(next, guard)?);
                for key in &new_keys {
                    writes.push(Write::Put { item: follow_item(*key, next), condition: Condition::None });
                }
            }
            None => {
                if let Some(b) = before {
                    writes.push(Write::Delete { key: subscriber_key(b.id), condition });
                    // The guard goes only if it is still this subscriber's (an expired
                    // pending one's guard may belong to a newer subscription by now).
                    if guard != Condition::None {
                        writes.push(Write::Delete { key: target_key(&b.channel, &b.interest), condition: guard });
                    }
                }
            }
        }
        let id = before.or(after).map(|s| s.id);
        for key in old_keys.iter().filter(|k| !new_keys.contains(k)) {
            if let Some(id) = id {
                writes
                    .push(Write::Delete { key: Key::new(follow_pk(*key), id.to_string()), condition: Condition::None });
            }
        }
        // A changed target (never through these use cases, but cheap to keep right).
        if let (Some(b), Some(a)) = (before, after)
            && target_key(&b.channel, &b.interest) != target_key(&a.channel, &a.interest)
        {
            writes.push(Write::Delete { key: target_key(&b.channel, &b.interest), condition: Condition::None });
        }
        Ok(writes)
    }
}

/// Records a delivery outcome on a subscriber: failures count towards quarantine, a
/// success resets the count. Returns the subscriber as stored afterwards and whether
/// this failure quarantined it.
impl Service {
    pub async fn record_delivery_outcome(
        &self,
        id: SubscriberId,
        success: bool,
    ) -> AppResult<Option<(Subscriber, bool)>> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some(current) = self.live_subscriber(id, self.now()).await? else { return Ok(None) };
            if success && current.consecutive_failures == 0 {
                return Ok(Some((current, false)));
            }
            let at = self.now();
            let mut next = current.clone();
            let quarantined = if success {
                next.consecutive_failures = 0;
                false
            } else {
                next.record_failure(at)
            };
            next.updated_at = at;
            next.version += 1;
            // Only a quarantine changes what is indexed; a count alone is the record's.
            let mut writes = if quarantined {
                self.replace_writes(Some(&current), Some(&next))?
            } else {
                vec![Write::Put { item: subscriber_item(&next)?, condition: Condition::version(current.version) }]
            };
            if quarantined {
                self.record_change(
                    &mut writes,
                    at,
                    &Actor::System,
                    ChangeKind::SubscriberChanged { subscriber_id: id },
                )?;
            }
            if self.commit(writes).await? {
                if quarantined {
                    tracing::warn!(subscriber = %id, "subscriber quarantined after repeated failed deliveries");
                }
                return Ok(Some((next, quarantined)));
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("subscriber"))
    }

    /// Suppresses an email address after a permanent bounce or a complaint: every
    /// subscription of the address is removed. Returns how many were.
    pub async fn suppress_address(&self, address: &Email) -> AppResult<usize> {
        let prefix = format!("{}|", Channel::Email { address: address.clone() }.target());
        let guards = repo::query_all(self.store.as_ref(), Query::partition(SUB_TARGET_PK).prefix(prefix)).await?;
        let mut removed = 0;
        for guard in guards {
            let Some(id) = guard.str("subscriber_id").and_then(|s| s.parse().ok()) else { continue };
            // A team alert recipient is the team's own address: its failures show in the
            // rule's delivery log rather than removing the rule's recipient.
            if guard.key.sk.contains("|team:") {
                continue;
            }
            match self.remove_subscriber(&Actor::System, id).await {
                Ok(_) => removed += 1,
                Err(AppError::NotFound { .. }) => {
                    let _ = self.store.delete(&guard.key, Condition::None).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

fn is_expired(s: &Subscriber, now: Timestamp) -> bool {
    s.state == SubscriberState::Pending && now.as_second() >= s.created_at.as_second() + CONFIRMATION_WINDOW_SECONDS
}

fn expiry(s: &Subscriber) -> Option<Value> {
    (s.state == SubscriberState::Pending).then(|| Value::N(s.created_at.as_second() + CONFIRMATION_WINDOW_SECONDS))
}

fn subscriber_item(s: &Subscriber) -> AppResult<Item> {
    let mut item = repo::versioned(subscriber_key(s.id), "subscriber", s, s.version)?;
    if let Some(ttl) = expiry(s) {
        item = item.with("ttl", ttl);
    }
    Ok(item)
}

fn target_write(s: &Subscriber, condition: Condition) -> AppResult<Write> {
    let mut item = Item::new(target_key(&s.channel, &s.interest))
        .with("type", Value::S("subscriber_target".into()))
        .with("subscriber_id", Value::S(s.id.to_string()));
    if let Some(ttl) = expiry(s) {
        item = item.with("ttl", ttl);
    }
    Ok(Write::Put { item, condition })
}

fn follow_item(key: FollowKey, s: &Subscriber) -> Item {
    Item::new(Key::new(follow_pk(key), s.id.to_string()))
        .with("type", Value::S("follow".into()))
        .with(FOLLOW_EVENTS_ATTRIBUTE, Value::N(i64::from(s.events.bits())))
        .with(FOLLOW_CHANNEL_ATTRIBUTE, Value::S(s.channel.kind().as_str().to_owned()))
}

/// Parses a webhook-like channel from its kind and URL.
pub fn parse_channel(kind: ChannelKind, target: &str, allow_plain_http: bool) -> Result<Channel, FieldError> {
    Ok(match kind {
        ChannelKind::Email => Channel::Email { address: Email::parse(target)? },
        ChannelKind::Webhook => Channel::Webhook { url: EndpointUrl::parse(target, allow_plain_http)? },
        ChannelKind::Slack => Channel::Slack { url: EndpointUrl::parse(target, allow_plain_http)? },
        ChannelKind::Teams => Channel::Teams { url: EndpointUrl::parse(target, allow_plain_http)? },
        ChannelKind::Discord => Channel::Discord { url: EndpointUrl::parse(target, allow_plain_http)? },
    })
}

/// One attempt to deliver a notice to a subscriber, as the admin's delivery log shows
/// it. Kept a month.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryAttempt {
    pub at: Timestamp,
    /// The notice: the update, or the component change, it was about.
    pub notice: NoticeId,
    pub channel: ChannelKind,
    pub outcome: DeliveryOutcome,
    /// The endpoint's HTTP status, for webhook-like channels that answered.
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Sent,
    /// Failed; tried again later.
    Retrying,
    /// Failed for good (refused, rejected, out of attempts, or quarantined).
    Failed,
    /// The provider asked to slow down; tried again later, not counted as a failure.
    Throttled,
}

pub const DELIVERY_LOG_TTL_SECONDS: i64 = 30 * 24 * 3600;

fn delivery_log_pk(id: SubscriberId) -> String {
    format!("SUBLOG#{id}")
}

impl Service {
    /// Appends an attempt to a subscriber's delivery log.
    pub async fn log_delivery(&self, subscriber: SubscriberId, attempt: &DeliveryAttempt) -> AppResult<()> {
        let key = Key::new(delivery_log_pk(subscriber), self.new_id(attempt.at).to_string());
        let item = repo::record(key, "delivery_attempt", attempt)?
            .with("ttl", Value::N(attempt.at.as_second() + DELIVERY_LOG_TTL_SECONDS));
        self.store.put(item, Condition::None).await?;
        Ok(())
    }

    /// A subscriber's delivery log, newest first.
    pub async fn delivery_log(
        &self,
        subscriber: SubscriberId,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> AppResult<Listing<DeliveryAttempt>> {
        if !(1..=200).contains(&limit) {
            return Err(AppError::invalid("limit", "limit must be 1 to 200"));
        }
        self.subscriber(subscriber).await?;
        let page = self
            .store
            .query(Query::partition(delivery_log_pk(subscriber)).descending().limit(limit).after(cursor))
            .await?;
        let items = page.items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        Ok(Listing { items, next: page.next })
    }
}
