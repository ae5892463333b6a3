//! `/api/v1/page-settings`: how the public page presents itself. Everyone on the team
//! reads them; admins change them, all at once, guarded by `If-Match`.

use crate::ApiState;
use crate::extract::{ApiJson, Authenticated, etag, if_match};
use crate::problem::Problem;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use beacon_domain::{PageSettings, PageSettingsInput, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

type ApiResult = Result<Response, Problem>;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    pub label: String,
    pub url: String,
}

/// The page's settings as read and written. `version` is 0 while none were saved (the
/// deployment's configuration is what is shown then).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PageSettingsView {
    pub name: String,
    pub logo_url: Option<String>,
    /// `#rrggbb`, at least 4.5:1 against white.
    pub accent: Option<String>,
    /// `#rrggbb`, at least 4.5:1 against the dark background (#0d1117).
    pub accent_dark: Option<String>,
    pub links: Vec<LinkBody>,
    /// IANA name, such as `Europe/Berlin`.
    pub time_zone: String,
    pub version: u64,
}

/// Every setting: a `PUT` replaces them all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPageSettings {
    pub name: String,
    pub logo_url: Option<String>,
    pub accent: Option<String>,
    pub accent_dark: Option<String>,
    #[serde(default)]
    pub links: Vec<LinkBody>,
    pub time_zone: String,
}

impl From<&PageSettings> for PageSettingsView {
    fn from(s: &PageSettings) -> Self {
        Self {
            name: s.name.to_string(),
            logo_url: s.logo_url.clone(),
            accent: s.accent.as_ref().map(|c| c.as_str().to_owned()),
            accent_dark: s.accent_dark.as_ref().map(|c| c.as_str().to_owned()),
            links: s.links.iter().map(|l| LinkBody { label: l.label.to_string(), url: l.url.clone() }).collect(),
            time_zone: s.time_zone.clone(),
            version: s.version,
        }
    }
}

/// The settings in force: the saved ones, or the deployment's page configuration.
pub(crate) async fn current(state: &ApiState) -> Result<PageSettingsView, Problem> {
    if let Some(saved) = state.service.page_settings().await? {
        return Ok(PageSettingsView::from(&saved));
    }
    Ok(match &state.subscriptions {
        Some(s) => {
            let page = &s.messages.page;
            PageSettingsView {
                name: page.name.clone(),
                logo_url: page.logo_url.clone(),
                accent: page.accent.clone(),
                accent_dark: page.accent_dark.clone(),
                links: page.links.iter().map(|l| LinkBody { label: l.label.clone(), url: l.url.clone() }).collect(),
                time_zone: page.time_zone.clone(),
                version: 0,
            }
        }
        None => PageSettingsView { name: "Status".into(), time_zone: "Etc/UTC".into(), ..PageSettingsView::default() },
    })
}

fn answer(view: &PageSettingsView) -> Response {
    let mut response = Json(view).into_response();
    if let Ok(v) = HeaderValue::try_from(etag(view.version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

#[utoipa::path(get, path = "/api/v1/page-settings", tag = "page", security(("bearer" = [])),
    responses((status = 200, description = "The settings in force (version 0: none saved yet)", body = PageSettingsView)))]
pub async fn get_page_settings(State(state): State<ApiState>, auth: Authenticated) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(answer(&current(&state).await?))
}

#[utoipa::path(put, path = "/api/v1/page-settings", tag = "page", security(("bearer" = [])), request_body = PutPageSettings,
    params(("If-Match" = Option<String>, Header, description = "The version read; \"0\" when none were saved")),
    responses((status = 200, description = "Saved; the page is rebuilt", body = PageSettingsView),
        (status = 412, description = "The If-Match version is stale", body = Problem),
        (status = 422, description = "Invalid input (every wrong field named)", body = Problem)))]
pub async fn put_page_settings(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: ApiJson<PutPageSettings>,
) -> ApiResult {
    let caller = auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    let b = body.value;
    let input = PageSettingsInput {
        name: b.name,
        logo_url: b.logo_url,
        accent: b.accent,
        accent_dark: b.accent_dark,
        links: b.links.into_iter().map(|l| (l.label, l.url)).collect(),
        time_zone: b.time_zone,
    };
    let saved = state
        .service
        .save_page_settings(caller.actor(), expected, input)
        .await
        .map_err(|e| Problem::from_app(e, expected.is_some()))?;
    Ok(answer(&PageSettingsView::from(&saved)))
}
