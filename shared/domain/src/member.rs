use crate::ids::MemberId;
use crate::text::{Email, Name};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a member may do. Each role includes everything the roles below it may do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything the team sees.
    Viewer,
    /// Also reports incidents, posts updates and comments.
    Responder,
    /// Also manages components, groups, templates, members and tokens.
    Admin,
    /// Also manages admins and owners.
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Self::Viewer, Self::Responder, Self::Admin, Self::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Responder => "responder",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// Whether a member with this role may grant or take away `other`: admins manage
    /// viewers and responders; only owners manage admins and owners.
    pub fn may_manage(self, other: Role) -> bool {
        match self {
            Self::Owner => true,
            Self::Admin => other < Self::Admin,
            Self::Viewer | Self::Responder => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}; expected one of {}", Self::ALL.map(Self::as_str).join(", ")))
    }
}

/// A member of the team that runs the page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub name: Name,
    pub email: Email,
    pub role: Role,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert!(Role::Viewer < Role::Responder && Role::Responder < Role::Admin && Role::Admin < Role::Owner);
    }

    #[test]
    fn only_owners_manage_admins_and_owners() {
        assert!(Role::Owner.may_manage(Role::Owner));
        assert!(!Role::Admin.may_manage(Role::Admin));
        assert!(Role::Admin.may_manage(Role::Responder));
        assert!(!Role::Admin.may_manage(Role::Owner));
        assert!(!Role::Responder.may_manage(Role::Viewer));
    }
}
