//! A notice: what subscribers are told about one public update, or about one change of a
//! component's shown status, frozen when it is planned so every recipient gets the same
//! news even if things move on.

use beacon_app::{AppError, AppResult, Service, repo};
use beacon_domain::{
    Change, ChangeKind, ChannelKind, Component, ComponentGroup, ComponentId, GroupId, Incident, Interest, Maintenance,
    MaintenanceEvent, MaintenanceUpdate, NoticeEvent, NoticeId, PageIndicator, PageStatus, PublicUpdate, StatusChange,
    Subscriber, SubscriberState, UpdateId,
};
use beacon_site::{IncidentRecord, MaintenanceRecord, PageConfig, Snapshot};
use beacon_store::{Condition, Key, StoreError, Value};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Notices are kept a month: long past any retry, short enough to stay small.
pub const NOTICE_TTL_SECONDS: i64 = 30 * 24 * 3600;
/// How many of the incident's updates a notice carries (newest last); webhook payloads
/// list them as Statuspage does.
pub const NOTICE_UPDATES: usize = 20;
/// The most message text a notice carries (its own update's always, whole).
pub const NOTICE_MESSAGE_BYTES: usize = 60_000;

pub const NOTICE_SK: &str = "N";

/// What a notice is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "about", rename_all = "snake_case")]
pub enum Subject {
    /// A public update of an incident (everyone who follows what it touches).
    Incident {
        incident: Box<Incident>,
        /// The incident's latest updates, oldest first, ending with this one.
        updates: Vec<PublicUpdate>,
        update_id: UpdateId,
    },
    /// A component's shown status moved (webhook subscribers, as Statuspage's component
    /// webhooks; people are told through the incident that moved it).
    Component { change: StatusChange, at: Timestamp },
    /// A team alert (the recipients of alert rules only).
    Alert { alert: crate::alert::Alert },
    /// Planned maintenance scheduled, moved, cancelled, coming soon, started, updated or
    /// completed (subscribers who chose maintenance news and follow the page or one of
    /// its components).
    Maintenance {
        maintenance: Box<Maintenance>,
        /// The maintenance's updates, oldest first.
        updates: Vec<MaintenanceUpdate>,
        /// The update this notice tells, if the change posted one (a reminder posts none).
        update_id: Option<UpdateId>,
        what: MaintenanceEvent,
    },
    /// A resolved incident's postmortem was published.
    Postmortem { incident: Box<Incident>, updates: Vec<PublicUpdate> },
}

/// The news of one update or component change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: NoticeId,
    pub event: NoticeEvent,
    pub subject: Subject,
    /// The components the notice touches, as they were.
    pub components: Vec<Component>,
    pub groups: Vec<ComponentGroup>,
    pub page_indicator: PageIndicator,
    pub page_description: String,
}

/// The incident parts of a notice about an incident.
#[derive(Clone, Copy, Debug)]
pub struct IncidentNews<'a> {
    pub incident: &'a Incident,
    pub updates: &'a [PublicUpdate],
    pub update: &'a PublicUpdate,
}

