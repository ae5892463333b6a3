//! The public subscription endpoints behind the page's forms: subscribe, confirm,
//! manage, unsubscribe (including RFC 8058 one-click). No authentication: a request
//! is authorised by the secret token in its link. Every answer is an HTML page that
//! works without scripts, and none of them says whether an address is subscribed.

use crate::ApiState;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form as PlainForm};
use axum_extra::extract::Form;
use beacon_app::{AppError, SubscribeOutcome, subscribers::SUBSCRIBES_PER_CLIENT_PER_HOUR};
use beacon_domain::{Channel, ComponentId, Events, GroupId, IncidentId, Interest, Subscriber};
use beacon_notify::render::{MessageConfig, plain_mail};
use beacon_notify::transport::MailTransport;
use beacon_site::forms::{self, Link, ManageView, Message, TokenForm};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

/// What the public subscription endpoints need: where mail goes out, and what links
/// and senders look like.
#[derive(Clone, Debug)]
pub struct Subscriptions {
    pub mail: Arc<dyn MailTransport>,
    pub messages: MessageConfig,
}

/// The client's address, as the host found it (the socket's peer locally; on AWS the
/// viewer address the CDN vouches for, else the API's source IP). Rate limits key on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

fn page(status: StatusCode, subscriptions: &Subscriptions, message: Message) -> Response {
    let mut response = (status, Html(forms::message(&subscriptions.messages.page, &message))).into_response();
    // These pages carry tokens: never cached, never sent on as a referrer.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

fn say(heading: &str, paragraphs: &[&str]) -> Message {
    Message {
        heading: heading.into(),
        paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
        ..Default::default()
    }
}

fn not_enabled() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!doctype html><title>Not found</title><p>Subscriptions are not enabled on this page.</p>"),
    )
        .into_response()
}

fn unavailable(s: &Subscriptions) -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        s,
        say(
            "Please try again",
            &["We could not handle this just now. Nothing was changed; please try again in a minute."],
        ),
    )
}

fn invalid_link(s: &Subscriptions) -> Response {
    page(
        StatusCode::NOT_FOUND,
        s,
        say(
            "This link is not valid",
            &[
                "It may have been used already, or expired (confirmation links last seven days). Subscribe again from the status page.",
            ],
        ),
    )
}

