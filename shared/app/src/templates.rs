use crate::error::{AppError, AppResult};
use crate::repo;
use crate::service::{MAX_ATTEMPTS, Service, component_key, version_conflict};
use beacon_domain::{
    Actor, AffectedComponent, ChangeKind, FieldError, Impact, MAX_AFFECTED_COMPONENTS, Markdown, Name, Template,
    TemplateId, Title,
};
use beacon_store::{Condition, Key, Query, Write};

#[derive(Clone, Debug, Default)]
pub struct NewTemplate {
    pub name: String,
    pub title: String,
    pub impact: Impact,
    pub message: String,
    pub components: Vec<AffectedComponent>,
}

#[derive(Clone, Debug, Default)]
pub struct TemplatePatch {
    pub name: Option<String>,
    pub title: Option<String>,
    pub impact: Option<Impact>,
    pub message: Option<String>,
    pub components: Option<Vec<AffectedComponent>>,
}

fn template_key(id: TemplateId) -> Key {
    Key::new(repo::TEMPLATES_PK, id.to_string())
}

impl Service {
    async fn check_template_components(
        &self,
        components: &[AffectedComponent],
        errors: &mut Vec<FieldError>,
    ) -> AppResult<()> {
        if components.len() > MAX_AFFECTED_COMPONENTS {
            errors.push(FieldError::new("components", format!("at most {MAX_AFFECTED_COMPONENTS} components")));
        }
        for (i, c) in components.iter().enumerate() {
            if components[..i].iter().any(|o| o.id == c.id) {
                errors.push(FieldError::new(format!("components[{i}]"), format!("component {} is listed twice", c.id)));
            } else if self.store.get(&component_key(c.id)).await?.is_none() {
                errors.push(FieldError::new(format!("components[{i}]"), format!("component {} does not exist", c.id)));
            }
        }
        Ok(())
    }

    pub async fn templates(&self) -> AppResult<Vec<Template>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(repo::TEMPLATES_PK)).await?;
        let mut templates: Vec<Template> = items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        templates.sort_by_key(|t| t.name.as_str().to_lowercase());
        Ok(templates)
    }

    pub async fn template(&self, id: TemplateId) -> AppResult<Template> {
        let item = self.store.get(&template_key(id)).await?.ok_or_else(|| AppError::not_found("template", id))?;
        repo::decode(&item)
    }

    pub async fn create_template(&self, actor: Actor, input: NewTemplate) -> AppResult<Template> {
        let mut errors = Vec::new();
        let name = Name::parse(&input.name).map_err(|e| errors.push(e)).ok();
        let title = Title::parse(&input.title).map_err(|e| errors.push(e)).ok();
        let message = Markdown::parse(&input.message).map_err(|e| errors.push(e)).ok();
        self.check_template_components(&input.components, &mut errors).await?;
        let (Some(name), Some(title), Some(message), true) = (name, title, message, errors.is_empty()) else {
            return Err(errors.into());
        };
        let at = self.now();
        let template = Template {
            id: TemplateId::new(self.new_id(at)),
            name,
            title,
            impact: input.impact,
            message,
            components: input.components,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let mut writes = vec![Write::Put {
            item: repo::versioned(template_key(template.id), "template", &template, 1)?,
            condition: Condition::NotExists,
        }];
        self.record_change(&mut writes, at, &actor, ChangeKind::TemplateChanged { template_id: template.id })?;
        if !self.commit(writes).await? {
            return Err(Self::too_busy("template"));
        }
        Ok(template)
    }

    pub async fn update_template(
        &self,
        actor: Actor,
        id: TemplateId,
        expected_version: Option<u64>,
        patch: TemplatePatch,
    ) -> AppResult<Template> {
        let mut errors = Vec::new();
        let name = patch.name.as_deref().map(Name::parse).transpose().map_err(|e| errors.push(e)).ok().flatten();
        let title = patch.title.as_deref().map(Title::parse).transpose().map_err(|e| errors.push(e)).ok().flatten();
        let message =
            patch.message.as_deref().map(Markdown::parse).transpose().map_err(|e| errors.push(e)).ok().flatten();
        if let Some(components) = &patch.components {
            self.check_template_components(components, &mut errors).await?;
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.template(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("template", expected, current.version));
            }
            let at = self.now();
            let next = Template {
                name: name.clone().unwrap_or_else(|| current.name.clone()),
                title: title.clone().unwrap_or_else(|| current.title.clone()),
                impact: patch.impact.unwrap_or(current.impact),
                message: message.clone().unwrap_or_else(|| current.message.clone()),
                components: patch.components.clone().unwrap_or_else(|| current.components.clone()),
                updated_at: at,
                version: current.version + 1,
                ..current.clone()
            };
            let mut writes = vec![Write::Put {
                item: repo::versioned(template_key(id), "template", &next, next.version)?,
                condition: Condition::version(current.version),
            }];
            self.record_change(&mut writes, at, &actor, ChangeKind::TemplateChanged { template_id: id })?;
            if self.commit(writes).await? {
                return Ok(next);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("template"))
    }

    pub async fn delete_template(&self, actor: Actor, id: TemplateId) -> AppResult<()> {
        self.template(id).await?;
        let at = self.now();
        let mut writes = vec![Write::Delete { key: template_key(id), condition: Condition::Exists }];
        self.record_change(&mut writes, at, &actor, ChangeKind::TemplateDeleted { template_id: id })?;
        if !self.commit(writes).await? {
            return Err(AppError::not_found("template", id));
        }
        Ok(())
    }
}
