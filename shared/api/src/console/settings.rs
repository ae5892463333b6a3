//! The console's page settings screen: name, logo, accent colours, header links and
//! time zone, saved together under the version they were read at.

use super::{FormData, MemberActor, Refusal, failure, form_action, frame, html, refusal, signed_in, version_of};
use crate::ApiState;
use crate::settings::{PageSettingsView, current};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use beacon_domain::{MAX_LINKS, PageSettingsInput, Role};
use beacon_site::console::{self as view, Notice, Viewer};
use std::collections::HashMap;

pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/admin/settings", get(settings_screen).post(save_settings))
}

fn padded(mut links: Vec<(String, String)>) -> Vec<(String, String)> {
    links.resize(MAX_LINKS.max(links.len()), (String::new(), String::new()));
    links
}

fn form_of(v: &PageSettingsView) -> view::SettingsForm {
    view::SettingsForm {
        name: v.name.clone(),
        logo_url: v.logo_url.clone().unwrap_or_default(),
        accent: v.accent.clone().unwrap_or_default(),
        accent_dark: v.accent_dark.clone().unwrap_or_default(),
        links: padded(v.links.iter().map(|l| (l.label.clone(), l.url.clone())).collect()),
        time_zone: v.time_zone.clone(),
        version: v.version,
    }
}

async fn render(
    state: &ApiState,
    viewer: &Viewer,
    notice: Option<Notice>,
    status: StatusCode,
    shown: Option<&view::SettingsForm>,
    typed: Option<&view::SettingsForm>,
) -> Response {
    match current(state).await {
        Ok(now) => {
            let stored = form_of(&now);
            // A refused form shows what was typed, at the version it was read at.
            let f = shown.unwrap_or(&stored);
            html(status, view::settings(&frame(state), viewer, notice.as_ref(), f, typed))
        }
        Err(p) => super::message(state, Some(viewer), StatusCode::SERVICE_UNAVAILABLE, "Try again", &p.detail),
    }
}

async fn settings_screen(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, viewer) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = query.get("done").map(|_| Notice { kind: "ok", text: "Saved; the page is being rebuilt.".into() });
    render(&state, &viewer, notice, StatusCode::OK, None, None).await
}

async fn save_settings(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let (signed, viewer) = match form_action(&state, &headers, &form, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let text = |name: &str| form.get(name).unwrap_or_default().to_owned();
    let optional = |name: &str| Some(text(name)).filter(|v| !v.trim().is_empty());
    let links: Vec<(String, String)> =
        form.all("link_label").zip(form.all("link_url")).map(|(l, u)| (l.to_owned(), u.to_owned())).collect();
    let input = PageSettingsInput {
        name: text("name"),
        logo_url: optional("logo_url"),
        accent: optional("accent"),
        accent_dark: optional("accent_dark"),
        links: links.clone(),
        time_zone: text("time_zone"),
    };
    let typed = view::SettingsForm {
        name: input.name.clone(),
        logo_url: text("logo_url"),
        accent: text("accent"),
        accent_dark: text("accent_dark"),
        links: padded(links),
        time_zone: input.time_zone.clone(),
        version: version_of(&form).unwrap_or_default(),
    };
    match state.service.save_page_settings(signed.member_actor(), version_of(&form), input).await {
        Ok(_) => Redirect::to("/admin/settings?done=saved").into_response(),
        Err(e) => match refusal(e, "page's settings") {
            // Someone saved first: their settings in the form, what was typed beside it.
            Refusal::Shown(notice, StatusCode::CONFLICT) => {
                render(&state, &viewer, Some(notice), StatusCode::CONFLICT, None, Some(&typed)).await
            }
            // Invalid: the form again as typed, with every wrong field named.
            Refusal::Shown(notice, status) => render(&state, &viewer, Some(notice), status, Some(&typed), None).await,
            Refusal::Failed(e) => failure(&state, Some(&viewer), e),
        },
    }
}
