//! Extractors that turn malformed requests into clear problems.

use crate::ApiState;
use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use beacon_app::Caller;
use beacon_domain::{FieldError, Role};
use serde::de::DeserializeOwned;

/// A JSON body: 415 without a JSON content type, 413 over the size limit, 400 when it
/// is not JSON, 422 when it is JSON of the wrong shape. Keeps the raw bytes for the
/// idempotency fingerprint.
#[derive(Debug)]
pub struct ApiJson<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || (v.starts_with("application/") && v.ends_with("+json")));
        if !json_type {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let raw = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "the body is over the 64 KiB limit")
            } else {
                Problem::new(StatusCode::BAD_REQUEST, "bad-request", e.body_text())
            }
        })?;
        let value = serde_json::from_slice(&raw).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                let field = e.to_string();
                Problem::invalid(vec![FieldError::new("body", field)])
            }
            _ => Problem::new(StatusCode::BAD_REQUEST, "malformed-json", format!("the body is not valid JSON: {e}")),
        })?;
        Ok(Self { value, raw })
    }
}

/// A query string of the wrong shape is a 422 naming the problem, as a body would be.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e| Problem::invalid(vec![FieldError::new("query", e.body_text())]))
    }
}

/// The authenticated caller. 401 without a live token.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<ApiState> for Authenticated {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let Some(token) = header.strip_prefix("Bearer ").map(str::trim) else {
            return Err(Problem::unauthorized());
        };
        match state.service.authenticate(token).await? {
            Some(caller) => Ok(Self(caller)),
            None => Err(Problem::unauthorized()),
        }
    }
}

impl Authenticated {
    /// 403 unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<&Caller, Problem> {
        if self.0.role >= role {
            Ok(&self.0)
        } else {
            Err(Problem::forbidden(format!("this needs the {role} role; the token carries {}", self.0.role)))
        }
    }
}

/// The version an `If-Match` header pins, if any (`*` pins none).
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/").trim_matches('"').parse().map(Some).map_err(|_| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-if-match", "If-Match must be an ETag this API sent, like \"3\"")
    })
}

/// The ETag of a versioned resource.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}
