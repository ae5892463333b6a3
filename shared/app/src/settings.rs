//! The page's settings: one versioned record the console edits and the publisher lays
//! over the deployment's page configuration.

use crate::error::{AppError, AppResult};
use crate::maintenances::time_zone;
use crate::repo;
use crate::service::{MAX_ATTEMPTS, Service, version_conflict};
use beacon_domain::{Actor, ChangeKind, DomainError, PageSettings, PageSettingsInput};
use beacon_store::{Condition, Key, Write};

const SETTINGS_PK: &str = "PAGE";
const SETTINGS_SK: &str = "SETTINGS";

fn settings_key() -> Key {
    Key::new(SETTINGS_PK, SETTINGS_SK)
}

impl Service {
    /// The saved settings; `None` until someone saves them (the deployment's page
    /// configuration applies until then).
    pub async fn page_settings(&self) -> AppResult<Option<PageSettings>> {
        match self.store.get(&settings_key()).await? {
            Some(item) => repo::decode(&item).map(Some),
            None => Ok(None),
        }
    }

    /// Saves every setting at once. `expected_version` 0 means "nothing saved yet".
    pub async fn save_page_settings(
        &self,
        actor: Actor,
        expected_version: Option<u64>,
        input: PageSettingsInput,
    ) -> AppResult<PageSettings> {
        let mut errors = Vec::new();
        let checked = match input.check() {
            Ok(c) => Some(c),
            Err(DomainError::Invalid(e)) => {
                errors.extend(e);
                None
            }
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = time_zone(input.time_zone.trim(), "time_zone") {
            errors.push(e);
        }
        let Some(checked) = checked.filter(|_| errors.is_empty()) else { return Err(errors.into()) };
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.page_settings().await?;
            let current_version = current.as_ref().map_or(0, |s| s.version);
            if let Some(expected) = expected_version
                && expected != current_version
            {
                return Err(version_conflict("page settings", expected, current_version));
            }
            let at = self.now();
            let next = PageSettings {
                name: checked.name.clone(),
                logo_url: checked.logo_url.clone(),
                accent: checked.accent.clone(),
                accent_dark: checked.accent_dark.clone(),
                links: checked.links.clone(),
                time_zone: input.time_zone.trim().to_owned(),
                updated_at: at,
                version: current_version + 1,
            };
            let condition = if current.is_some() { Condition::version(current_version) } else { Condition::NotExists };
            let mut writes = vec![Write::Put {
                item: repo::versioned(settings_key(), "page_settings", &next, next.version)?,
                condition,
            }];
            self.record_change(&mut writes, at, &actor, ChangeKind::PageSettingsChanged)?;
            if self.commit(writes).await? {
                return Ok(next);
            }
            Self::back_off(attempt).await;
        }
        Err(AppError::Conflict { detail: "the page settings kept changing; try again".into(), current_version: None })
    }
}
