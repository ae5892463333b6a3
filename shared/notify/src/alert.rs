//! Team alerts: the notice of one alerting change (an incident opened or resolved, a
//! monitor's confirmed state moving), planned to the recipients of the alert rules
//! that fire for it, and recorded in the incident's timeline. Alerts carry what only
//! the team sees (monitor names, each region's evidence) and never reach subscribers.

use crate::notice::{Notice, Subject};
use beacon_app::{AppError, AppResult, Service};
use beacon_domain::{
    AlertEvent, AlertRule, Change, ChangeKind, CheckOutcome, Finding, Impact, IncidentId, IncidentStatus, MonitorId,
    NoticeEvent, NoticeId, RegionResult,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What an alert says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub event: AlertEvent,
    pub at: Timestamp,
    pub monitor: Option<AlertMonitor>,
    pub incident: Option<AlertIncident>,
    /// The maintenance a reminder is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<AlertMaintenance>,
}

/// The maintenance a team reminder is about: what, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMaintenance {
    pub id: beacon_domain::MaintenanceId,
    pub title: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The window in its own time zone, in words.
    pub local: String,
}

/// The monitor an alert is about: its name, what it found, and each region's latest
/// result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMonitor {
    pub id: MonitorId,
    pub name: String,
    pub finding: Option<Finding>,
    pub outcome: Option<CheckOutcome>,
    pub results: Vec<RegionResult>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertIncident {
    pub id: IncidentId,
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
}

impl Alert {
    /// A one-line summary: what happened, to what.
    pub fn headline(&self) -> String {
        let monitor = self.monitor.as_ref().map(|m| m.name.as_str());
        let incident = self.incident.as_ref().map(|i| i.title.as_str());
        match (self.event, monitor, incident) {
            (AlertEvent::MonitorChanged, Some(name), _) => {
                let m = self.monitor.as_ref();
                match (m.and_then(|m| m.finding), m.and_then(|m| m.outcome)) {
                    (Some(Finding::Recovered | Finding::RecoveredTakenOver), _) => format!("{name} recovered"),
                    (Some(Finding::FailingAgain), Some(o)) => format!("{name} is {} again", o.as_str()),
                    (_, Some(o)) => format!("{name} is {}", o.as_str()),
                    _ => format!("{name} changed state"),
                }
            }
            (AlertEvent::IncidentOpened, _, Some(title)) => format!("Incident opened: {title}"),
            (AlertEvent::IncidentResolved, _, Some(title)) => format!("Incident resolved: {title}"),
            (AlertEvent::MaintenanceReminder, _, _) => match &self.maintenance {
                Some(m) => format!("Maintenance starts {}: {}", m.starts_at.strftime("%Y-%m-%d %H:%M UTC"), m.title),
                None => "Maintenance starts soon".to_owned(),
            },
            (event, _, _) => format!("{event:?}"),
        }
    }

    /// The event name webhooks carry in `X-Beacon-Event`.
    pub fn event_name(&self) -> &'static str {
        match self.event {
            AlertEvent::IncidentOpened => "alert.incident_opened",
            AlertEvent::IncidentResolved => "alert.incident_resolved",
            AlertEvent::MonitorChanged => "alert.monitor_changed",
            AlertEvent::MaintenanceReminder => "alert.maintenance_reminder",
        }
    }
}

/// A monitor's move as its change record tells it.
type MonitorMove = (MonitorId, Finding, CheckOutcome);

/// The alert a change raises, if it raises one.
fn alerting(change: &Change) -> Option<(AlertEvent, Option<IncidentId>, Option<MonitorMove>)> {
    match &change.kind {
        ChangeKind::IncidentReported { incident_id, .. } => {
            Some((AlertEvent::IncidentOpened, Some(*incident_id), None))
        }
        ChangeKind::IncidentResolved { incident_id, .. } => {
            Some((AlertEvent::IncidentResolved, Some(*incident_id), None))
        }
        ChangeKind::MonitorStateChanged { monitor_id, incident_id, finding, outcome } => {
            Some((AlertEvent::MonitorChanged, *incident_id, Some((*monitor_id, *finding, *outcome))))
        }
        _ => None,
    }
}

/// The alert notice's id: the change's time, and bits from a hash of the change, so a
/// redelivered change derives the same notice.
fn alert_notice_id(change: &Change) -> NoticeId {
    crate::notice::change_notice_id(change, "alert")
}