impl Notice {
    /// The incident, its updates and this update, for a notice about an incident.
    pub fn incident_news(&self) -> Option<IncidentNews<'_>> {
        match &self.subject {
            Subject::Incident { incident, updates, update_id } => {
                let update = updates.iter().find(|u| u.id == *update_id)?;
                Some(IncidentNews { incident, updates, update })
            }
            _ => None,
        }
    }

    /// The components the notice concerns, with their groups (for interest matching).
    pub fn touched(&self) -> Vec<(ComponentId, Option<GroupId>)> {
        self.components.iter().map(|c| (c.id, c.group_id)).collect()
    }

    /// Whether the notice goes to this subscriber now.
    pub fn reaches(&self, subscriber: &Subscriber) -> bool {
        // Team recipients hear alerts only; subscribers never do.
        let team = matches!(subscriber.interest, Interest::Team { .. });
        match &self.subject {
            Subject::Alert { .. } => team && subscriber.state == SubscriberState::Active,
            _ if team => false,
            Subject::Incident { incident, .. } | Subject::Postmortem { incident, .. } => {
                subscriber.receives(self.event, incident.id, &self.touched())
            }
            Subject::Maintenance { .. } => {
                subscriber.state == SubscriberState::Active
                    && subscriber.events.wants(NoticeEvent::Maintenance)
                    && match &subscriber.interest {
                        Interest::Page => true,
                        Interest::Components { components, groups } => self
                            .touched()
                            .iter()
                            .any(|(c, g)| components.contains(c) || g.is_some_and(|g| groups.contains(&g))),
                        Interest::Incident { .. } | Interest::Team { .. } => false,
                    }
            }
            Subject::Component { .. } => {
                subscriber.state == SubscriberState::Active
                    && subscriber.channel.kind() == ChannelKind::Webhook
                    && subscriber.events.wants(self.event)
                    && match &subscriber.interest {
                        Interest::Page => true,
                        Interest::Components { components, groups } => self
                            .touched()
                            .iter()
                            .any(|(c, g)| components.contains(c) || g.is_some_and(|g| groups.contains(&g))),
                        Interest::Incident { .. } | Interest::Team { .. } => false,
                    }
            }
        }
    }

    /// The notice as a one-incident snapshot of the page, so the page's own renderers
    /// (Markdown, Statuspage JSON) produce the notification's content.
    pub fn snapshot(&self, page: &PageConfig) -> Snapshot {
        let mut maintenances = Vec::new();
        let (generated_at, incidents) = match &self.subject {
            Subject::Incident { incident, updates, .. } => (
                self.incident_news().map_or(incident.updated_at, |n| n.update.created_at),
                vec![IncidentRecord { incident: incident.as_ref().clone(), updates: updates.clone() }],
            ),
            Subject::Postmortem { incident, updates } => (
                incident.updated_at,
                vec![IncidentRecord { incident: incident.as_ref().clone(), updates: updates.clone() }],
            ),
            Subject::Maintenance { maintenance, updates, .. } => {
                maintenances
                    .push(MaintenanceRecord { maintenance: maintenance.as_ref().clone(), updates: updates.clone() });
                (maintenance.updated_at, Vec::new())
            }
            Subject::Component { at, .. } => (*at, Vec::new()),
            Subject::Alert { alert } => (alert.at, Vec::new()),
        };
        Snapshot {
            page: page.clone(),
            generated_at,
            components: self.components.clone(),
            groups: self.groups.clone(),
            incidents,
            maintenances,
            monitored: Default::default(),
        }
    }

    pub fn link(&self, page: &PageConfig) -> String {
        match &self.subject {
            Subject::Incident { incident, .. } | Subject::Postmortem { incident, .. } => {
                format!("{}/incidents/{}.html", page.url, incident.id)
            }
            Subject::Maintenance { maintenance, .. } => format!("{}/maintenances/{}.html", page.url, maintenance.id),
            Subject::Alert { alert } => match (&alert.incident, &alert.maintenance) {
                (Some(i), _) => format!("{}/incidents/{}.html", page.url, i.id),
                (None, Some(m)) => format!("{}/maintenances/{}.html", page.url, m.id),
                (None, None) => format!("{}/index.html", page.url),
            },
            Subject::Component { .. } => format!("{}/index.html", page.url),
        }
    }

    /// When the notice's records may go (seconds since the epoch).
    pub fn expires(&self) -> i64 {
        let at = match &self.subject {
            Subject::Incident { incident, .. } | Subject::Postmortem { incident, .. } => incident.updated_at,
            Subject::Maintenance { maintenance, .. } => maintenance.updated_at,
            Subject::Component { at, .. } => *at,
            Subject::Alert { alert } => alert.at,
        };
        at.as_second() + NOTICE_TTL_SECONDS
    }
}

pub fn notice_key(id: NoticeId) -> Key {
    Key::new(format!("NOTICE#{id}"), NOTICE_SK)
}

/// The event a change announces, with its incident and update; `None` for changes that
/// announce no incident news.
pub fn announced(change: &Change) -> Option<(NoticeEvent, beacon_domain::IncidentId, UpdateId)> {
    match &change.kind {
        ChangeKind::IncidentReported { incident_id, update_id, .. }
        | ChangeKind::IncidentPublished { incident_id, update_id, .. } => {
            Some((NoticeEvent::Created, *incident_id, *update_id))
        }
        ChangeKind::IncidentUpdated { incident_id, update_id, .. }
        | ChangeKind::IncidentReopened { incident_id, update_id, .. } => {
            Some((NoticeEvent::Updated, *incident_id, *update_id))
        }
        ChangeKind::IncidentResolved { incident_id, update_id, .. } => {
            Some((NoticeEvent::Resolved, *incident_id, *update_id))
        }
        _ => None,
    }
}

