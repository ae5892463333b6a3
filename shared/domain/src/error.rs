use crate::incident::IncidentStatus;
use serde::Serialize;

/// One invalid field: which one, and what is wrong with it, in words a person can act on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error reported under a parent field, e.g. `components[2].status`.
    pub fn within(self, parent: &str) -> Self {
        Self { field: format!("{parent}.{}", self.field), ..self }
    }
}

/// Why the domain refused an operation. A refused operation changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid input: {}", list(.0))]
    Invalid(Vec<FieldError>),
    #[error("an incident cannot move from {from} to {to}; allowed next: {}", statuses(.allowed))]
    Transition { from: IncidentStatus, to: IncidentStatus, allowed: Vec<IncidentStatus> },
}

impl DomainError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<FieldError> for DomainError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(vec![e])
    }
}

fn list(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn statuses(s: &[IncidentStatus]) -> String {
    s.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
