//! The console through the router, as a browser without scripts uses it: sign in by a
//! link from the outbox, the same answer for strangers, single-use links, CSRF tokens on
//! every form, roles enforced as the API enforces them, a concurrent change reported
//! rather than overwritten, expired sessions and sign-out.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use beacon_api::{ApiState, Subscriptions, router};
use beacon_app::{ManualClock, NewMember, ReportIncident, Service};
use beacon_domain::{Actor, IncidentStatus, Role};
use beacon_notify::{MessageConfig, OutboxMailer};
use beacon_site::PageConfig;
use beacon_store_redb::RedbStore;
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

struct World {
    app: axum::Router,
    service: Service,
    clock: Arc<ManualClock>,
    outbox: OutboxMailer,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = ok(tempfile::tempdir());
    let store = Arc::new(ok(RedbStore::open(dir.path())));
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let service = Service::new(store, clock.clone());
    let outbox = OutboxMailer::new(dir.path().join("outbox"));
    let messages = MessageConfig {
        page: PageConfig {
            id: "t".into(),
            name: "Acme".into(),
            url: "https://status.acme.test".into(),
            time_zone: "Etc/UTC".into(),
            logo_url: None,
            links: vec![],
            subscribe_url: None,
            accent: None,
            accent_dark: None,
        },
        api_url: "https://status.acme.test".into(),
        from: ok("Acme <status@acme.test>".parse()),
    };
    let state =
        ApiState::new(service.clone()).with_subscriptions(Subscriptions { mail: Arc::new(outbox.clone()), messages });
    World { app: router(state), service, clock, outbox, _dir: dir }
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    cookie: Option<String>,
    body: String,
}

async fn send(w: &World, request: Request<Body>) -> Answer {
    let response = ok(w.app.clone().oneshot(request).await);
    let header_of = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, location, cookie) = (response.status(), header_of(header::LOCATION), header_of(header::SET_COOKIE));
    let body = String::from_utf8_lossy(&ok(response.into_body().collect().await).to_bytes()).into_owned();
    Answer { status, location, cookie, body }
}

async fn get(w: &World, path: &str, cookie: Option<&str>) -> Answer {
    let mut request = Request::get(path);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    send(w, ok(request.body(Body::empty()))).await
}

async fn post(w: &World, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    send(w, ok(request.body(Body::from(body)))).await
}

/// The one mail in the outbox that reached `to`, as text.
fn mails_to(w: &World, to: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(w.outbox.dir()) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .map(|e| String::from_utf8_lossy(&ok(std::fs::read(e.path()))).replace("=\r\n", "").replace("=3D", "="))
        .filter(|text| text.contains(&format!("To: {to}")) || text.contains(&format!("<{to}>")))
        .collect()
}

/// Signs a member in through the mailed link; the session cookie.
async fn sign_in(w: &World, address: &str) -> String {
    let before = mails_to(w, address);
    let asked = post(w, "/admin/sign-in", None, &[("email", address)]).await;
    assert_eq!(asked.status, StatusCode::OK);
    let mails = mails_to(w, address);
    assert_eq!(mails.len(), before.len() + 1, "one sign-in mail");
    // The new mail (an earlier one's link is used up).
    let mail = mails.into_iter().find(|m| !before.contains(m)).unwrap_or_default();
    let start = mail.find("https://status.acme.test/admin/sign-in/").unwrap_or_else(|| panic!("no link in {mail}"));
    let link: String =
        mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_:/.".contains(*c)).collect();
    let path = link.trim_start_matches("https://status.acme.test");
    // Opening the link signs nobody in (mail scanners open links): a button does.
    let page = get(w, path, None).await;
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    let used = post(w, path, None, &[]).await;
    assert_eq!((used.status, used.location.as_deref()), (StatusCode::SEE_OTHER, Some("/admin")));
    let cookie = used.cookie.unwrap_or_else(|| panic!("no session cookie"));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("Path=/admin"), "{cookie}");
    // A link works once.
    assert_eq!(post(w, path, None, &[]).await.status, StatusCode::UNAUTHORIZED);
    cookie.split(';').next().unwrap_or_default().to_owned()
}

fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no csrf field in {page}")) + 19;
    page[start..].chars().take_while(|c| *c != '"').collect()
}

async fn member(w: &World, name: &str, role: Role) {
    ok(w.service
        .create_member(
            Actor::System,
            NewMember { name: name.into(), email: format!("{}@acme.test", name.to_lowercase()), role },
        )
        .await);
}

