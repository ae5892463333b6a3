use crate::error::{AppError, AppResult};
use crate::repo::{self, IncidentSummary, Listing};
use crate::service::{Imposer, MAX_ATTEMPTS, Service, version_conflict};
use beacon_domain::{
    Actor, AffectedComponent, ChangeKind, Comment, ComponentEdit, DomainError, FieldError, Impact, Incident,
    IncidentDraft, IncidentEdit, IncidentFacts, IncidentId, IncidentOutcome, IncidentSource, IncidentStatus, Markdown,
    NewUpdate, PublicUpdate, Template, TemplateId, TimelineEntry, Title,
};
use beacon_store::{Condition, Cursor, Key, Query, Write};
use futures::stream::{self, StreamExt as _};
use jiff::Timestamp;

/// Report an incident, from scratch or from a template whose fields this overrides.
#[derive(Clone, Debug, Default)]
pub struct ReportIncident {
    pub title: Option<String>,
    pub status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    pub message: Option<String>,
    pub components: Option<Vec<AffectedComponent>>,
    pub template_id: Option<TemplateId>,
    pub source: IncidentSource,
    /// Opened internally: the page and subscribers see it once a responder publishes it.
    pub internal: bool,
}

/// Record an incident after the fact.
#[derive(Clone, Debug, Default)]
pub struct BackfillIncident {
    pub title: String,
    pub impact: Impact,
    pub components: Vec<AffectedComponent>,
    pub updates: Vec<BackfillUpdate>,
}

/// One update of a backfilled incident, at its real time.
#[derive(Clone, Debug)]
pub struct BackfillUpdate {
    pub at: Timestamp,
    pub status: IncidentStatus,
    pub message: String,
}

/// Post a public update; a status of investigating on a resolved incident reopens it.
#[derive(Clone, Debug, Default)]
pub struct PostUpdate {
    pub message: String,
    pub status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    pub components: Vec<ComponentEdit>,
    /// Posts without telling subscribers (a typo fix, say).
    pub silent: bool,
}

/// Change title, impact or components without a public update.
#[derive(Clone, Debug, Default)]
pub struct EditIncident {
    pub title: Option<String>,
    pub impact: Option<Impact>,
    pub components: Vec<ComponentEdit>,
    /// Off: take a monitor's incident over, so its recovery no longer resolves it.
    pub auto_resolve: Option<bool>,
}

/// An incident with its public updates in posting order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentDetail {
    pub incident: Incident,
    pub updates: Vec<PublicUpdate>,
}

/// The result of posting an update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub incident: Incident,
    pub update: PublicUpdate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IncidentState {
    #[default]
    All,
    Open,
    Resolved,
}

/// Which incidents to list: by state, created within `[since, until]`, of an impact,
/// and with every word of `search` in the title (case ignored).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IncidentFilter {
    pub state: IncidentState,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub impact: Option<beacon_domain::Impact>,
    pub search: Option<String>,
}

impl IncidentFilter {
    fn accepts(&self, s: &IncidentSummary) -> bool {
        (self.state != IncidentState::Resolved || s.status == IncidentStatus::Resolved)
            && self.impact.is_none_or(|i| i == s.impact)
            && self.search.as_deref().is_none_or(|words| {
                let title = s.title.as_str().to_lowercase();
                words.split_whitespace().all(|w| title.contains(&w.to_lowercase()))
            })
    }
}

fn parse_message(raw: &str) -> Result<Markdown, FieldError> {
    Markdown::parse(raw)
}

impl Service {
    /// Reports an incident and records its first public update from the message.
    #[tracing::instrument(skip(self, input), fields(template = ?input.template_id))]
    pub async fn report_incident(&self, actor: Actor, input: ReportIncident) -> AppResult<IncidentDetail> {
        let mut errors = Vec::new();
        let title = input.title.as_deref().map(Title::parse).transpose().unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let message = input.message.as_deref().map(parse_message).transpose().unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let template = match input.template_id {
            Some(id) => match self.store.get(&Key::new(repo::TEMPLATES_PK, id.to_string())).await? {
                Some(item) => Some(repo::decode::<Template>(&item)?),
                None => {
                    errors.push(FieldError::new("template_id", format!("template {id} does not exist")));
                    None
                }
            },
            None => None,
        };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let draft =
            IncidentDraft { title, status: input.status, impact: input.impact, message, components: input.components };
        let mut new = draft.complete(template.as_ref(), input.source)?;
        new.published = !input.internal;
        for attempt in 0..MAX_ATTEMPTS {
            let (at, outcome) = self.stamped(&actor, |stamp| Incident::report(new.clone(), stamp));
            let outcome = outcome?;
            let writes = self.outcome_writes(None, &outcome, &actor, at).await?;
            if self.commit(writes).await? {
                let incident = outcome.incident;
                tracing::info!(incident = %incident.id, "incident reported");
                return Ok(IncidentDetail { incident, updates: outcome.update.into_iter().collect() });
            }
            // Only the components' guards can fail for a brand-new incident.
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("set of components"))
    }

