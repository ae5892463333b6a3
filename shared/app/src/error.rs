//! The use cases' error policy: every refusal says what was wrong in words a caller can
//! act on, and a refused request has changed nothing. Storage failures are kept apart so
//! the HTTP layer can answer 503 without leaking internals.

use beacon_domain::{DomainError, FieldError};
use beacon_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input or a domain rule was violated (invalid fields, forbidden transition).
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{kind} {id} does not exist")]
    NotFound { kind: &'static str, id: String },
    /// Someone else changed the record first; `current_version` is what is stored now.
    #[error("{detail}")]
    Conflict { detail: String, current_version: Option<u64> },
    /// The record is still in use and cannot be deleted.
    #[error("{0}")]
    InUse(String),
    /// The same unique value already exists.
    #[error("{0}")]
    Duplicate(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Domain(DomainError::field(field, message))
    }

    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound { kind, id: id.to_string() }
    }
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        Self::Domain(DomainError::from(e))
    }
}

impl From<Vec<FieldError>> for AppError {
    fn from(e: Vec<FieldError>) -> Self {
        Self::Domain(DomainError::Invalid(e))
    }
}

pub type AppResult<T> = Result<T, AppError>;