#[tokio::test]
async fn signing_in_answers_strangers_alike_and_links_work_once() {
    let w = world();
    member(&w, "Ada", Role::Responder).await;
    let stranger = post(&w, "/admin/sign-in", None, &[("email", "nobody@acme.test")]).await;
    let known = post(&w, "/admin/sign-in", None, &[("email", "ada@acme.test")]).await;
    assert_eq!((stranger.status, &stranger.body), (known.status, &known.body), "the same answer either way");
    assert!(mails_to(&w, "nobody@acme.test").is_empty());
    // Without a session every page leads to the sign-in form.
    let page = get(&w, "/admin", None).await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::SEE_OTHER, Some("/admin/sign-in")));
    let cookie = sign_in(&w, "ada@acme.test").await;
    let overview = get(&w, "/admin", Some(&cookie)).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("Ada (responder)"), "{}", overview.body);
    // Five links an hour per address; the sixth request is answered alike but mails nothing.
    for _ in 0..5 {
        post(&w, "/admin/sign-in", None, &[("email", "ada@acme.test")]).await;
    }
    let count = mails_to(&w, "ada@acme.test").len();
    assert_eq!(count, 5, "the hour's allowance, counting the two already sent");
    // A link older than 15 minutes is refused.
    post(&w, "/admin/sign-in", None, &[("email", "nobody@acme.test")]).await;
    let secret = ok(w
        .service
        .issue_sign_in(ok(w.service.member_by_email("ada@acme.test").await).unwrap_or_else(|| panic!("ada")).id)
        .await);
    w.clock.advance(jiff::SignedDuration::from_mins(16));
    let late = post(&w, &format!("/admin/sign-in/{}", secret.expose()), None, &[]).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_the_role_and_sessions_end() {
    let w = world();
    member(&w, "Ada", Role::Responder).await;
    member(&w, "Vic", Role::Viewer).await;
    let ada = sign_in(&w, "ada@acme.test").await;
    let vic = sign_in(&w, "vic@acme.test").await;
    let form = get(&w, "/admin/incidents/new", Some(&ada)).await;
    let csrf = csrf_of(&form.body);
    let report =
        [("title", "Checkout errors"), ("impact", "major"), ("status", "investigating"), ("message", "Looking.")];

    // Without the token, or with another session's: refused, nothing stored.
    let bare = post(&w, "/admin/incidents", Some(&ada), &report).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    let vic_csrf = csrf_of(&get(&w, "/admin", Some(&vic)).await.body);
    let mut crossed = report.to_vec();
    crossed.push(("csrf", &vic_csrf));
    assert_eq!(post(&w, "/admin/incidents", Some(&ada), &crossed).await.status, StatusCode::FORBIDDEN);
    assert!(ok(w.service.open_incidents().await).is_empty());

    // A viewer sees no responder forms and is refused if it posts one anyway.
    let viewer_form = get(&w, "/admin/incidents/new", Some(&vic)).await;
    assert_eq!(viewer_form.status, StatusCode::FORBIDDEN);
    let mut as_viewer = report.to_vec();
    as_viewer.push(("csrf", &vic_csrf));
    assert_eq!(post(&w, "/admin/incidents", Some(&vic), &as_viewer).await.status, StatusCode::FORBIDDEN);
    assert!(ok(w.service.open_incidents().await).is_empty());

    let mut good = report.to_vec();
    good.push(("csrf", &csrf));
    let created = post(&w, "/admin/incidents", Some(&ada), &good).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let location = created.location.unwrap_or_default();
    let page = get(&w, &location, Some(&vic)).await;
    assert!(page.body.contains("Checkout errors") && !page.body.contains("Post update"), "a viewer reads only");

    // Sign-out ends the session for good; an expired session is refused too.
    let signed_out = post(&w, "/admin/sign-out", Some(&ada), &[("csrf", &csrf)]).await;
    assert_eq!(signed_out.status, StatusCode::OK);
    assert!(signed_out.cookie.is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(get(&w, "/admin", Some(&ada)).await.status, StatusCode::UNAUTHORIZED);
    w.clock.advance(jiff::SignedDuration::from_hours(13));
    assert_eq!(get(&w, "/admin", Some(&vic)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_concurrent_change_is_reported_and_nothing_is_overwritten() {
    let w = world();
    member(&w, "Ada", Role::Responder).await;
    let ada = sign_in(&w, "ada@acme.test").await;
    let detail = ok(w
        .service
        .report_incident(
            Actor::System,
            ReportIncident {
                title: Some("Slow search".into()),
                message: Some("Looking.".into()),
                ..Default::default()
            },
        )
        .await);
    let id = detail.incident.id;
    let path = format!("/admin/incidents/{id}");
    let page = get(&w, &path, Some(&ada)).await;
    let csrf = csrf_of(&page.body);
    let version = detail.incident.version.to_string();
    // Someone else posts first.
    ok(w.service
        .post_update(
            Actor::System,
            id,
            None,
            beacon_app::PostUpdate {
                message: "Found it.".into(),
                status: Some(IncidentStatus::Identified),
                ..Default::default()
            },
        )
        .await);
    let late = post(
        &w,
        &format!("{path}/updates"),
        Some(&ada),
        &[("csrf", &csrf), ("version", &version), ("status", "monitoring"), ("message", "My fix is out.")],
    )
    .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert!(late.body.contains("Someone else changed this incident meanwhile"), "{}", late.body);
    assert!(late.body.contains("My fix is out."), "what was typed is kept");
    assert!(late.body.contains("Found it."), "the new state is shown");
    let now = ok(w.service.incident(id).await);
    assert_eq!((now.incident.status, now.updates.len()), (IncidentStatus::Identified, 2), "nothing overwritten");
    // Posted against the current version it goes through.
    let current = now.incident.version.to_string();
    let posted = post(
        &w,
        &format!("{path}/updates"),
        Some(&ada),
        &[("csrf", &csrf), ("version", &current), ("status", "monitoring"), ("message", "My fix is out.")],
    )
    .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(ok(w.service.incident(id).await).incident.status, IncidentStatus::Monitoring);
}

#[tokio::test]
async fn admins_manage_components_and_responders_only_read_them() {
    let w = world();
    member(&w, "Ada", Role::Admin).await;
    member(&w, "Rex", Role::Responder).await;
    let ada = sign_in(&w, "ada@acme.test").await;
    let rex = sign_in(&w, "rex@acme.test").await;
    let screen = get(&w, "/admin/components", Some(&ada)).await;
    let csrf = csrf_of(&screen.body);
    assert_eq!(
        post(&w, "/admin/groups", Some(&ada), &[("csrf", &csrf), ("name", "Platform")]).await.status,
        StatusCode::SEE_OTHER
    );
    let groups = ok(w.service.groups().await);
    let group = groups[0].id.to_string();
    let added =
        post(&w, "/admin/components", Some(&ada), &[("csrf", &csrf), ("name", "API"), ("group_id", &group)]).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let api = ok(w.service.components().await).remove(0);
    assert_eq!(api.group_id.map(|g| g.to_string()), Some(group.clone()));
    let path = format!("/admin/components/{}", api.id);
    let version = api.version.to_string();
    let form = |status: &'static str, version: String| {
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("version".to_owned(), version),
            ("name".to_owned(), "Public API".to_owned()),
            ("description".to_owned(), String::new()),
            ("group_id".to_owned(), group.clone()),
            ("position".to_owned(), "3".to_owned()),
            ("status".to_owned(), status.to_owned()),
        ]
    };
    let pairs = form("degraded_performance", version.clone());
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(post(&w, &path, Some(&ada), &refs).await.status, StatusCode::SEE_OTHER);
    let saved = ok(w.service.component(api.id).await);
    assert_eq!(
        (saved.name.as_str(), saved.position, saved.status),
        ("Public API", 3, beacon_domain::ComponentStatus::DegradedPerformance)
    );
    // The same form again, at the version it was read: someone changed it meanwhile.
    let stale = post(&w, &path, Some(&ada), &refs).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("Someone else changed this component meanwhile"));
    // A responder reads the screen without forms, and a form posted anyway is refused.
    let screen = get(&w, "/admin/components", Some(&rex)).await;
    assert!(screen.body.contains("Public API") && !screen.body.contains("Add component"), "{}", screen.body);
    let rex_csrf = csrf_of(&screen.body);
    let pairs = form("major_outage", saved.version.to_string());
    let mut refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    refs[0] = ("csrf", &rex_csrf);
    assert_eq!(post(&w, &path, Some(&rex), &refs).await.status, StatusCode::FORBIDDEN);
    assert_eq!(ok(w.service.component(api.id).await), saved, "nothing changed");

    // Groups are added, renamed and moved by version.
    let ada_csrf = csrf_of(&get(&w, "/admin/components", Some(&ada)).await.body);
    let added = post(&w, "/admin/groups", Some(&ada), &[("csrf", &ada_csrf), ("name", "Backend")]).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let group = ok(w.service.groups().await).into_iter().next().unwrap_or_else(|| panic!("no group"));
    let group_path = format!("/admin/groups/{}", group.id);
    let v = group.version.to_string();
    let fields = [("csrf", ada_csrf.as_str()), ("name", "Core"), ("position", "7"), ("version", v.as_str())];
    assert_eq!(post(&w, &group_path, Some(&ada), &fields).await.status, StatusCode::SEE_OTHER);
    let moved = ok(w.service.group(group.id).await);
    assert_eq!((moved.name.as_str(), moved.position), ("Core", 7));
    let stale = post(&w, &group_path, Some(&ada), &fields).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let fields = [("csrf", rex_csrf.as_str()), ("name", "Mine"), ("version", "2")];
    assert_eq!(post(&w, &group_path, Some(&rex), &fields).await.status, StatusCode::FORBIDDEN);
    assert_eq!(ok(w.service.group(group.id).await), moved);
}

#[tokio::test]
async fn monitors_are_paused_and_checked_from_the_console_and_admins_read_the_audit_log() {
    let w = world();
    member(&w, "Ada", Role::Admin).await;
    member(&w, "Vic", Role::Viewer).await;
    let check: beacon_domain::MonitorKind =
        ok(serde_json::from_str(r#"{"kind":"tcp","host":"db.example.com","port":5432}"#));
    let monitor = ok(w
        .service
        .create_monitor(
            Actor::System,
            beacon_app::MonitorSettings {
                name: "Database port".into(),
                check,
                interval_seconds: None,
                regions: Some(vec!["local".into()]),
                thresholds: None,
                components: vec![],
                incident_title: None,
                incident_message: None,
                publish: true,
                paused: false,
            },
            &["local".to_owned()],
        )
        .await)
    .monitor;
    let ada = sign_in(&w, "ada@acme.test").await;
    let vic = sign_in(&w, "vic@acme.test").await;
    let screen = get(&w, "/admin/monitors", Some(&ada)).await;
    assert!(screen.body.contains("Database port") && screen.body.contains("not checked yet"), "{}", screen.body);
    let csrf = csrf_of(&screen.body);
    let paused = post(&w, &format!("/admin/monitors/{}/pause", monitor.id), Some(&ada), &[("csrf", &csrf)]).await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER);
    assert!(ok(w.service.monitor(monitor.id).await).paused);
    let screen = get(&w, "/admin/monitors?done=pause", Some(&ada)).await;
    assert!(screen.body.contains("Resume Database port"), "{}", screen.body);
    let resumed = post(&w, &format!("/admin/monitors/{}/resume", monitor.id), Some(&ada), &[("csrf", &csrf)]).await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        post(&w, &format!("/admin/monitors/{}/check", monitor.id), Some(&ada), &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );
    // A viewer sees no buttons and is refused.
    let screen = get(&w, "/admin/monitors", Some(&vic)).await;
    assert!(!screen.body.contains("Pause Database port"));
    let vic_csrf = csrf_of(&screen.body);
    let refused = post(&w, &format!("/admin/monitors/{}/pause", monitor.id), Some(&vic), &[("csrf", &vic_csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!ok(w.service.monitor(monitor.id).await).paused);
    // The audit log: the monitor's changes with who made them; not for viewers.
    let log = get(&w, "/admin/audit", Some(&ada)).await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.body.contains("monitor changed") && log.body.contains("Ada"), "{}", log.body);
    assert_eq!(get(&w, "/admin/audit", Some(&vic)).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_postmortem_is_drafted_privately_and_published_from_the_incident_page() {
    let w = world();
    member(&w, "Ada", Role::Responder).await;
    let ada = sign_in(&w, "ada@acme.test").await;
    let detail = ok(w
        .service
        .report_incident(
            Actor::System,
            ReportIncident {
                title: Some("Login failures".into()),
                message: Some("Looking.".into()),
                ..Default::default()
            },
        )
        .await);
    let id = detail.incident.id;
    let path = format!("/admin/incidents/{id}");
    let open = get(&w, &path, Some(&ada)).await;
    assert!(!open.body.contains("id=\"postmortem\""), "no postmortem while open");
    ok(w.service.resolve_incident(Actor::System, id, None, None).await);
    let page = get(&w, &path, Some(&ada)).await;
    let csrf = csrf_of(&page.body);
    let version = ok(w.service.incident(id).await).incident.version.to_string();
    let saved = post(
        &w,
        &format!("{path}/postmortem"),
        Some(&ada),
        &[("csrf", &csrf), ("version", &version), ("body", "A certificate expired.")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let public = ok(w.service.public_state().await);
    assert!(public.incidents.iter().all(|d| d.incident.postmortem.is_none()), "a draft is private");
    let page = get(&w, &format!("{path}?done=postmortem"), Some(&ada)).await;
    assert!(page.body.contains("Postmortem saved.") && page.body.contains("Publish postmortem"), "{}", page.body);
    let version = ok(w.service.incident(id).await).incident.version.to_string();
    let published =
        post(&w, &format!("{path}/postmortem/publish"), Some(&ada), &[("csrf", &csrf), ("version", &version)]).await;
    assert_eq!(published.status, StatusCode::SEE_OTHER);
    let public = ok(w.service.public_state().await);
    let shown = public.incidents.iter().find(|d| d.incident.id == id).and_then(|d| d.incident.postmortem.clone());
    assert_eq!(shown.map(|p| p.body.as_str().to_owned()), Some("A certificate expired.".into()));
}

#[tokio::test]
async fn admins_keep_the_templates_that_reports_start_from() {
    let w = world();
    member(&w, "Ada", Role::Admin).await;
    ok(w.service
        .create_component(Actor::System, beacon_app::NewComponent { name: "API".into(), ..Default::default() })
        .await);
    let api = ok(w.service.components().await).remove(0);
    let ada = sign_in(&w, "ada@acme.test").await;
    let screen = get(&w, "/admin/templates", Some(&ada)).await;
    assert!(screen.body.contains("No templates yet."), "{}", screen.body);
    let csrf = csrf_of(&screen.body);
    let id = api.id.to_string();
    let status_field = format!("status_{id}");
    let added = post(
        &w,
        "/admin/templates",
        Some(&ada),
        &[
            ("csrf", &csrf),
            ("name", "API down"),
            ("title", "The API is down"),
            ("impact", "critical"),
            ("components", &id),
            (&status_field, "major_outage"),
            ("message", "We are investigating."),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let template = ok(w.service.templates().await).remove(0);
    assert_eq!((template.title.as_str(), template.impact), ("The API is down", beacon_domain::Impact::Critical));
    assert_eq!(template.components[0].status, beacon_domain::ComponentStatus::MajorOutage);
    // The report form starts from it.
    let form = get(&w, &format!("/admin/incidents/new?template={}", template.id), Some(&ada)).await;
    assert!(form.body.contains("value=\"The API is down\""), "{}", form.body);
    // An edit at a stale version is reported and changes nothing.
    let stale = post(
        &w,
        &format!("/admin/templates/{}", template.id),
        Some(&ada),
        &[("csrf", &csrf), ("version", "9"), ("name", "x"), ("title", "y"), ("impact", "minor"), ("message", "z")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(ok(w.service.templates().await).remove(0), template);
}

async fn post_json(w: &World, path: &str, body: Vec<u8>) -> Answer {
    let request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    send(w, ok(request.body(Body::from(body)))).await
}

async fn get_with_token(w: &World, path: &str, token: &str) -> StatusCode {
    let request = Request::get(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
    send(w, ok(request.body(Body::empty()))).await.status
}

/// The text between `start` and the next `end` in `page`.
fn between(page: &str, start: &str, end: &str) -> String {
    let from = page.find(start).unwrap_or_else(|| panic!("no {start:?} in {page}")) + start.len();
    page[from..].split(end).next().unwrap_or_default().to_owned()
}

async fn subscriber_count(w: &World) -> u64 {
    ok(w.service.count_subscribers(beacon_app::SubscriberFilter::default()).await)
}

#[tokio::test]
async fn admins_search_count_export_import_and_remove_subscribers() {
    let w = world();
    member(&w, "Ada", Role::Admin).await;
    member(&w, "Rita", Role::Responder).await;
    let ada = sign_in(&w, "ada@acme.test").await;
    let rita = sign_in(&w, "rita@acme.test").await;
    let screen = get(&w, "/admin/subscribers", Some(&ada)).await;
    assert_eq!(screen.status, StatusCode::OK);
    assert!(screen.body.contains("<strong>0</strong> subscribers match"), "{}", screen.body);
    let csrf = csrf_of(&screen.body);

    // A CSV without a target column is refused whole: nothing made, the text kept.
    let refused =
        post(&w, "/admin/subscribers/import", Some(&ada), &[("csrf", &csrf), ("csv", "email\nx@y.test")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("target") && refused.body.contains("email\nx@y.test</textarea>"), "{}", refused.body);
    assert_eq!(subscriber_count(&w).await, 0);

    let csv = "kind,target\nemail,bob@example.com\nemail,carol@example.com\nemail,not-an-address\nwebhook,https://hooks.example.com/beacon\nemail,bob@example.com\n";
    let imported = post(&w, "/admin/subscribers/import", Some(&ada), &[("csrf", &csrf), ("csv", csv)]).await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    let report = between(&imported.body, "id=\"import-report\"", "</div>");
    assert!(report.contains("<strong>3</strong> created, 1 already subscribed, 1 refused"), "{report}");
    assert!(report.contains("Line 4:"), "{report}");
    // The webhook's signing secret, once.
    assert!(report.contains("Line 5") && report.contains("<code>"), "{report}");
    assert_eq!(subscriber_count(&w).await, 3);

    // Search, with the count following the filters.
    let found = get(&w, "/admin/subscribers?q=BOB&state=&channel=", Some(&ada)).await;
    assert!(found.body.contains("<strong>1</strong> subscriber matches") && found.body.contains("bob@example.com"));
    assert!(!found.body.contains("carol@example.com"));
    let webhooks = get(&w, "/admin/subscribers?channel=webhook", Some(&ada)).await;
    assert!(webhooks.body.contains("<strong>1</strong> subscriber matches"), "{}", webhooks.body);
    let bad = get(&w, "/admin/subscribers?state=sleeping", Some(&ada)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The export is the whole list as CSV, never cached.
    let export = get(&w, "/admin/subscribers/export.csv", Some(&ada)).await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.body.starts_with("id,kind,target"), "{}", export.body);
    assert!(export.body.contains("carol@example.com") && export.body.contains("https://hooks.example.com/beacon"));

    // A responder reaches none of it, and their posts change nothing.
    assert_eq!(get(&w, "/admin/subscribers", Some(&rita)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&w, "/admin/subscribers/export.csv", Some(&rita)).await.status, StatusCode::FORBIDDEN);
    let rita_csrf = csrf_of(&get(&w, "/admin", Some(&rita)).await.body);
    let sneaky =
        post(&w, "/admin/subscribers/import", Some(&rita), &[("csrf", &rita_csrf), ("csv", "target\neve@example.com")])
            .await;
    assert_eq!(sneaky.status, StatusCode::FORBIDDEN);
    assert_eq!(subscriber_count(&w).await, 3);

    // Removing one: the count follows; without the CSRF token nothing goes.
    let bob_id = between(&found.body, "action=\"/admin/subscribers/", "/delete\"");
    let forged = post(&w, &format!("/admin/subscribers/{bob_id}/delete"), Some(&ada), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(subscriber_count(&w).await, 3);
    let removed = post(&w, &format!("/admin/subscribers/{bob_id}/delete"), Some(&ada), &[("csrf", &csrf)]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(subscriber_count(&w).await, 2);
    let after = get(&w, "/admin/subscribers?done=removed", Some(&ada)).await;
    assert!(after.body.contains("<strong>2</strong> subscribers match") && !after.body.contains("bob@example.com"));
}

#[tokio::test]
async fn integrations_show_their_url_once_and_keep_a_delivery_log() {
    let w = world();
    member(&w, "Ada", Role::Admin).await;
    member(&w, "Rita", Role::Responder).await;
    let api = ok(w
        .service
        .create_component(
            Actor::System,
            beacon_app::NewComponent {
                name: "API".into(),
                description: None,
                group_id: None,
                position: None,
                status: None,
            },
        )
        .await);
    let ada = sign_in(&w, "ada@acme.test").await;
    let screen = get(&w, "/admin/integrations", Some(&ada)).await;
    assert!(screen.body.contains("No integrations yet"), "{}", screen.body);
    let csrf = csrf_of(&screen.body);
    let status_field = format!("status_{}", api.id);
    let api_id = api.id.to_string();
    let created = post(
        &w,
        "/admin/integrations",
        Some(&ada),
        &[
            ("csrf", &csrf),
            ("name", "Prometheus"),
            ("kind", "alertmanager"),
            ("components", &api_id),
            (&status_field, "major_outage"),
            ("publish", "yes"),
        ],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let url = between(&created.body, "id=\"hook-url\">", "</code>");
    assert!(url.starts_with("https://status.acme.test/api/v1/hooks/"), "{url}");
    let path = url.trim_start_matches("https://status.acme.test").to_owned();

    // The tool posts; the incident opens on the component; the log says so.
    let fixture = format!("{}/../../tests/fixtures/integrations/alertmanager-firing.json", env!("CARGO_MANIFEST_DIR"));
    let delivered = post_json(&w, &path, ok(std::fs::read(fixture))).await;
    assert_eq!(delivered.status, StatusCode::ACCEPTED, "{}", delivered.body);
    let id = between(&created.body, "action=\"/admin/integrations/", "/rotate\"");
    let log = get(&w, &format!("/admin/integrations/{id}"), Some(&ada)).await;
    assert!(log.body.contains("<td>opened</td>") && log.body.contains("/admin/incidents/"), "{}", log.body);
    // Shown once: later reads never carry the URL's secret.
    assert!(!log.body.contains(&path));
    let list = get(&w, "/admin/integrations", Some(&ada)).await;
    assert!(list.body.contains("Prometheus") && list.body.contains("API (Major outage)") && !list.body.contains(&path));

    // A new URL: shown once, and the old one stops working at once.
    let version = between(&log.body, "name=\"version\" value=\"", "\"");
    let rotated =
        post(&w, &format!("/admin/integrations/{id}/rotate"), Some(&ada), &[("csrf", &csrf), ("version", &version)])
            .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_url = between(&rotated.body, "id=\"hook-url\">", "</code>");
    assert_ne!(new_url, url);
    let fixture = format!("{}/../../tests/fixtures/integrations/alertmanager-firing.json", env!("CARGO_MANIFEST_DIR"));
    assert_eq!(post_json(&w, &path, ok(std::fs::read(&fixture))).await.status, StatusCode::NOT_FOUND);
    // The same stale version again is a conflict, and changes nothing.
    let stale =
        post(&w, &format!("/admin/integrations/{id}/rotate"), Some(&ada), &[("csrf", &csrf), ("version", &version)])
            .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(!stale.body.contains("id=\"hook-url\""));

    // Responders cannot reach integrations.
    let rita = sign_in(&w, "rita@acme.test").await;
    assert_eq!(get(&w, "/admin/integrations", Some(&rita)).await.status, StatusCode::FORBIDDEN);
    let rita_csrf = csrf_of(&get(&w, "/admin", Some(&rita)).await.body);
    let refused = post(&w, &format!("/admin/integrations/{id}/delete"), Some(&rita), &[("csrf", &rita_csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(ok(w.service.integrations().await).len(), 1);

    let deleted = post(&w, &format!("/admin/integrations/{id}/delete"), Some(&ada), &[("csrf", &csrf)]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(ok(w.service.integrations().await).is_empty());
    let new_path = new_url.trim_start_matches("https://status.acme.test").to_owned();
    assert_eq!(post_json(&w, &new_path, ok(std::fs::read(&fixture))).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_team_screen_keeps_the_apis_role_rules() {
    let w = world();
    member(&w, "Olga", Role::Owner).await;
    member(&w, "Ada", Role::Admin).await;
    member(&w, "Rita", Role::Responder).await;
    let ada = sign_in(&w, "ada@acme.test").await;
    let screen = get(&w, "/admin/team", Some(&ada)).await;
    assert_eq!(screen.status, StatusCode::OK);
    let csrf = csrf_of(&screen.body);
    // An admin may not change or remove the owner: no form, and a forged post is refused.
    let olga = ok(w.service.members().await).into_iter().find(|m| m.role == Role::Owner).map(|m| m.id);
    let olga = olga.unwrap_or_else(|| panic!("no owner"));
    assert!(!screen.body.contains(&format!("/admin/team/members/{olga}")), "{}", screen.body);
    let demote = post(
        &w,
        &format!("/admin/team/members/{olga}"),
        Some(&ada),
        &[("csrf", &csrf), ("role", "viewer"), ("version", "1")],
    )
    .await;
    assert_eq!(demote.status, StatusCode::FORBIDDEN);
    assert_eq!(ok(w.service.member(olga).await).role, Role::Owner);
    // Nor make an admin.
    let raise = post(
        &w,
        "/admin/team/members",
        Some(&ada),
        &[("csrf", &csrf), ("name", "Max"), ("email", "max@acme.test"), ("role", "admin")],
    )
    .await;
    assert_eq!(raise.status, StatusCode::FORBIDDEN);
    assert_eq!(ok(w.service.members().await).len(), 3);
    // A viewer, yes; the same address twice, no.
    let added = post(
        &w,
        "/admin/team/members",
        Some(&ada),
        &[("csrf", &csrf), ("name", "Vic"), ("email", "vic@acme.test"), ("role", "viewer")],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let again = post(
        &w,
        "/admin/team/members",
        Some(&ada),
        &[("csrf", &csrf), ("name", "Vic"), ("email", "vic@acme.test"), ("role", "viewer")],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(ok(w.service.members().await).len(), 4);

    // Role changes go by version: a stale form is reported, not applied.
    let vic = ok(w.service.members().await).into_iter().find(|m| m.name.as_str() == "Vic").map(|m| (m.id, m.version));
    let (vic, version) = vic.unwrap_or_else(|| panic!("no Vic"));
    let v = version.to_string();
    let promoted = post(
        &w,
        &format!("/admin/team/members/{vic}"),
        Some(&ada),
        &[("csrf", &csrf), ("role", "responder"), ("version", &v)],
    )
    .await;
    assert_eq!(promoted.status, StatusCode::SEE_OTHER);
    let stale = post(
        &w,
        &format!("/admin/team/members/{vic}"),
        Some(&ada),
        &[("csrf", &csrf), ("role", "viewer"), ("version", &v)],
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(ok(w.service.member(vic).await).role, Role::Responder);

    // A token: its secret shown once, working on the API until revoked.
    let made = post(
        &w,
        "/admin/team/tokens",
        Some(&ada),
        &[("csrf", &csrf), ("name", "deploy script"), ("role", "responder")],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let secret = between(&made.body, "id=\"token-secret\">", "</code>");
    assert_eq!(get_with_token(&w, "/api/v1/components", &secret).await, StatusCode::OK);
    let later = get(&w, "/admin/team", Some(&ada)).await;
    assert!(later.body.contains("deploy script") && !later.body.contains(&secret));
    let too_much =
        post(&w, "/admin/team/tokens", Some(&ada), &[("csrf", &csrf), ("name", "root"), ("role", "owner")]).await;
    assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", too_much.body);
    let token_id = between(&later.body, "action=\"/admin/team/tokens/", "/revoke\"");
    let revoked = post(&w, &format!("/admin/team/tokens/{token_id}/revoke"), Some(&ada), &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(get_with_token(&w, "/api/v1/components", &secret).await, StatusCode::UNAUTHORIZED);

    // A responder reads the team but sees no tokens and may not make one.
    let rita = sign_in(&w, "rita@acme.test").await;
    let theirs = get(&w, "/admin/team", Some(&rita)).await;
    assert!(theirs.body.contains("Olga") && !theirs.body.contains("API tokens"), "{}", theirs.body);
    let rita_csrf = csrf_of(&theirs.body);
    let refused =
        post(&w, "/admin/team/tokens", Some(&rita), &[("csrf", &rita_csrf), ("name", "mine"), ("role", "viewer")])
            .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn save_settings(w: &World, cookie: &str, csrf: &str, name: &str, accent: &str, version: &str) -> Answer {
    let fields = [
        ("csrf", csrf),
        ("name", name),
        ("logo_url", "https://cdn.acme.test/logo.svg"),
        ("accent", accent),
        ("accent_dark", ""),
        ("link_label", "Support"),
        ("link_url", "https://acme.test/help"),
        ("link_label", ""),
        ("link_url", ""),
        ("time_zone", "Europe/Berlin"),
        ("version", version),
    ];
    post(w, "/admin/settings", Some(cookie), &fields).await
}

#[tokio::test]
async fn admins_set_the_pages_name_logo_colours_links_and_zone() {
    let w = world();
    member(&w, "Ada", Role::Admin).await;
    member(&w, "Rita", Role::Responder).await;
    let ada = sign_in(&w, "ada@acme.test").await;
    // Before anything is saved the form shows the deployment's configuration.
    let screen = get(&w, "/admin/settings", Some(&ada)).await;
    assert!(screen.body.contains("value=\"Acme\"") && screen.body.contains("name=\"version\" value=\"0\""));
    let csrf = csrf_of(&screen.body);
    // Unreadable yellow is refused with its contrast; the form keeps what was typed.
    let refused = save_settings(&w, &ada, &csrf, "Acme Cloud", "#ffff00", "0").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("contrast") && refused.body.contains("value=\"Acme Cloud\""), "{}", refused.body);
    assert_eq!(ok(w.service.page_settings().await), None);

    let saved = save_settings(&w, &ada, &csrf, "Acme Cloud", "#8250df", "0").await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = ok(w.service.page_settings().await).unwrap_or_else(|| panic!("not saved"));
    assert_eq!(
        (stored.name.as_str(), stored.time_zone.as_str(), stored.links.len()),
        ("Acme Cloud", "Europe/Berlin", 1)
    );
    assert_eq!(stored.accent.map(|c| c.as_str().to_owned()), Some("#8250df".to_owned()));

    // A form read before that save: 409, the saved settings shown, the typed ones beside.
    let stale = save_settings(&w, &ada, &csrf, "Acme Old", "#0969da", "0").await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("value=\"Acme Cloud\"") && stale.body.contains("<dd>Acme Old</dd>"), "{}", stale.body);
    assert_eq!(ok(w.service.page_settings().await).map(|s| s.version), Some(1));

    // The API reads the same settings.
    let rita = sign_in(&w, "rita@acme.test").await;
    let theirs = get(&w, "/admin/settings", Some(&rita)).await;
    assert!(theirs.body.contains("<dd>Acme Cloud</dd>") && !theirs.body.contains("name=\"accent\""));
    let rita_csrf = csrf_of(&theirs.body);
    let pairs = [("csrf", rita_csrf.as_str()), ("name", "Mine"), ("time_zone", "Etc/UTC"), ("version", "1")];
    assert_eq!(post(&w, "/admin/settings", Some(&rita), &pairs).await.status, StatusCode::FORBIDDEN);
    assert_eq!(ok(w.service.page_settings().await).map(|s| s.name.to_string()), Some("Acme Cloud".to_owned()));
}

#[tokio::test]
async fn the_incident_list_filters_by_state_impact_and_title_and_pages_through_history() {
    let w = world();
    member(&w, "Vic", Role::Viewer).await;
    let report = |title: &str, impact: beacon_domain::Impact| ReportIncident {
        title: Some(title.into()),
        message: Some("Looking.".into()),
        impact: Some(impact),
        ..Default::default()
    };
    let slow = ok(w.service.report_incident(Actor::System, report("Slow search", beacon_domain::Impact::Minor)).await);
    ok(w.service.report_incident(Actor::System, report("Checkout down", beacon_domain::Impact::Critical)).await);
    ok(w.service.report_incident(Actor::System, report("Search index stale", beacon_domain::Impact::Major)).await);
    ok(w.service.resolve_incident(Actor::System, slow.incident.id, None, None).await);
    let vic = sign_in(&w, "vic@acme.test").await;
    let titles = |body: &str| ["Slow search", "Checkout down", "Search index stale"].map(|t| body.contains(t));
    let all = get(&w, "/admin/incidents", Some(&vic)).await;
    assert_eq!(titles(&all.body), [true, true, true]);
    let search = get(&w, "/admin/incidents?q=SEARCH", Some(&vic)).await;
    assert_eq!(titles(&search.body), [true, false, true], "{}", search.body);
    let open_search = get(&w, "/admin/incidents?q=search&state=open", Some(&vic)).await;
    assert_eq!(titles(&open_search.body), [false, false, true]);
    let critical = get(&w, "/admin/incidents?impact=critical", Some(&vic)).await;
    assert_eq!(titles(&critical.body), [false, true, false]);
    assert!(critical.body.contains("<option value=\"critical\" selected>"), "the filter stays chosen");
    let none = get(&w, "/admin/incidents?q=nothing+like+this", Some(&vic)).await;
    assert!(none.body.contains("No incident matches."));

    // History: 50 to a page, the next page keeps the filters.
    for n in 0..55 {
        ok(w.service.report_incident(Actor::System, report(&format!("Blip {n}"), beacon_domain::Impact::Minor)).await);
    }
    let first = get(&w, "/admin/incidents?q=blip", Some(&vic)).await;
    assert_eq!(first.body.matches("Blip ").count(), 50);
    let next = between(&first.body, "href=\"/admin/incidents?", "\"").replace("&#38;", "&");
    assert!(next.contains("q=blip") && next.contains("cursor="), "{next}");
    let second = get(&w, &format!("/admin/incidents?{next}"), Some(&vic)).await;
    assert_eq!(second.body.matches("Blip ").count(), 5, "{}", second.body);
    assert!(!second.body.contains("Older incidents"));
}

#[tokio::test]
async fn sessions_end_everywhere_at_once() {
    let w = world();
    member(&w, "Ada", Role::Admin).await;
    member(&w, "Rita", Role::Responder).await;
    let ada = sign_in(&w, "ada@acme.test").await;
    let rita_laptop = sign_in(&w, "rita@acme.test").await;
    let rita_phone = sign_in(&w, "rita@acme.test").await;
    w.clock.advance(jiff::SignedDuration::from_secs(1));
    // An admin ends a responder's sessions: both of them stop working.
    let screen = get(&w, "/admin/team", Some(&ada)).await;
    let rita_id = ok(w.service.members().await).into_iter().find(|m| m.name.as_str() == "Rita").map(|m| m.id);
    let rita_id = rita_id.unwrap_or_else(|| panic!("no Rita"));
    let ended =
        post(&w, &format!("/admin/team/members/{rita_id}/sessions"), Some(&ada), &[("csrf", &csrf_of(&screen.body))])
            .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    for cookie in [&rita_laptop, &rita_phone] {
        assert_eq!(get(&w, "/admin", Some(cookie)).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(get(&w, "/admin", Some(&ada)).await.status, StatusCode::OK, "the admin's own goes on");
    // Signing in again works at once.
    let rita = sign_in(&w, "rita@acme.test").await;
    let theirs = get(&w, "/admin/team", Some(&rita)).await;
    assert_eq!(theirs.status, StatusCode::OK);
    // A responder may not end an admin's sessions, only their own ("everywhere").
    let ada_id = ok(w.service.members().await).into_iter().find(|m| m.name.as_str() == "Ada").map(|m| m.id);
    let ada_id = ada_id.unwrap_or_else(|| panic!("no Ada"));
    let csrf = csrf_of(&theirs.body);
    let refused = post(&w, &format!("/admin/team/members/{ada_id}/sessions"), Some(&rita), &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&w, "/admin", Some(&ada)).await.status, StatusCode::OK);
    w.clock.advance(jiff::SignedDuration::from_secs(1));
    let own = post(&w, &format!("/admin/team/members/{rita_id}/sessions"), Some(&rita), &[("csrf", &csrf)]).await;
    assert_eq!((own.status, own.location.as_deref()), (StatusCode::SEE_OTHER, Some("/admin/sign-in")));
    assert_eq!(get(&w, "/admin", Some(&rita)).await.status, StatusCode::UNAUTHORIZED);
}
