//! Request and response bodies. Requests refuse unknown fields, so a typo is an error
//! rather than silently ignored.

use beacon_app::{IncidentSummary, Token};
use beacon_domain::{
    AffectedComponent, Change, ComponentEdit, ComponentId, ComponentStatus, FieldError, GroupId, Impact, Incident,
    IncidentStatus, MemberId, PublicUpdate, Role, TemplateId, TokenId,
};
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateComponent {
    pub name: String,
    pub description: Option<String>,
    pub group_id: Option<GroupId>,
    pub position: Option<u32>,
    pub status: Option<ComponentStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateComponent {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `null` takes the component out of its group.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub group_id: Option<Option<GroupId>>,
    pub position: Option<u32>,
    /// The manual status, shown while no open incident affects the component.
    pub status: Option<ComponentStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
    pub description: Option<String>,
    pub position: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    pub name: Option<String>,
    pub description: Option<String>,
    pub position: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportIncident {
    /// Required unless the template gives one.
    pub title: Option<String>,
    /// Defaults to investigating.
    pub status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    /// The first public update. Required unless the template gives one.
    pub message: Option<String>,
    pub components: Option<Vec<AffectedComponent>>,
    /// A template whose fields fill whatever this body leaves out.
    pub template_id: Option<TemplateId>,
    /// Opened internally: the page and subscribers see it once a responder publishes it
    /// (`POST /api/v1/incidents/{id}/publish`).
    #[serde(default)]
    pub internal: bool,
}

/// One change of affected components: `{id, status}` adds the component or changes its
/// status; `{id, remove: true}` stops affecting it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentChange {
    pub id: ComponentId,
    pub status: Option<ComponentStatus>,
    #[serde(default)]
    pub remove: bool,
}

pub fn component_edits(changes: Vec<ComponentChange>) -> Result<Vec<ComponentEdit>, Vec<FieldError>> {
    let mut edits = Vec::with_capacity(changes.len());
    let mut errors = Vec::new();
    for (i, c) in changes.into_iter().enumerate() {
        match (c.status, c.remove) {
            (Some(status), false) => edits.push(ComponentEdit::Set { id: c.id, status }),
            (None, true) => edits.push(ComponentEdit::Remove { id: c.id }),
            _ => errors.push(FieldError::new(format!("components[{i}]"), "give either a status or remove: true")),
        }
    }
    if errors.is_empty() { Ok(edits) } else { Err(errors) }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostUpdate {
    pub message: String,
    /// investigating on a resolved incident reopens it.
    pub status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    #[serde(default)]
    pub components: Vec<ComponentChange>,
    /// `false` posts without telling subscribers (a typo fix, say). Default `true`.
    pub notify: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchIncident {
    pub title: Option<String>,
    pub impact: Option<Impact>,
    #[serde(default)]
    pub components: Vec<ComponentChange>,
    /// `false` takes a monitor's incident over: its recovery is then only recorded in
    /// the timeline, and a person resolves it.
    pub auto_resolve: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddComment {
    /// Markdown, private to the team.
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub impact: Impact,
    pub message: String,
    #[serde(default)]
    pub components: Vec<AffectedComponent>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplate {
    pub name: Option<String>,
    pub title: Option<String>,
    pub impact: Option<Impact>,
    pub message: Option<String>,
    pub components: Option<Vec<AffectedComponent>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    pub name: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub name: Option<String>,
    pub role: Option<Role>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// Defaults to the caller.
    pub member_id: Option<MemberId>,
    /// Defaults to the member's role; never more.
    pub role: Option<Role>,
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: TokenId,
    pub member_id: MemberId,
    #[schema(value_type = String)]
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl From<Token> for TokenView {
    fn from(t: Token) -> Self {
        Self {
            id: t.id,
            member_id: t.member_id,
            name: t.name.to_string(),
            role: t.role,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new token, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: TokenView,
    pub token_secret: String,
}

/// An incident with its public updates in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: Incident,
    pub updates: Vec<PublicUpdate>,
}

/// The result of posting an update: the incident as it is now and the new update.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostedUpdate {
    pub incident: Incident,
    pub update: PublicUpdate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPage {
    pub items: Vec<IncidentSummaryView>,
    /// Pass as `cursor` to read the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentSummaryView {
    pub id: beacon_domain::IncidentId,
    #[schema(value_type = String)]
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub version: u64,
}

impl From<IncidentSummary> for IncidentSummaryView {
    fn from(s: IncidentSummary) -> Self {
        Self {
            id: s.id,
            title: s.title.to_string(),
            status: s.status,
            impact: s.impact,
            created_at: s.created_at,
            updated_at: s.updated_at,
            resolved_at: s.resolved_at,
            version: s.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<Change>,
    pub next_cursor: Option<String>,
}

/// Filters of the incident listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    /// `open`, `resolved` or `all` (default).
    pub state: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<String>,
    /// Created at or before (RFC 3339).
    pub until: Option<String>,
    /// `none`, `minor`, `major` or `critical`.
    pub impact: Option<String>,
    /// Words the title contains (case ignored).
    pub q: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1 to 200, default 50.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}
