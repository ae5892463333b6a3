use crate::error::{DomainError, FieldError};
use crate::ids::TemplateId;
use crate::incident::{AffectedComponent, Impact, IncidentSource, IncidentStatus, NewIncident};
use crate::text::{Markdown, Name, Title};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A ready-made incident for a recurring kind of trouble.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
            monitor_id: None,
            integration_id: None,
            published: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::ComponentStatus;
    use crate::ids::ComponentId;

    fn template() -> Template {
        let at = Timestamp::UNIX_EPOCH;
        Template {
            id: TemplateId::new(ulid::Ulid(1)),
            name: Name::parse("API down").unwrap_or_else(|e| panic!("{e}")),
            title: Title::parse("API unavailable").unwrap_or_else(|e| panic!("{e}")),
            impact: Impact::Critical,
            message: Markdown::parse("We are on it.").unwrap_or_else(|e| panic!("{e}")),
            components: vec![AffectedComponent {
                id: ComponentId::new(ulid::Ulid(2)),
                status: ComponentStatus::MajorOutage,
            }],
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn a_template_fills_every_field_the_reporter_left_out() {
        let t = template();
        let new = IncidentDraft::default().complete(Some(&t), IncidentSource::Manual).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(new.title, t.title);
        assert_eq!(new.impact, Impact::Critical);
        assert_eq!(new.message, t.message);
        assert_eq!(new.components, t.components);
        assert_eq!(new.status, IncidentStatus::Investigating);
        assert_eq!(new.source, IncidentSource::Template);
        assert_eq!(new.template_id, Some(t.id));
    }

    #[test]
    fn every_field_given_overrides_the_template() {
        let t = template();
        let draft = IncidentDraft {
            title: Some(Title::parse("Only EU").unwrap_or_else(|e| panic!("{e}"))),
            status: Some(IncidentStatus::Identified),
            impact: Some(Impact::Minor),
            message: Some(Markdown::parse("EU only").unwrap_or_else(|e| panic!("{e}"))),
            components: Some(vec![]),
        };
        let new = draft.complete(Some(&t), IncidentSource::Manual).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(new.title.as_str(), "Only EU");
        assert_eq!(new.status, IncidentStatus::Identified);
        assert_eq!(new.impact, Impact::Minor);
        assert_eq!(new.message.as_str(), "EU only");
        assert!(new.components.is_empty());
    }

    #[test]
    fn without_a_template_title_and_message_are_required() {
        match IncidentDraft::default().complete(None, IncidentSource::Manual) {
            Err(DomainError::Invalid(errors)) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["title", "message"]);
            }
            other => panic!("expected field errors, got {other:?}"),
        }
    }
}
