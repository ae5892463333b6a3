use crate::component::ComponentStatus;
use crate::incident::Impact;
use serde::{Deserialize, Serialize};

/// The page's overall indicator, spelled as Statuspage spells it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageIndicator {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl PageIndicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Maintenance => "maintenance",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }

    /// Statuspage's wording for each indicator.
    pub fn description(self) -> &'static str {
        match self {
            Self::None => "All Systems Operational",
            Self::Maintenance => "Service Under Maintenance",
            Self::Minor => "Minor Service Outage",
            Self::Major => "Partial System Outage",
            Self::Critical => "Major Service Outage",
        }
    }

    fn from_impact(impact: Impact) -> Self {
        match impact {
            Impact::None => Self::None,
            Impact::Minor => Self::Minor,
            Impact::Major => Self::Major,
            Impact::Critical => Self::Critical,
        }
    }

    fn from_component(status: ComponentStatus) -> Self {
        match status {
            ComponentStatus::Operational => Self::None,
            ComponentStatus::UnderMaintenance => Self::Maintenance,
            ComponentStatus::DegradedPerformance => Self::Minor,
            ComponentStatus::PartialOutage => Self::Major,
            ComponentStatus::MajorOutage => Self::Critical,
        }
    }
}

/// The banner at the top of the page: an indicator and its description.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageStatus {
    pub indicator: PageIndicator,
    pub description: String,
}

impl PageStatus {
    /// Blends the components' statuses and the impacts of the open incidents the way
    /// Statuspage does: the worst of them wins. A component's degraded performance
    /// counts as minor, a partial outage as major and a major outage as critical; an
    /// incident counts as its impact. Maintenance shows only when nothing is worse.
    pub fn derive(
        components: impl IntoIterator<Item = ComponentStatus>,
        open_incident_impacts: impl IntoIterator<Item = Impact>,
    ) -> Self {
        Self::derive_with_maintenance(components, open_incident_impacts, false)
    }

    /// [`Self::derive`], with whether a maintenance is under way: it shows as
    /// maintenance (even one naming no component) when nothing is worse.
    pub fn derive_with_maintenance(
        components: impl IntoIterator<Item = ComponentStatus>,
        open_incident_impacts: impl IntoIterator<Item = Impact>,
        maintenance_active: bool,
    ) -> Self {
        let maintenance = maintenance_active.then_some(PageIndicator::Maintenance);
        let indicator = components
            .into_iter()
            .map(PageIndicator::from_component)
            .chain(open_incident_impacts.into_iter().map(PageIndicator::from_impact))
            .chain(maintenance)
            .max()
            .unwrap_or(PageIndicator::None);
        Self { indicator, description: indicator.description().to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    #[test]
    fn a_maintenance_under_way_shows_unless_something_is_worse() {
        let quiet = PageStatus::derive_with_maintenance([Operational], [], true);
        assert_eq!(
            (quiet.indicator, quiet.description.as_str()),
            (PageIndicator::Maintenance, "Service Under Maintenance")
        );
        assert_eq!(
            PageStatus::derive_with_maintenance([Operational], [Impact::None], true).indicator,
            PageIndicator::Maintenance
        );
        assert_eq!(
            PageStatus::derive_with_maintenance([Operational], [Impact::Minor], true).indicator,
            PageIndicator::Minor
        );
        assert_eq!(PageStatus::derive_with_maintenance([PartialOutage], [], true).indicator, PageIndicator::Major);
        assert_eq!(PageStatus::derive_with_maintenance([Operational], [], false).indicator, PageIndicator::None);
    }

    #[test]
    fn a_quiet_page_is_all_operational() {
        let s = PageStatus::derive([Operational, Operational], []);
        assert_eq!((s.indicator, s.description.as_str()), (PageIndicator::None, "All Systems Operational"));
        assert_eq!(PageStatus::derive([], []).indicator, PageIndicator::None);
    }

    #[test]
    fn the_worst_component_or_incident_wins() {
        assert_eq!(PageStatus::derive([Operational, DegradedPerformance], []).indicator, PageIndicator::Minor);
        assert_eq!(
            PageStatus::derive([PartialOutage, DegradedPerformance], [Impact::Minor]).indicator,
            PageIndicator::Major
        );
        assert_eq!(PageStatus::derive([DegradedPerformance], [Impact::Critical]).indicator, PageIndicator::Critical);
        assert_eq!(PageStatus::derive([MajorOutage], [Impact::None]).indicator, PageIndicator::Critical);
    }

    #[test]
    fn an_incident_with_no_component_still_counts() {
        assert_eq!(PageStatus::derive([Operational], [Impact::Major]).indicator, PageIndicator::Major);
    }

    #[test]
    fn maintenance_shows_only_when_nothing_is_worse() {
        assert_eq!(
            PageStatus::derive([UnderMaintenance, Operational], [Impact::None]).indicator,
            PageIndicator::Maintenance
        );
        assert_eq!(PageStatus::derive([UnderMaintenance], [Impact::Minor]).indicator, PageIndicator::Minor);
        assert_eq!(PageStatus::derive([UnderMaintenance], []).description, "Service Under Maintenance");
    }
}
