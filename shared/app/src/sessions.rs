//! The console's sign-in: one-time links mailed to a member's address, and the sessions
//! they open. Both secrets are 256 random bits handed out once; only their SHA-256 is
//! stored, each record under its own partition with a `ttl`, so a leaked table holds
//! nothing that signs anyone in.
//!
//! | pk                  | sk  | what                                                  |
//! |---------------------|-----|-------------------------------------------------------|
//! | `SIGNIN#<sha256>`   | `A` | an unused sign-in link: its member, when it expires   |
//! | `SESSION#<sha256>`  | `A` | a session: member, CSRF token, when it expires        |
//! | `SESSIONS#<member>` | `ENDED` | sessions of the member opened before this ended   |

use crate::error::{AppError, AppResult};
use crate::repo;
use crate::service::Service;
use base64::Engine as _;
use beacon_domain::{Email, Member, MemberId};
use beacon_store::{Condition, Key, StoreError, Value};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A sign-in link works this long, once.
pub const SIGN_IN_VALID: SignedDuration = SignedDuration::from_mins(15);
/// A session lasts this long from sign-in, however active.
pub const SESSION_VALID: SignedDuration = SignedDuration::from_hours(12);
/// Sign-in links mailed per address and hour.
pub const SIGN_IN_LINKS_PER_HOUR: i64 = 5;

/// A secret handed out once (a sign-in link's or a session's); redacted in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    fn new() -> Self {
        let random: [u8; 32] = rand::random();
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn sign_in_key(secret: &str) -> Key {
    Key::new(format!("SIGNIN#{}", digest(secret)), "A")
}

fn session_key(secret: &str) -> Key {
    Key::new(format!("SESSION#{}", digest(secret)), "A")
}

/// Sessions are found by their secret alone, so "every session of a member" is ended
/// by a mark the session check reads beside the member, not by finding each one.
fn ended_key(member: MemberId) -> Key {
    Key::new(format!("SESSIONS#{member}"), "ENDED")
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ended {
    /// Sessions opened before this no longer count.
    at: Timestamp,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SignIn {
    member_id: MemberId,
    expires_at: Timestamp,
}

/// A signed-in member's session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub member_id: MemberId,
    /// Every state-changing form carries it; a form without it is refused.
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A live session with its member, as the console sees a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn {
    pub member: Member,
    pub session: Session,
}

/// What asking for a sign-in link came to. The visitor is told the same whatever it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignInRequest {
    /// A member's address: mail them this link's secret.
    Link { member: Member, secret: Secret },
    /// Not a member's address; nothing to send.
    Unknown,
    /// Too many links for this address this hour.
    Limited,
}

impl Service {
    /// A one-time sign-in link for the member with this address, rate limited per
    /// address. Unknown addresses and bad input come back as [`SignInRequest::Unknown`]
    /// after the same work, so the answer says nothing about membership.
    pub async fn request_sign_in(&self, address: &str) -> AppResult<SignInRequest> {
        let Ok(email) = Email::parse(address) else { return Ok(SignInRequest::Unknown) };
        if self.rate_limit("signin", email.as_str(), SIGN_IN_LINKS_PER_HOUR).await?.is_err() {
            return Ok(SignInRequest::Limited);
        }
        let Some(member) = self.member_by_email(email.as_str()).await? else { return Ok(SignInRequest::Unknown) };
        let secret = self.issue_sign_in(member.id).await?;
        Ok(SignInRequest::Link { member, secret })
    }

    /// A one-time sign-in link's secret for a member (the command line prints one for
    /// the first owner, so a fresh install needs no mail).
    pub async fn issue_sign_in(&self, member_id: MemberId) -> AppResult<Secret> {
        let now = self.now();
        let secret = Secret::new();
        let expires_at = now.checked_add(SIGN_IN_VALID).unwrap_or(now);
        let item = repo::record(sign_in_key(secret.expose()), "sign_in", &SignIn { member_id, expires_at })?
            .with("ttl", Value::N(expires_at.as_second()));
        self.store.put(item, Condition::NotExists).await?;
        Ok(secret)
    }

    /// Uses a sign-in link: once, within its 15 minutes, for a member who still exists.
    /// Opens a session and returns its secret (for the cookie).
    pub async fn redeem_sign_in(&self, secret: &str) -> AppResult<Option<(Secret, SignedIn)>> {
        if secret.is_empty() || secret.len() > 100 {
            return Ok(None);
        }
        let key = sign_in_key(secret);
        let Some(item) = self.store.get(&key).await? else { return Ok(None) };
        let sign_in: SignIn = repo::decode(&item)?;
        // Deleting it first makes it single-use even when two requests race.
        match self.store.delete(&key, Condition::Exists).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let now = self.now();
        if sign_in.expires_at <= now {
            return Ok(None);
        }
        let member = match self.member(sign_in.member_id).await {
            Ok(member) => member,
            Err(AppError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let session_secret = Secret::new();
        let session = Session {
            member_id: member.id,
            csrf: Secret::new().0,
            created_at: now,
            expires_at: now.checked_add(SESSION_VALID).unwrap_or(now),
        };
        let item = repo::record(session_key(session_secret.expose()), "session", &session)?
            .with("ttl", Value::N(session.expires_at.as_second()));
        self.store.put(item, Condition::NotExists).await?;
        Ok(Some((session_secret, SignedIn { member, session })))
    }

    /// The live session a cookie names, with its member; `None` when expired, ended,
    /// or its member is gone.
    pub async fn session(&self, secret: &str) -> AppResult<Option<SignedIn>> {
        if secret.is_empty() || secret.len() > 100 {
            return Ok(None);
        }
        let Some(item) = self.store.get(&session_key(secret)).await? else { return Ok(None) };
        let session: Session = repo::decode(&item)?;
        if session.expires_at <= self.now() {
            return Ok(None);
        }
        let ended_key = ended_key(session.member_id);
        let (member, ended) = futures::future::join(self.member(session.member_id), self.store.get(&ended_key)).await;
        if let Some(item) = ended? {
            let ended: Ended = repo::decode(&item)?;
            if session.created_at < ended.at {
                return Ok(None);
            }
        }
        match member {
            Ok(member) => Ok(Some(SignedIn { member, session })),
            Err(AppError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ends every session the member has open now, on every device (a lost laptop, a
    /// shared computer); signing in again works at once.
    pub async fn end_all_sessions(&self, member_id: MemberId) -> AppResult<()> {
        let at = self.now();
        // Older sessions expire by themselves within SESSION_VALID: the mark may go then.
        let forget = at.checked_add(SESSION_VALID).unwrap_or(at).as_second();
        let item = repo::record(ended_key(member_id), "sessions_ended", &Ended { at })?.with("ttl", Value::N(forget));
        self.store.put(item, Condition::None).await?;
        Ok(())
    }

    /// Ends a session (signing out); ending one already gone is harmless.
    pub async fn end_session(&self, secret: &str) -> AppResult<()> {
        if secret.is_empty() || secret.len() > 100 {
            return Ok(());
        }
        self.store.delete(&session_key(secret), Condition::None).await?;
        Ok(())
    }
}
