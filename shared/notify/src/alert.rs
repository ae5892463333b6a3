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
            (event, _, _) => format!("{event:?}"),
        }
    }

    /// The event name webhooks carry in `X-Beacon-Event`.
    pub fn event_name(&self) -> &'static str {
        match self.event {
            AlertEvent::IncidentOpened => "alert.incident_opened",
            AlertEvent::IncidentResolved => "alert.incident_resolved",
            AlertEvent::MonitorChanged => "alert.monitor_changed",
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
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}/alert", change.id));
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    NoticeId::new(ulid::Ulid::from_parts(change.id.ulid().timestamp_ms(), u128::from_be_bytes(random)))
}

/// Builds the alert notice of a change, or `None` when it alerts nobody of anything.
pub async fn build(service: &Service, change: &Change) -> AppResult<Option<Notice>> {
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
    };
    let status = service.page_status().await?;
    Ok(Some(Notice {
        id: alert_notice_id(change),
        event: match event {
            AlertEvent::IncidentOpened => NoticeEvent::Created,
            AlertEvent::IncidentResolved => NoticeEvent::Resolved,
            AlertEvent::MonitorChanged => NoticeEvent::Updated,
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
