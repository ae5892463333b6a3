//! Statuspage's public API v2, at its paths and with its field names, so existing
//! consumers of Statuspage pages read ours unchanged.

use crate::snapshot::{IncidentRecord, Snapshot};
use beacon_domain::{Component, ComponentGroup, ComponentStatus, PublicUpdate};
use jiff::Timestamp;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Page<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub url: &'a str,
    pub time_zone: &'a str,
    pub updated_at: Timestamp,
}

#[derive(Debug, Serialize)]
pub struct Status<'a> {
    pub indicator: &'a str,
    pub description: &'a str,
}

/// A component or a group (`group: true`, with its members' ids in `components`).
#[derive(Debug, Serialize)]
pub struct ComponentJson<'a> {
    pub id: String,
    pub page_id: &'a str,
    pub group_id: Option<String>,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub status: ComponentStatus,
    pub position: u32,
    pub showcase: bool,
    pub only_show_if_degraded: bool,
    pub group: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct AffectedComponentJson<'a> {
    pub code: String,
    pub name: &'a str,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

#[derive(Debug, Serialize)]
pub struct IncidentUpdateJson<'a> {
    pub id: String,
    pub incident_id: String,
    pub status: &'a str,
    pub body: &'a str,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub display_at: Timestamp,
    pub affected_components: Vec<AffectedComponentJson<'a>>,
    pub deliver_notifications: bool,
}

#[derive(Debug, Serialize)]
pub struct IncidentJson<'a> {
    pub id: String,
    pub page_id: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    pub impact: &'a str,
    pub shortlink: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Timestamp,
    pub monitoring_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub incident_updates: Vec<IncidentUpdateJson<'a>>,
    pub components: Vec<ComponentJson<'a>>,
}

fn component<'a>(s: &'a Snapshot, c: &'a Component) -> ComponentJson<'a> {
    ComponentJson {
        id: c.id.to_string(),
        page_id: &s.page.id,
        group_id: c.group_id.map(|g| g.to_string()),
        name: c.name.as_str(),
        description: Some(c.description.as_str()).filter(|d| !d.is_empty()),
        status: c.status,
        position: c.position,
        showcase: true,
        only_show_if_degraded: false,
        group: false,
        created_at: c.created_at,
        updated_at: c.updated_at,
        start_date: Some(c.created_at.strftime("%Y-%m-%d").to_string()),
        components: None,
    }
}

fn group<'a>(s: &'a Snapshot, g: &'a ComponentGroup) -> ComponentJson<'a> {
    let members: Vec<&Component> = s.components.iter().filter(|c| c.group_id == Some(g.id)).collect();
    let status = members.iter().map(|c| c.status).reduce(ComponentStatus::worst).unwrap_or_default();
    ComponentJson {
        id: g.id.to_string(),
        page_id: &s.page.id,
        group_id: None,
        name: g.name.as_str(),
        description: Some(g.description.as_str()).filter(|d| !d.is_empty()),
        status,
        position: g.position,
        showcase: false,
        only_show_if_degraded: false,
        group: true,
        created_at: g.created_at,
        updated_at: g.updated_at,
        start_date: None,
        components: Some(members.iter().map(|c| c.id.to_string()).collect()),
    }
}

/// Components and groups in page order: each group, then its members; ungrouped last.
pub fn components(s: &Snapshot) -> Vec<ComponentJson<'_>> {
    let mut out = Vec::new();
    for g in &s.groups {
        out.push(group(s, g));
    }
    for c in &s.components {
        out.push(component(s, c));
    }
    out
}

fn update<'a>(s: &'a Snapshot, u: &'a PublicUpdate) -> IncidentUpdateJson<'a> {
    IncidentUpdateJson {
        id: u.id.to_string(),
        incident_id: u.incident_id.to_string(),
        status: u.status.as_str(),
        body: u.message.as_str(),
        created_at: u.created_at,
        updated_at: u.created_at,
        display_at: u.created_at,
        affected_components: u
            .affected_components
            .iter()
            .map(|a| AffectedComponentJson {
                code: a.id.to_string(),
                name: s.component(a.id).map(|c| c.name.as_str()).unwrap_or("Removed component"),
                old_status: a.old.unwrap_or_default(),
                new_status: a.new.unwrap_or_default(),
            })
            .collect(),
        deliver_notifications: true,
    }
}

pub fn incident<'a>(s: &'a Snapshot, r: &'a IncidentRecord) -> IncidentJson<'a> {
    let i = &r.incident;
    IncidentJson {
        id: i.id.to_string(),
        page_id: &s.page.id,
        name: i.title.as_str(),
        status: i.status.as_str(),
        impact: i.impact.as_str(),
        shortlink: format!("{}/incidents/{}.html", s.page.url, i.id),
        created_at: i.created_at,
        updated_at: i.updated_at,
        started_at: i.created_at,
        monitoring_at: i.monitoring_at,
        resolved_at: i.resolved_at,
        // Statuspage lists updates newest first.
        incident_updates: r.updates.iter().rev().map(|u| update(s, u)).collect(),
        components: i.components.iter().filter_map(|a| s.component(a.id)).map(|c| component(s, c)).collect(),
    }
}

pub fn page(s: &Snapshot) -> Page<'_> {
    Page {
        id: &s.page.id,
        name: &s.page.name,
        url: &s.page.url,
        time_zone: &s.page.time_zone,
        updated_at: s.updated_at(),
    }
}

/// Every file of the v2 API, as (path, JSON value).
pub fn files(s: &Snapshot) -> Vec<(String, serde_json::Value)> {
    let status = s.status();
    let status_json = Status { indicator: status.indicator.as_str(), description: &status.description };
    let unresolved: Vec<_> = s.open_incidents().map(|r| incident(s, r)).collect();
    let newest: Vec<_> = s.incidents.iter().take(50).map(|r| incident(s, r)).collect();
    let empty: Vec<serde_json::Value> = Vec::new();
    let value = |v: serde_json::Result<serde_json::Value>| v.unwrap_or(serde_json::Value::Null);
    vec![
        (
            "api/v2/summary.json".into(),
            value(serde_json::to_value(serde_json::json!({
                "page": page(s), "components": components(s), "incidents": unresolved,
                "scheduled_maintenances": empty, "status": status_json,
            }))),
        ),
        (
            "api/v2/status.json".into(),
            value(serde_json::to_value(serde_json::json!({"page": page(s), "status": status_json}))),
        ),
        (
            "api/v2/components.json".into(),
            value(serde_json::to_value(serde_json::json!({"page": page(s), "components": components(s)}))),
        ),
        (
            "api/v2/incidents.json".into(),
            value(serde_json::to_value(serde_json::json!({"page": page(s), "incidents": newest}))),
        ),
        (
            "api/v2/incidents/unresolved.json".into(),
            value(serde_json::to_value(serde_json::json!({"page": page(s), "incidents": unresolved}))),
        ),
        (
            "api/v2/scheduled-maintenances.json".into(),
            value(serde_json::to_value(serde_json::json!({"page": page(s), "scheduled_maintenances": empty}))),
        ),
        (
            "api/v2/scheduled-maintenances/upcoming.json".into(),
            value(serde_json::to_value(serde_json::json!({"page": page(s), "scheduled_maintenances": empty}))),
        ),
        (
            "api/v2/scheduled-maintenances/active.json".into(),
            value(serde_json::to_value(serde_json::json!({"page": page(s), "scheduled_maintenances": empty}))),
        ),
    ]
}
