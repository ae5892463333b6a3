use beacon_domain::{
    Component, ComponentGroup, ComponentId, Incident, Maintenance, MaintenanceStatus, MaintenanceUpdate, PageStatus,
    PublicUpdate,
};
use jiff::Timestamp;
use std::collections::BTreeMap;

/// How the page presents itself (from configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageConfig {
    /// Statuspage's `page.id`: any stable string.
    pub id: String,
    pub name: String,
    /// The page's public address, without a trailing slash.
    pub url: String,
    /// IANA time zone shown with times (they are stored and printed in UTC).
    pub time_zone: String,
    pub logo_url: Option<String>,
    pub links: Vec<PageLink>,
    /// Where the page's subscribe forms post (the API's public `/subscriptions`, served
    /// on the page's own domain); no forms when unset.
    pub subscribe_url: Option<String>,
    /// Links' and buttons' colour (`#rrggbb`) in light mode, and in dark mode; the
    /// page's own blue when unset. Set, they are published as `theme.css`.
    pub accent: Option<String>,
    pub accent_dark: Option<String>,
}

impl PageConfig {
    /// The page as a function's environment describes it: `BEACON_PUBLIC_URL`
    /// (required), `BEACON_PAGE_NAME`, `BEACON_TIME_ZONE`, `BEACON_SUBSCRIBE_URL`. Read
    /// through `var`, so this crate touches no process state.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let url = var("BEACON_PUBLIC_URL").ok_or("BEACON_PUBLIC_URL is not set")?;
        Ok(Self {
            id: "beacon".into(),
            name: var("BEACON_PAGE_NAME").unwrap_or_else(|| "Status".into()),
            url: url.trim_end_matches('/').to_owned(),
            time_zone: var("BEACON_TIME_ZONE").unwrap_or_else(|| "Etc/UTC".into()),
            logo_url: None,
            links: Vec::new(),
            subscribe_url: var("BEACON_SUBSCRIBE_URL"),
            accent: None,
            accent_dark: None,
        })
    }

    /// This configuration with the team's saved settings laid over it (address and
    /// subscribe form stay the deployment's).
    pub fn with_settings(&self, settings: Option<&beacon_domain::PageSettings>) -> Self {
        let Some(s) = settings else { return self.clone() };
        Self {
            name: s.name.to_string(),
            time_zone: s.time_zone.clone(),
            logo_url: s.logo_url.clone(),
            links: s.links.iter().map(|l| PageLink { label: l.label.to_string(), url: l.url.clone() }).collect(),
            accent: s.accent.as_ref().map(|c| c.as_str().to_owned()),
            accent_dark: s.accent_dark.as_ref().map(|c| c.as_str().to_owned()),
            ..self.clone()
        }
    }

    /// The stylesheet of the accent colours, when any is set.
    pub fn theme_css(&self) -> Option<String> {
        if self.accent.is_none() && self.accent_dark.is_none() {
            return None;
        }
        let mut css = String::new();
        if let Some(c) = &self.accent {
            css.push_str(&format!(":root{{--accent:{c}}}\n"));
        }
        if let Some(c) = &self.accent_dark {
            css.push_str(&format!("@media (prefers-color-scheme:dark){{:root{{--accent:{c}}}}}\n"));
        }
        Some(css)
    }

    /// Where [`PageConfig::theme_css`] is published: named after its content, so it is
    /// cached for good and a change of colours is a new file.
    pub fn theme_path(&self) -> Option<String> {
        use sha2::{Digest, Sha256};
        let css = self.theme_css()?;
        Some(format!("assets/theme.{}.css", &hex::encode(Sha256::digest(css.as_bytes()))[..12]))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageLink {
    pub label: String,
    pub url: String,
}

/// An incident with its public updates in posting order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentRecord {
    pub incident: Incident,
    pub updates: Vec<PublicUpdate>,
}

/// A maintenance with its public updates in posting order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceRecord {
    pub maintenance: Maintenance,
    pub updates: Vec<MaintenanceUpdate>,
}

