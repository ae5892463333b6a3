//! What each channel receives: raw MIME mail, Statuspage-shaped webhook JSON, and
//! messages formatted for Slack (Block Kit), Teams (an Adaptive Card) and Discord (an
//! embed). Built from the notice alone, so every recipient reads the same news.

use crate::notice::{IncidentNews, Notice, Subject};
use beacon_domain::{ComponentStatus, Impact, IncidentStatus, NoticeEvent, PageIndicator, SubscriberId};
use beacon_site::{PageConfig, markdown, statuspage};
use hmac::{Hmac, Mac};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;

/// Where notifications come from and point to.
#[derive(Clone, Debug)]
pub struct MessageConfig {
    pub page: PageConfig,
    /// The public API's base URL (subscription links), without a trailing slash.
    pub api_url: String,
    /// The From mailbox of every mail, e.g. `Acme Status <status@acme.example>`.
    pub from: Mailbox,
}

impl MessageConfig {
    /// The domain of generated Message-IDs: the sender's.
    fn id_domain(&self) -> &str {
        self.from.email.domain()
    }

    pub fn manage_url(&self, token: &str) -> String {
        format!("{}/subscriptions/manage?token={token}", self.api_url)
    }

    pub fn unsubscribe_url(&self, token: &str) -> String {
        format!("{}/subscriptions/unsubscribe?token={token}", self.api_url)
    }

    pub fn confirm_url(&self, token: &str) -> String {
        format!("{}/subscriptions/confirm?token={token}", self.api_url)
    }
}

/// A mail ready to hand to a transport: the envelope and the exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: String,
    pub message_id: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the message: {0}")]
pub struct RenderError(pub String);

