use crate::Stamp;
use crate::component::ComponentStatus;
use crate::error::{DomainError, FieldError};
use crate::ids::{CommentId, ComponentId, EventId, IncidentId, IntegrationId, MonitorId, TemplateId, UpdateId};
use crate::text::{Markdown, Title};
use crate::timeline::{Actor, EventKind, TimelineEntry};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An incident affects at most this many components. It keeps every change to an
/// incident inside one storage transaction (DynamoDB allows 100 writes in one).
pub const MAX_AFFECTED_COMPONENTS: usize = 50;

/// Where an incident stands. It only moves forward; the single way back is a reopen,
/// which takes a resolved incident back to investigating.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    #[default]
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

/// How a status change is classified once allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The status stays as it is (an update may keep the status).
    Stay,
    /// The status moves forward, possibly skipping steps.
    Advance,
    /// A resolved incident goes back to investigating.
    Reopen,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 4] = [Self::Investigating, Self::Identified, Self::Monitoring, Self::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
        }
    }

    pub fn is_open(self) -> bool {
        self != Self::Resolved
    }

    /// Every status an update may set next, in workflow order: this one and every later
    /// one, plus investigating again once resolved.
    pub fn allowed_next(self) -> Vec<IncidentStatus> {
        let mut next: Vec<_> = Self::ALL.into_iter().filter(|s| *s >= self).collect();
        if self == Self::Resolved {
            next.insert(0, Self::Investigating);
        }
        next
    }

    /// Checks a move and says what kind it is, or names the allowed next statuses.
    pub fn transition_to(self, to: IncidentStatus) -> Result<Transition, DomainError> {
        match (self, to) {
            (from, to) if from == to => Ok(Transition::Stay),
            (Self::Resolved, Self::Investigating) => Ok(Transition::Reopen),
            (from, to) if to > from => Ok(Transition::Advance),
            (from, to) => Err(DomainError::Transition { from, to, allowed: from.allowed_next() }),
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IncidentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            format!("unknown incident status {s:?}; expected one of {}", Self::ALL.map(Self::as_str).join(", "))
        })
    }
}

/// How badly users are affected.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Informational: no user impact.
    #[default]
    None,
    /// Some users may see problems (elevated latency, slow responses).
    Minor,
    /// Significant functionality is unavailable.
    Major,
    /// The service is unavailable.
    Critical,
}

impl Impact {
    pub const ALL: [Impact; 4] = [Self::None, Self::Minor, Self::Major, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Impact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Impact {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown impact {s:?}; expected one of {}", Self::ALL.map(Self::as_str).join(", ")))
    }
}

/// How an incident came to be.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IncidentSource {
    #[default]
    Manual,
    Template,
    Monitor,
    Webhook,
}

/// A component an incident affects, with the status the incident imposes on it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedComponent {
    pub id: ComponentId,
    pub status: ComponentStatus,
}

/// One change to the set of affected components.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ComponentEdit {
    /// Adds the component, or changes the status the incident imposes on it.
    Set { id: ComponentId, status: ComponentStatus },
    /// Stops affecting the component.
    Remove { id: ComponentId },
}

/// How one component's imposed status changed in an update; `None` means not affected.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedChange {
    pub id: ComponentId,
    pub old: Option<ComponentStatus>,
    pub new: Option<ComponentStatus>,
}