/// Everything the page shows, read at one moment. Holds nothing private: comments,
/// timelines, members and tokens are never loaded into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub page: PageConfig,
    /// When the snapshot was taken.
    pub generated_at: Timestamp,
    /// Components by position.
    pub components: Vec<Component>,
    /// Groups by position.
    pub groups: Vec<ComponentGroup>,
    /// Every incident, newest first.
    pub incidents: Vec<IncidentRecord>,
    /// Every maintenance, newest first.
    pub maintenances: Vec<MaintenanceRecord>,
    /// What automated checks measured, per component that has monitors: the days they
    /// observed, oldest first. Only figures: never a monitor's name or target.
    pub monitored: BTreeMap<ComponentId, Vec<MonitoredDay>>,
}

/// A day of a component's automated checks (the worst of its monitors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitoredDay {
    pub date: jiff::civil::Date,
    /// Seconds the checks' verdict was down, degraded, and seconds checked at all.
    pub down_seconds: i64,
    pub degraded_seconds: i64,
    pub observed_seconds: i64,
    /// Seconds its checks were muted by a maintenance (not in `observed_seconds`).
    pub maintenance_seconds: i64,
    /// Response time quantiles of the day, when the checks measure one.
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

impl Snapshot {
    pub fn status(&self) -> PageStatus {
        PageStatus::derive_with_maintenance(
            self.components.iter().map(|c| c.status),
            self.incidents.iter().filter(|r| r.incident.status.is_open()).map(|r| r.incident.impact),
            self.active_maintenances().next().is_some(),
        )
    }

    /// Maintenances under way, soonest ending first.
    pub fn active_maintenances(&self) -> impl Iterator<Item = &MaintenanceRecord> {
        let mut active: Vec<_> = self.maintenances.iter().filter(|r| r.maintenance.status.is_active()).collect();
        active.sort_by_key(|r| r.maintenance.window.ends_at);
        active.into_iter()
    }

    /// Maintenances announced and not started, soonest first.
    pub fn upcoming_maintenances(&self) -> impl Iterator<Item = &MaintenanceRecord> {
        let mut upcoming: Vec<_> =
            self.maintenances.iter().filter(|r| r.maintenance.status == MaintenanceStatus::Scheduled).collect();
        upcoming.sort_by_key(|r| r.maintenance.window.starts_at);
        upcoming.into_iter()
    }

    /// Statuspage's `page.updated_at`: the latest change of the page's structure and
    /// component statuses. Incident changes are dated in the incidents themselves, so
    /// an incident update rewrites only the files that show it.
    pub fn updated_at(&self) -> Timestamp {
        let components = self.components.iter().map(|c| c.updated_at);
        let groups = self.groups.iter().map(|g| g.updated_at);
        components.chain(groups).max().or_else(|| self.incidents_updated_at()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The latest change of any incident or maintenance.
    pub fn incidents_updated_at(&self) -> Option<Timestamp> {
        let incidents = self.incidents.iter().map(|r| r.incident.updated_at);
        incidents.chain(self.maintenances.iter().map(|r| r.maintenance.updated_at)).max()
    }

    pub fn component(&self, id: ComponentId) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    pub fn open_incidents(&self) -> impl Iterator<Item = &IncidentRecord> {
        self.incidents.iter().filter(|r| r.incident.status.is_open())
    }
}

#[cfg(test)]
mod page_config_tests {
    use super::PageConfig;

    #[test]
    fn a_page_from_variables_needs_its_address_and_defaults_the_rest() {
        assert!(PageConfig::from_vars(|_| None).is_err());
        let page = PageConfig::from_vars(|name| (name == "BEACON_PUBLIC_URL").then(|| "https://s.example/".to_owned()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (page.url.as_str(), page.name.as_str(), page.time_zone.as_str()),
            ("https://s.example", "Status", "Etc/UTC")
        );
        assert_eq!(page.subscribe_url, None);
    }
}
