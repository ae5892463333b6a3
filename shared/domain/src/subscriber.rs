//! Subscribers: who hears about incidents, through which channel, about what.
//!
//! The rules here are pure: which events and components a subscriber follows, whether a
//! notice reaches it, what its endpoint may be. Secrets (manage and confirmation tokens)
//! are generated and hashed by the caller; only their hashes are held here.

use crate::error::FieldError;
use crate::ids::{AlertRuleId, ComponentId, GroupId, IncidentId, SubscriberId};
use crate::text::Email;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// How many components and groups one subscriber may follow by name (the rest of a
/// page is covered by following whole groups or the page). Bounded so that changing
/// from one selection to an entirely different one (its follow-index entries removed
/// and added, the record, its guard and the change record) fits one transaction of at
/// most 100 writes.
pub const MAX_FOLLOWED: usize = 45;
/// Consecutive failed deliveries after which a webhook-like subscriber is quarantined.
pub const QUARANTINE_AFTER_FAILURES: u32 = 10;
/// How long an unconfirmed email subscription waits for its confirmation.
pub const CONFIRMATION_WINDOW_SECONDS: i64 = 7 * 24 * 3600;

/// An endpoint URL of a webhook-like channel, parsed once. Whether plain HTTP is allowed
/// is a deployment setting (local development only), so the parser takes it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: &str, allow_plain_http: bool) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(FieldError::new("url", "url must not be empty"));
        }
        if value.len() > Self::MAX_CHARS {
            return Err(FieldError::new("url", format!("url must be at most {} characters", Self::MAX_CHARS)));
        }
        let parsed = url::Url::parse(value).map_err(|e| FieldError::new("url", format!("url is not valid: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if allow_plain_http => {}
            "http" => return Err(FieldError::new("url", "url must use https")),
            other => return Err(FieldError::new("url", format!("url must use https, not {other}"))),
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(FieldError::new("url", "url must name a host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(FieldError::new("url", "url must not carry a user name or password"));
        }
        if parsed.fragment().is_some() {
            return Err(FieldError::new("url", "url must not have a #fragment"));
        }
        Ok(Self(parsed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with its path and query hidden: chat webhooks carry their secret in the
    /// path, so listings and logs show only where it points.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or_default()),
            Err(_) => "…".into(),
        }
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a subscriber is told.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Channel {
    Email {
        address: Email,
    },
    /// Any HTTPS endpoint; deliveries are signed with the subscriber's secret.
    Webhook {
        url: EndpointUrl,
    },
    Slack {
        url: EndpointUrl,
    },
    Teams {
        url: EndpointUrl,
    },
    Discord {
        url: EndpointUrl,
    },
}

impl Channel {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Email { .. } => ChannelKind::Email,
            Self::Webhook { .. } => ChannelKind::Webhook,
            Self::Slack { .. } => ChannelKind::Slack,
            Self::Teams { .. } => ChannelKind::Teams,
            Self::Discord { .. } => ChannelKind::Discord,
        }
    }

    /// The endpoint of a webhook-like channel.
    pub fn url(&self) -> Option<&EndpointUrl> {
        match self {
            Self::Email { .. } => None,
            Self::Webhook { url } | Self::Slack { url } | Self::Teams { url } | Self::Discord { url } => Some(url),
        }
    }

    /// What makes two subscriptions the same target (one subscription per address or
    /// endpoint and interest).
    pub fn target(&self) -> String {
        match self {
            Self::Email { address } => format!("email:{address}"),
            other => format!("{}:{}", other.kind(), other.url().map(EndpointUrl::as_str).unwrap_or_default()),
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Email,
    Webhook,
    Slack,
    Teams,
    Discord,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 5] = [Self::Email, Self::Webhook, Self::Slack, Self::Teams, Self::Discord];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Discord => "discord",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChannelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown channel {s:?}; one of email, webhook, slack, teams, discord"))
    }
}

/// What a subscriber follows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Interest {
    /// Every incident of the page.
    Page,
    /// Incidents touching any of these components, or any component of these groups
    /// (including components added to a group later).
    Components {
        #[serde(default)]
        components: BTreeSet<ComponentId>,
        #[serde(default)]
        groups: BTreeSet<GroupId>,
    },
    /// One incident, until it is resolved ("follow this incident").
    Incident { incident_id: IncidentId },
    /// The recipient of a team alert rule: told only what the rule selects, never public
    /// news (it is in no follow index).
    Team { rule_id: AlertRuleId },
}

impl Interest {
    /// Checks the sizes; an empty component selection follows nothing, which is refused.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Self::Components { components, groups } = self {
            if components.is_empty() && groups.is_empty() {
                return Err(FieldError::new(
                    "interest",
                    "choose at least one component or group, or follow the whole page",
                ));
            }
            if components.len() + groups.len() > MAX_FOLLOWED {
                return Err(FieldError::new(
                    "interest",
                    format!("at most {MAX_FOLLOWED} components and groups; follow the whole page instead"),
                ));
            }
        }
        Ok(())
    }

    /// Whether a notice about `incident`, touching `components` (each with its group),
    /// concerns this interest.
    pub fn covers(&self, incident: IncidentId, components: &[(ComponentId, Option<GroupId>)]) -> bool {
        match self {
            Self::Page => true,
            Self::Incident { incident_id } => *incident_id == incident,
            Self::Components { components: followed, groups } => {
                components.iter().any(|(id, group)| followed.contains(id) || group.is_some_and(|g| groups.contains(&g)))
            }
            Self::Team { .. } => false,
        }
    }

    /// The index partitions (see the store's follow index) this interest is listed in.
    pub fn follow_keys(&self) -> Vec<FollowKey> {
        match self {
            Self::Page => vec![FollowKey::Page],
            Self::Incident { incident_id } => vec![FollowKey::Incident(*incident_id)],
            Self::Components { components, groups } => components
                .iter()
                .map(|c| FollowKey::Component(*c))
                .chain(groups.iter().map(|g| FollowKey::Group(*g)))
                .collect(),
            Self::Team { .. } => Vec::new(),
        }
    }
}