/// The news of a maintenance or a postmortem, in the parts every channel shows.
struct Story {
    headline: String,
    status: String,
    /// A second fact: the window of a maintenance, the impact of an incident.
    fact: (&'static str, String),
    /// Markdown.
    message: String,
    link: String,
    button: &'static str,
    colour: u32,
    at: jiff::Timestamp,
    /// The thread a subscriber's mails of this maintenance or incident share.
    thread: String,
    /// Whether this notice starts the thread.
    first: bool,
}

fn story(config: &MessageConfig, notice: &Notice) -> Option<Story> {
    use beacon_domain::MaintenanceEvent as E;
    match &notice.subject {
        Subject::Maintenance { maintenance: m, updates, update_id, what } => {
            let update = update_id.and_then(|id| updates.iter().find(|u| u.id == id));
            let title = m.title.as_str();
            let headline = match what {
                E::Scheduled => format!("Scheduled maintenance: {title}"),
                E::Rescheduled => format!("Maintenance rescheduled: {title}"),
                E::Cancelled => format!("Maintenance cancelled: {title}"),
                E::SubscribersReminded => format!("Maintenance starts soon: {title}"),
                E::Started => format!("Maintenance in progress: {title}"),
                E::Completed => format!("Maintenance completed: {title}"),
                E::Updated | E::Edited | E::TeamReminded => format!("Maintenance update: {title}"),
            };
            let window = format!(
                "{} to {} ({})",
                m.window.starts_at.strftime("%Y-%m-%d %H:%M UTC"),
                m.window.ends_at.strftime("%Y-%m-%d %H:%M UTC"),
                beacon_site::window_text(&m.window)
            );
            let message = match update {
                Some(u) => u.message.as_str().to_owned(),
                None => format!(
                    "This planned maintenance starts at {}. {}",
                    m.window.starts_at.strftime("%Y-%m-%d %H:%M UTC"),
                    updates.first().map(|u| u.message.as_str()).unwrap_or_default()
                ),
            };
            Some(Story {
                headline,
                status: m.status.label().to_owned(),
                fact: ("Window", window),
                message,
                link: notice.link(&config.page),
                button: "View maintenance",
                colour: if *what == E::Cancelled || *what == E::Completed { 0x1a7f37 } else { 0x0969da },
                at: update.map_or(m.updated_at, |u| u.created_at),
                thread: format!("maintenance.{}", m.id),
                first: *what == E::Scheduled,
            })
        }
        Subject::Postmortem { incident, .. } => {
            let postmortem = incident.postmortem.as_ref()?;
            Some(Story {
                headline: format!("Postmortem: {}", incident.title.as_str()),
                status: incident.status.label().to_owned(),
                fact: ("Impact", impact_words(incident.impact).to_owned()),
                message: postmortem.body.as_str().to_owned(),
                link: notice.link(&config.page),
                button: "Read the postmortem",
                colour: 0x1a7f37,
                at: postmortem.published_at.unwrap_or(postmortem.updated_at),
                thread: format!("incident.{}", incident.id),
                first: false,
            })
        }
        _ => None,
    }
}

/// A maintenance's or postmortem's mail: as an incident's, threaded per maintenance or
/// incident.
fn story_mail(
    config: &MessageConfig,
    notice: &Notice,
    story: &Story,
    to: &str,
    subscriber: SubscriberId,
    token: &str,
) -> Result<Mail, RenderError> {
    let to_box: Mailbox = to.parse().map_err(|e| RenderError(format!("recipient {to:?}: {e}")))?;
    let manage = config.manage_url(token);
    let unsubscribe = config.unsubscribe_url(token);
    let page_name = config.page.name.as_str();
    let components = component_lines(notice);
    let mut text = format!("{}\n\nStatus: {}\n{}: {}\n", story.headline, story.status, story.fact.0, story.fact.1);
    if !components.is_empty() {
        text.push_str(&format!("Components: {}\n", components.join(", ")));
    }
    text.push_str(&format!("\n{}\n\n{}: {}\n", story.message, story.button, story.link));
    text.push_str(&format!(
        "\n--\nYou receive this because you subscribed to {page_name}.\nChange what you receive: {manage}\nUnsubscribe: {unsubscribe}\n"
    ));
    let component_html = if components.is_empty() {
        String::new()
    } else {
        format!("<p><strong>Components:</strong> {}</p>", escape(&components.join(", ")))
    };
    let html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:auto;color:#1f2328\">\
<h1 style=\"font-size:1.3em\">{title}</h1>\
<p><strong>{status}</strong> · {fact_name}: {fact}</p>{component_html}\
<div>{body}</div>\
<p><a href=\"{link}\">{button}</a></p>\
<hr><p style=\"font-size:.85em;color:#59636e\">You receive this because you subscribed to {page}. \
<a href=\"{manage}\">Change what you receive</a> · <a href=\"{unsubscribe}\">Unsubscribe</a></p>\
</body></html>",
        title = escape(&story.headline),
        status = escape(&story.status),
        fact_name = story.fact.0,
        fact = escape(&story.fact.1),
        body = markdown::render(&story.message),
        link = escape(&story.link),
        button = story.button,
        page = escape(page_name),
        manage = escape(&manage),
        unsubscribe = escape(&unsubscribe),
    );
    let root = format!("<{}.{subscriber}@{}>", story.thread, config.id_domain());
    let id =
        if story.first { root.clone() } else { format!("<notice.{}.{subscriber}@{}>", notice.id, config.id_domain()) };
    let mut builder = Message::builder()
        .from(config.from.clone())
        .to(to_box)
        .subject(format!("[{page_name}] {}", story.headline))
        .date(story.at.into())
        .message_id(Some(id.clone()))
        .raw_header(header("List-Unsubscribe", format!("<{unsubscribe}>")))
        .raw_header(header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()))
        .raw_header(header("List-Id", format!("{} <notices.{}>", page_name, config.id_domain())))
        .raw_header(header("Auto-Submitted", "auto-generated".into()));
    if !story.first {
        builder = builder.in_reply_to(root.clone()).references(root);
    }
    let message =
        builder.multipart(MultiPart::alternative_plain_html(text, html)).map_err(|e| RenderError(e.to_string()))?;
    Ok(Mail { from: config.from.email.to_string(), to: to.to_owned(), message_id: id, bytes: message.formatted() })
}

fn story_slack(config: &MessageConfig, notice: &Notice, story: &Story) -> Result<Vec<u8>, RenderError> {
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*Status:*\n{}", story.status)}),
        json!({"type": "mrkdwn", "text": clip(&format!("*{}:*\n{}", story.fact.0, story.fact.1), 2000)}),
    ];
    let components = component_lines(notice);
    if !components.is_empty() {
        fields
            .push(json!({"type": "mrkdwn", "text": clip(&format!("*Components:*\n{}", components.join("\n")), 2000)}));
    }
    let body = json!({
        "text": clip(&format!("[{}] {}", config.page.name, story.headline), 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": clip(&story.headline, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(&story.message, 3000)}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&config.page.name, 300)}]},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": story.button}, "url": story.link, "action_id": "view"}]}
        ]
    });
    serde_json::to_vec(&body).map_err(|e| RenderError(e.to_string()))
}

