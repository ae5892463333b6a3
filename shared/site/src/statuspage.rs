//! Statuspage's public API v2, at its paths and with its field names, so existing
//! consumers of Statuspage pages read ours unchanged.

use crate::snapshot::{IncidentRecord, MaintenanceRecord, Snapshot};
use beacon_domain::{Component, ComponentGroup, ComponentStatus, MaintenanceStatus, MaintenanceUpdate, PublicUpdate};
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
    /// The published postmortem (Markdown), as Statuspage carries one.
    pub postmortem_body: Option<&'a str>,
    pub postmortem_published_at: Option<Timestamp>,
}

/// A scheduled maintenance, as Statuspage describes one: an incident with
/// `impact: maintenance`, its window in `scheduled_for` / `scheduled_until`, and the
/// maintenance statuses (`scheduled`, `in_progress`, `verifying`, `completed`).
#[derive(Debug, Serialize)]
pub struct MaintenanceJson<'a> {
    pub id: String,
    pub page_id: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    pub impact: &'a str,
    pub shortlink: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub monitoring_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub scheduled_for: Timestamp,
    pub scheduled_until: Timestamp,
    pub incident_updates: Vec<IncidentUpdateJson<'a>>,
    pub components: Vec<ComponentJson<'a>>,
}

fn maintenance_update<'a>(
    s: &'a Snapshot,
    r: &'a MaintenanceRecord,
    u: &'a MaintenanceUpdate,
) -> IncidentUpdateJson<'a> {
    // Statuspage lists the components a maintenance update puts under maintenance.
    let affected = if u.status == MaintenanceStatus::InProgress {
        r.maintenance
            .components
            .iter()
            .filter_map(|id| s.component(*id))
            .map(|c| AffectedComponentJson {
                code: c.id.to_string(),
                name: c.name.as_str(),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::UnderMaintenance,
            })
            .collect()
    } else {
        Vec::new()
    };
    IncidentUpdateJson {
        id: u.id.to_string(),
        incident_id: u.maintenance_id.to_string(),
        status: u.status.as_str(),
        body: u.message.as_str(),
        created_at: u.created_at,
        updated_at: u.created_at,
        display_at: u.created_at,
        affected_components: affected,
        deliver_notifications: true,
    }
}

/// A maintenance in Statuspage's terms; `None` for a cancelled one, which Statuspage's
/// statuses cannot express (the HTML page and history keep it, marked cancelled).
pub fn maintenance<'a>(s: &'a Snapshot, r: &'a MaintenanceRecord) -> Option<MaintenanceJson<'a>> {
    (r.maintenance.status != MaintenanceStatus::Cancelled).then(|| maintenance_json(s, r))
}

/// A maintenance in Statuspage's shape whatever its status (webhooks tell of a
/// cancellation with `status: cancelled`).
pub fn maintenance_json<'a>(s: &'a Snapshot, r: &'a MaintenanceRecord) -> MaintenanceJson<'a> {
    let m = &r.maintenance;
    MaintenanceJson {
        id: m.id.to_string(),
        page_id: &s.page.id,
        name: m.title.as_str(),
        status: m.status.as_str(),
        impact: "maintenance",
        shortlink: format!("{}/maintenances/{}.html", s.page.url, m.id),
        created_at: m.created_at,
        updated_at: m.updated_at,
        started_at: m.started_at,
        monitoring_at: None,
        resolved_at: m.completed_at,
        scheduled_for: m.window.starts_at,
        scheduled_until: m.window.ends_at,
        incident_updates: r.updates.iter().rev().map(|u| maintenance_update(s, r, u)).collect(),
        components: m.components.iter().filter_map(|id| s.component(*id)).map(|c| component(s, c)).collect(),
    }
}

pub fn component<'a>(s: &'a Snapshot, c: &'a Component) -> ComponentJson<'a> {
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
        deliver_notifications: u.notify,
    }
}

pub fn incident<'a>(s: &'a Snapshot, r: &'a IncidentRecord) -> IncidentJson<'a> {
    let i = &r.incident;
    let published = i.postmortem.as_ref().filter(|p| p.published_at.is_some());
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
        postmortem_body: published.map(|p| p.body.as_str()),
        postmortem_published_at: published.and_then(|p| p.published_at),
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

#[derive(Serialize)]
struct PageAndStatus<'a> {
    page: &'a Page<'a>,
    status: &'a Status<'a>,
}

