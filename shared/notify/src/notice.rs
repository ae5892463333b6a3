//! A notice: what subscribers are told about one public update, frozen when it is
//! planned so every recipient gets the same news even if the incident moves on.

use beacon_app::{AppError, AppResult, Service, repo};
use beacon_domain::{
    Change, ChangeKind, Component, ComponentGroup, ComponentId, GroupId, Incident, NoticeEvent, PageIndicator,
    PageStatus, PublicUpdate, UpdateId,
};
use beacon_site::{IncidentRecord, PageConfig, Snapshot};
use beacon_store::{Condition, Key, StoreError, Value};
use serde::{Deserialize, Serialize};

/// Notices are kept a month: long past any retry, short enough to stay small.
pub const NOTICE_TTL_SECONDS: i64 = 30 * 24 * 3600;
/// How many of the incident's updates a notice carries (newest last); webhook payloads
/// list them as Statuspage does.
pub const NOTICE_UPDATES: usize = 20;

pub const NOTICE_SK: &str = "N";

/// The news of one public update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The update the notice is about; also its id.
    pub update_id: UpdateId,
    pub event: NoticeEvent,
    pub incident: Incident,
    /// The incident's latest updates, oldest first, ending with this one.
    pub updates: Vec<PublicUpdate>,
    /// The components the incident touches, as they were.
    pub components: Vec<Component>,
    pub groups: Vec<ComponentGroup>,
    pub page_indicator: PageIndicator,
    pub page_description: String,
}

impl Notice {
    pub fn update(&self) -> Option<&PublicUpdate> {
        self.updates.iter().find(|u| u.id == self.update_id)
    }

    /// The components the notice concerns, with their groups (for interest matching).
    pub fn touched(&self) -> Vec<(ComponentId, Option<GroupId>)> {
        self.components.iter().map(|c| (c.id, c.group_id)).collect()
    }

    /// The notice as a one-incident snapshot of the page, so the page's own renderers
    /// (Markdown, Statuspage JSON) produce the notification's content.
    pub fn snapshot(&self, page: &PageConfig) -> Snapshot {
        Snapshot {
            page: page.clone(),
            generated_at: self.update().map_or(self.incident.updated_at, |u| u.created_at),
            components: self.components.clone(),
            groups: self.groups.clone(),
            incidents: vec![IncidentRecord { incident: self.incident.clone(), updates: self.updates.clone() }],
        }
    }

    pub fn incident_url(&self, page: &PageConfig) -> String {
        format!("{}/incidents/{}.html", page.url, self.incident.id)
    }
}

pub fn notice_key(update: UpdateId) -> Key {
    Key::new(format!("NOTICE#{update}"), NOTICE_SK)
}

/// The event a change announces, with its incident and update; `None` for changes that
/// tell subscribers nothing.
pub fn announced(change: &Change) -> Option<(NoticeEvent, beacon_domain::IncidentId, UpdateId)> {
    match &change.kind {
        ChangeKind::IncidentReported { incident_id, update_id, .. } => {
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

/// Builds the notice of a change from the current state, or `None` when the change
/// announces nothing (no public update, or one posted with `notify: false`).
pub async fn build(service: &Service, change: &Change) -> AppResult<Option<Notice>> {
    let Some((event, incident_id, update_id)) = announced(change) else { return Ok(None) };
    let detail = match service.incident(incident_id).await {
        Ok(detail) => detail,
        // Incidents are never deleted; a missing one is a change from another page.
        Err(AppError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(position) = detail.updates.iter().position(|u| u.id == update_id) else { return Ok(None) };
    if !detail.updates[position].notify {
        return Ok(None);
    }
    let first = (position + 1).saturating_sub(NOTICE_UPDATES);
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
    let open = service.open_incidents().await?;
    let status = PageStatus::derive(all.iter().map(|c| c.status), open.iter().map(|m| m.summary.impact));
    Ok(Some(Notice {
        update_id,
        event,
        incident: detail.incident,
        updates,
        components,
        groups,
        page_indicator: status.indicator,
        page_description: status.description.to_string(),
    }))
}

/// Stores a notice once; a redelivered change keeps the first one.
pub async fn save(service: &Service, notice: &Notice) -> AppResult<()> {
    let expires = notice.incident.updated_at.as_second() + NOTICE_TTL_SECONDS;
    let item = repo::record(notice_key(notice.update_id), "notice", notice)?.with("ttl", Value::N(expires));
    match service.store().put(item, Condition::NotExists).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn load(service: &Service, update: UpdateId) -> AppResult<Option<Notice>> {
    match service.store().get(&notice_key(update)).await? {
        Some(item) => repo::decode(&item).map(Some),
        None => Ok(None),
    }
}