fn story_teams(notice: &Notice, story: &Story) -> Result<Vec<u8>, RenderError> {
    let mut facts =
        vec![json!({"title": "Status", "value": story.status}), json!({"title": story.fact.0, "value": story.fact.1})];
    for c in &notice.components {
        facts.push(json!({"title": c.name.as_str(), "value": c.status.label()}));
    }
    let body = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": story.headline, "weight": "Bolder", "size": "Medium", "wrap": true},
                    {"type": "TextBlock", "text": story.message, "wrap": true},
                    {"type": "FactSet", "facts": facts}
                ],
                "actions": [{"type": "Action.OpenUrl", "title": story.button, "url": story.link}]
            }
        }]
    });
    serde_json::to_vec(&body).map_err(|e| RenderError(e.to_string()))
}

fn story_discord(config: &MessageConfig, notice: &Notice, story: &Story) -> Result<Vec<u8>, RenderError> {
    let mut fields = vec![
        json!({"name": "Status", "value": story.status, "inline": true}),
        json!({"name": story.fact.0, "value": clip(&story.fact.1, 1024), "inline": true}),
    ];
    let components = component_lines(notice);
    if !components.is_empty() {
        fields.push(json!({"name": "Components", "value": clip(&components.join("\n"), 1024), "inline": false}));
    }
    let body = json!({
        "embeds": [{
            "title": clip(&story.headline, 256),
            "description": clip(&story.message, 3000),
            "url": story.link,
            "color": story.colour,
            "fields": fields,
            "timestamp": story.at.to_string(),
            "footer": {"text": clip(&config.page.name, 200)}
        }],
        "allowed_mentions": {"parse": []}
    });
    serde_json::to_vec(&body).map_err(|e| RenderError(e.to_string()))
}

fn headline(news: &IncidentNews<'_>) -> String {
    format!("{}: {}", news.update.status.label(), news.incident.title.as_str())
}

fn news(notice: &Notice) -> Result<IncidentNews<'_>, RenderError> {
    notice.incident_news().ok_or_else(|| RenderError("only incident news is sent to this channel".into()))
}

fn impact_words(impact: Impact) -> &'static str {
    match impact {
        Impact::None => "No impact",
        Impact::Minor => "Minor",
        Impact::Major => "Major",
        Impact::Critical => "Critical",
    }
}

fn component_lines(notice: &Notice) -> Vec<String> {
    notice.components.iter().map(|c| format!("{}: {}", c.name.as_str(), c.status.label())).collect()
}

fn header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// The Message-ID that starts an incident's thread for one subscriber; every later
/// mail of the incident refers to it, so they thread together.
fn thread_root(config: &MessageConfig, news: &IncidentNews<'_>, subscriber: SubscriberId) -> String {
    format!("<incident.{}.{subscriber}@{}>", news.incident.id, config.id_domain())
}

