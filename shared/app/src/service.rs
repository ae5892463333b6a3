use crate::clock::{Clock, UlidSource};
use crate::error::{AppError, AppResult};
use crate::repo::{self, OpenMarker};
use beacon_domain::{
    Actor, AffectedComponent, Change, ChangeId, ChangeKind, Component, ComponentId, ComponentStatus, FieldError,
    Maintenance, MaintenanceId, PageStatus, Stamp, StatusChange, effective_status,
};
use beacon_store::{Condition, Key, Query, Store, StoreError, Write};
use jiff::Timestamp;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use ulid::Ulid;

/// How often a use case re-reads and tries again when a concurrent writer got there
/// first (only when the caller did not pin a version).
pub(crate) const MAX_ATTEMPTS: usize = 8;

/// The use cases, over a store and a clock. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<UlidSource>,
}

impl Service {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, ids: Arc::new(UlidSource::default()) }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn new_id(&self, at: Timestamp) -> Ulid {
        self.ids.next(at)
    }

    /// Runs a domain operation with a stamp for `actor` at the current time.
    pub(crate) fn stamped<R>(&self, actor: &Actor, op: impl FnOnce(&mut Stamp<'_>) -> R) -> (Timestamp, R) {
        let at = self.now();
        let ids = self.ids.clone();
        let mut next = move || ids.next(at);
        let mut stamp = Stamp { at, actor: actor.clone(), next_id: &mut next };
        (at, op(&mut stamp))
    }

    pub(crate) fn change(&self, at: Timestamp, actor: &Actor, kind: ChangeKind) -> Change {
        Change { id: ChangeId::new(self.new_id(at)), at, actor: actor.clone(), kind, incident: None, maintenance: None }
    }

    /// Adds a change built by the caller (with its facts) and its audit entry.
    pub(crate) fn record(&self, writes: &mut Vec<Write>, change: &Change) -> AppResult<()> {
        writes.push(repo::change_write(change)?);
        if !change.kind.is_incident_change() {
            writes.push(repo::audit_write(change)?);
        }
        Ok(())
    }

    /// Adds the change record (and, for changes outside incidents, the audit entry) to
    /// the transaction that makes the change.
    pub(crate) fn record_change(
        &self,
        writes: &mut Vec<Write>,
        at: Timestamp,
        actor: &Actor,
        kind: ChangeKind,
    ) -> AppResult<()> {
        self.record_change_of(writes, at, actor, kind, None)
    }

    /// [`Self::record_change`], with the incident as the change left it.
    pub(crate) fn record_change_of(
        &self,
        writes: &mut Vec<Write>,
        at: Timestamp,
        actor: &Actor,
        kind: ChangeKind,
        incident: Option<beacon_domain::IncidentFacts>,
    ) -> AppResult<()> {
        let mut change = self.change(at, actor, kind);
        change.incident = incident;
        self.record(writes, &change)
    }

    /// Every open incident with what it imposes, newest first.
    pub async fn open_incidents(&self) -> AppResult<Vec<OpenMarker>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(repo::OPEN_PK).descending()).await?;
        items.iter().map(repo::decode).collect()
    }

    /// The page's overall status, derived from components and open incidents.
    pub async fn page_status(&self) -> AppResult<PageStatus> {
        let components = self.components().await?;
        let open = self.open_incidents().await?;
        let maintenance = self.open_maintenances().await?.iter().any(|m| m.status.is_active());
        Ok(PageStatus::derive_with_maintenance(
            components.iter().map(|c| c.status),
            open.iter().filter(|m| m.summary.published).map(|m| m.summary.impact),
            maintenance,
        ))
    }

    /// Everything imposed on components now: the open incidents' markers and the
    /// maintenances under way.
    pub(crate) async fn impositions(&self) -> AppResult<Impositions> {
        let incidents = self.open_incidents().await?;
        let maintenances = self.open_maintenances().await?;
        Ok(Impositions { incidents, maintenances })
    }

    /// The writes that keep the shown status of every component whose imposition
    /// changed equal to its derived status, each guarded by the version read.
    ///
    /// Components are read before the markers: any writer that changes what is
    /// imposed on a component also writes or checks that component's version, so a
    /// marker missed here means the component read is stale and the guard fails.
    pub(crate) async fn component_writes(
        &self,
        imposer: Imposer,
        before: &[AffectedComponent],
        after: &[AffectedComponent],
        at: Timestamp,
    ) -> AppResult<(Vec<Write>, Vec<StatusChange>)> {
        let find = |list: &[AffectedComponent], id| list.iter().find(|c| c.id == id).map(|c| c.status);
        let touched: BTreeSet<ComponentId> =
            before.iter().chain(after).map(|c| c.id).filter(|id| find(before, *id) != find(after, *id)).collect();
        if touched.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut components = Vec::new();
        let mut unknown = Vec::new();
        for id in touched {
            match self.store.get(&component_key(id)).await? {
                Some(item) => components.push(repo::decode::<Component>(&item)?),
                // A maintenance may outlive a component it named; it imposes nothing then.
                None if find(after, id).is_some() && matches!(imposer, Imposer::Incident(_)) => {
                    unknown.push(FieldError::new("components", format!("component {id} does not exist")));
                }
                // Only a resolved incident can still name a deleted component.
                None => {}
            }
        }
        if !unknown.is_empty() {
            return Err(unknown.into());
        }
        let impositions = self.impositions().await?;
        let mut writes = Vec::new();
        let mut changed = Vec::new();
        for component in components {
            let imposed = impositions
                .on(component.id, Some(imposer))
                .chain(after.iter().filter(|c| c.id == component.id).map(|c| c.status));
            let status = effective_status(component.manual_status, imposed);
            let presence_changed = find(before, component.id).is_some() != find(after, component.id).is_some();
            if status != component.status {
                changed.push(StatusChange { component_id: component.id, from: component.status, to: status });
            }
            if status != component.status || presence_changed {
                let next = Component { status, updated_at: at, version: component.version + 1, ..component.clone() };
                let item = repo::versioned(component_key(next.id), "component", &next, next.version)?;
                writes.push(Write::Put { item, condition: Condition::version(component.version) });
            } else {
                writes.push(Write::Check {
                    key: component_key(component.id),
                    condition: Condition::version(component.version),
                });
            }
        }
        Ok((writes, changed))
    }

    /// Commits writes; a lost race (a guard failed, or a transaction conflict) comes
    /// back as `Ok(false)` so the caller can re-read and try again.
    pub(crate) async fn commit(&self, writes: Vec<Write>) -> AppResult<bool> {
        match self.store.transact(writes).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A short, growing pause between attempts, with jitter so racing writers spread out.
    pub(crate) async fn back_off(attempt: usize) {
        let base = 2u64.saturating_pow(attempt.min(6) as u32);
        let jitter = rand::random::<u64>() % (base + 1);
        tokio::time::sleep(Duration::from_millis(base + jitter)).await;
    }

    pub(crate) fn too_busy(kind: &str) -> AppError {
        AppError::Conflict {
            detail: format!("the {kind} kept changing while this request was applied; try again"),
            current_version: None,
        }
    }
}

