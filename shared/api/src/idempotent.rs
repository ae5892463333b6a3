//! Runs a creating request at most once per `Idempotency-Key` (per caller).

use crate::ApiState;
use crate::problem::Problem;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use beacon_app::{Caller, Claim, StoredResponse};
use sha2::{Digest, Sha256};

const KEPT_HEADERS: [&str; 3] = ["content-type", "location", "etag"];

pub async fn idempotent(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
    route: &str,
    raw_body: &[u8],
    run: impl Future<Output = Result<Response, Problem>>,
) -> Response {
    let Some(key) = headers.get("idempotency-key") else {
        return run.await.unwrap_or_else(IntoResponse::into_response);
    };
    let Ok(key) = key.to_str() else {
        return Problem::new(StatusCode::BAD_REQUEST, "bad-idempotency-key", "Idempotency-Key must be ASCII")
            .into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    hasher.update(raw_body);
    let fingerprint = hex::encode(hasher.finalize());
    let scope = caller.member.id.to_string();
    match state.service.claim_idempotency(&scope, key, &fingerprint).await {
        Err(e) => Problem::from(e).into_response(),
        Ok(Claim::Replay(stored)) => replay(stored),
        Ok(Claim::Fresh) => {
            let response = run.await.unwrap_or_else(IntoResponse::into_response);
            if response.status().is_server_error() {
                if let Err(e) = state.service.release_idempotency(&scope, key).await {
                    tracing::warn!(error = %e, "could not release an idempotency key");
                }
                return response;
            }
            let (parts, body) = response.into_parts();
            let Ok(bytes) = to_bytes(body, 1024 * 1024).await else {
                return Problem::internal().into_response();
            };
            let stored = StoredResponse {
                status: parts.status.as_u16(),
                headers: KEPT_HEADERS
                    .iter()
                    .filter_map(|h| {
                        parts.headers.get(*h).and_then(|v| v.to_str().ok()).map(|v| ((*h).to_owned(), v.to_owned()))
                    })
                    .collect(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            };
            if let Err(e) = state.service.complete_idempotency(&scope, key, &fingerprint, stored).await {
                tracing::warn!(error = %e, "could not store an idempotent response");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