/// The stable Message-ID of one notice to one subscriber: a repeat after a crash carries
/// the same id, so receivers can drop it.
fn message_id(config: &MessageConfig, notice: &Notice, news: &IncidentNews<'_>, subscriber: SubscriberId) -> String {
    if notice.event == NoticeEvent::Created {
        thread_root(config, news, subscriber)
    } else {
        format!("<update.{}.{subscriber}@{}>", news.update.id, config.id_domain())
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The notification mail of a notice: a plain-text and an HTML part, threaded per
/// incident, with RFC 8058 one-click unsubscribe.
pub fn notice_mail(
    config: &MessageConfig,
    notice: &Notice,
    to: &str,
    subscriber: SubscriberId,
    token: &str,
) -> Result<Mail, RenderError> {
    if let Some(story) = story(config, notice) {
        return story_mail(config, notice, &story, to, subscriber, token);
    }
    let to_box: Mailbox = to.parse().map_err(|e| RenderError(format!("recipient {to:?}: {e}")))?;
    let news = news(notice)?;
    let update = news.update;
    let incident_url = notice.link(&config.page);
    let manage = config.manage_url(token);
    let unsubscribe = config.unsubscribe_url(token);
    let page_name = config.page.name.as_str();
    let subject = format!("[{page_name}] {}", headline(&news));
    let components = component_lines(notice);
    let when = update.created_at.strftime("%Y-%m-%d %H:%M UTC").to_string();

    let mut text = format!(
        "{}\n\nStatus: {}\nImpact: {}\n",
        news.incident.title.as_str(),
        update.status.label(),
        impact_words(news.incident.impact)
    );
    if !components.is_empty() {
        text.push_str(&format!("Affected: {}\n", components.join(", ")));
    }
    text.push_str(&format!("Posted: {when}\n\n{}\n\nFollow the incident: {incident_url}\n", update.message.as_str()));
    text.push_str(&format!(
        "\n--\nYou receive this because you subscribed to {page_name}.\nChange what you receive: {manage}\nUnsubscribe: {unsubscribe}\n"
    ));

    let component_html = if components.is_empty() {
        String::new()
    } else {
        format!("<p><strong>Affected:</strong> {}</p>", escape(&components.join(", ")))
    };
    let html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:auto;color:#1f2328\">\
<h1 style=\"font-size:1.3em\">{title}</h1>\
<p><strong>{status}</strong> · Impact: {impact} · {when}</p>{component_html}\
<div>{body}</div>\
<p><a href=\"{incident_url}\">Follow the incident on the status page</a></p>\
<hr><p style=\"font-size:.85em;color:#59636e\">You receive this because you subscribed to {page}. \
<a href=\"{manage}\">Change what you receive</a> · <a href=\"{unsubscribe}\">Unsubscribe</a></p>\
</body></html>",
        title = escape(news.incident.title.as_str()),
        status = escape(update.status.label()),
        impact = impact_words(news.incident.impact),
        when = escape(&when),
        body = markdown::render(update.message.as_str()),
        incident_url = escape(&incident_url),
        page = escape(page_name),
        manage = escape(&manage),
        unsubscribe = escape(&unsubscribe),
    );

    let id = message_id(config, notice, &news, subscriber);
    let mut builder = Message::builder()
        .from(config.from.clone())
        .to(to_box)
        .subject(subject)
        .date(update.created_at.into())
        .message_id(Some(id.clone()))
        .raw_header(header("List-Unsubscribe", format!("<{unsubscribe}>")))
        .raw_header(header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()))
        .raw_header(header("List-Id", format!("{} <notices.{}>", page_name, config.id_domain())))
        .raw_header(header("Auto-Submitted", "auto-generated".into()));
    if notice.event != NoticeEvent::Created {
        let root = thread_root(config, &news, subscriber);
        builder = builder.in_reply_to(root.clone()).references(root);
    }
    let message =
        builder.multipart(MultiPart::alternative_plain_html(text, html)).map_err(|e| RenderError(e.to_string()))?;
    Ok(Mail { from: config.from.email.to_string(), to: to.to_owned(), message_id: id, bytes: message.formatted() })
}

/// A one-off mail to a person (confirmation, manage link, quarantine notice): plain
/// text and HTML from the same paragraphs, and an optional link as the call to action.
pub fn plain_mail(
    config: &MessageConfig,
    to: &str,
    subject: &str,
    paragraphs: &[String],
    action: Option<(&str, &str)>,
) -> Result<Mail, RenderError> {
    let to_box: Mailbox = to.parse().map_err(|e| RenderError(format!("recipient {to:?}: {e}")))?;
    let mut text = paragraphs.join("\n\n");
    let mut html = String::from(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:auto;color:#1f2328\">",
    );
    for p in paragraphs {
        html.push_str(&format!("<p>{}</p>", escape(p)));
    }
    if let Some((label, url)) = action {
        text.push_str(&format!("\n\n{label}: {url}\n"));
        html.push_str(&format!("<p><a href=\"{}\">{}</a></p>", escape(url), escape(label)));
    }
    html.push_str("</body></html>");
    let id = format!("<{}@{}>", ulid::Ulid::new(), config.id_domain());
    let message = Message::builder()
        .from(config.from.clone())
        .to(to_box)
        .subject(format!("[{}] {subject}", config.page.name))
        .message_id(Some(id.clone()))
        .raw_header(header("Auto-Submitted", "auto-generated".into()))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| RenderError(e.to_string()))?;
    Ok(Mail { from: config.from.email.to_string(), to: to.to_owned(), message_id: id, bytes: message.formatted() })
}