/// Who imposes a status on components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Imposer {
    Incident(beacon_domain::IncidentId),
    Maintenance(MaintenanceId),
}

/// What open incidents and running maintenances impose, read at one moment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Impositions {
    pub incidents: Vec<OpenMarker>,
    pub maintenances: Vec<Maintenance>,
}

impl Impositions {
    /// The statuses imposed on a component, leaving out `except` (whose new impositions
    /// the caller adds itself). Internal incidents impose nothing until published.
    pub fn on(&self, component: ComponentId, except: Option<Imposer>) -> impl Iterator<Item = ComponentStatus> + '_ {
        let incidents = self
            .incidents
            .iter()
            .filter(move |m| m.summary.published && except != Some(Imposer::Incident(m.summary.id)))
            .flat_map(|m| m.components.iter())
            .filter(move |c| c.id == component)
            .map(|c| c.status);
        let maintenances = self
            .maintenances
            .iter()
            .filter(move |m| except != Some(Imposer::Maintenance(m.id)))
            .filter(move |m| m.imposed().any(|id| id == component))
            .map(|_| ComponentStatus::UnderMaintenance);
        incidents.chain(maintenances)
    }

    /// The components some running maintenance covers.
    pub fn under_maintenance(&self) -> BTreeSet<ComponentId> {
        self.maintenances.iter().flat_map(|m| m.imposed()).collect()
    }
}

pub(crate) fn component_key(id: ComponentId) -> Key {
    Key::new(repo::COMPONENTS_PK, id.to_string())
}

pub(crate) fn version_conflict(kind: &str, expected: u64, current: u64) -> AppError {
    AppError::Conflict {
        detail: format!("the {kind} is at version {current}, not {expected}: someone changed it meanwhile"),
        current_version: Some(current),
    }
}
