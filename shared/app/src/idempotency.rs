//! `Idempotency-Key` for creating requests: the first request with a key claims it,
//! runs, and stores its response; a retry with the same key and the same request gets
//! that response back and creates nothing; the same key with another request is refused.

use crate::error::{AppError, AppResult};
use crate::repo;
use crate::service::Service;
use beacon_store::{Condition, Item, Key, StoreError, Value, Write};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How long a key is remembered.
pub const IDEMPOTENCY_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// A response kept for replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    fingerprint: String,
    created_at: Timestamp,
    response: Option<StoredResponse>,
}

/// What to do with a request that carries a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First use: run the request, then `complete` (or `release` on a server error).
    Fresh,
    /// Seen before with the same request: answer with this.
    Replay(StoredResponse),
}

fn key(scope: &str, idempotency_key: &str) -> Key {
    Key::new(repo::IDEMPOTENCY_PK, format!("{scope}#{idempotency_key}"))
}

impl Service {
    /// Claims `idempotency_key` within `scope` (the caller) for a request whose
    /// `fingerprint` (method, path, body hash) identifies it.
    pub async fn claim_idempotency(&self, scope: &str, idempotency_key: &str, fingerprint: &str) -> AppResult<Claim> {
        if idempotency_key.is_empty() || idempotency_key.len() > 255 || !idempotency_key.is_ascii() {
            return Err(AppError::invalid("Idempotency-Key", "must be 1 to 255 ASCII characters"));
        }
        let now = self.now();
        let k = key(scope, idempotency_key);
        for _ in 0..3 {
            let record = Record { fingerprint: fingerprint.to_owned(), created_at: now, response: None };
            let expires = now.checked_add(IDEMPOTENCY_WINDOW).unwrap_or(now).as_second();
            let item = repo::record(k.clone(), "idempotency", &record)?.with("ttl", Value::N(expires));
            match self.store.put(item, Condition::NotExists).await {
                Ok(()) => return Ok(Claim::Fresh),
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(existing) = self.store.get(&k).await? else { continue };
            let stored: Record = repo::decode(&existing)?;
            let expired = stored.created_at.checked_add(IDEMPOTENCY_WINDOW).map(|end| end < now).unwrap_or(true);
            if expired {
                // TTL deletion is lazy (and absent in the embedded store): an expired
                // record is replaced as if it were gone.
                self.store
                    .delete(
                        &k,
                        Condition::Equals(
                            "data".into(),
                            existing.get("data").cloned().unwrap_or(Value::S(String::new())),
                        ),
                    )
                    .await
                    .ok();
                continue;
            }
            if stored.fingerprint != fingerprint {
                return Err(AppError::invalid(
                    "Idempotency-Key",
                    "this key was already used with a different request; use a new key for a new request",
                ));
            }
            return match stored.response {
                Some(response) => Ok(Claim::Replay(response)),
                None => Err(AppError::Conflict {
                    detail: "a request with this Idempotency-Key is still in progress; retry shortly".into(),
                    current_version: None,
                }),
            };
        }
        Err(Self::too_busy("idempotency key"))
    }

    /// Stores the response of a claimed request for replay.
    pub async fn complete_idempotency(
        &self,
        scope: &str,
        idempotency_key: &str,
        fingerprint: &str,
        response: StoredResponse,
    ) -> AppResult<()> {
        let now = self.now();
        let record = Record { fingerprint: fingerprint.to_owned(), created_at: now, response: Some(response) };
        let expires = now.checked_add(IDEMPOTENCY_WINDOW).unwrap_or(now).as_second();
        let item: Item =
            repo::record(key(scope, idempotency_key), "idempotency", &record)?.with("ttl", Value::N(expires));
        self.store.transact(vec![Write::Put { item, condition: Condition::Exists }]).await?;
        Ok(())
    }

    /// Forgets a claim whose request failed on our side, so a retry can run again.
    pub async fn release_idempotency(&self, scope: &str, idempotency_key: &str) -> AppResult<()> {
        self.store.delete(&key(scope, idempotency_key), Condition::None).await?;
        Ok(())
    }
}