/// An incident: the aggregate every change goes through.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub title: Title,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub components: Vec<AffectedComponent>,
    pub source: IncidentSource,
    pub template_id: Option<TemplateId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub identified_at: Option<Timestamp>,
    pub monitoring_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// The monitor that opened it, if one did.
    #[serde(default)]
    pub monitor_id: Option<MonitorId>,
    /// The integration whose alerts opened it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<IntegrationId>,
    /// Whether its monitor (or integration) resolves it on recovery; a team member taking the incident
    /// over turns this off, and the monitor then only records the recovery.
    #[serde(default = "auto_resolve_by_default")]
    pub auto_resolve: bool,
    /// Whether the page and subscribers see it. An internal incident (a monitor's, when
    /// the team publishes them by hand) imposes nothing on components and is told to
    /// nobody outside the team until a responder publishes it.
    #[serde(default = "auto_resolve_by_default")]
    pub published: bool,
    /// When an internal incident was published: news from before is not announced.
    #[serde(default)]
    pub published_at: Option<Timestamp>,
    /// The written account of a resolved incident: private while a draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postmortem: Option<Postmortem>,
    /// Recorded after the fact, with its real times: news to no one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backfilled: bool,
    /// Grows by one with every change; the guard of optimistic concurrency (the API's ETag).
    pub version: u64,
}

/// A postmortem: what happened, why, and what changes. Drafted privately, then published
/// on the incident's page and in the feeds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postmortem {
    pub body: Markdown,
    /// When it was first published; `None` while a draft.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub published_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub updated_at: Timestamp,
    pub author: Actor,
}

/// One public update of an incident recorded after the fact, at its real time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfilledUpdate {
    pub at: Timestamp,
    pub status: IncidentStatus,
    pub message: Markdown,
}

/// An incident recorded after the fact: its updates in order, the last one resolving it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfilledIncident {
    pub title: Title,
    pub impact: Impact,
    /// The components it affected, with the status it imposed while open.
    pub components: Vec<AffectedComponent>,
    pub updates: Vec<BackfilledUpdate>,
}

fn auto_resolve_by_default() -> bool {
    true
}

/// A public timeline update, as the page shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUpdate {
    pub id: UpdateId,
    pub incident_id: IncidentId,
    pub message: Markdown,
    /// The incident's status once this update applied.
    pub status: IncidentStatus,
    /// The new impact, when this update changed it.
    pub impact: Option<Impact>,
    pub affected_components: Vec<AffectedChange>,
    pub author: Actor,
    pub created_at: Timestamp,
    /// Whether subscribers are told of this update (`false` fixes a typo quietly).
    #[serde(default = "notify_by_default")]
    pub notify: bool,
}

fn notify_by_default() -> bool {
    true
}

/// A private note of the team on an incident. Never public.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    pub incident_id: IncidentId,
    pub body: Markdown,
    pub author: crate::ids::MemberId,
    pub created_at: Timestamp,
}

/// A fully specified new incident (a template, if any, already applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    pub title: Title,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub message: Markdown,
    pub components: Vec<AffectedComponent>,
    pub source: IncidentSource,
    pub template_id: Option<TemplateId>,
    /// The monitor opening it, if one is.
    pub monitor_id: Option<MonitorId>,
    /// The integration opening it, if one is.
    pub integration_id: Option<IntegrationId>,
    /// `false`: opened internally, for a responder to publish.
    pub published: bool,
}

/// A public update to post: a message, and optionally a new status, impact and
/// component changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUpdate {
    pub message: Markdown,
    pub status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    pub components: Vec<ComponentEdit>,
}

/// An edit of the incident's own fields, with no public update.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IncidentEdit {
    pub title: Option<Title>,
    pub impact: Option<Impact>,
    pub components: Vec<ComponentEdit>,
    /// Off: a team member takes a monitor's incident over (see [`Incident::auto_resolve`]).
    pub auto_resolve: Option<bool>,
}

/// A backfilled incident with all its updates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentOutcomes {
    pub incident: Incident,
    pub updates: Vec<PublicUpdate>,
    pub entries: Vec<TimelineEntry>,
}

/// Everything one operation produced, to be stored in a single transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentOutcome {
    pub incident: Incident,
    pub update: Option<PublicUpdate>,
    pub comment: Option<Comment>,
    pub entries: Vec<TimelineEntry>,
}

