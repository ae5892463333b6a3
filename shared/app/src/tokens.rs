//! API tokens: `bcn_<token id>_<secret>`. The secret is 256 random bits, shown once;
//! only its SHA-256 is stored. The id finds the record, then the hashes are compared in
//! constant time, so neither the lookup nor the comparison leaks the secret.

use crate::error::{AppError, AppResult};
use crate::repo;
use crate::service::Service;
use base64::Engine as _;
use beacon_domain::{Actor, ChangeKind, Member, MemberId, Name, Role, TokenId};
use beacon_store::{Condition, Key, Query, Write};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "bcn_";

/// A stored token (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub id: TokenId,
    pub member_id: MemberId,
    pub name: Name,
    pub role: Role,
    /// Hex SHA-256 of the secret.
    #[serde(rename = "secret_sha256")]
    pub(crate) hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A token's secret: printed once, redacted in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// Who is calling, once a token checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub member: Member,
    pub token_id: TokenId,
    /// The token's role, never more than the member's.
    pub role: Role,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::Member { id: self.member.id }
    }
}

fn token_key(id: TokenId) -> Key {
    Key::new(repo::TOKENS_PK, id.to_string())
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Service {
    /// Creates a token for a member, with at most the member's role.
    pub async fn create_token(
        &self,
        actor: Actor,
        member_id: MemberId,
        name: &str,
        role: Role,
    ) -> AppResult<(Token, TokenSecret)> {
        let name = Name::parse_field(name, "name")?;
        let member = self.member(member_id).await.map_err(|e| match e {
            AppError::NotFound { .. } => AppError::invalid("member_id", format!("member {member_id} does not exist")),
            other => other,
        })?;
        if role > member.role {
            return Err(AppError::invalid(
                "role",
                format!("a token cannot carry more than its member's role ({})", member.role),
            ));
        }
        let at = self.now();
        let id = TokenId::new(self.new_id(at));
        let random: [u8; 32] = rand::random();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        let full = format!("{PREFIX}{id}_{secret}");
        let token = Token { id, member_id, name, role, hash: digest(&full), created_at: at, revoked_at: None };
        let mut writes = vec![
            Write::Put { item: repo::record(token_key(id), "token", &token)?, condition: Condition::NotExists },
            Write::Check { key: Key::new(repo::MEMBERS_PK, member_id.to_string()), condition: Condition::Exists },
        ];
        self.record_change(&mut writes, at, &actor, ChangeKind::TokenCreated { token_id: id, member_id })?;
        if !self.commit(writes).await? {
            return Err(AppError::invalid("member_id", "the member was removed meanwhile"));
        }
        Ok((token, TokenSecret(full)))
    }

    pub async fn tokens(&self) -> AppResult<Vec<Token>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(repo::TOKENS_PK)).await?;
        items.iter().map(repo::decode).collect()
    }

    pub async fn token(&self, id: TokenId) -> AppResult<Token> {
        let item = self.store.get(&token_key(id)).await?.ok_or_else(|| AppError::not_found("token", id))?;
        repo::decode(&item)
    }

    /// Revokes a token; it stops working at once. Revoking twice is harmless.
    pub async fn revoke_token(&self, actor: Actor, id: TokenId) -> AppResult<Token> {
        let current = self.token(id).await?;
        if current.revoked_at.is_some() {
            return Ok(current);
        }
        let at = self.now();
        let revoked = Token { revoked_at: Some(at), ..current.clone() };
        let mut writes =
            vec![Write::Put { item: repo::record(token_key(id), "token", &revoked)?, condition: Condition::Exists }];
        self.record_change(
            &mut writes,
            at,
            &actor,
            ChangeKind::TokenRevoked { token_id: id, member_id: current.member_id },
        )?;
        if !self.commit(writes).await? {
            return Err(AppError::not_found("token", id));
        }
        Ok(revoked)
    }

    /// Checks a presented token. `None` for anything that is not a live token of an
    /// existing member: malformed, unknown, wrong secret, revoked.
    pub async fn authenticate(&self, presented: &str) -> AppResult<Option<Caller>> {
        let Some(rest) = presented.strip_prefix(PREFIX) else { return Ok(None) };
        let Some((id, _)) = rest.split_once('_') else { return Ok(None) };
        let Ok(id) = id.parse::<TokenId>() else { return Ok(None) };
        let Some(item) = self.store.get(&token_key(id)).await? else { return Ok(None) };
        let token: Token = repo::decode(&item)?;
        let matches: bool = digest(presented).as_bytes().ct_eq(token.hash.as_bytes()).into();
        if !matches || token.revoked_at.is_some() {
            return Ok(None);
        }
        let member = match self.member(token.member_id).await {
            Ok(member) => member,
            Err(AppError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let role = token.role.min(member.role);
        Ok(Some(Caller { member, token_id: token.id, role }))
    }

    /// The audit log of changes outside incidents, newest first.
    pub async fn audit_log(
        &self,
        cursor: Option<beacon_store::Cursor>,
        limit: usize,
    ) -> AppResult<repo::Listing<beacon_domain::Change>> {
        if !(1..=200).contains(&limit) {
            return Err(AppError::invalid("limit", "limit must be 1 to 200"));
        }
        let page = self.store.query(Query::partition(repo::AUDIT_PK).descending().limit(limit).after(cursor)).await?;
        let items = page.items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        Ok(repo::Listing { items, next: page.next })
    }
}