    /// Posts a public update, guarded by `expected_version` when given (If-Match).
    #[tracing::instrument(skip(self, input))]
    pub async fn post_update(
        &self,
        actor: Actor,
        id: IncidentId,
        expected_version: Option<u64>,
        input: PostUpdate,
    ) -> AppResult<Posted> {
        let message = parse_message(&input.message)?;
        let new = NewUpdate { message, status: input.status, impact: input.impact, components: input.components };
        let notify = !input.silent;
        let outcome = self
            .mutate_incident(&actor, id, expected_version, |incident, stamp| {
                incident.post_update(new.clone(), stamp).map(|mut outcome| {
                    if let Some(update) = outcome.update.as_mut() {
                        update.notify = notify;
                    }
                    outcome
                })
            })
            .await?;
        let update = outcome.update.ok_or_else(|| AppError::invalid("message", "no update was recorded"))?;
        Ok(Posted { incident: outcome.incident, update })
    }

    /// Resolves the incident with a public update (a default message when none given).
    pub async fn resolve_incident(
        &self,
        actor: Actor,
        id: IncidentId,
        expected_version: Option<u64>,
        message: Option<String>,
    ) -> AppResult<Posted> {
        let message = message.unwrap_or_else(|| "This incident has been resolved.".to_owned());
        let input = PostUpdate { message, status: Some(IncidentStatus::Resolved), ..Default::default() };
        self.post_update(actor, id, expected_version, input).await
    }

    /// Reopens a resolved incident: back to investigating, with a public update.
    pub async fn reopen_incident(
        &self,
        actor: Actor,
        id: IncidentId,
        expected_version: Option<u64>,
        message: Option<String>,
    ) -> AppResult<Posted> {
        let current = self.load_incident(id).await?;
        if current.status != IncidentStatus::Resolved {
            return Err(DomainError::field("status", "only a resolved incident can be reopened").into());
        }
        let message = message.unwrap_or_else(|| "We are investigating this issue again.".to_owned());
        let input = PostUpdate { message, status: Some(IncidentStatus::Investigating), ..Default::default() };
        self.post_update(actor, id, expected_version, input).await
    }

    /// Edits title, impact and components, without a public update.
    #[tracing::instrument(skip(self, input))]
    pub async fn edit_incident(
        &self,
        actor: Actor,
        id: IncidentId,
        expected_version: Option<u64>,
        input: EditIncident,
    ) -> AppResult<Incident> {
        let title = input.title.as_deref().map(Title::parse).transpose()?;
        let edit = IncidentEdit {
            title,
            impact: input.impact,
            components: input.components,
            auto_resolve: input.auto_resolve,
        };
        let outcome = self
            .mutate_incident(&actor, id, expected_version, |incident, stamp| incident.edit(edit.clone(), stamp))
            .await?;
        Ok(outcome.incident)
    }

    /// Publishes an internal incident: the page shows it from now on, its components
    /// take its statuses, and subscribers hear of it as a new incident.
    pub async fn publish_incident(
        &self,
        actor: Actor,
        id: IncidentId,
        expected_version: Option<u64>,
    ) -> AppResult<Incident> {
        let outcome =
            self.mutate_incident(&actor, id, expected_version, |incident, stamp| incident.publish(stamp)).await?;
        Ok(outcome.incident)
    }

    /// Saves the postmortem of a resolved incident (a draft until published).
    pub async fn write_postmortem(
        &self,
        actor: Actor,
        id: IncidentId,
        expected_version: Option<u64>,
        body: String,
    ) -> AppResult<Incident> {
        let body = Markdown::parse_field(&body, "body")?;
        let outcome = self
            .mutate_incident(&actor, id, expected_version, |incident, stamp| {
                incident.write_postmortem(body.clone(), stamp)
            })
            .await?;
        Ok(outcome.incident)
    }