#[derive(Serialize)]
struct Meta<'a> {
    unsubscribe: &'a str,
    documentation: String,
    generated_at: jiff::Timestamp,
}

#[derive(Serialize)]
struct PageRef<'a> {
    id: &'a str,
    status_indicator: &'a str,
    status_description: &'a str,
}

#[derive(Serialize)]
struct IncidentPayload<'a> {
    meta: Meta<'a>,
    page: PageRef<'a>,
    incident: statuspage::IncidentJson<'a>,
}

#[derive(Serialize)]
struct ComponentUpdate {
    id: String,
    component_id: String,
    created_at: jiff::Timestamp,
    old_status: ComponentStatus,
    new_status: ComponentStatus,
}

#[derive(Serialize)]
struct ComponentPayload<'a> {
    meta: Meta<'a>,
    page: PageRef<'a>,
    component_update: ComponentUpdate,
    component: statuspage::ComponentJson<'a>,
}

/// The body of a webhook delivery, in the shape of Statuspage's webhooks: the incident
/// webhook for incident news, the component webhook for a component's status change.
pub fn webhook_body(config: &MessageConfig, notice: &Notice, token: &str) -> Vec<u8> {
    let snapshot = notice.snapshot(&config.page);
    let unsubscribe = config.unsubscribe_url(token);
    let meta = Meta {
        unsubscribe: &unsubscribe,
        documentation: format!("{}/subscriptions/webhooks", config.api_url),
        generated_at: snapshot.generated_at,
    };
    let page = PageRef {
        id: &config.page.id,
        status_indicator: notice.page_indicator.as_str(),
        status_description: &notice.page_description,
    };
    let body = match &notice.subject {
        Subject::Incident { .. } | Subject::Postmortem { .. } => {
            let Some(record) = snapshot.incidents.first() else { return Vec::new() };
            serde_json::to_vec(&IncidentPayload { meta, page, incident: statuspage::incident(&snapshot, record) })
        }
        // Statuspage tells of maintenance through its incident webhook, the incident
        // being the maintenance (`impact: maintenance`, `scheduled_for`, …).
        Subject::Maintenance { .. } => {
            let Some(record) = snapshot.maintenances.first() else { return Vec::new() };
            serde_json::to_vec(&json!({
                "meta": meta,
                "page": page,
                "incident": statuspage::maintenance_json(&snapshot, record),
            }))
        }
        Subject::Alert { .. } => return alert_webhook_body(config, notice).unwrap_or_default(),
        Subject::Component { change, at } => {
            let Some(component) = snapshot.components.first() else { return Vec::new() };
            serde_json::to_vec(&ComponentPayload {
                meta,
                page,
                component_update: ComponentUpdate {
                    id: notice.id.to_string(),
                    component_id: change.component_id.to_string(),
                    created_at: *at,
                    old_status: change.from,
                    new_status: change.to,
                },
                component: statuspage::component(&snapshot, component),
            })
        }
    };
    body.unwrap_or_default()
}