impl Incident {
    /// Opens a new incident and records its first public update from its message.
    ///
    /// Ids are drawn in this order: incident, first update, then one per timeline entry.
    pub fn report(new: NewIncident, stamp: &mut Stamp<'_>) -> Result<IncidentOutcome, DomainError> {
        check_components(&new.components, "components")?;
        let at = stamp.at;
        let id = IncidentId::new((stamp.next_id)());
        let mut incident = Incident {
            id,
            title: new.title,
            status: new.status,
            impact: new.impact,
            components: new.components.clone(),
            source: new.source,
            template_id: new.template_id,
            created_at: at,
            updated_at: at,
            identified_at: None,
            monitoring_at: None,
            resolved_at: None,
            monitor_id: new.monitor_id,
            integration_id: new.integration_id,
            auto_resolve: true,
            published: new.published,
            published_at: None,
            postmortem: None,
            backfilled: false,
            version: 1,
        };
        incident.mark_entered(new.status, at);
        let update = PublicUpdate {
            id: UpdateId::new((stamp.next_id)()),
            incident_id: id,
            message: new.message,
            status: new.status,
            impact: Some(new.impact),
            affected_components: new
                .components
                .iter()
                .map(|c| AffectedChange { id: c.id, old: None, new: Some(c.status) })
                .collect(),
            author: stamp.actor.clone(),
            created_at: at,
            notify: true,
        };
        let mut kinds = vec![EventKind::Created {
            title: incident.title.to_string(),
            status: incident.status,
            impact: incident.impact,
            source: incident.source,
        }];
        if let Some(template_id) = new.template_id {
            kinds.push(EventKind::TemplateApplied { template_id });
        }
        kinds.extend(new.components.iter().map(|c| EventKind::ComponentAdded { component_id: c.id, status: c.status }));
        kinds.push(EventKind::UpdatePosted { update_id: update.id, status: update.status });
        let entries = entries(id, stamp, kinds);
        Ok(IncidentOutcome { incident, update: Some(update), comment: None, entries })
    }

    /// Posts a public update. A status of investigating on a resolved incident reopens it.
    ///
    /// Ids are drawn in this order: the update, then one per timeline entry.
    pub fn post_update(&self, new: NewUpdate, stamp: &mut Stamp<'_>) -> Result<IncidentOutcome, DomainError> {
        let mut next = self.clone();
        let mut kinds = Vec::new();
        let status = new.status.unwrap_or(self.status);
        match self.status.transition_to(status)? {
            Transition::Stay => {}
            Transition::Advance => {
                kinds.push(EventKind::StatusChanged { from: self.status, to: status });
            }
            Transition::Reopen => {
                kinds.push(EventKind::Reopened);
                kinds.push(EventKind::StatusChanged { from: self.status, to: status });
                next.identified_at = None;
                next.monitoring_at = None;
                next.resolved_at = None;
            }
        }
        next.status = status;
        next.mark_entered(status, stamp.at);
        let impact_change = new.impact.filter(|i| *i != self.impact);
        if let Some(impact) = impact_change {
            kinds.push(EventKind::ImpactChanged { from: self.impact, to: impact });
            next.impact = impact;
        }
        let changes = next.apply_component_edits(&new.components, &mut kinds)?;
        let update = PublicUpdate {
            id: UpdateId::new((stamp.next_id)()),
            incident_id: self.id,
            message: new.message,
            status,
            impact: impact_change,
            affected_components: changes,
            author: stamp.actor.clone(),
            created_at: stamp.at,
            notify: true,
        };
        kinds.push(EventKind::UpdatePosted { update_id: update.id, status });
        next.touch(stamp.at);
        let entries = entries(self.id, stamp, kinds);
        Ok(IncidentOutcome { incident: next, update: Some(update), comment: None, entries })
    }