    /// Publishes the drafted postmortem; `notify` tells subscribers of it.
    pub async fn publish_postmortem(
        &self,
        actor: Actor,
        id: IncidentId,
        expected_version: Option<u64>,
        notify: bool,
    ) -> AppResult<Incident> {
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.load_incident(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("incident", expected, current.version));
            }
            let (at, outcome) = self.stamped(&actor, |stamp| current.publish_postmortem(stamp));
            let outcome = outcome?;
            let mut writes = repo::incident_writes(&outcome.incident, Some(current.version))?;
            writes.push(repo::entries_write(id, &outcome.entries)?);
            self.record_change_of(
                &mut writes,
                at,
                &actor,
                ChangeKind::PostmortemChanged { incident_id: id, published: true, notify },
                None,
            )?;
            if self.commit(writes).await? {
                return Ok(outcome.incident);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("incident"))
    }

    /// Records an incident after the fact, with its real times. It appears in history
    /// and uptime where it happened, changes no component's current status, and tells
    /// no one.
    pub async fn backfill_incident(&self, actor: Actor, input: BackfillIncident) -> AppResult<IncidentDetail> {
        let mut errors = Vec::new();
        let title = Title::parse_field(&input.title, "title").map_err(|e| errors.push(e)).ok();
        let mut updates = Vec::new();
        for (n, update) in input.updates.iter().enumerate() {
            match Markdown::parse_field(&update.message, &format!("updates[{n}].message")) {
                Ok(message) => {
                    updates.push(beacon_domain::BackfilledUpdate { at: update.at, status: update.status, message })
                }
                Err(e) => errors.push(e),
            }
        }
        let Some(title) = title.filter(|_| errors.is_empty()) else { return Err(errors.into()) };
        let mut unknown = Vec::new();
        for c in &input.components {
            if self.store.get(&crate::service::component_key(c.id)).await?.is_none() {
                unknown.push(FieldError::new("components", format!("component {} does not exist", c.id)));
            }
        }
        if !unknown.is_empty() {
            return Err(unknown.into());
        }
        let new =
            beacon_domain::BackfilledIncident { title, impact: input.impact, components: input.components, updates };
        let (at, outcome) = self.stamped(&actor, |stamp| Incident::backfill(new, stamp));
        let outcome = outcome?;
        let incident = &outcome.incident;
        let mut writes = repo::incident_writes(incident, None)?;
        for update in &outcome.updates {
            let key = Key::new(repo::incident_pk(incident.id), format!("{}{}", repo::UPDATE_PREFIX, update.id));
            writes.push(Write::Put { item: repo::record(key, "update", update)?, condition: Condition::NotExists });
        }
        writes.push(repo::entries_write(incident.id, &outcome.entries)?);
        let components = incident.components.iter().map(|c| c.id).collect();
        self.record_change(
            &mut writes,
            at,
            &actor,
            ChangeKind::IncidentBackfilled { incident_id: incident.id, components },
        )?;
        if !self.commit(writes).await? {
            return Err(Self::too_busy("incident"));
        }
        Ok(IncidentDetail { incident: outcome.incident, updates: outcome.updates })
    }

    /// The id of the incident's latest public update.
    async fn latest_update(&self, id: IncidentId) -> AppResult<beacon_domain::UpdateId> {
        let query = Query::partition(repo::incident_pk(id)).prefix(repo::UPDATE_PREFIX).descending().limit(1);
        let page = self.store.query(query).await?;
        let item = page.items.first().ok_or_else(|| AppError::invalid("updates", "the incident has no update"))?;
        Ok(repo::decode::<PublicUpdate>(item)?.id)
    }

    /// Adds a private comment, attributed to the member acting.
    #[tracing::instrument(skip(self, body))]
    pub async fn add_comment(&self, actor: Actor, id: IncidentId, body: String) -> AppResult<Comment> {
        let body = Markdown::parse_field(&body, "body")?;
        let outcome =
            self.mutate_incident(&actor, id, None, |incident, stamp| incident.comment(body.clone(), stamp)).await?;
        outcome.comment.ok_or_else(|| AppError::invalid("body", "no comment was recorded"))
    }

    /// Loads, applies and commits, re-reading on a lost race unless the caller pinned
    /// a version, in which case a change by someone else is a conflict.
    async fn mutate_incident(
        &self,
        actor: &Actor,
        id: IncidentId,
        expected_version: Option<u64>,
        op: impl Fn(&Incident, &mut beacon_domain::Stamp<'_>) -> Result<IncidentOutcome, DomainError>,
    ) -> AppResult<IncidentOutcome> {
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.load_incident(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("incident", expected, current.version));
            }
            let (at, outcome) = self.stamped(actor, |stamp| op(&current, stamp));
            let outcome = outcome?;
            let writes = self.outcome_writes(Some(&current), &outcome, actor, at).await?;
            if self.commit(writes).await? {
                return Ok(outcome);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("incident"))
    }

    /// Everything one incident operation writes, as one transaction.
    pub(crate) async fn outcome_writes(
        &self,
        before: Option<&Incident>,
        outcome: &IncidentOutcome,
        actor: &Actor,
        at: Timestamp,
    ) -> AppResult<Vec<Write>> {
        let after = &outcome.incident;
        let pk = repo::incident_pk(after.id);
        let mut writes = match before {
            Some(b) if b.version == after.version => {
                vec![Write::Check { key: repo::incident_key(after.id), condition: Condition::version(b.version) }]
            }
            Some(b) => repo::incident_writes(after, Some(b.version))?,
            None => repo::incident_writes(after, None)?,
        };
        if let Some(update) = &outcome.update {
            let key = Key::new(&pk, format!("{}{}", repo::UPDATE_PREFIX, update.id));
            writes.push(Write::Put { item: repo::record(key, "update", update)?, condition: Condition::NotExists });
        }
        if let Some(comment) = &outcome.comment {
            let key = Key::new(&pk, format!("{}{}", repo::COMMENT_PREFIX, comment.id));
            writes.push(Write::Put { item: repo::record(key, "comment", comment)?, condition: Condition::NotExists });
        }
        if !outcome.entries.is_empty() {
            writes.push(repo::entries_write(after.id, &outcome.entries)?);
        }
        let before_imposed: Vec<_> = before.map(|b| b.imposed().collect()).unwrap_or_default();
        let after_imposed: Vec<_> = after.imposed().collect();
        let (component_writes, status_changes) =
            self.component_writes(Imposer::Incident(after.id), &before_imposed, &after_imposed, at).await?;
        writes.extend(component_writes);
        let mut components: Vec<_> = before.map(|b| b.components.clone()).unwrap_or_default();
        components.extend(after.components.iter().copied());
        let mut component_ids: Vec<_> = components.iter().map(|c| c.id).collect();
        component_ids.sort();
        component_ids.dedup();
        let kind = match (&outcome.comment, &outcome.update, before) {
            (Some(comment), _, _) => ChangeKind::CommentAdded { incident_id: after.id, comment_id: comment.id },
            (None, Some(update), None) => ChangeKind::IncidentReported {
                incident_id: after.id,
                update_id: update.id,
                components: component_ids,
                status_changes,
            },
            (None, Some(update), Some(b)) if b.status.is_open() && !after.status.is_open() => {
                ChangeKind::IncidentResolved {
                    incident_id: after.id,
                    update_id: update.id,
                    components: component_ids,
                    status_changes,
                }
            }
            (None, Some(update), Some(b)) if !b.status.is_open() && after.status.is_open() => {
                ChangeKind::IncidentReopened {
                    incident_id: after.id,
                    update_id: update.id,
                    components: component_ids,
                    status_changes,
                }
            }
            (None, Some(update), Some(_)) => ChangeKind::IncidentUpdated {
                incident_id: after.id,
                update_id: update.id,
                components: component_ids,
                status_changes,
            },
            (None, None, Some(b)) if !b.published && after.published => ChangeKind::IncidentPublished {
                incident_id: after.id,
                update_id: self.latest_update(after.id).await?,
                components: component_ids,
                status_changes,
            },
            (None, None, _) => {
                ChangeKind::IncidentEdited { incident_id: after.id, components: component_ids, status_changes }
            }
        };
        let facts = IncidentFacts {
            title: after.title.to_string(),
            status: after.status,
            previous_status: before.map(|b| b.status).filter(|s| *s != after.status),
            impact: after.impact,
            published: after.published,
            source: after.source,
            components: after.components.clone(),
        };
        let facts = (!matches!(kind, ChangeKind::CommentAdded { .. })).then_some(facts);
        self.record_change_of(&mut writes, at, actor, kind, facts)?;
        Ok(writes)
    }

    pub(crate) async fn load_incident(&self, id: IncidentId) -> AppResult<Incident> {
        let item = self.store.get(&repo::incident_key(id)).await?.ok_or_else(|| AppError::not_found("incident", id))?;
        repo::decode(&item)
    }

    /// The incident with its public updates in posting order.
    pub async fn incident(&self, id: IncidentId) -> AppResult<IncidentDetail> {
        let incident = self.load_incident(id).await?;
        let query = Query::partition(repo::incident_pk(id)).prefix(repo::UPDATE_PREFIX);
        let items = repo::query_all(self.store.as_ref(), query).await?;
        let updates = items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        Ok(IncidentDetail { incident, updates })
    }

    /// The private comments, oldest first.
    pub async fn comments(&self, id: IncidentId) -> AppResult<Vec<Comment>> {
        self.load_incident(id).await?;
        let query = Query::partition(repo::incident_pk(id)).prefix(repo::COMMENT_PREFIX);
        let items = repo::query_all(self.store.as_ref(), query).await?;
        items.iter().map(repo::decode).collect()
    }

    /// Appends entries to an incident's internal timeline, nothing else changing (a team
    /// alert's firing, say). Entries already there (a repeat) are left as they are.
    pub async fn append_timeline(&self, id: IncidentId, entries: &[TimelineEntry]) -> AppResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let Write::Put { item, condition } = repo::entries_write(id, entries)? else { return Ok(()) };
        match self.store.put(item, condition).await {
            Ok(()) | Err(beacon_store::StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The internal event timeline, oldest first.
    pub async fn timeline(&self, id: IncidentId) -> AppResult<Vec<TimelineEntry>> {
        self.load_incident(id).await?;
        let query = Query::partition(repo::incident_pk(id)).prefix(repo::ENTRIES_PREFIX);
        let items = repo::query_all(self.store.as_ref(), query).await?;
        let mut entries = Vec::new();
        for item in &items {
            entries.extend(repo::decode::<Vec<TimelineEntry>>(item)?);
        }
        Ok(entries)
    }

    /// Incidents newest first, filtered, a page at a time.
    pub async fn list_incidents(
        &self,
        filter: IncidentFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> AppResult<Listing<IncidentSummary>> {
        if !(1..=200).contains(&limit) {
            return Err(AppError::invalid("limit", "limit must be 1 to 200"));
        }
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && since > until
        {
            return Err(AppError::invalid("since", "since must not be after until"));
        }
        // ULIDs begin with their creation time, so a time window is a sort-key range.
        let bound = |t: Option<Timestamp>, random: u128| {
            t.map(|t| ulid::Ulid::from_parts(u64::try_from(t.as_millisecond()).unwrap_or(0), random).to_string())
        };
        let from = bound(filter.since, 0).unwrap_or_else(|| ulid::Ulid::nil().to_string());
        let to =
            bound(filter.until, u128::MAX).unwrap_or_else(|| ulid::Ulid::from_parts(u64::MAX, u128::MAX).to_string());
        let partition = match filter.state {
            IncidentState::Open => repo::OPEN_PK,
            IncidentState::All | IncidentState::Resolved => repo::INCIDENTS_PK,
        };
        let mut items = Vec::new();
        let mut next = cursor;
        loop {
            let query = Query::partition(partition).between(&from, &to).descending().limit(limit).after(next.clone());
            let page = self.store.query(query).await?;
            for item in &page.items {
                let summary = match filter.state {
                    IncidentState::Open => repo::decode::<repo::OpenMarker>(item)?.summary,
                    _ => repo::decode::<IncidentSummary>(item)?,
                };
                if filter.accepts(&summary) {
                    items.push(summary);
                }
                if items.len() == limit {
                    let more = page.next.is_some() || item != page.items.last().unwrap_or(item);
                    return Ok(Listing { items, next: more.then(|| Cursor::after(&item.key.sk)) });
                }
            }
            next = page.next;
            if next.is_none() {
                return Ok(Listing { items, next: None });
            }
        }
    }
}

/// Everything the public page shows, and nothing private: components, groups and every
/// incident with its public updates (newest incident first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicState {
    pub components: Vec<beacon_domain::Component>,
    pub groups: Vec<beacon_domain::ComponentGroup>,
    pub incidents: Vec<IncidentDetail>,
    /// Every maintenance with its public updates, newest first.
    pub maintenances: Vec<crate::MaintenanceDetail>,
    /// The page's saved settings, if any were saved.
    pub settings: Option<beacon_domain::PageSettings>,
}

/// How many incidents are read at once when the page needs them: on DynamoDB each is a
/// round trip, so a first publish of a long history must not make them one by one.
const INCIDENT_READS_AT_ONCE: usize = 16;

impl Service {
    /// Reads the public state. Components are read last, so a component status can only
    /// be newer than the incidents read, never older.
    pub async fn public_state(&self) -> AppResult<PublicState> {
        self.public_state_since(None).await
    }

    /// [`Service::public_state`], taking from `previous` every incident whose version is
    /// unchanged (an incident and its updates change together, in one transaction, with
    /// its version): a steady-state read costs one listing query, one read per changed
    /// incident, and the components.
    pub async fn public_state_since(&self, previous: Option<&PublicState>) -> AppResult<PublicState> {
        let listing = repo::query_all(self.store.as_ref(), Query::partition(repo::INCIDENTS_PK).descending()).await?;
        let known: std::collections::HashMap<IncidentId, &IncidentDetail> =
            previous.map(|p| p.incidents.iter().map(|d| (d.incident.id, d)).collect()).unwrap_or_default();
        let mut summaries = listing.iter().map(repo::decode::<IncidentSummary>).collect::<AppResult<Vec<_>>>()?;
        // Internal incidents are the team's until published.
        summaries.retain(|s| s.published);
        let reads: Vec<_> = summaries
            .iter()
            .map(|summary| {
                let reusable = known.get(&summary.id).filter(|d| d.incident.version == summary.version).copied();
                async move {
                    match reusable {
                        Some(detail) => Ok(Some(detail.clone())),
                        None => match self.incident(summary.id).await {
                            Ok(detail) => Ok(Some(detail)),
                            // Deleted between the listing and the read.
                            Err(AppError::NotFound { .. }) => Ok(None),
                            Err(e) => Err(e),
                        },
                    }
                }
            })
            .collect();
        let incidents: Vec<AppResult<Option<IncidentDetail>>> =
            stream::iter(reads).buffered(INCIDENT_READS_AT_ONCE).collect().await;
        let mut incidents = incidents.into_iter().filter_map(Result::transpose).collect::<AppResult<Vec<_>>>()?;
        // A postmortem is the team's until published.
        for detail in &mut incidents {
            if detail.incident.postmortem.as_ref().is_some_and(|p| p.published_at.is_none()) {
                detail.incident.postmortem = None;
            }
        }
        let maintenances = self.public_maintenances(previous).await?;
        let groups = self.groups().await?;
        let settings = self.page_settings().await?;
        let components = self.components().await?;
        Ok(PublicState { components, groups, incidents, maintenances, settings })
    }

    /// Every maintenance with its updates, newest first, reusing unchanged ones.
    async fn public_maintenances(&self, previous: Option<&PublicState>) -> AppResult<Vec<crate::MaintenanceDetail>> {
        let listing =
            repo::query_all(self.store.as_ref(), Query::partition(crate::maintenances::MAINTENANCES_PK).descending())
                .await?;
        let known: std::collections::HashMap<beacon_domain::MaintenanceId, &crate::MaintenanceDetail> =
            previous.map(|p| p.maintenances.iter().map(|d| (d.maintenance.id, d)).collect()).unwrap_or_default();
        let summaries =
            listing.iter().map(repo::decode::<beacon_domain::Maintenance>).collect::<AppResult<Vec<_>>>()?;
        let reads: Vec<_> = summaries
            .iter()
            .map(|summary| {
                let reusable = known.get(&summary.id).filter(|d| d.maintenance.version == summary.version).copied();
                async move {
                    match reusable {
                        Some(detail) => Ok(Some(detail.clone())),
                        None => match self.maintenance(summary.id).await {
                            Ok(detail) => Ok(Some(detail)),
                            Err(AppError::NotFound { .. }) => Ok(None),
                            Err(e) => Err(e),
                        },
                    }
                }
            })
            .collect();
        let details: Vec<AppResult<Option<crate::MaintenanceDetail>>> =
            stream::iter(reads).buffered(INCIDENT_READS_AT_ONCE).collect().await;
        details.into_iter().filter_map(Result::transpose).collect()
    }
}
