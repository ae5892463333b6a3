use crate::ids::{ComponentId, GroupId};
use crate::text::{Description, Name};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a component shows on the page. The variant names and their wire spelling are
/// Statuspage's, so existing consumers read them unchanged.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    #[default]
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
    UnderMaintenance,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] =
        [Self::Operational, Self::DegradedPerformance, Self::PartialOutage, Self::MajorOutage, Self::UnderMaintenance];

    /// How bad the status is, for picking the worst of several. Maintenance ranks above
    /// operational but below every outage: an outage during a maintenance window still
    /// shows as the outage.
    pub fn severity(self) -> u8 {
        match self {
            Self::Operational => 0,
            Self::UnderMaintenance => 1,
            Self::DegradedPerformance => 2,
            Self::PartialOutage => 3,
            Self::MajorOutage => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
            Self::UnderMaintenance => "under_maintenance",
        }
    }

    /// Words for people; the page never conveys status by colour alone.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
            Self::UnderMaintenance => "Under maintenance",
        }
    }

    pub fn worst(self, other: Self) -> Self {
        if other.severity() > self.severity() { other } else { self }
    }
}

impl fmt::Display for ComponentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ComponentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            format!("unknown component status {s:?}; expected one of {}", Self::ALL.map(Self::as_str).join(", "))
        })
    }
}

/// The status a component shows: the worst status imposed on it by the open incidents
/// that affect it, or, when none does, the status the team set by hand.
pub fn effective_status(
    manual: ComponentStatus,
    imposed: impl IntoIterator<Item = ComponentStatus>,
) -> ComponentStatus {
    imposed.into_iter().reduce(ComponentStatus::worst).unwrap_or(manual)
}

/// A part of the service the page reports on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub id: ComponentId,
    pub name: Name,
    pub description: Description,
    pub position: u32,
    pub group_id: Option<GroupId>,
    /// Set by the team; shown when no open incident affects the component.
    pub manual_status: ComponentStatus,
    /// What the page shows, kept equal to [`effective_status`] by every write that could
    /// change it.
    pub status: ComponentStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// A named, ordered group of components.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentGroup {
    pub id: GroupId,
    pub name: Name,
    pub description: Description,
    pub position: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    #[test]
    fn with_no_open_incident_the_manual_status_shows() {
        assert_eq!(effective_status(DegradedPerformance, []), DegradedPerformance);
    }

    #[test]
    fn the_worst_imposed_status_wins_even_over_a_worse_manual_one() {
        assert_eq!(effective_status(Operational, [DegradedPerformance, MajorOutage, PartialOutage]), MajorOutage);
        // An incident's status replaces the manual one rather than blending with it.
        assert_eq!(effective_status(MajorOutage, [DegradedPerformance]), DegradedPerformance);
    }

    #[test]
    fn an_outage_beats_maintenance() {
        assert_eq!(effective_status(Operational, [UnderMaintenance, DegradedPerformance]), DegradedPerformance);
        assert_eq!(effective_status(Operational, [UnderMaintenance, Operational]), UnderMaintenance);
    }

    #[test]
    fn statuses_round_trip_through_their_wire_names() {
        for s in ComponentStatus::ALL {
            assert_eq!(s.as_str().parse::<ComponentStatus>(), Ok(s));
            let json = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert!("broken".parse::<ComponentStatus>().is_err());
    }
}
