use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use ulid::Ulid;

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Ulid);

        impl $name {
            pub fn new(id: Ulid) -> Self {
                Self(id)
            }

            pub fn ulid(self) -> Ulid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ulid::DecodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ulid::from_string(s).map(Self)
            }
        }
    };
}

ulid_id!(
    /// An incident; ULIDs sort by creation time, which the history listing relies on.
    IncidentId
);
ulid_id!(
    /// A public update on an incident.
    UpdateId
);
ulid_id!(
    /// A private comment on an incident.
    CommentId
);
ulid_id!(
    /// An entry of an incident's internal timeline.
    EventId
);
ulid_id!(
    /// A component of the status page.
    ComponentId
);
ulid_id!(
    /// A named group of components.
    GroupId
);
ulid_id!(
    /// An incident template.
    TemplateId
);
ulid_id!(
    /// A team member.
    MemberId
);
ulid_id!(
    /// A committed change, as the change feed delivers it.
    ChangeId
);
ulid_id!(
    /// An API token.
    TokenId
);
ulid_id!(
    /// A subscriber of the status page's notifications.
    SubscriberId
);
ulid_id!(
    /// A team alert rule.
    AlertRuleId
);
ulid_id!(
    /// A planned maintenance (or a recurring series of them).
    MaintenanceId
);
ulid_id!(
    /// An integration: an alerting tool's webhook that opens and resolves incidents.
    IntegrationId
);
ulid_id!(
    /// A monitor: a scheduled check that opens and resolves incidents on its own.
    MonitorId
);
ulid_id!(
    /// A notice: the news of one public update (the update's id) or of one change of a
    /// component's shown status (the change record's id).
    NoticeId
);

impl From<UpdateId> for NoticeId {
    fn from(id: UpdateId) -> Self {
        Self(id.ulid())
    }
}

impl From<ChangeId> for NoticeId {
    fn from(id: ChangeId) -> Self {
        Self(id.ulid())
    }
}
