use crate::error::{AppError, AppResult};
use crate::repo;
use crate::service::{MAX_ATTEMPTS, Service, component_key, version_conflict};
use beacon_domain::{
    Actor, ChangeKind, Component, ComponentGroup, ComponentId, ComponentStatus, Description, FieldError, GroupId, Name,
    effective_status,
};
use beacon_store::{Condition, Key, Query, Write};

/// A new component; position defaults to after the last one.
#[derive(Clone, Debug, Default)]
pub struct NewComponent {
    pub name: String,
    pub description: Option<String>,
    pub group_id: Option<GroupId>,
    pub position: Option<u32>,
    pub status: Option<ComponentStatus>,
}

/// Changes to a component; `group_id: Some(None)` takes it out of its group.
#[derive(Clone, Debug, Default)]
pub struct ComponentPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub group_id: Option<Option<GroupId>>,
    pub position: Option<u32>,
    /// The manual status, shown while no open incident affects the component.
    pub status: Option<ComponentStatus>,
}

#[derive(Clone, Debug, Default)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    pub position: Option<u32>,
}

#[derive(Clone, Debug, Default)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub position: Option<u32>,
}

fn group_key(id: GroupId) -> Key {
    Key::new(repo::GROUPS_PK, id.to_string())
}

fn collect<T>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