    /// Edits title, impact and affected components without a public update.
    pub fn edit(&self, edit: IncidentEdit, stamp: &mut Stamp<'_>) -> Result<IncidentOutcome, DomainError> {
        let mut next = self.clone();
        let mut kinds = Vec::new();
        if let Some(title) = edit.title.filter(|t| *t != self.title) {
            kinds.push(EventKind::TitleChanged { from: self.title.to_string(), to: title.to_string() });
            next.title = title;
        }
        if let Some(impact) = edit.impact.filter(|i| *i != self.impact) {
            kinds.push(EventKind::ImpactChanged { from: self.impact, to: impact });
            next.impact = impact;
        }
        next.apply_component_edits(&edit.components, &mut kinds)?;
        if let Some(auto_resolve) = edit.auto_resolve.filter(|a| *a != self.auto_resolve) {
            if self.monitor_id.is_none() && self.integration_id.is_none() {
                return Err(DomainError::field(
                    "auto_resolve",
                    "only an incident a monitor or an integration opened resolves itself",
                ));
            }
            kinds.push(EventKind::AutoResolveChanged { auto_resolve });
            next.auto_resolve = auto_resolve;
        }
        if kinds.is_empty() {
            return Err(DomainError::field("body", "nothing to change: the incident already has these values"));
        }
        next.touch(stamp.at);
        let entries = entries(self.id, stamp, kinds);
        Ok(IncidentOutcome { incident: next, update: None, comment: None, entries })
    }

    /// Adds a private comment. The incident itself (and so its version) is unchanged:
    /// comments are not part of what the page or the ETag describe.
    ///
    /// Ids are drawn in this order: the comment, then its timeline entry.
    pub fn comment(&self, body: Markdown, stamp: &mut Stamp<'_>) -> Result<IncidentOutcome, DomainError> {
        let Actor::Member { id: author } = stamp.actor else {
            return Err(DomainError::field("author", "comments are written by team members"));
        };
        let comment =
            Comment { id: CommentId::new((stamp.next_id)()), incident_id: self.id, body, author, created_at: stamp.at };
        let entries = entries(self.id, stamp, vec![EventKind::CommentAdded { comment_id: comment.id }]);
        Ok(IncidentOutcome { incident: self.clone(), update: None, comment: Some(comment), entries })
    }