/// One entry point of the follow index: planners read the entries of every key a notice
/// touches, merged by subscriber id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FollowKey {
    Page,
    Component(ComponentId),
    Group(GroupId),
    Incident(IncidentId),
}

/// What kind of news a notice carries.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    /// A new incident.
    Created,
    /// A later public update (including a reopen).
    Updated,
    /// The incident was resolved.
    Resolved,
    /// Planned maintenance announced or started.
    Maintenance,
}

impl NoticeEvent {
    pub fn bit(self) -> u8 {
        match self {
            Self::Created => 1,
            Self::Updated => 2,
            Self::Resolved => 4,
            Self::Maintenance => 8,
        }
    }
}

/// The kinds of news a subscriber hears. Every kind by default.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    #[serde(default = "yes")]
    pub created: bool,
    #[serde(default = "yes")]
    pub updated: bool,
    #[serde(default = "yes")]
    pub resolved: bool,
    #[serde(default = "yes")]
    pub maintenance: bool,
}

fn yes() -> bool {
    true
}

impl Default for Events {
    fn default() -> Self {
        Self { created: true, updated: true, resolved: true, maintenance: true }
    }
}

impl Events {
    pub fn wants(self, event: NoticeEvent) -> bool {
        match event {
            NoticeEvent::Created => self.created,
            NoticeEvent::Updated => self.updated,
            NoticeEvent::Resolved => self.resolved,
            NoticeEvent::Maintenance => self.maintenance,
        }
    }

    /// The events as bits, as the follow index keeps them so a planner filters without
    /// reading subscribers.
    pub fn bits(self) -> u8 {
        [NoticeEvent::Created, NoticeEvent::Updated, NoticeEvent::Resolved, NoticeEvent::Maintenance]
            .into_iter()
            .filter(|e| self.wants(*e))
            .fold(0, |acc, e| acc | e.bit())
    }

    pub fn validate(self) -> Result<(), FieldError> {
        if self.bits() == 0 {
            return Err(FieldError::new("events", "choose at least one kind of news, or unsubscribe"));
        }
        Ok(())
    }
}

/// Where a subscription stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberState {
    /// Waiting for the email confirmation; expires unconfirmed.
    Pending,
    /// Receives notices.
    Active,
    /// Too many failed deliveries in a row; receives nothing until an admin reactivates it.
    Quarantined,
}

impl SubscriberState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Quarantined => "quarantined",
        }
    }
}

impl std::str::FromStr for SubscriberState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Pending, Self::Active, Self::Quarantined]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?}; one of pending, active, quarantined"))
    }
}

/// A subscriber. Secrets are held only as hashes, except the webhook signing secret,
/// which signing needs in the clear (it is never shown after creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    pub id: SubscriberId,
    pub channel: Channel,
    pub interest: Interest,
    pub events: Events,
    pub state: SubscriberState,
    /// Who is told when a webhook-like subscriber is quarantined.
    pub contact: Option<Email>,
    /// Hashes of the valid manage tokens, newest first (a re-subscribe mails a fresh
    /// link without breaking the links of earlier mails).
    pub manage_token_hashes: Vec<String>,
    /// Hash of the pending confirmation token; cleared once confirmed.
    pub confirm_token_hash: Option<String>,
    /// The HMAC key of webhook deliveries.
    pub signing_secret: Option<String>,
    pub consecutive_failures: u32,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// How many manage links stay valid at once.
pub const MANAGE_TOKENS_KEPT: usize = 3;

impl Subscriber {
    /// Whether a notice of `event` about `incident` touching `components` goes to this
    /// subscriber now.
    pub fn receives(
        &self,
        event: NoticeEvent,
        incident: IncidentId,
        components: &[(ComponentId, Option<GroupId>)],
    ) -> bool {
        self.state == SubscriberState::Active && self.events.wants(event) && self.interest.covers(incident, components)
    }

    /// Adds a manage token hash, keeping the newest few.
    pub fn add_manage_token(&mut self, hash: String) {
        self.manage_token_hashes.insert(0, hash);
        self.manage_token_hashes.truncate(MANAGE_TOKENS_KEPT);
    }