impl Service {
    /// Components ordered by position, then name.
    pub async fn components(&self) -> AppResult<Vec<Component>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(repo::COMPONENTS_PK)).await?;
        let mut components: Vec<Component> = items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        components.sort_by(|a, b| (a.position, a.name.as_str()).cmp(&(b.position, b.name.as_str())));
        Ok(components)
    }

    pub async fn component(&self, id: ComponentId) -> AppResult<Component> {
        let item = self.store.get(&component_key(id)).await?.ok_or_else(|| AppError::not_found("component", id))?;
        repo::decode(&item)
    }

    #[tracing::instrument(skip(self, input))]
    pub async fn create_component(&self, actor: Actor, input: NewComponent) -> AppResult<Component> {
        let mut errors = Vec::new();
        let name = collect(&mut errors, Name::parse(&input.name));
        let description = collect(&mut errors, input.description.as_deref().map(Description::parse).transpose());
        if let Some(group) = input.group_id
            && self.store.get(&group_key(group)).await?.is_none()
        {
            errors.push(FieldError::new("group_id", format!("group {group} does not exist")));
        }
        let (Some(name), Some(description), true) = (name, description, errors.is_empty()) else {
            return Err(errors.into());
        };
        let position = match input.position {
            Some(p) => p,
            None => self.components().await?.iter().map(|c| c.position + 1).max().unwrap_or(0),
        };
        let at = self.now();
        let manual = input.status.unwrap_or_default();
        let component = Component {
            id: ComponentId::new(self.new_id(at)),
            name,
            description: description.unwrap_or_else(Description::empty),
            position,
            group_id: input.group_id,
            manual_status: manual,
            status: manual,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let mut writes = vec![Write::Put {
            item: repo::versioned(component_key(component.id), "component", &component, 1)?,
            condition: Condition::NotExists,
        }];
        if let Some(group) = component.group_id {
            writes.push(Write::Check { key: group_key(group), condition: Condition::Exists });
        }
        self.record_change(
            &mut writes,
            at,
            &actor,
            ChangeKind::ComponentChanged { component_id: component.id, status_changes: Vec::new() },
        )?;
        if !self.commit(writes).await? {
            return Err(AppError::invalid("group_id", "the group was deleted meanwhile"));
        }
        Ok(component)
    }

    #[tracing::instrument(skip(self, patch))]
    pub async fn update_component(
        &self,
        actor: Actor,
        id: ComponentId,
        expected_version: Option<u64>,
        patch: ComponentPatch,
    ) -> AppResult<Component> {
        let mut errors = Vec::new();
        let name = collect(&mut errors, patch.name.as_deref().map(Name::parse).transpose());
        let description = collect(&mut errors, patch.description.as_deref().map(Description::parse).transpose());
        if let Some(Some(group)) = patch.group_id
            && self.store.get(&group_key(group)).await?.is_none()
        {
            errors.push(FieldError::new("group_id", format!("group {group} does not exist")));
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.component(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("component", expected, current.version));
            }
            let mut next = current.clone();
            if let Some(Some(name)) = &name {
                next.name = name.clone();
            }
            if let Some(Some(description)) = &description {
                next.description = description.clone();
            }
            if let Some(group) = patch.group_id {
                next.group_id = group;
            }
            if let Some(position) = patch.position {
                next.position = position;
            }
            if let Some(status) = patch.status {
                next.manual_status = status;
            }
            // Read after the component: see `component_writes` for why the order matters.
            let impositions = self.impositions().await?;
            next.status = effective_status(next.manual_status, impositions.on(id, None));
            let at = self.now();
            next.updated_at = at;
            next.version = current.version + 1;
            let mut writes = vec![Write::Put {
                item: repo::versioned(component_key(id), "component", &next, next.version)?,
                condition: Condition::version(current.version),
            }];
            if let Some(group) = next.group_id {
                writes.push(Write::Check { key: group_key(group), condition: Condition::Exists });
            }
            let status_changes = if next.status == current.status {
                Vec::new()
            } else {
                vec![beacon_domain::StatusChange { component_id: id, from: current.status, to: next.status }]
            };
            self.record_change(
                &mut writes,
                at,
                &actor,
                ChangeKind::ComponentChanged { component_id: id, status_changes },
            )?;
            if self.commit(writes).await? {
                return Ok(next);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("component"))
    }

    /// Deletes a component; refused while an open incident affects it.
    #[tracing::instrument(skip(self))]
    pub async fn delete_component(
        &self,
        actor: Actor,
        id: ComponentId,
        expected_version: Option<u64>,
    ) -> AppResult<()> {
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.component(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("component", expected, current.version));
            }
            let markers = self.open_incidents().await?;
            if let Some(open) = markers.iter().find(|m| m.components.iter().any(|c| c.id == id)) {
                return Err(AppError::InUse(format!(
                    "component {id} is affected by open incident {} ({}); remove it from the incident or resolve the incident first",
                    open.summary.id, open.summary.title
                )));
            }
            let at = self.now();
            let mut writes =
                vec![Write::Delete { key: component_key(id), condition: Condition::version(current.version) }];
            self.record_change(&mut writes, at, &actor, ChangeKind::ComponentDeleted { component_id: id })?;
            if self.commit(writes).await? {
                return Ok(());
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("component"))
    }

    /// Groups ordered by position, then name.
    pub async fn groups(&self) -> AppResult<Vec<ComponentGroup>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(repo::GROUPS_PK)).await?;
        let mut groups: Vec<ComponentGroup> = items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        groups.sort_by(|a, b| (a.position, a.name.as_str()).cmp(&(b.position, b.name.as_str())));
        Ok(groups)
    }

    pub async fn group(&self, id: GroupId) -> AppResult<ComponentGroup> {
        let item = self.store.get(&group_key(id)).await?.ok_or_else(|| AppError::not_found("group", id))?;
        repo::decode(&item)
    }

    pub async fn create_group(&self, actor: Actor, input: NewGroup) -> AppResult<ComponentGroup> {
        let mut errors = Vec::new();
        let name = collect(&mut errors, Name::parse(&input.name));
        let description = collect(&mut errors, input.description.as_deref().map(Description::parse).transpose());
        let (Some(name), Some(description)) = (name, description) else {
            return Err(errors.into());
        };
        let position = match input.position {
            Some(p) => p,
            None => self.groups().await?.iter().map(|g| g.position + 1).max().unwrap_or(0),
        };
        let at = self.now();
        let group = ComponentGroup {
            id: GroupId::new(self.new_id(at)),
            name,
            description: description.unwrap_or_else(Description::empty),
            position,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let mut writes = vec![Write::Put {
            item: repo::versioned(group_key(group.id), "group", &group, 1)?,
            condition: Condition::NotExists,
        }];
        self.record_change(&mut writes, at, &actor, ChangeKind::GroupChanged { group_id: group.id })?;
        if !self.commit(writes).await? {
            return Err(Self::too_busy("group"));
        }
        Ok(group)
    }

    pub async fn update_group(
        &self,
        actor: Actor,
        id: GroupId,
        expected_version: Option<u64>,
        patch: GroupPatch,
    ) -> AppResult<ComponentGroup> {
        let mut errors = Vec::new();
        let name = collect(&mut errors, patch.name.as_deref().map(Name::parse).transpose());
        let description = collect(&mut errors, patch.description.as_deref().map(Description::parse).transpose());
        let (Some(name), Some(description)) = (name, description) else {
            return Err(errors.into());
        };
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.group(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("group", expected, current.version));
            }
            let at = self.now();
            let next = ComponentGroup {
                name: name.clone().unwrap_or_else(|| current.name.clone()),
                description: description.clone().unwrap_or_else(|| current.description.clone()),
                position: patch.position.unwrap_or(current.position),
                updated_at: at,
                version: current.version + 1,
                ..current.clone()
            };
            let mut writes = vec![Write::Put {
                item: repo::versioned(group_key(id), "group", &next, next.version)?,
                condition: Condition::version(current.version),
            }];
            self.record_change(&mut writes, at, &actor, ChangeKind::GroupChanged { group_id: id })?;
            if self.commit(writes).await? {
                return Ok(next);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("group"))
    }

    /// Deletes a group; refused while components belong to it.
    pub async fn delete_group(&self, actor: Actor, id: GroupId, expected_version: Option<u64>) -> AppResult<()> {
        let current = self.group(id).await?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(version_conflict("group", expected, current.version));
        }
        let members = self.components().await?.into_iter().filter(|c| c.group_id == Some(id)).count();
        if members > 0 {
            return Err(AppError::InUse(format!(
                "group {id} still holds {members} component(s); move or delete them first"
            )));
        }
        let at = self.now();
        let mut writes = vec![Write::Delete { key: group_key(id), condition: Condition::version(current.version) }];
        self.record_change(&mut writes, at, &actor, ChangeKind::GroupDeleted { group_id: id })?;
        if !self.commit(writes).await? {
            return Err(version_conflict("group", current.version, current.version + 1));
        }
        Ok(())
    }
}