/// The team's reminder of a maintenance starting soon.
async fn maintenance_reminder(service: &Service, change: &Change) -> AppResult<Option<Notice>> {
    let ChangeKind::MaintenanceChanged { maintenance_id, event: beacon_domain::MaintenanceEvent::TeamReminded, .. } =
        &change.kind
    else {
        return Ok(None);
    };
    let m = match service.load_maintenance(*maintenance_id).await {
        Ok(m) => m,
        Err(AppError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let components = service.components().await?.into_iter().filter(|c| m.components.contains(&c.id)).collect();
    let alert = Alert {
        event: AlertEvent::MaintenanceReminder,
        at: change.at,
        monitor: None,
        incident: None,
        maintenance: Some(AlertMaintenance {
            id: m.id,
            title: m.title.to_string(),
            starts_at: m.window.starts_at,
            ends_at: m.window.ends_at,
            local: beacon_site::window_text(&m.window),
        }),
    };
    let status = service.page_status().await?;
    Ok(Some(Notice {
        id: alert_notice_id(change),
        event: NoticeEvent::Maintenance,
        subject: Subject::Alert { alert },
        components,
        groups: Vec::new(),
        page_indicator: status.indicator,
        page_description: status.description,
    }))
}

/// Builds the alert notice of a change, or `None` when it alerts nobody of anything.
pub async fn build(service: &Service, change: &Change) -> AppResult<Option<Notice>> {
    if matches!(change.kind, ChangeKind::MaintenanceChanged { .. }) {
        return maintenance_reminder(service, change).await;
    }
    let Some((event, incident_id, monitor_change)) = alerting(change) else { return Ok(None) };
    let incident = match incident_id {
        Some(id) => match service.incident(id).await {
            Ok(detail) => Some(detail.incident),
            Err(AppError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let monitor_id = monitor_change.map(|(id, _, _)| id).or(incident.as_ref().and_then(|i| i.monitor_id));
    let monitor = match monitor_id {
        Some(id) => match service.monitor(id).await {
            Ok(m) => {
                let mut results = Vec::new();
                for region in &m.regions {
                    results.extend(service.monitor_results(id, region, None, 1).await?.items);
                }
                Some(AlertMonitor {
                    id,
                    name: m.name.to_string(),
                    finding: monitor_change.map(|(_, f, _)| f),
                    outcome: monitor_change.map(|(_, _, o)| o),
                    results,
                })
            }
            // A deleted monitor's news still reaches the rules for all monitors.
            Err(AppError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let components = match &incident {
        Some(i) => {
            let all = service.components().await?;
            all.into_iter().filter(|c| i.affects(c.id)).collect()
        }
        None => Vec::new(),
    };
    let alert = Alert {
        event,
        at: change.at,
        monitor,
        incident: incident.map(|i| AlertIncident {
            id: i.id,
            title: i.title.to_string(),
            status: i.status,
            impact: i.impact,
        }),
        maintenance: None,
    };
    let status = service.page_status().await?;
    Ok(Some(Notice {
        id: alert_notice_id(change),
        event: match event {
            AlertEvent::IncidentOpened => NoticeEvent::Created,
            AlertEvent::IncidentResolved => NoticeEvent::Resolved,
            AlertEvent::MonitorChanged => NoticeEvent::Updated,
            AlertEvent::MaintenanceReminder => NoticeEvent::Maintenance,
        },
        subject: Subject::Alert { alert },
        components,
        groups: Vec::new(),
        page_indicator: status.indicator,
        page_description: status.description,
    }))
}

/// The rules an alert fires. A monitor opening or resolving its incident is one event
/// told twice (the incident's change and the monitor's): a rule that hears both incident
/// news and monitor changes hears it once, as incident news.
pub fn firing<'a>(rules: &'a [AlertRule], alert: &Alert) -> impl Iterator<Item = &'a AlertRule> {
    let monitor = alert.monitor.as_ref().map(|m| m.id);
    let finding = alert.monitor.as_ref().and_then(|m| m.finding);
    rules.iter().filter(move |r| {
        let told_as_incident_news = alert.event == AlertEvent::MonitorChanged
            && match finding {
                Some(Finding::Confirmed) => r.on.incident_opened,
                Some(Finding::Recovered) => r.on.incident_resolved,
                _ => false,
            };
        r.fires(alert.event, monitor) && !told_as_incident_news
    })
}