fn app_failure(s: &Subscriptions, e: &AppError) -> Response {
    match e {
        AppError::Domain(beacon_domain::DomainError::Invalid(errors)) => {
            let lines: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                s,
                Message { heading: "Please check the form".into(), paragraphs: lines, ..Default::default() },
            )
        }
        other => {
            tracing::error!(error = %other, "subscription request failed");
            unavailable(s)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SubscribeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    incident_id: Option<String>,
}

fn ids<T: std::str::FromStr + Ord>(raw: &[String], field: &str) -> Result<BTreeSet<T>, AppError> {
    raw.iter().map(|r| r.parse().map_err(|_| AppError::invalid(field, format!("{r:?} is not a {field} id")))).collect()
}

fn interest_of(
    form_components: &[String],
    form_groups: &[String],
    incident: Option<&str>,
) -> Result<Interest, AppError> {
    if let Some(raw) = incident.filter(|r| !r.is_empty()) {
        let incident_id: IncidentId =
            raw.parse().map_err(|_| AppError::invalid("incident_id", "that incident does not exist"))?;
        return Ok(Interest::Incident { incident_id });
    }
    let components: BTreeSet<ComponentId> = ids(form_components, "component")?;
    let groups: BTreeSet<GroupId> = ids(form_groups, "group")?;
    if components.is_empty() && groups.is_empty() {
        return Ok(Interest::Page);
    }
    Ok(Interest::Components { components, groups })
}

/// The rate-limit key of a client: its IPv4 address, or its IPv6 /64 (one client
/// usually holds a whole /64, so single addresses would not limit it).
fn rate_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4.to_string();
            }
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// `POST /subscriptions`: a visitor asks for email notices.
pub async fn subscribe(
    State(state): State<ApiState>,
    client: Option<Extension<ClientAddress>>,
    Form(form): Form<SubscribeForm>,
) -> Response {
    let Some(s) = state.subscriptions.as_ref() else { return not_enabled() };
    let client = client.map_or_else(|| "unknown".to_owned(), |Extension(ClientAddress(ip))| rate_key(ip));
    match state.service.rate_limit("subscribe", &client, SUBSCRIBES_PER_CLIENT_PER_HOUR).await {
        Ok(Ok(())) => {}
        Ok(Err(limited)) => {
            let mut response = page(
                StatusCode::TOO_MANY_REQUESTS,
                s,
                say(
                    "Too many requests",
                    &["Too many subscription requests came from your network. Please try again later."],
                ),
            );
            if let Ok(v) = HeaderValue::try_from(limited.retry_after_seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        Err(e) => return app_failure(s, &e),
    }
    let interest = match interest_of(&form.components, &form.groups, form.incident_id.as_deref()) {
        Ok(i) => i,
        Err(e) => return app_failure(s, &e),
    };
    let outcome = match state.service.subscribe_email(&form.email, interest, Events::default()).await {
        Ok(outcome) => outcome,
        Err(e) => return app_failure(s, &e),
    };
    let page_name = s.messages.page.name.clone();
    let mail = match &outcome {
        SubscribeOutcome::ConfirmationNeeded { subscriber, confirm, .. } => plain_mail(
            &s.messages,
            address(subscriber),
            "Confirm your subscription",
            &[
                format!("Someone, hopefully you, asked to receive notifications of {page_name} at this address."),
                "Confirm with the link below; it works for seven days. If you did not ask, ignore this mail and nothing more will come.".into(),
            ],
            Some(("Confirm your subscription", &s.messages.confirm_url(confirm.expose()))),
        ),
        SubscribeOutcome::AlreadySubscribed { subscriber, manage } => plain_mail(
            &s.messages,
            address(subscriber),
            "You are already subscribed",
            &[
                format!("Someone, hopefully you, asked again to receive notifications of {page_name} at this address. You already receive them."),
                "To change what you receive, or to stop, use the link below.".into(),
            ],
            Some(("Manage your notifications", &s.messages.manage_url(manage.expose()))),
        ),
        SubscribeOutcome::Quiet => {
            return page(StatusCode::OK, s, check_inbox());
        }
    };
    let sent = match mail {
        Ok(mail) => s.mail.send(&mail).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not send a subscription mail");
        return unavailable(s);
    }
    page(StatusCode::OK, s, check_inbox())
}

fn check_inbox() -> Message {
    say(
        "Check your inbox",
        &[
            "If the address can receive mail, a message is on its way. Follow its link to confirm; until then nothing is sent.",
            "It may take a few minutes. Nothing arriving? Look in the spam folder.",
        ],
    )
}

fn address(s: &Subscriber) -> &str {
    match &s.channel {
        Channel::Email { address } => address.as_str(),
        _ => "",
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenParam {
    #[serde(default)]
    token: String,
}

/// `GET /subscriptions/confirm`: a button, so link scanners that fetch every link in a
/// mail confirm nothing.
pub async fn confirm_page(State(state): State<ApiState>, Query(q): Query<TokenParam>) -> Response {
    let Some(s) = state.subscriptions.as_ref() else { return not_enabled() };
    let mut message = say("Confirm your subscription", &["One more step: confirm that you want these notifications."]);
    message.form = Some(TokenForm {
        action: format!("{}/subscriptions/confirm", s.messages.api_url),
        token: q.token,
        button: "Confirm".into(),
        secondary: false,
    });
    page(StatusCode::OK, s, message)
}

/// `POST /subscriptions/confirm`.
pub async fn confirm(State(state): State<ApiState>, PlainForm(form): PlainForm<TokenParam>) -> Response {
    let Some(s) = state.subscriptions.as_ref() else { return not_enabled() };
    match state.service.confirm_subscription(&form.token).await {
        Ok(Some((_, manage))) => {
            let mut message = say(
                "You are subscribed",
                &["Notifications will come to your inbox. Every one has a link to change what you receive or to stop."],
            );
            message.link =
                Some(Link { url: s.messages.manage_url(manage.expose()), label: "Manage your notifications".into() });
            page(StatusCode::OK, s, message)
        }
        Ok(None) => invalid_link(s),
        Err(e) => app_failure(s, &e),
    }
}

fn masked(s: &Subscriber) -> String {
    match &s.channel {
        Channel::Email { address } => {
            let text = address.as_str();
            let (local, domain) = text.split_once('@').unwrap_or((text, ""));
            let first: String = local.chars().take(1).collect();
            format!("Mail to {first}…@{domain}")
        }
        other => format!("{} to {}", other.kind(), other.url().map(|u| u.redacted()).unwrap_or_default()),
    }
}

async fn manage_response(
    state: &ApiState,
    s: &Subscriptions,
    token: &str,
    subscriber: &Subscriber,
    saved: bool,
) -> Response {
    let (components, groups) = match (state.service.components().await, state.service.groups().await) {
        (Ok(c), Ok(g)) => (c, g),
        (Err(e), _) | (_, Err(e)) => return app_failure(s, &e),
    };
    let incident_title = match &subscriber.interest {
        Interest::Incident { incident_id } => match state.service.incident(*incident_id).await {
            Ok(detail) => Some(detail.incident.title.to_string()),
            Err(_) => Some("(an incident)".to_owned()),
        },
        _ => None,
    };
    let (page_wide, followed_components, followed_groups) = match &subscriber.interest {
        Interest::Components { components, groups } => {
            (false, components.iter().copied().collect(), groups.iter().copied().collect())
        }
        _ => (true, Vec::new(), Vec::new()),
    };
    let who = masked(subscriber);
    let view = ManageView {
        who: &who,
        token,
        action: format!("{}/subscriptions/manage", s.messages.api_url),
        unsubscribe_action: format!("{}/subscriptions/unsubscribe", s.messages.api_url),
        incident: incident_title.as_deref(),
        page_wide,
        followed_components,
        followed_groups,
        events: subscriber.events,
        saved,
    };
    let html = forms::manage(&s.messages.page, &components, &groups, &view);
    let mut response = Html(html).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `GET /subscriptions/manage`.
pub async fn manage_page(State(state): State<ApiState>, Query(q): Query<TokenParam>) -> Response {
    let Some(s) = state.subscriptions.as_ref() else { return not_enabled() };
    match state.service.subscriber_by_token(&q.token).await {
        Ok(Some(subscriber)) => manage_response(&state, s, &q.token, &subscriber, false).await,
        Ok(None) => invalid_link(s),
        Err(e) => app_failure(s, &e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ManageForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    events: Vec<String>,
}

/// `POST /subscriptions/manage`.
pub async fn manage(State(state): State<ApiState>, Form(form): Form<ManageForm>) -> Response {
    let Some(s) = state.subscriptions.as_ref() else { return not_enabled() };
    let current = match state.service.subscriber_by_token(&form.token).await {
        Ok(Some(current)) => current,
        Ok(None) => return invalid_link(s),
        Err(e) => return app_failure(s, &e),
    };
    let interest = match form.scope.as_str() {
        "incident" => current.interest.clone(),
        "page" => Interest::Page,
        _ => match (ids(&form.components, "component"), ids(&form.groups, "group")) {
            (Ok(components), Ok(groups)) => Interest::Components { components, groups },
            (Err(e), _) | (_, Err(e)) => return app_failure(s, &e),
        },
    };
    let has = |name: &str| form.events.iter().any(|e| e == name);
    let events = Events {
        created: has("created"),
        updated: has("updated"),
        resolved: has("resolved"),
        maintenance: has("maintenance"),
    };
    match state.service.update_subscription_by_token(&form.token, interest, events).await {
        Ok(Some(updated)) => manage_response(&state, s, &form.token, &updated, true).await,
        Ok(None) => invalid_link(s),
        Err(e) => app_failure(s, &e),
    }
}

/// `GET /subscriptions/unsubscribe`: a confirm button (link scanners must not
/// unsubscribe anyone; mail clients use the one-click POST).
pub async fn unsubscribe_page(State(state): State<ApiState>, Query(q): Query<TokenParam>) -> Response {
    let Some(s) = state.subscriptions.as_ref() else { return not_enabled() };
    let mut message = say("Unsubscribe?", &["You will receive no more notifications at this address or endpoint."]);
    message.form = Some(TokenForm {
        action: format!("{}/subscriptions/unsubscribe", s.messages.api_url),
        token: q.token,
        button: "Unsubscribe".into(),
        secondary: false,
    });
    page(StatusCode::OK, s, message)
}

#[derive(Debug, Deserialize)]
pub struct UnsubscribeForm {
    #[serde(default)]
    token: Option<String>,
}

/// `POST /subscriptions/unsubscribe`: unsubscribes at once. The token comes in the
/// query (RFC 8058 one-click: the mail client posts `List-Unsubscribe=One-Click` to the
/// link as given) or in the form (the confirm page's button).
pub async fn unsubscribe(
    State(state): State<ApiState>,
    Query(q): Query<UnsubscribeForm>,
    body: axum::body::Bytes,
) -> Response {
    let Some(s) = state.subscriptions.as_ref() else { return not_enabled() };
    // Read leniently: a one-click client may send no content type at all.
    let from_body =
        || form_urlencoded::parse(&body).find(|(name, _)| name == "token").map(|(_, value)| value.into_owned());
    let token = q.token.or_else(from_body).unwrap_or_default();
    match state.service.unsubscribe_by_token(&token).await {
        Ok(_) => page(
            StatusCode::OK,
            s,
            say(
                "You are unsubscribed",
                &["No more notifications will be sent. You can subscribe again from the status page any time."],
            ),
        ),
        Err(e) => app_failure(s, &e),
    }
}

/// `GET /subscriptions/webhooks`: how webhook receivers verify what they get.
pub async fn webhook_help(State(state): State<ApiState>) -> Response {
    let Some(s) = state.subscriptions.as_ref() else { return not_enabled() };
    page(
        StatusCode::OK,
        s,
        say(
            "Webhook notifications",
            &[
                "Each delivery is a JSON POST in the shape of Statuspage's incident webhooks (meta, page, incident with incident_updates).",
                "X-Beacon-Signature carries t=<unix seconds>,v1=<hex HMAC-SHA256>. Compute HMAC-SHA256 with your signing secret over the timestamp, a dot, and the raw body; compare in constant time; refuse timestamps more than five minutes old.",
                "X-Beacon-Delivery is unique per notice and subscriber, and the same on a repeat: drop deliveries you have already seen.",
                "Answer with a 2xx within ten seconds. Failures are retried with growing waits for about an hour; after ten failures in a row deliveries pause until the page's team reactivates them.",
            ],
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::rate_key;

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a = rate_key("2001:db8:1:2:aaaa::1".parse().unwrap_or(std::net::IpAddr::from([0u8; 4])));
        let b = rate_key("2001:db8:1:2:bbbb::9".parse().unwrap_or(std::net::IpAddr::from([0u8; 4])));
        let c = rate_key("2001:db8:1:3::1".parse().unwrap_or(std::net::IpAddr::from([0u8; 4])));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(rate_key("::ffff:203.0.113.7".parse().unwrap_or(std::net::IpAddr::from([0u8; 4]))), "203.0.113.7");
    }
}