async fn page_status(service: &Service, all: &[Component]) -> AppResult<PageStatus> {
    let open = service.open_incidents().await?;
    let maintenance = service.open_maintenances().await?.iter().any(|m| m.status.is_active());
    Ok(PageStatus::derive_with_maintenance(
        all.iter().map(|c| c.status),
        open.iter().filter(|m| m.summary.published).map(|m| m.summary.impact),
        maintenance,
    ))
}

/// Builds every notice a change carries: its incident news (unless none, or posted with
/// `notify: false`) and one per component whose shown status it moved.
pub async fn build_all(service: &Service, change: &Change) -> AppResult<Vec<Notice>> {
    let mut notices = Vec::new();
    if let Some(notice) = build(service, change).await? {
        notices.push(notice);
    }
    if let Some(notice) = build_maintenance(service, change).await? {
        notices.push(notice);
    }
    if let Some(notice) = build_postmortem(service, change).await? {
        notices.push(notice);
    }
    let moves = change.kind.status_changes();
    if moves.is_empty() {
        return Ok(notices);
    }
    let all = service.components().await?;
    let groups = service.groups().await?;
    let status = page_status(service, &all).await?;
    for moved in moves {
        let Some(component) = all.iter().find(|c| c.id == moved.component_id) else { continue };
        // One change can move several components: each is a notice of its own, with an
        // id that a redelivered change derives again (the change's time, and random bits
        // from a hash of the change and the component).
        let id = component_notice_id(change, moved.component_id);
        let mut shown = component.clone();
        shown.status = moved.to;
        notices.push(Notice {
            id,
            event: NoticeEvent::Updated,
            subject: Subject::Component { change: *moved, at: change.at },
            components: vec![shown],
            groups: groups.iter().filter(|g| Some(g.id) == component.group_id).cloned().collect(),
            page_indicator: status.indicator,
            page_description: status.description.clone(),
        });
    }
    Ok(notices)
}

/// The notice id of a change's own news (maintenance, postmortem): derived from the
/// change, so a redelivered change derives it again.
pub(crate) fn change_notice_id(change: &Change, what: &str) -> NoticeId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}/{what}", change.id));
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    NoticeId::new(ulid::Ulid::from_parts(change.id.ulid().timestamp_ms(), u128::from_be_bytes(random)))
}

/// The components a notice names, and their groups.
async fn touched(
    service: &Service,
    ids: &[ComponentId],
) -> AppResult<(Vec<Component>, Vec<ComponentGroup>, PageStatus)> {
    let all = service.components().await?;
    let components: Vec<Component> = all.iter().filter(|c| ids.contains(&c.id)).cloned().collect();
    let group_ids: Vec<GroupId> = components.iter().filter_map(|c| c.group_id).collect();
    let groups = service.groups().await?.into_iter().filter(|g| group_ids.contains(&g.id)).collect();
    let status = page_status(service, &all).await?;
    Ok((components, groups, status))
}

