use crate::error::{AppError, AppResult};
use crate::repo;
use crate::service::{MAX_ATTEMPTS, Service, version_conflict};
use beacon_domain::{Actor, ChangeKind, Email, Member, MemberId, Name, Role};
use beacon_store::{Condition, Key, Query, StoreError, Value, Write};

#[derive(Clone, Debug)]
pub struct NewMember {
    pub name: String,
    pub email: String,
    pub role: Role,
}

#[derive(Clone, Debug, Default)]
pub struct MemberPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
}

fn member_key(id: MemberId) -> Key {
    Key::new(repo::MEMBERS_PK, id.to_string())
}

fn email_key(email: &Email) -> Key {
    Key::new(repo::MEMBER_EMAIL_PK, email.as_str())
}

impl Service {
    pub async fn members(&self) -> AppResult<Vec<Member>> {
        let items = repo::query_all(self.store.as_ref(), Query::partition(repo::MEMBERS_PK)).await?;
        let mut members: Vec<Member> = items.iter().map(repo::decode).collect::<AppResult<_>>()?;
        members.sort_by_key(|m| m.name.as_str().to_lowercase());
        Ok(members)
    }

    pub async fn member(&self, id: MemberId) -> AppResult<Member> {
        let item = self.store.get(&member_key(id)).await?.ok_or_else(|| AppError::not_found("member", id))?;
        repo::decode(&item)
    }

    pub async fn member_by_email(&self, email: &str) -> AppResult<Option<Member>> {
        let Ok(email) = Email::parse(email) else { return Ok(None) };
        let Some(guard) = self.store.get(&email_key(&email)).await? else { return Ok(None) };
        let Some(id) = guard.str("member_id").and_then(|s| s.parse().ok()) else { return Ok(None) };
        match self.member(id).await {
            Ok(member) => Ok(Some(member)),
            Err(AppError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds a member; an address can belong to one member only.
    pub async fn create_member(&self, actor: Actor, input: NewMember) -> AppResult<Member> {
        let mut errors = Vec::new();
        let name = Name::parse(&input.name).map_err(|e| errors.push(e)).ok();
        let email = Email::parse(&input.email).map_err(|e| errors.push(e)).ok();
        let (Some(name), Some(email)) = (name, email) else {
            return Err(errors.into());
        };
        let at = self.now();
        let member = Member {
            id: MemberId::new(self.new_id(at)),
            name,
            email,
            role: input.role,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let guard = beacon_store::Item::new(email_key(&member.email))
            .with("type", Value::S("member_email".into()))
            .with("member_id", Value::S(member.id.to_string()));
        let mut writes = vec![
            Write::Put {
                item: repo::versioned(member_key(member.id), "member", &member, 1)?,
                condition: Condition::NotExists,
            },
            Write::Put { item: guard, condition: Condition::NotExists },
        ];
        self.record_change(&mut writes, at, &actor, ChangeKind::MemberChanged { member_id: member.id })?;
        match self.store.transact(writes).await {
            Ok(()) => Ok(member),
            Err(StoreError::ConditionFailed { index: Some(1) }) => {
                Err(AppError::Duplicate(format!("a member with the address {} already exists", member.email)))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn update_member(
        &self,
        actor: Actor,
        id: MemberId,
        expected_version: Option<u64>,
        patch: MemberPatch,
    ) -> AppResult<Member> {
        let name = patch.name.as_deref().map(Name::parse).transpose()?;
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.member(id).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(version_conflict("member", expected, current.version));
            }
            let at = self.now();
            let next = Member {
                name: name.clone().unwrap_or_else(|| current.name.clone()),
                role: patch.role.unwrap_or(current.role),
                updated_at: at,
                version: current.version + 1,
                ..current.clone()
            };
            let mut writes = vec![Write::Put {
                item: repo::versioned(member_key(id), "member", &next, next.version)?,
                condition: Condition::version(current.version),
            }];
            self.record_change(&mut writes, at, &actor, ChangeKind::MemberChanged { member_id: id })?;
            if self.commit(writes).await? {
                return Ok(next);
            }
            Self::back_off(attempt).await;
        }
        Err(Self::too_busy("member"))
    }

    /// Removes a member and frees the address.
    pub async fn delete_member(&self, actor: Actor, id: MemberId) -> AppResult<()> {
        let current = self.member(id).await?;
        let at = self.now();
        let mut writes = vec![
            Write::Delete { key: member_key(id), condition: Condition::version(current.version) },
            Write::Delete { key: email_key(&current.email), condition: Condition::None },
        ];
        self.record_change(&mut writes, at, &actor, ChangeKind::MemberDeleted { member_id: id })?;
        if !self.commit(writes).await? {
            return Err(version_conflict("member", current.version, current.version + 1));
        }
        Ok(())
    }
}