#[derive(Serialize)]
struct Summary<'a> {
    page: &'a Page<'a>,
    components: &'a [ComponentJson<'a>],
    incidents: &'a [IncidentJson<'a>],
    scheduled_maintenances: &'a [MaintenanceJson<'a>],
    status: &'a Status<'a>,
}

#[derive(Serialize)]
struct Components<'a> {
    page: &'a Page<'a>,
    components: &'a [ComponentJson<'a>],
}

#[derive(Serialize)]
struct Incidents<'a> {
    page: &'a Page<'a>,
    incidents: &'a [IncidentJson<'a>],
}

#[derive(Serialize)]
struct Maintenances<'a> {
    page: &'a Page<'a>,
    scheduled_maintenances: &'a [MaintenanceJson<'a>],
}

/// Writes JSON strings with `<`, `>` and `&` as `\u` escapes: the same data for every
/// JSON reader, and nothing a browser sniffing the file as HTML could run.
struct HtmlSafe;

impl serde_json::ser::Formatter for HtmlSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(['<', '>', '&']) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let escape: &[u8] = match rest.as_bytes()[at] {
                b'<' => b"\\u003c",
                b'>' => b"\\u003e",
                _ => b"\\u0026",
            };
            writer.write_all(escape)?;
            rest = &rest[at + 1..];
        }
        writer.write_all(rest.as_bytes())
    }
}

fn to_bytes(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, HtmlSafe);
    // Serialising these plain structs into memory cannot fail.
    if value.serialize(&mut serializer).is_err() {
        out.clear();
    }
    out
}

/// Every file of the v2 API, as (path, JSON bytes).
pub fn files(s: &Snapshot) -> Vec<(&'static str, Vec<u8>)> {
    let status = s.status();
    let status = Status { indicator: status.indicator.as_str(), description: &status.description };
    let page = page(s);
    let components = components(s);
    let unresolved: Vec<_> = s.open_incidents().map(|r| incident(s, r)).collect();
    let newest: Vec<_> = s.incidents.iter().take(50).map(|r| incident(s, r)).collect();
    // Upcoming ones soonest first, then those under way; the full list newest first.
    let upcoming: Vec<_> = s.upcoming_maintenances().filter_map(|r| maintenance(s, r)).collect();
    let active: Vec<_> = s.active_maintenances().filter_map(|r| maintenance(s, r)).collect();
    let all: Vec<_> = s.maintenances.iter().filter_map(|r| maintenance(s, r)).take(50).collect();
    let current: Vec<_> =
        s.active_maintenances().chain(s.upcoming_maintenances()).filter_map(|r| maintenance(s, r)).collect();
    vec![
        (
            "api/v2/summary.json",
            to_bytes(&Summary {
                page: &page,
                components: &components,
                incidents: &unresolved,
                scheduled_maintenances: &current,
                status: &status,
            }),
        ),
        ("api/v2/status.json", to_bytes(&PageAndStatus { page: &page, status: &status })),
        ("api/v2/components.json", to_bytes(&Components { page: &page, components: &components })),
        ("api/v2/incidents.json", to_bytes(&Incidents { page: &page, incidents: &newest })),
        ("api/v2/incidents/unresolved.json", to_bytes(&Incidents { page: &page, incidents: &unresolved })),
        ("api/v2/scheduled-maintenances.json", to_bytes(&Maintenances { page: &page, scheduled_maintenances: &all })),
        (
            "api/v2/scheduled-maintenances/upcoming.json",
            to_bytes(&Maintenances { page: &page, scheduled_maintenances: &upcoming }),
        ),
        (
            "api/v2/scheduled-maintenances/active.json",
            to_bytes(&Maintenances { page: &page, scheduled_maintenances: &active }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_markup_characters_and_stay_the_same_json() {
        let text = "<script>alert(\"a & b\")</script> é ✓";
        let bytes = to_bytes(&serde_json::json!({ "t": text }));
        let raw = String::from_utf8_lossy(&bytes);
        assert!(!raw.contains(['<', '>', '&']), "{raw}");
        assert!(raw.contains("\\u003cscript\\u003e"), "{raw}");
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(back["t"], text);
    }
}
