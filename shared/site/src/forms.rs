//! The pages the API answers subscription requests with: plain HTML forms that work
//! without scripts, in the page's own look, linking back to the static page.

use crate::render::{local_time_script_path, render_template};
use crate::snapshot::PageConfig;
use askama::Template;
use beacon_domain::{Component, ComponentGroup, Events};

/// A one-button form (confirm, unsubscribe) posting a token.
#[derive(Debug, Clone)]
pub struct TokenForm {
    pub action: String,
    pub token: String,
    pub button: String,
    pub secondary: bool,
}

#[derive(Debug, Clone)]
pub struct Link {
    pub url: String,
    pub label: String,
}

/// A page of a heading, some paragraphs, and at most one form and one link.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub form: Option<TokenForm>,
    pub link: Option<Link>,
}

#[derive(Template)]
#[template(path = "subscription.html")]
struct MessagePage<'a> {
    title: String,
    root: String,
    page: &'a PageConfig,
    updated: Option<crate::render::When>,
    script: &'static str,
    heading: &'a str,
    paragraphs: &'a [String],
    form: &'a Option<TokenForm>,
    link: &'a Option<Link>,
}

fn root(page: &PageConfig) -> String {
    format!("{}/", page.url)
}

pub fn message(page: &PageConfig, message: &Message) -> String {
    let view = MessagePage {
        title: format!("{} · {}", message.heading, page.name),
        root: root(page),
        page,
        updated: None,
        script: local_time_script_path(),
        heading: &message.heading,
        paragraphs: &message.paragraphs,
        form: &message.form,
        link: &message.link,
    };
    String::from_utf8_lossy(&render_template(&view, "subscription.html")).into_owned()
}

struct Choice {
    id: String,
    name: String,
    checked: bool,
}

struct GroupChoice {
    id: Option<String>,
    name: String,
    checked: bool,
    components: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "manage.html")]
struct ManagePage<'a> {
    title: String,
    root: String,
    page: &'a PageConfig,
    updated: Option<crate::render::When>,
    script: &'static str,
    who: &'a str,
    saved: bool,
    action: String,
    unsubscribe_action: String,
    token: &'a str,
    incident: Option<&'a str>,
    page_wide: bool,
    groups: Vec<GroupChoice>,
    events: Events,
}

/// What the manage page shows of one subscription.
#[derive(Debug, Clone)]
pub struct ManageView<'a> {
    /// Who is subscribed, in words ("Mail to a…@example.com").
    pub who: &'a str,
    pub token: &'a str,
    /// Where the forms post (the API's `/subscriptions/manage` and `/unsubscribe`).
    pub action: String,
    pub unsubscribe_action: String,
    /// The title of the followed incident, for an incident follow.
    pub incident: Option<&'a str>,
    pub page_wide: bool,
    pub followed_components: Vec<beacon_domain::ComponentId>,
    pub followed_groups: Vec<beacon_domain::GroupId>,
    pub events: Events,
    pub saved: bool,
}

pub fn manage(page: &PageConfig, components: &[Component], groups: &[ComponentGroup], view: &ManageView<'_>) -> String {
    let choice = |c: &Component| Choice {
        id: c.id.to_string(),
        name: c.name.to_string(),
        checked: view.followed_components.contains(&c.id),
    };
    let mut choices: Vec<GroupChoice> = groups
        .iter()
        .map(|g| GroupChoice {
            id: Some(g.id.to_string()),
            name: g.name.to_string(),
            checked: view.followed_groups.contains(&g.id),
            components: components.iter().filter(|c| c.group_id == Some(g.id)).map(choice).collect(),
        })
        .collect();
    let ungrouped: Vec<Choice> = components
        .iter()
        .filter(|c| c.group_id.is_none_or(|g| !groups.iter().any(|x| x.id == g)))
        .map(choice)
        .collect();
    if !ungrouped.is_empty() {
        choices.push(GroupChoice { id: None, name: "Other components".into(), checked: false, components: ungrouped });
    }
    let page_view = ManagePage {
        title: format!("Your notifications · {}", page.name),
        root: root(page),
        page,
        updated: None,
        script: local_time_script_path(),
        who: view.who,
        saved: view.saved,
        action: view.action.clone(),
        unsubscribe_action: view.unsubscribe_action.clone(),
        token: view.token,
        incident: view.incident,
        page_wide: view.page_wide,
        groups: choices,
        events: view.events,
    };
    String::from_utf8_lossy(&render_template(&page_view, "manage.html")).into_owned()
}