/// The maintenance news a change carries, if it is news to subscribers.
pub async fn build_maintenance(service: &Service, change: &Change) -> AppResult<Option<Notice>> {
    let ChangeKind::MaintenanceChanged { maintenance_id, event, update_id, .. } = &change.kind else {
        return Ok(None);
    };
    if !event.is_news() {
        return Ok(None);
    }
    let detail = match service.maintenance(*maintenance_id).await {
        Ok(detail) => detail,
        Err(AppError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    // Keep the notice small: the latest updates, ending with this one.
    let end =
        update_id.and_then(|id| detail.updates.iter().position(|u| u.id == id)).map_or(detail.updates.len(), |p| p + 1);
    let updates = detail.updates[end.saturating_sub(NOTICE_UPDATES)..end].to_vec();
    // Planned late (after a later change), the notice still tells the status its own
    // update announced.
    let mut maintenance = detail.maintenance;
    if let Some(update) = update_id.and_then(|id| updates.iter().find(|u| u.id == id)) {
        maintenance.status = update.status;
        if let Some(window) = &update.window {
            maintenance.window = window.clone();
        }
    }
    let detail = beacon_app::MaintenanceDetail { maintenance, updates: Vec::new() };
    let (components, groups, status) = touched(service, &detail.maintenance.components).await?;
    Ok(Some(Notice {
        id: change_notice_id(change, "maintenance"),
        event: NoticeEvent::Maintenance,
        subject: Subject::Maintenance {
            maintenance: Box::new(detail.maintenance),
            updates,
            update_id: *update_id,
            what: *event,
        },
        components,
        groups,
        page_indicator: status.indicator,
        page_description: status.description,
    }))
}

/// The postmortem news of a change, when its publication tells subscribers.
pub async fn build_postmortem(service: &Service, change: &Change) -> AppResult<Option<Notice>> {
    let ChangeKind::PostmortemChanged { incident_id, published: true, notify: true } = &change.kind else {
        return Ok(None);
    };
    let detail = match service.incident(*incident_id).await {
        Ok(detail) => detail,
        Err(AppError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !detail.incident.published || detail.incident.postmortem.as_ref().is_none_or(|p| p.published_at.is_none()) {
        return Ok(None);
    }
    let ids: Vec<ComponentId> = detail
        .updates
        .iter()
        .flat_map(|u| u.affected_components.iter().map(|c| c.id))
        .chain(detail.incident.components.iter().map(|c| c.id))
        .collect();
    let (components, groups, status) = touched(service, &ids).await?;
    let first = detail.updates.len().saturating_sub(NOTICE_UPDATES);
    Ok(Some(Notice {
        id: change_notice_id(change, "postmortem"),
        event: NoticeEvent::Updated,
        subject: Subject::Postmortem { incident: Box::new(detail.incident), updates: detail.updates[first..].to_vec() },
        components,
        groups,
        page_indicator: status.indicator,
        page_description: status.description,
    }))
}

fn component_notice_id(change: &Change, component: ComponentId) -> NoticeId {
    change_notice_id(change, &component.to_string())
}

/// Builds the incident notice of a change from the current state, or `None` when the
/// change announces nothing (no public update, or one posted with `notify: false`).
pub async fn build(service: &Service, change: &Change) -> AppResult<Option<Notice>> {
    let Some((event, incident_id, update_id)) = announced(change) else { return Ok(None) };
    let detail = match service.incident(incident_id).await {
        Ok(detail) => detail,
        // Incidents are never deleted; a missing one is a change from another page.
        Err(AppError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    // An internal incident is the team's until published (its publication is news); a
    // change of its internal days planned late is not announced after it.
    if !detail.incident.published {
        return Ok(None);
    }
    let Some(position) = detail.updates.iter().position(|u| u.id == update_id) else { return Ok(None) };
    let publication = matches!(change.kind, ChangeKind::IncidentPublished { .. });
    if !publication && detail.incident.published_at.is_some_and(|p| change.at < p) {
        return Ok(None);
    }
    if !detail.updates[position].notify {
        return Ok(None);
    }
    // The latest updates, within a byte budget that keeps the stored notice far below
    // the store's 400 KB item limit whatever the messages hold.
    let mut first = position;
    let mut bytes = detail.updates[position].message.as_str().len();
    while first > 0 && position - first + 1 < NOTICE_UPDATES {
        let next = detail.updates[first - 1].message.as_str().len();
        if bytes + next > NOTICE_MESSAGE_BYTES {
            break;
        }
        bytes += next;
        first -= 1;
    }
    let updates = detail.updates[first..=position].to_vec();
    let update = &updates[updates.len() - 1];
    let mut ids: Vec<ComponentId> = detail.incident.components.iter().map(|c| c.id).collect();
    ids.extend(update.affected_components.iter().map(|c| c.id));
    ids.sort();
    ids.dedup();
    let all = service.components().await?;
    let components: Vec<Component> = all.iter().filter(|c| ids.contains(&c.id)).cloned().collect();
    let group_ids: Vec<GroupId> = components.iter().filter_map(|c| c.group_id).collect();
    let groups = service.groups().await?.into_iter().filter(|g| group_ids.contains(&g.id)).collect();
    let status = page_status(service, &all).await?;
    Ok(Some(Notice {
        id: update_id.into(),
        event,
        subject: Subject::Incident { incident: Box::new(detail.incident), updates, update_id },
        components,
        groups,
        page_indicator: status.indicator,
        page_description: status.description,
    }))
}

/// Stores a notice once; a redelivered change keeps the first one.
pub async fn save(service: &Service, notice: &Notice) -> AppResult<()> {
    let item = repo::record(notice_key(notice.id), "notice", notice)?.with("ttl", Value::N(notice.expires()));
    match service.store().put(item, Condition::NotExists).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn load(service: &Service, id: NoticeId) -> AppResult<Option<Notice>> {
    match service.store().get(&notice_key(id)).await? {
        Some(item) => repo::decode(&item).map(Some),
        None => Ok(None),
    }
}