    /// Records a failed delivery; returns true when this failure quarantines it.
    pub fn record_failure(&mut self, at: Timestamp) -> bool {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.updated_at = at;
        if self.state == SubscriberState::Active
            && self.channel.kind() != ChannelKind::Email
            && self.consecutive_failures >= QUARANTINE_AFTER_FAILURES
        {
            self.state = SubscriberState::Quarantined;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulid::Ulid;

    fn component(n: u128) -> ComponentId {
        ComponentId::new(Ulid(n))
    }

    fn group(n: u128) -> GroupId {
        GroupId::new(Ulid(n))
    }

    #[test]
    fn endpoint_urls_must_be_https_unless_allowed() {
        assert!(EndpointUrl::parse("https://hooks.example.com/x", false).is_ok());
        let err = EndpointUrl::parse("http://hooks.example.com/x", false).err().map(|e| e.message);
        assert_eq!(err.as_deref(), Some("url must use https"));
        assert!(EndpointUrl::parse("http://127.0.0.1:9/x", true).is_ok());
        assert!(EndpointUrl::parse("ftp://example.com/", true).is_err());
        assert!(EndpointUrl::parse("https://user:pw@example.com/", false).is_err());
        assert!(EndpointUrl::parse("https://example.com/#frag", false).is_err());
        assert!(EndpointUrl::parse("not a url", false).is_err());
        assert!(EndpointUrl::parse(&format!("https://e.com/{}", "a".repeat(2000)), false).is_err());
    }

    #[test]
    fn redacted_urls_hide_the_path_where_chat_secrets_live() {
        let url = EndpointUrl::parse("https://hooks.slack.com/services/T0/B0/secret", false).expect("valid");
        assert_eq!(url.redacted(), "https://hooks.slack.com/…");
    }

    #[test]
    fn a_followed_group_covers_its_components_including_later_ones() {
        let interest = Interest::Components { components: BTreeSet::new(), groups: BTreeSet::from([group(7)]) };
        let incident = IncidentId::new(Ulid(1));
        assert!(interest.covers(incident, &[(component(99), Some(group(7)))]));
        assert!(!interest.covers(incident, &[(component(99), Some(group(8)))]));
        assert!(!interest.covers(incident, &[(component(99), None)]));
    }

    #[test]
    fn components_interest_needs_a_selection() {
        let empty = Interest::Components { components: BTreeSet::new(), groups: BTreeSet::new() };
        assert!(empty.validate().is_err());
        let many = Interest::Components { components: (0..46).map(component).collect(), groups: BTreeSet::new() };
        assert!(many.validate().is_err());
        assert!(Interest::Page.validate().is_ok());
    }

    #[test]
    fn an_incident_follow_covers_only_that_incident() {
        let id = IncidentId::new(Ulid(5));
        let interest = Interest::Incident { incident_id: id };
        assert!(interest.covers(id, &[]));
        assert!(!interest.covers(IncidentId::new(Ulid(6)), &[]));
        assert_eq!(interest.follow_keys(), vec![FollowKey::Incident(id)]);
    }

    #[test]
    fn events_filter_and_bits_agree() {
        let events = Events { created: true, updated: false, resolved: true, maintenance: false };
        assert_eq!(events.bits(), 0b0101);
        assert!(events.wants(NoticeEvent::Resolved));
        assert!(!events.wants(NoticeEvent::Updated));
        let none = Events { created: false, updated: false, resolved: false, maintenance: false };
        assert!(none.validate().is_err());
    }

    fn active(channel: Channel) -> Subscriber {
        let at = Timestamp::UNIX_EPOCH;
        Subscriber {
            id: SubscriberId::new(Ulid(1)),
            channel,
            interest: Interest::Page,
            events: Events::default(),
            state: SubscriberState::Active,
            contact: None,
            manage_token_hashes: vec![],
            confirm_token_hash: None,
            signing_secret: None,
            consecutive_failures: 0,
            created_at: at,
            confirmed_at: Some(at),
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn ten_failures_quarantine_a_webhook_but_never_an_email() {
        let at = Timestamp::UNIX_EPOCH;
        let mut hook =
            active(Channel::Webhook { url: EndpointUrl::parse("https://example.com/hook", false).expect("valid") });
        let mut email = active(Channel::Email { address: Email::parse("a@example.com").expect("valid") });
        for _ in 0..9 {
            assert!(!hook.record_failure(at));
        }
        assert!(hook.record_failure(at));
        assert_eq!(hook.state, SubscriberState::Quarantined);
        for _ in 0..20 {
            assert!(!email.record_failure(at));
        }
        assert_eq!(email.state, SubscriberState::Active);
    }

    #[test]
    fn manage_tokens_keep_the_newest_three() {
        let mut s = active(Channel::Email { address: Email::parse("a@example.com").expect("valid") });
        for h in ["a", "b", "c", "d"] {
            s.add_manage_token(h.into());
        }
        assert_eq!(s.manage_token_hashes, vec!["d", "c", "b"]);
    }
}