/// The signature header of a webhook delivery: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">` under the subscriber's secret.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn colour(notice: &Notice, news: &IncidentNews<'_>) -> u32 {
    if news.update.status == IncidentStatus::Resolved {
        return 0x1a7f37;
    }
    match notice.page_indicator {
        PageIndicator::None => 0x1a7f37,
        PageIndicator::Maintenance => 0x0969da,
        PageIndicator::Minor => 0xbf8700,
        PageIndicator::Major => 0xbc4c00,
        PageIndicator::Critical => 0xcf222e,
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A Slack incoming-webhook message (Block Kit, with a text fallback for mobile
/// notifications).
pub fn slack_body(config: &MessageConfig, notice: &Notice) -> Result<Vec<u8>, RenderError> {
    if let Some(story) = story(config, notice) {
        return story_slack(config, notice, &story);
    }
    let news = news(notice)?;
    let message = news.update.message.as_str();
    let url = notice.link(&config.page);
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*Status:*\n{}", news.update.status.label())}),
        json!({"type": "mrkdwn", "text": format!("*Impact:*\n{}", impact_words(news.incident.impact))}),
    ];
    let components = component_lines(notice);
    if !components.is_empty() {
        fields
            .push(json!({"type": "mrkdwn", "text": clip(&format!("*Components:*\n{}", components.join("\n")), 2000)}));
    }
    let body = json!({
        "text": clip(&format!("[{}] {}", config.page.name, headline(&news)), 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": clip(&headline(&news), 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(message, 3000)}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&config.page.name, 300)}]},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "View incident"}, "url": url, "action_id": "view_incident"}]}
        ]
    });
    serde_json::to_vec(&body).map_err(|e| RenderError(e.to_string()))
}

/// A Microsoft Teams message: an Adaptive Card 1.4 (the newest version Teams workflow
/// webhooks render everywhere).
pub fn teams_body(config: &MessageConfig, notice: &Notice) -> Result<Vec<u8>, RenderError> {
    if let Some(story) = story(config, notice) {
        return story_teams(notice, &story);
    }
    let news = news(notice)?;
    let mut facts = vec![
        json!({"title": "Status", "value": news.update.status.label()}),
        json!({"title": "Impact", "value": impact_words(news.incident.impact)}),
    ];
    for c in &notice.components {
        facts.push(json!({"title": c.name.as_str(), "value": c.status.label()}));
    }
    let body = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": headline(&news), "weight": "Bolder", "size": "Medium", "wrap": true},
                    {"type": "TextBlock", "text": news.update.message.as_str(), "wrap": true},
                    {"type": "FactSet", "facts": facts}
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "View incident", "url": notice.link(&config.page)}]
            }
        }]
    });
    serde_json::to_vec(&body).map_err(|e| RenderError(e.to_string()))
}

/// A Discord webhook message: one embed, mentions disabled (incident text is not a
/// place to ping people from).
pub fn discord_body(config: &MessageConfig, notice: &Notice) -> Result<Vec<u8>, RenderError> {
    if let Some(story) = story(config, notice) {
        return story_discord(config, notice, &story);
    }
    let news = news(notice)?;
    let mut fields = vec![
        json!({"name": "Status", "value": news.update.status.label(), "inline": true}),
        json!({"name": "Impact", "value": impact_words(news.incident.impact), "inline": true}),
    ];
    let components = component_lines(notice);
    if !components.is_empty() {
        fields.push(json!({"name": "Components", "value": clip(&components.join("\n"), 1024), "inline": false}));
    }
    let body = json!({
        "embeds": [{
            "title": clip(&headline(&news), 256),
            "description": clip(news.update.message.as_str(), 3000),
            "url": notice.link(&config.page),
            "color": colour(notice, &news),
            "fields": fields,
            "timestamp": news.update.created_at.to_string(),
            "footer": {"text": clip(&config.page.name, 200)}
        }],
        "allowed_mentions": {"parse": []}
    });
    serde_json::to_vec(&body).map_err(|e| RenderError(e.to_string()))
}

/// The lines of an alert: what happened, the incident, and each region's evidence.
fn alert_lines(config: &MessageConfig, notice: &Notice, alert: &crate::alert::Alert) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(m) = &alert.monitor {
        let state = m.outcome.map_or("changed", |o| o.as_str());
        lines.push(format!("Monitor: {} ({state})", m.name));
        for r in &m.results {
            let status = r.status_code.map(|s| format!(", HTTP {s}")).unwrap_or_default();
            let why = r.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            lines.push(format!("  {}: {}{status}, {} ms{why}", r.region, r.outcome.as_str(), r.latency_ms));
        }
    }
    if let Some(i) = &alert.incident {
        lines.push(format!("Incident: {} ({}, impact {})", i.title, i.status.label(), impact_words(i.impact)));
        lines.push(format!("On the page: {}", notice.link(&config.page)));
    }
    if let Some(m) = &alert.maintenance {
        lines.push(format!("Maintenance: {}", m.title));
        lines.push(format!(
            "Window: {} to {} ({})",
            m.starts_at.strftime("%Y-%m-%d %H:%M UTC"),
            m.ends_at.strftime("%Y-%m-%d %H:%M UTC"),
            m.local
        ));
        lines.push(format!("On the page: {}", notice.link(&config.page)));
    }
    let components = component_lines(notice);
    if !components.is_empty() {
        lines.push(format!("Components: {}", components.join(", ")));
    }
    lines.push(format!("At: {}", alert.at.strftime("%Y-%m-%d %H:%M:%S UTC")));
    lines
}

