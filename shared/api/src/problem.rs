//! Every error is `application/problem+json` (RFC 9457). The policy: 4xx responses say
//! exactly what was wrong (with per-field errors for validation); 5xx responses say
//! nothing internal, are logged, and carry the request id (`x-request-id`) that the log
//! line carries too.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beacon_app::AppError;
use beacon_domain::{DomainError, FieldError, IncidentStatus};
use beacon_store::StoreError;
use serde::Serialize;

/// A problem details document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Per-field validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With a forbidden status change: the statuses allowed next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_statuses: Option<Vec<IncidentStatus>>,
    /// With a version conflict: the version stored now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
    #[serde(skip)]
    pub www_authenticate: bool,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://beacon.dev/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            allowed_statuses: None,
            current_version: None,
            www_authenticate: false,
        }
    }

    pub fn unauthorized() -> Self {
        Self {
            www_authenticate: true,
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required")
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        Self { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail) }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; quote the x-request-id header when reporting it",
        )
    }

    /// Maps a use case's error; `if_match` tells whether the caller pinned a version,
    /// which turns a conflict into 412.
    pub fn from_app(error: AppError, if_match: bool) -> Self {
        match error {
            AppError::Domain(DomainError::Invalid(errors)) => Self::invalid(errors),
            AppError::Domain(DomainError::Transition { from, to, allowed }) => Self {
                allowed_statuses: Some(allowed.clone()),
                ..Self::new(
                    StatusCode::CONFLICT,
                    "forbidden-transition",
                    DomainError::Transition { from, to, allowed }.to_string(),
                )
            },
            AppError::NotFound { kind, id } => Self::not_found(format!("{kind} {id} does not exist")),
            AppError::Conflict { detail, current_version } => {
                let status = if if_match && current_version.is_some() {
                    StatusCode::PRECONDITION_FAILED
                } else {
                    StatusCode::CONFLICT
                };
                Self { current_version, ..Self::new(status, "conflict", detail) }
            }
            AppError::InUse(detail) => Self::new(StatusCode::CONFLICT, "in-use", detail),
            AppError::Duplicate(detail) => Self::new(StatusCode::CONFLICT, "duplicate", detail),
            AppError::Store(StoreError::Invalid(detail)) => {
                Self::invalid(vec![FieldError::new("body", format!("the request is too large to store: {detail}"))])
            }
            AppError::Store(e @ (StoreError::Unavailable(_) | StoreError::TransactionConflict)) => {
                tracing::error!(error = %e, "storage unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service is temporarily unavailable; retry shortly",
                )
            }
            AppError::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                Self::internal()
            }
        }
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        Self::from_app(e, false)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
