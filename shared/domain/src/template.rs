use crate::error::{DomainError, FieldError};
use crate::ids::TemplateId;
use crate::incident::{AffectedComponent, Impact, IncidentSource, IncidentStatus, NewIncident};
use crate::text::{Markdown, Name, Title};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A ready-made incident for a recurring kind of trouble.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: TemplateId,
    pub name: Name,
    pub title: Title,
    pub impact: Impact,
    pub message: Markdown,
    pub components: Vec<AffectedComponent>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// What a reporter typed: any field may be missing when a template fills it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IncidentDraft {
    pub title: Option<Title>,
    pub status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    pub message: Option<Markdown>,
    pub components: Option<Vec<AffectedComponent>>,
}

impl IncidentDraft {
    /// Completes the draft: every field the reporter gave wins; the template (if any)
    /// fills the rest. Without a template, title and message are required.
    pub fn complete(self, template: Option<&Template>, source: IncidentSource) -> Result<NewIncident, DomainError> {
        let mut errors = Vec::new();
        let title = self.title.or_else(|| template.map(|t| t.title.clone()));
        let message = self.message.or_else(|| template.map(|t| t.message.clone()));
        if title.is_none() {
            errors.push(FieldError::new("title", "title is required (or a template that has one)"));
        }
        if message.is_none() {
            errors.push(FieldError::new("message", "message is required (or a template that has one)"));
        }
        let (Some(title), Some(message)) = (title, message) else {
            return Err(DomainError::Invalid(errors));
        };
        let source = match (template, source) {
            (Some(_), IncidentSource::Manual) => IncidentSource::Template,
            (_, source) => source,
        };
        Ok(NewIncident {
            title,
            status: self.status.unwrap_or_default(),
            impact: self.impact.or(template.map(|t| t.impact)).unwrap_or_default(),
            message,
            components: self.components.or_else(|| template.map(|t| t.components.clone())).unwrap_or_default(),
            source,
            template_id: template.map(|t| t.id),
        })
    }
}