fn alert_of(notice: &Notice) -> Result<&crate::alert::Alert, RenderError> {
    match &notice.subject {
        Subject::Alert { alert } => Ok(alert),
        _ => Err(RenderError("not an alert".into())),
    }
}

/// A team alert by mail: no unsubscribe link (the team changes its alert rules), a
/// stable Message-ID per alert and recipient.
pub fn alert_mail(
    config: &MessageConfig,
    notice: &Notice,
    to: &str,
    recipient: SubscriberId,
) -> Result<Mail, RenderError> {
    let alert = alert_of(notice)?;
    let to_box: Mailbox = to.parse().map_err(|e| RenderError(format!("recipient {to:?}: {e}")))?;
    let mut lines = alert_lines(config, notice, alert);
    lines.push(String::new());
    lines.push(format!("You receive this through a team alert rule of {}.", config.page.name));
    let text = lines.join("\n");
    let html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:auto;color:#1f2328\"><h1 style=\"font-size:1.2em\">{}</h1><pre style=\"white-space:pre-wrap\">{}</pre></body></html>",
        escape(&alert.headline()),
        escape(&text)
    );
    let id = format!("<alert.{}.{recipient}@{}>", notice.id, config.id_domain());
    let message = Message::builder()
        .from(config.from.clone())
        .to(to_box)
        .subject(format!("[{} alert] {}", config.page.name, alert.headline()))
        .date(alert.at.into())
        .message_id(Some(id.clone()))
        .raw_header(header("Auto-Submitted", "auto-generated".into()))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| RenderError(e.to_string()))?;
    Ok(Mail { from: config.from.email.to_string(), to: to.to_owned(), message_id: id, bytes: message.formatted() })
}

/// A team alert as webhook JSON (signed like every webhook delivery).
pub fn alert_webhook_body(config: &MessageConfig, notice: &Notice) -> Result<Vec<u8>, RenderError> {
    let alert = alert_of(notice)?;
    let body = json!({
        "alert": {
            "id": notice.id.to_string(),
            "event": alert.event,
            "headline": alert.headline(),
            "at": alert.at,
            "monitor": alert.monitor,
            "incident": alert.incident.as_ref().map(|i| json!({
                "id": i.id, "title": i.title, "status": i.status, "impact": i.impact,
                "url": notice.link(&config.page),
            })),
            "maintenance": alert.maintenance.as_ref().map(|m| json!({
                "id": m.id, "title": m.title, "starts_at": m.starts_at, "ends_at": m.ends_at,
                "url": notice.link(&config.page),
            })),
        },
        "page": {"id": config.page.id, "name": config.page.name, "status_indicator": notice.page_indicator.as_str()},
    });
    serde_json::to_vec(&body).map_err(|e| RenderError(e.to_string()))
}

/// A team alert for a chat channel: the headline and the evidence, as Slack, Teams or
/// Discord take text.
pub fn alert_chat_body(
    config: &MessageConfig,
    notice: &Notice,
    kind: beacon_domain::ChannelKind,
) -> Result<Vec<u8>, RenderError> {
    use beacon_domain::ChannelKind;
    let alert = alert_of(notice)?;
    let headline = format!("[{} alert] {}", config.page.name, alert.headline());
    let details = alert_lines(config, notice, alert).join("\n");
    let body = match kind {
        ChannelKind::Slack => json!({
            "text": clip(&headline, 3000),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": clip(&headline, 150)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": clip(&format!("```{details}```"), 3000)}}
            ]
        }),
        ChannelKind::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": headline, "weight": "Bolder", "size": "Medium", "wrap": true},
                        {"type": "TextBlock", "text": details, "wrap": true, "fontType": "Monospace"}
                    ]
                }
            }]
        }),
        _ => json!({
            "embeds": [{
                "title": clip(&headline, 256),
                "description": clip(&details, 3000),
                "timestamp": alert.at.to_string(),
            }],
            "allowed_mentions": {"parse": []}
        }),
    };
    serde_json::to_vec(&body).map_err(|e| RenderError(e.to_string()))
}