    /// The statuses this incident imposes on components: none once resolved, and none
    /// while internal.
    pub fn imposed(&self) -> impl Iterator<Item = AffectedComponent> + '_ {
        self.components.iter().copied().filter(|_| self.status.is_open() && self.published)
    }

    /// Publishes an internal incident: from now on the page shows it, its components
    /// take its statuses, and subscribers hear of it.
    pub fn publish(&self, stamp: &mut Stamp<'_>) -> Result<IncidentOutcome, DomainError> {
        if self.published {
            return Err(DomainError::field("published", "the incident is already published"));
        }
        if !self.status.is_open() {
            return Err(DomainError::field("status", "a resolved incident stays internal: reopen it to publish it"));
        }
        let mut next = self.clone();
        next.published = true;
        next.published_at = Some(stamp.at);
        next.touch(stamp.at);
        let entries = entries(self.id, stamp, vec![EventKind::Published]);
        Ok(IncidentOutcome { incident: next, update: None, comment: None, entries })
    }

    /// Records an incident after the fact. Its updates must be in time order, before
    /// `stamp.at`, move its status only forward, and end resolved; the incident carries
    /// their times, so history and uptime place it where it happened.
    ///
    /// Ids are drawn in this order: incident, one per update, then its timeline entry.
    pub fn backfill(new: BackfilledIncident, stamp: &mut Stamp<'_>) -> Result<IncidentOutcomes, DomainError> {
        check_components(&new.components, "components")?;
        let (Some(first), Some(last)) = (new.updates.first(), new.updates.last()) else {
            return Err(DomainError::field("updates", "at least one update, the last one resolving it"));
        };
        if last.status != IncidentStatus::Resolved {
            return Err(DomainError::field("updates", "the last update must resolve the incident"));
        }
        if new.updates.len() > 100 {
            return Err(DomainError::field("updates", "at most 100 updates"));
        }
        if last.at > stamp.at {
            return Err(DomainError::field("updates", "a backfilled incident lies in the past"));
        }
        for pair in new.updates.windows(2) {
            if pair[1].at <= pair[0].at {
                return Err(DomainError::field("updates", "updates must be in time order, each after the last"));
            }
            if pair[1].status < pair[0].status {
                return Err(DomainError::field(
                    "updates",
                    format!(
                        "a status only moves forward: {} cannot follow {}",
                        pair[1].status.as_str(),
                        pair[0].status.as_str()
                    ),
                ));
            }
        }
        let id = IncidentId::new((stamp.next_id)());
        let mut incident = Incident {
            id,
            title: new.title,
            status: first.status,
            impact: new.impact,
            components: new.components.clone(),
            source: IncidentSource::Manual,
            template_id: None,
            created_at: first.at,
            updated_at: last.at,
            identified_at: None,
            monitoring_at: None,
            resolved_at: None,
            monitor_id: None,
            integration_id: None,
            auto_resolve: true,
            published: true,
            published_at: None,
            postmortem: None,
            backfilled: true,
            version: 1,
        };
        let mut updates = Vec::new();
        for (n, update) in new.updates.iter().enumerate() {
            incident.status = update.status;
            incident.mark_entered(update.status, update.at);
            updates.push(PublicUpdate {
                id: UpdateId::new((stamp.next_id)()),
                incident_id: id,
                message: update.message.clone(),
                status: update.status,
                impact: (n == 0).then_some(new.impact),
                affected_components: if n == 0 {
                    new.components.iter().map(|c| AffectedChange { id: c.id, old: None, new: Some(c.status) }).collect()
                } else {
                    Vec::new()
                },
                author: stamp.actor.clone(),
                created_at: update.at,
                notify: false,
            });
        }
        let entries = entries(
            id,
            stamp,
            vec![EventKind::Backfilled {
                title: incident.title.to_string(),
                impact: incident.impact,
                updates: updates.len(),
            }],
        );
        Ok(IncidentOutcomes { incident, updates, entries })
    }

    /// Saves the postmortem's text. A draft stays private; once published, an edit
    /// changes the published text. Only a resolved incident has a postmortem.
    pub fn write_postmortem(&self, body: Markdown, stamp: &mut Stamp<'_>) -> Result<IncidentOutcome, DomainError> {
        if self.status.is_open() {
            return Err(DomainError::field(
                "status",
                "a postmortem follows the resolution: resolve the incident first",
            ));
        }
        let mut next = self.clone();
        next.postmortem = Some(Postmortem {
            body,
            published_at: self.postmortem.as_ref().and_then(|p| p.published_at),
            updated_at: stamp.at,
            author: stamp.actor.clone(),
        });
        next.touch(stamp.at);
        let entries = entries(self.id, stamp, vec![EventKind::PostmortemSaved]);
        Ok(IncidentOutcome { incident: next, update: None, comment: None, entries })
    }

    /// Publishes the drafted postmortem on the incident's page and in the feeds.
    pub fn publish_postmortem(&self, stamp: &mut Stamp<'_>) -> Result<IncidentOutcome, DomainError> {
        let Some(postmortem) = &self.postmortem else {
            return Err(DomainError::field("postmortem", "write the postmortem first"));
        };
        if postmortem.published_at.is_some() {
            return Err(DomainError::field("postmortem", "the postmortem is already published"));
        }
        if !self.published {
            return Err(DomainError::field("published", "the incident is internal: publish it first"));
        }
        let mut next = self.clone();
        next.postmortem = Some(Postmortem { published_at: Some(stamp.at), ..postmortem.clone() });
        next.touch(stamp.at);
        let entries = entries(self.id, stamp, vec![EventKind::PostmortemPublished]);
        Ok(IncidentOutcome { incident: next, update: None, comment: None, entries })
    }

    pub fn affects(&self, id: ComponentId) -> bool {
        self.components.iter().any(|c| c.id == id)
    }

    fn touch(&mut self, at: Timestamp) {
        // Never move backwards in time, even if the caller's clock did.
        self.updated_at = self.updated_at.max(at);
        self.version += 1;
    }

    fn mark_entered(&mut self, status: IncidentStatus, at: Timestamp) {
        let slot = match status {
            IncidentStatus::Investigating => return,
            IncidentStatus::Identified => &mut self.identified_at,
            IncidentStatus::Monitoring => &mut self.monitoring_at,
            IncidentStatus::Resolved => &mut self.resolved_at,
        };
        slot.get_or_insert(at);
    }

    fn apply_component_edits(
        &mut self,
        edits: &[ComponentEdit],
        kinds: &mut Vec<EventKind>,
    ) -> Result<Vec<AffectedChange>, DomainError> {
        let mut seen = Vec::new();
        let mut errors = Vec::new();
        let mut changes = Vec::new();
        for (i, edit) in edits.iter().enumerate() {
            let id = match edit {
                ComponentEdit::Set { id, .. } | ComponentEdit::Remove { id } => *id,
            };
            if seen.contains(&id) {
                errors.push(FieldError::new(format!("components[{i}]"), format!("component {id} is listed twice")));
                continue;
            }
            seen.push(id);
            let old = self.components.iter().position(|c| c.id == id);
            match (*edit, old) {
                (ComponentEdit::Set { status, .. }, None) => {
                    self.components.push(AffectedComponent { id, status });
                    kinds.push(EventKind::ComponentAdded { component_id: id, status });
                    changes.push(AffectedChange { id, old: None, new: Some(status) });
                }
                (ComponentEdit::Set { status, .. }, Some(at)) => {
                    let from = self.components[at].status;
                    if from != status {
                        self.components[at].status = status;
                        kinds.push(EventKind::ComponentStatusChanged { component_id: id, from, to: status });
                        changes.push(AffectedChange { id, old: Some(from), new: Some(status) });
                    }
                }
                (ComponentEdit::Remove { .. }, Some(at)) => {
                    let removed = self.components.remove(at);
                    kinds.push(EventKind::ComponentRemoved { component_id: id });
                    changes.push(AffectedChange { id, old: Some(removed.status), new: None });
                }
                (ComponentEdit::Remove { .. }, None) => {
                    errors.push(FieldError::new(
                        format!("components[{i}]"),
                        format!("component {id} is not affected by this incident"),
                    ));
                }
            }
        }
        if self.components.len() > MAX_AFFECTED_COMPONENTS {
            errors.push(FieldError::new(
                "components",
                format!("an incident affects at most {MAX_AFFECTED_COMPONENTS} components"),
            ));
        }
        if errors.is_empty() { Ok(changes) } else { Err(DomainError::Invalid(errors)) }
    }
}

fn check_components(components: &[AffectedComponent], field: &str) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    for (i, c) in components.iter().enumerate() {
        if components[..i].iter().any(|o| o.id == c.id) {
            errors.push(FieldError::new(format!("{field}[{i}]"), format!("component {} is listed twice", c.id)));
        }
    }
    if components.len() > MAX_AFFECTED_COMPONENTS {
        errors
            .push(FieldError::new(field, format!("an incident affects at most {MAX_AFFECTED_COMPONENTS} components")));
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors)) }
}

fn entries(incident_id: IncidentId, stamp: &mut Stamp<'_>, kinds: Vec<EventKind>) -> Vec<TimelineEntry> {
    kinds
        .into_iter()
        .map(|kind| TimelineEntry {
            id: EventId::new((stamp.next_id)()),
            incident_id,
            at: stamp.at,
            actor: stamp.actor.clone(),
            kind,
        })
        .collect()
}

#[cfg(test)]
mod tests;
