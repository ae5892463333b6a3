//! Snapshot tests: the rendered files of one fixed state, compared byte for byte with
//! the reviewed copies in `tests/snapshots/`. A change to a template or to the renderer
//! shows up here as a diff to review (`cargo insta review`, or delete the snapshot and
//! run again).

use beacon_domain::{
    Actor, AffectedChange, AffectedComponent, Component, ComponentGroup, ComponentId, ComponentStatus, Description,
    GroupId, Impact, Incident, IncidentId, IncidentSource, IncidentStatus, Markdown, Name, PublicUpdate, Title,
    UpdateId,
};
use beacon_domain::{Automation, Maintenance, MaintenanceId, MaintenanceStatus, MaintenanceUpdate, Window};
use beacon_site::{IncidentRecord, MaintenanceRecord, PageConfig, PageLink, SiteObject, Snapshot, render};
use jiff::Timestamp;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn ulid(n: u128) -> ulid::Ulid {
    ulid::Ulid::from_parts(1_767_225_600_000, n)
}

fn name(text: &str) -> Name {
    Name::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn component(n: u128, label: &str, group: Option<GroupId>, status: ComponentStatus) -> Component {
    Component {
        id: ComponentId::new(ulid(n)),
        name: name(label),
        description: Description::parse(&format!("{label} for customers")).unwrap_or_else(|e| panic!("{e}")),
        position: n as u32,
        group_id: group,
        manual_status: ComponentStatus::Operational,
        status,
        created_at: at("2025-06-01T00:00:00Z"),
        updated_at: at("2026-03-15T09:00:00Z"),
        version: 1,
    }
}

fn update(
    n: u128,
    incident: IncidentId,
    time: &str,
    status: IncidentStatus,
    message: &str,
    changes: Vec<AffectedChange>,
) -> PublicUpdate {
    PublicUpdate {
        id: UpdateId::new(ulid(n)),
        incident_id: incident,
        message: Markdown::parse(message).unwrap_or_else(|e| panic!("{e}")),
        status,
        impact: None,
        affected_components: changes,
        author: Actor::System,
        created_at: at(time),
        notify: true,
    }
}

fn record(
    n: u128,
    title: &str,
    impact: Impact,
    components: Vec<AffectedComponent>,
    updates: Vec<PublicUpdate>,
) -> IncidentRecord {
    let first = updates.first().map_or(Timestamp::UNIX_EPOCH, |u| u.created_at);
    let last = updates.last().map_or(first, |u| u.created_at);
    let status = updates.last().map_or(IncidentStatus::Investigating, |u| u.status);
    let time_of = |s: IncidentStatus| updates.iter().find(|u| u.status == s).map(|u| u.created_at);
    IncidentRecord {
        incident: Incident {
            id: IncidentId::new(ulid(n)),
            title: Title::parse(title).unwrap_or_else(|e| panic!("{e}")),
            status,
            impact,
            components: if status.is_open() { components } else { Vec::new() },
            source: IncidentSource::Manual,
            template_id: None,
            created_at: first,
            updated_at: last,
            identified_at: time_of(IncidentStatus::Identified),
            monitoring_at: time_of(IncidentStatus::Monitoring),
            resolved_at: time_of(IncidentStatus::Resolved),
            monitor_id: None,
            integration_id: None,
            auto_resolve: true,
            published: true,
            published_at: None,
            postmortem: None,
            backfilled: false,
            version: updates.len() as u64,
        },
        updates,
    }
}

/// A maintenance in Berlin time with its updates (`(time, status, message)`).
fn maintenance(
    n: u128,
    title: &str,
    window: (&str, &str),
    components: Vec<ComponentId>,
    updates: &[(&str, MaintenanceStatus, &str)],
) -> MaintenanceRecord {
    let id = MaintenanceId::new(ulid(n));
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or_else(|e| panic!("{e}"));
    let status = updates.last().map_or(MaintenanceStatus::Scheduled, |u| u.1);
    let time_of = |s: MaintenanceStatus| updates.iter().find(|u| u.1 == s).map(|u| at(u.0));
    MaintenanceRecord {
        maintenance: Maintenance {
            id,
            title: Title::parse(title).unwrap_or_else(|e| panic!("{e}")),
            status,
            window: Window::in_zone(at(window.0), at(window.1), "Europe/Berlin", &berlin),
            components,
            automation: Automation::default(),
            series_id: None,
            created_at: at(updates[0].0),
            updated_at: at(updates[updates.len() - 1].0),
            started_at: time_of(MaintenanceStatus::InProgress),
            completed_at: time_of(MaintenanceStatus::Completed),
            subscribers_reminded_at: None,
            team_reminded_at: None,
            version: updates.len() as u64,
        },
        updates: updates
            .iter()
            .enumerate()
            .map(|(k, (time, status, message))| MaintenanceUpdate {
                id: UpdateId::new(ulid(n * 10 + k as u128)),
                maintenance_id: id,
                message: Markdown::parse(message).unwrap_or_else(|e| panic!("{e}")),
                status: *status,
                window: None,
                author: Actor::System,
                created_at: at(time),
            })
            .collect(),
    }
}

/// A small page: two groups and an ungrouped component, one open incident, one resolved
/// three days ago and one from the month before.
fn fixture() -> Snapshot {
    let core = ComponentGroup {
        id: GroupId::new(ulid(1)),
        name: name("Core"),
        description: Description::empty(),
        position: 0,
        created_at: at("2025-06-01T00:00:00Z"),
        updated_at: at("2025-06-01T00:00:00Z"),
        version: 1,
    };
    let edge = ComponentGroup { id: GroupId::new(ulid(2)), name: name("Edge"), position: 1, ..core.clone() };
    let api = component(10, "API", Some(core.id), ComponentStatus::MajorOutage);
    let api_id = api.id;
    let dashboard = component(11, "Dashboard", Some(core.id), ComponentStatus::Operational);
    let cdn = component(12, "CDN", Some(edge.id), ComponentStatus::Operational);
    let (dashboard_id, cdn_id) = (dashboard.id, cdn.id);
    let docs = component(13, "Docs", None, ComponentStatus::Operational);

    let open_id = IncidentId::new(ulid(100));
    let open = record(
        100,
        "Errors on the API & dashboard <slow>",
        Impact::Major,
        vec![AffectedComponent { id: api.id, status: ComponentStatus::MajorOutage }],
        vec![
            update(
                1000,
                open_id,
                "2026-03-15T10:00:00Z",
                IncidentStatus::Investigating,
                "We see **errors** on `POST /v1/orders`.",
                vec![AffectedChange {
                    id: api.id,
                    old: Some(ComponentStatus::Operational),
                    new: Some(ComponentStatus::MajorOutage),
                }],
            ),
            update(
                1001,
                open_id,
                "2026-03-15T11:15:00Z",
                IncidentStatus::Identified,
                "A bad deploy. Rolling back; see [the changelog](https://example.com/changes).",
                vec![],
            ),
        ],
    );
    let recent_id = IncidentId::new(ulid(101));
    let recent = record(
        101,
        "Slow CDN in Europe",
        Impact::Minor,
        vec![AffectedComponent { id: cdn.id, status: ComponentStatus::DegradedPerformance }],
        vec![
            update(
                1010,
                recent_id,
                "2026-03-12T08:00:00Z",
                IncidentStatus::Investigating,
                "Pages load slowly from Europe.",
                vec![AffectedChange {
                    id: cdn.id,
                    old: Some(ComponentStatus::Operational),
                    new: Some(ComponentStatus::PartialOutage),
                }],
            ),
            update(
                1011,
                recent_id,
                "2026-03-12T08:40:00Z",
                IncidentStatus::Monitoring,
                "Traffic moved to another provider.",
                vec![AffectedChange {
                    id: cdn.id,
                    old: Some(ComponentStatus::PartialOutage),
                    new: Some(ComponentStatus::DegradedPerformance),
                }],
            ),
            update(1012, recent_id, "2026-03-12T09:30:00Z", IncidentStatus::Resolved, "Resolved.", vec![]),
        ],
    );
    let old_id = IncidentId::new(ulid(102));
    let old = record(
        102,
        "Docs unavailable",
        Impact::Critical,
        vec![AffectedComponent { id: docs.id, status: ComponentStatus::MajorOutage }],
        vec![
            update(
                1020,
                old_id,
                "2026-02-20T23:30:00Z",
                IncidentStatus::Investigating,
                "The docs site is down.",
                vec![AffectedChange {
                    id: docs.id,
                    old: Some(ComponentStatus::Operational),
                    new: Some(ComponentStatus::MajorOutage),
                }],
            ),
            update(1021, old_id, "2026-02-21T01:00:00Z", IncidentStatus::Resolved, "Back up.", vec![]),
        ],
    );
    Snapshot {
        page: PageConfig {
            id: "acme".into(),
            name: "Acme".into(),
            url: "https://status.acme.test".into(),
            time_zone: "Europe/Berlin".into(),
            logo_url: None,
            links: vec![PageLink { label: "Support".into(), url: "https://acme.test/support".into() }],
            subscribe_url: Some("https://status.example.com/subscriptions".into()),
            accent: None,
            accent_dark: None,
        },
        generated_at: at("2026-03-15T12:00:00Z"),
        components: vec![api, dashboard, cdn, docs],
        groups: vec![core, edge],
        incidents: vec![open, recent, with_postmortem(old)],
        maintenances: vec![
            maintenance(
                202,
                "Database upgrade",
                ("2026-03-29T00:30:00Z", "2026-03-29T02:30:00Z"),
                vec![dashboard_id],
                &[("2026-03-14T10:00:00Z", MaintenanceStatus::Scheduled, "We will upgrade the **database**.")],
            ),
            maintenance(
                201,
                "Network work",
                ("2026-03-20T01:00:00Z", "2026-03-20T02:00:00Z"),
                vec![cdn_id],
                &[
                    ("2026-03-10T10:00:00Z", MaintenanceStatus::Scheduled, "Planned network work."),
                    ("2026-03-12T10:00:00Z", MaintenanceStatus::Cancelled, "No longer needed."),
                ],
            ),
            maintenance(
                200,
                "CDN certificate rotation",
                ("2026-03-14T02:00:00Z", "2026-03-14T03:00:00Z"),
                vec![cdn_id],
                &[
                    ("2026-03-10T09:00:00Z", MaintenanceStatus::Scheduled, "We will rotate certificates."),
                    ("2026-03-14T02:00:00Z", MaintenanceStatus::InProgress, "Under way."),
                    ("2026-03-14T02:40:00Z", MaintenanceStatus::Completed, "Done."),
                ],
            ),
        ],
        // The API is measured by automated checks: two days, a gap, a third.
        monitored: [(
            api_id,
            vec![
                checked("2026-03-12", 0, 120, 240),
                checked("2026-03-13", 1800, 140, 900),
                checked("2026-03-15", 0, 110, 200),
            ],
        )]
        .into(),
    }
}

/// The old incident with its published postmortem.
fn with_postmortem(mut r: IncidentRecord) -> IncidentRecord {
    r.incident.postmortem = Some(beacon_domain::Postmortem {
        body: Markdown::parse("## What happened\n\nA full disk stopped the docs server.")
            .unwrap_or_else(|e| panic!("{e}")),
        published_at: Some(at("2026-02-25T10:00:00Z")),
        updated_at: at("2026-02-25T10:00:00Z"),
        author: Actor::System,
    });
    r
}

fn checked(date: &str, down_seconds: i64, p50: u64, p95: u64) -> beacon_site::MonitoredDay {
    beacon_site::MonitoredDay {
        date: date.parse().unwrap_or_else(|e| panic!("{e}")),
        down_seconds,
        degraded_seconds: 0,
        observed_seconds: if date == "2026-03-15" { 43_200 } else { 86_400 },
        maintenance_seconds: 0,
        p50_ms: Some(p50),
        p95_ms: Some(p95),
    }
}

fn text(objects: &[SiteObject], path: &str) -> String {
    let object = objects.iter().find(|o| o.path == path).unwrap_or_else(|| panic!("{path} missing"));
    String::from_utf8(object.bytes.to_vec()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn pretty_json(objects: &[SiteObject], path: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(&text(objects, path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

#[test]
fn the_rendered_files_match_their_snapshots() {
    let objects = render(&fixture());
    let mut paths: Vec<&str> = objects.iter().map(|o| o.path.as_str()).collect();
    paths.sort_unstable();
    insta::assert_snapshot!("paths", paths.join("\n"));

    let open_incident = format!("incidents/{}.html", ulid(100));
    let maintenance_upcoming = format!("maintenances/{}.html", ulid(202));
    let postmortem_incident = format!("incidents/{}.html", ulid(102));
    for (snapshot, path) in [
        ("index", "index.html"),
        ("incident_open", open_incident.as_str()),
        ("history_index", "history/index.html"),
        ("history_month", "history/2026-03.html"),
        ("atom", "history.atom"),
        ("rss", "history.rss"),
        ("badge", "badge.svg"),
        ("not_found", "404.html"),
        ("maintenance_upcoming", maintenance_upcoming.as_str()),
        ("incident_postmortem", postmortem_incident.as_str()),
    ] {
        insta::assert_snapshot!(snapshot, text(&objects, path));
    }
    for (snapshot, path) in [
        ("v2_summary", "api/v2/summary.json"),
        ("v2_status", "api/v2/status.json"),
        ("v2_incidents", "api/v2/incidents.json"),
        ("v2_scheduled_maintenances", "api/v2/scheduled-maintenances.json"),
        ("v2_upcoming_maintenances", "api/v2/scheduled-maintenances/upcoming.json"),
    ] {
        insta::assert_snapshot!(snapshot, pretty_json(&objects, path));
    }
}

#[test]
fn the_script_is_named_by_its_content_cached_for_good_and_loaded_by_every_page() {
    let objects = render(&fixture());
    let scripts: Vec<&SiteObject> = objects.iter().filter(|o| o.path.starts_with("assets/")).collect();
    assert_eq!(scripts.len(), 1);
    let script = scripts[0];
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(&script.bytes));
    assert_eq!(script.path, format!("assets/local-time.{}.js", &digest[..12]));
    assert_eq!(script.cache_control, beacon_site::IMMUTABLE_CACHE);
    assert!(script.content_type.starts_with("text/javascript"));
    for page in objects.iter().filter(|o| o.path.ends_with(".html")) {
        let html = String::from_utf8_lossy(&page.bytes);
        let root = match page.path.matches('/').count() {
            0 if page.path == "404.html" => "/",
            0 => "",
            _ => "../",
        };
        assert!(
            html.contains(&format!("<script src=\"{root}{}\" defer></script>", script.path)),
            "{} does not load the script",
            page.path
        );
        // Every other response is short-lived.
        assert_eq!(page.cache_control, beacon_site::SHORT_CACHE, "{}", page.path);
    }
}
