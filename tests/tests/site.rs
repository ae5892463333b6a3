//! The rendered page from a state built through the use cases: nothing private in any
//! byte, user text escaped or sanitised, Statuspage v2 JSON in its exact shape, feeds
//! that a feed parser reads back.

use beacon_app::{
    NewComponent, NewGroup, NewMember, NewSubscriber, PostUpdate, ReportIncident, Service, SubscribeOutcome,
    SystemClock,
};
use beacon_domain::{
    Actor, AffectedComponent, Channel, ComponentStatus, Email, EndpointUrl, Events, Impact, IncidentStatus, Interest,
    Role,
};
use beacon_site::{PageConfig, PageLink, SiteObject, Snapshot, render};
use std::collections::BTreeSet;
use std::sync::Arc;

const XSS: &str = "<script>alert('pwned')</script>";

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

async fn snapshot(service: &Service) -> Snapshot {
    let page = PageConfig {
        id: "beacon-test".into(),
        name: "Acme Status".into(),
        url: "https://status.acme.test".into(),
        time_zone: "Etc/UTC".into(),
        logo_url: None,
        links: vec![PageLink { label: "Acme".into(), url: "https://acme.test".into() }],
        subscribe_url: Some("https://status.acme.test/subscriptions".into()),
        accent: None,
        accent_dark: None,
    };
    ok(beacon_publish::snapshot(service, &page).await).0
}

fn find<'a>(objects: &'a [SiteObject], path: &str) -> &'a SiteObject {
    objects.iter().find(|o| o.path == path).unwrap_or_else(|| panic!("{path} was not generated"))
}

fn text(o: &SiteObject) -> String {
    String::from_utf8(o.bytes.to_vec()).unwrap_or_else(|e| panic!("{}: {e}", o.path))
}

/// A page with two groups, a resolved incident and an open one; private markers in every
/// private field; script payloads in every public text field.
async fn fixture() -> (Service, tempfile::TempDir, Vec<&'static str>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = beacon_store_redb::RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    let markers = vec![
        "PRIVATE-MEMBER-NAME-7f3a",
        "private-member-7f3a@example.com",
        "PRIVATE-TOKEN-NAME-7f3a",
        "PRIVATE-COMMENT-7f3a",
    ];
    let member = ok(service
        .create_member(
            Actor::System,
            NewMember { name: markers[0].into(), email: markers[1].into(), role: Role::Owner },
        )
        .await);
    let (_, secret) = ok(service.create_token(Actor::System, member.id, markers[2], Role::Owner).await);
    let actor = Actor::Member { id: member.id };
    let group =
        ok(service.create_group(actor.clone(), NewGroup { name: format!("Core {XSS}"), ..Default::default() }).await);
    let api = ok(service
        .create_component(
            actor.clone(),
            NewComponent {
                name: format!("API {XSS}"),
                description: Some(format!("REST {XSS}")),
                group_id: Some(group.id),
                ..Default::default()
            },
        )
        .await);
    let web =
        ok(service.create_component(actor.clone(), NewComponent { name: "Web".into(), ..Default::default() }).await);
    let old = ok(service
        .report_incident(
            actor.clone(),
            ReportIncident {
                title: Some(format!("Old outage {XSS}")),
                impact: Some(Impact::Major),
                message: Some(format!("Investigating {XSS} [link](javascript:alert(1)) <img src=x onerror=alert(2)>")),
                components: Some(vec![AffectedComponent { id: api.id, status: ComponentStatus::MajorOutage }]),
                ..Default::default()
            },
        )
        .await)
    .incident;
    ok(service.add_comment(actor.clone(), old.id, markers[3].into()).await);
    ok(service
        .post_update(
            actor.clone(),
            old.id,
            None,
            PostUpdate {
                message: "Fixed. **All good.**".into(),
                status: Some(IncidentStatus::Resolved),
                ..Default::default()
            },
        )
        .await);
    ok(service
        .report_incident(
            actor.clone(),
            ReportIncident {
                title: Some("Slow dashboard".into()),
                impact: Some(Impact::Minor),
                message: Some("Pages load slowly.".into()),
                components: Some(vec![AffectedComponent { id: web.id, status: ComponentStatus::DegradedPerformance }]),
                ..Default::default()
            },
        )
        .await);
    // A draft postmortem is the team's.
    ok(service.write_postmortem(actor.clone(), old.id, None, "PRIVATE-POSTMORTEM-DRAFT-7f3a".into()).await);
    // Maintenance: one upcoming (script payloads in its words), one under way, one
    // cancelled (on the page and in history, not in Statuspage's files).
    let now = jiff::Timestamp::now();
    let at = |minutes: i64| {
        now.checked_add(jiff::SignedDuration::from_mins(minutes))
            .unwrap_or(now)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let window = |from: i64, to: i64| beacon_app::WindowInput {
        starts_at: at(from),
        ends_at: at(to),
        time_zone: Some("Europe/Berlin".into()),
    };
    let schedule = |title: String, message: String, from: i64, to: i64, component| {
        let service = service.clone();
        let actor = actor.clone();
        async move {
            ok(service
                .schedule_maintenance(
                    actor,
                    beacon_app::ScheduleMaintenance {
                        title,
                        message,
                        window: window(from, to),
                        components: vec![component],
                        automation: None,
                    },
                )
                .await)
            .maintenance
            .id
        }
    };
    schedule(
        format!("Database upgrade {XSS}"),
        format!("Upgrade {XSS} [link](javascript:alert(1)) <img src=x onerror=alert(2)>"),
        2 * 24 * 60,
        2 * 24 * 60 + 120,
        api.id,
    )
    .await;
    schedule("Cache rotation".into(), "Rotating the cache.".into(), -1, 120, web.id).await;
    ok(service.run_maintenance_scheduler().await);
    let cancelled =
        schedule("Network work".into(), "Network work.".into(), 3 * 24 * 60, 3 * 24 * 60 + 60, web.id).await;
    ok(service.cancel_maintenance(actor.clone(), cancelled, None, None).await);
    let mut all = markers;
    all.push("PRIVATE-POSTMORTEM-DRAFT-7f3a");
    all.push(Box::leak(secret.expose().to_owned().into_boxed_str()));
    all.push(Box::leak(member.id.to_string().into_boxed_str()));
    // Subscribers of every kind, with markers in every field: addresses, endpoints,
    // contacts, ids, signing secrets, manage and confirmation tokens.
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let channels = [
        Channel::Email { address: ok(Email::parse("private-subscriber-7f3a@example.com")) },
        Channel::Webhook {
            url: ok(EndpointUrl::parse("https://private-hook-7f3a.example.com/PRIVATE-PATH-7f3a", false)),
        },
        Channel::Slack { url: ok(EndpointUrl::parse("https://hooks.slack.com/services/PRIVATE-SLACK-7f3a", false)) },
        Channel::Teams { url: ok(EndpointUrl::parse("https://private-teams-7f3a.example.com/webhook", false)) },
        Channel::Discord {
            url: ok(EndpointUrl::parse("https://discord.com/api/webhooks/PRIVATE-DISCORD-7f3a", false)),
        },
    ];
    for (n, channel) in channels.into_iter().enumerate() {
        let interest = if n == 1 {
            Interest::Components { components: BTreeSet::from([api.id]), groups: BTreeSet::from([group.id]) }
        } else {
            Interest::Page
        };
        let created = ok(service
            .create_subscriber(
                actor.clone(),
                NewSubscriber {
                    channel,
                    interest,
                    events: Events::default(),
                    contact: Some(ok(Email::parse(&format!("private-contact-{n}-7f3a@example.com")))),
                },
            )
            .await);
        all.push(leak(format!("private-contact-{n}-7f3a@example.com")));
        all.push(leak(created.subscriber.id.to_string()));
        all.push(leak(created.manage.expose().to_owned()));
        if let Some(secret) = created.signing_secret {
            all.push(leak(secret));
        }
    }
    let outcome = ok(service
        .subscribe_email(
            "private-pending-7f3a@example.com",
            Interest::Incident { incident_id: old.id },
            Events::default(),
        )
        .await);
    if let SubscribeOutcome::ConfirmationNeeded { subscriber, confirm, manage } = outcome {
        all.push(leak(subscriber.id.to_string()));
        all.push(leak(confirm.expose().to_owned()));
        all.push(leak(manage.expose().to_owned()));
    }
    all.extend([
        "private-subscriber-7f3a",
        "private-hook-7f3a",
        "PRIVATE-PATH-7f3a",
        "PRIVATE-SLACK-7f3a",
        "private-teams-7f3a",
        "PRIVATE-DISCORD-7f3a",
        "private-pending-7f3a",
    ]);
    (service, dir, all)
}

/// The body without the page's own local-time script tag (same origin, named by its
/// content), which every HTML page loads.
fn own_script_removed(body: &str) -> String {
    let mut rest = body.to_owned();
    for root in ["", "../", "/"] {
        let prefix = format!("<script src=\"{root}assets/local-time.");
        while let Some(start) = rest.find(&prefix) {
            let end = rest[start..].find("</script>").map_or(rest.len(), |e| start + e + "</script>".len());
            let tag = &rest[start..end];
            let hash = tag.strip_prefix(&prefix).and_then(|t| t.strip_suffix(".js\" defer></script>"));
            assert!(
                hash.is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit())),
                "unexpected script tag {tag}"
            );
            rest.replace_range(start..end, "");
        }
    }
    rest
}

#[tokio::test]
async fn no_private_data_reaches_any_generated_byte() {
    let (service, _dir, markers) = fixture().await;
    let objects = render(&snapshot(&service).await);
    assert!(objects.len() >= 15, "{} objects", objects.len());
    for object in &objects {
        let body = String::from_utf8_lossy(&object.bytes);
        for marker in &markers {
            assert!(!body.contains(marker), "{} contains the private value {marker}", object.path);
        }
    }
}

#[tokio::test]
async fn script_payloads_are_escaped_or_removed_everywhere() {
    let (service, _dir, _) = fixture().await;
    for object in render(&snapshot(&service).await) {
        let body = String::from_utf8_lossy(&object.bytes);
        if object.content_type == "application/json" {
            // JSON carries user text as data; with no raw angle brackets no tag can form
            // even if a browser sniffs it as HTML.
            assert!(!body.contains('<') && !body.contains('>'), "{} has raw angle brackets", object.path);
            if object.path == "api/v2/summary.json" {
                assert!(body.contains("\\u003cscript"), "{} lost the user's text", object.path);
            }
            continue;
        }
        // The page's own script is the one tag allowed; any other is a payload.
        let body = own_script_removed(&body);
        assert!(!body.contains("<script"), "{} carries a raw script tag", object.path);
        // Payloads may show as text (escaped); inside a tag they would act.
        for tag in body.split('<').skip(1).map(|rest| rest.split('>').next().unwrap_or_default()) {
            assert!(!tag.to_ascii_lowercase().contains("onerror"), "{} carries an event handler: <{tag}>", object.path);
        }
        assert!(!body.contains("<img"), "{} carries an image from a user", object.path);
        assert!(!body.contains("href=\"javascript:"), "{} carries a javascript: link", object.path);
    }
}

#[tokio::test]
async fn the_index_shows_banner_active_incidents_components_and_quiet_days() {
    let (service, _dir, _) = fixture().await;
    let objects = render(&snapshot(&service).await);
    let index = text(find(&objects, "index.html"));
    assert!(index.contains("class=\"banner b-minor\""), "the open minor incident sets the banner");
    assert!(index.contains("Minor Service Outage"));
    assert!(index.contains("Slow dashboard"));
    assert!(index.contains("Degraded performance"), "status is written in words, not only colour");
    assert!(index.contains("No incidents reported."));
    assert!(index.contains("Uptime = 1 − (minutes of major outage"));
    assert!(index.contains("&#60;script&#62;"), "user strings are escaped");
    assert!(!index.contains("http://") || index.contains("http://www.w3.org"), "no external requests");
    for object in &objects {
        let body = String::from_utf8_lossy(&object.bytes);
        assert!(!body.contains("<link rel=\"stylesheet\""), "{}: stylesheets are inlined", object.path);
        assert!(!own_script_removed(&body).contains("<script"), "{}: no script but the page's own", object.path);
    }
    assert_eq!(find(&objects, "index.html").content_type, "text/html; charset=utf-8");
    assert!(find(&objects, "index.html").cache_control.contains("stale-while-revalidate"));
}

#[tokio::test]
async fn every_incident_has_a_page_with_its_updates_in_order() {
    let (service, _dir, _) = fixture().await;
    let snap = snapshot(&service).await;
    let objects = render(&snap);
    for record in &snap.incidents {
        let page = text(find(&objects, &format!("incidents/{}.html", record.incident.id)));
        assert!(page.contains(&beacon_site::markdown::render(record.updates[0].message.as_str())));
        if record.incident.status == IncidentStatus::Resolved {
            assert!(page.contains("Lasted"));
            let resolved = page.find("Resolved").unwrap_or(usize::MAX);
            let investigating = page.find("Investigating").unwrap_or(0);
            assert!(resolved < investigating, "newest update first");
            assert!(page.contains("<strong>All good.</strong>"));
        }
    }
    let month = snap.incidents[0].incident.created_at.strftime("%Y-%m").to_string();
    assert!(text(find(&objects, "history/index.html")).contains(&format!("history/{month}.html")));
    assert!(text(find(&objects, &format!("history/{month}.html"))).contains("Old outage"));
    assert!(text(find(&objects, "404.html")).contains("Page not found"));
    assert!(text(find(&objects, "badge.svg")).contains("Minor Service Outage"));
}

#[tokio::test]
async fn the_statuspage_v2_json_has_statuspage_shapes() {
    let (service, _dir, _) = fixture().await;
    let snap = snapshot(&service).await;
    let objects = render(&snap);
    let json = |path: &str| -> serde_json::Value {
        serde_json::from_slice(&find(&objects, path).bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let summary = json("api/v2/summary.json");
    assert_eq!(summary["page"]["id"], "beacon-test");
    assert_eq!(summary["page"]["url"], "https://status.acme.test");
    assert_eq!(summary["status"]["indicator"], "minor");
    assert_eq!(summary["incidents"].as_array().map(Vec::len), Some(1));
    let components = summary["components"].as_array().cloned().unwrap_or_default();
    let group = components.iter().find(|c| c["group"] == true).unwrap_or_else(|| panic!("no group"));
    let member = components.iter().find(|c| c["group_id"] == group["id"]).unwrap_or_else(|| panic!("no member"));
    assert_eq!(group["components"], serde_json::json!([member["id"]]));
    for c in &components {
        for field in [
            "id",
            "page_id",
            "group_id",
            "name",
            "description",
            "status",
            "position",
            "showcase",
            "only_show_if_degraded",
            "group",
            "created_at",
            "updated_at",
            "start_date",
        ] {
            assert!(c.get(field).is_some(), "component field {field} missing");
        }
    }
    let incidents = json("api/v2/incidents.json")["incidents"].as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 2);
    for i in &incidents {
        for field in [
            "id",
            "page_id",
            "name",
            "status",
            "impact",
            "shortlink",
            "created_at",
            "updated_at",
            "started_at",
            "monitoring_at",
            "resolved_at",
            "incident_updates",
            "components",
        ] {
            assert!(i.get(field).is_some(), "incident field {field} missing");
        }
        for u in i["incident_updates"].as_array().into_iter().flatten() {
            for field in
                ["id", "incident_id", "status", "body", "created_at", "updated_at", "display_at", "affected_components"]
            {
                assert!(u.get(field).is_some(), "update field {field} missing");
            }
        }
    }
    let resolved = incidents.iter().find(|i| i["status"] == "resolved").unwrap_or_else(|| panic!("no resolved"));
    assert_eq!(resolved["incident_updates"][0]["status"], "resolved", "newest update first, as Statuspage");
    assert_eq!(resolved["incident_updates"][1]["affected_components"][0]["new_status"], "major_outage");
    assert_eq!(json("api/v2/incidents/unresolved.json")["incidents"][0]["name"], "Slow dashboard");
    assert_eq!(json("api/v2/status.json")["status"]["description"], "Minor Service Outage");
    let names = |path: &str| -> Vec<String> {
        json(path)["scheduled_maintenances"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                assert_eq!(m["impact"], "maintenance", "{path}");
                for field in ["scheduled_for", "scheduled_until", "shortlink", "incident_updates", "components"] {
                    assert!(m.get(field).is_some(), "maintenance field {field} missing");
                }
                m["name"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    };
    assert_eq!(names("api/v2/scheduled-maintenances/upcoming.json"), [format!("Database upgrade {XSS}")]);
    assert_eq!(names("api/v2/scheduled-maintenances/active.json"), ["Cache rotation"]);
    let listed = names("api/v2/scheduled-maintenances.json");
    assert_eq!(listed.len(), 2, "a cancelled maintenance is not in Statuspage's files: {listed:?}");
    assert_eq!(names("api/v2/summary.json").len(), 2, "the summary lists the active and upcoming ones");
    let active = &json("api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"][0];
    assert_eq!(active["status"], "in_progress");
    // The open incident's degradation of that component outranks its maintenance.
    assert_eq!(active["components"][0]["status"], "degraded_performance");
}

#[tokio::test]
async fn the_feeds_parse_back_with_stable_ids_and_links() {
    let (service, _dir, _) = fixture().await;
    let snap = snapshot(&service).await;
    let objects = render(&snap);
    for path in ["history.atom", "history.rss"] {
        let feed = feed_rs::parser::parse(&find(&objects, path).bytes[..]).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(feed.entries.len(), 5, "{path}: two incidents and three maintenances");
        let titled = |title: &str| {
            feed.entries.iter().find(|e| e.title.as_ref().is_some_and(|t| t.content.contains(title))).cloned()
        };
        for record in &snap.incidents {
            let entry = titled(record.incident.title.as_str()).unwrap_or_else(|| panic!("{path}: no entry"));
            let link = format!("https://status.acme.test/incidents/{}.html", record.incident.id);
            assert!(entry.links.iter().any(|l| l.href == link), "{path}: {:?}", entry.links);
        }
        for record in &snap.maintenances {
            let entry = titled(record.maintenance.title.as_str()).unwrap_or_else(|| panic!("{path}: no entry"));
            let link = format!("https://status.acme.test/maintenances/{}.html", record.maintenance.id);
            assert!(entry.links.iter().any(|l| l.href == link), "{path}: {:?}", entry.links);
        }
    }
}

/// The cached render equals a fresh one, also after a component was renamed (incident
/// pages name their components) and after an incident changed.
#[tokio::test]
async fn a_cached_render_equals_a_fresh_one() {
    let (service, _dir, _) = fixture().await;
    let mut cache = beacon_site::RenderCache::default();
    let first = snapshot(&service).await;
    assert_eq!(beacon_site::render_cached(&first, &mut cache), render(&first));
    let api = first.components.iter().find(|c| c.name.as_str().starts_with("API")).map(|c| c.id);
    let api = api.unwrap_or_else(|| panic!("no API component"));
    ok(service
        .update_component(
            Actor::System,
            api,
            None,
            beacon_app::ComponentPatch { name: Some("Public API".into()), ..Default::default() },
        )
        .await);
    let renamed = snapshot(&service).await;
    let cached = beacon_site::render_cached(&renamed, &mut cache);
    assert_eq!(cached, render(&renamed));
    assert!(
        cached
            .iter()
            .any(|o| o.path.starts_with("incidents/") && String::from_utf8_lossy(&o.bytes).contains("Public API"))
    );
    let open = renamed.incidents.iter().find(|r| r.incident.status.is_open()).map(|r| r.incident.id);
    ok(service
        .post_update(
            Actor::System,
            open.unwrap_or_else(|| panic!("no open incident")),
            None,
            PostUpdate { message: "Better now.".into(), ..Default::default() },
        )
        .await);
    let updated = snapshot(&service).await;
    assert_eq!(beacon_site::render_cached(&updated, &mut cache), render(&updated));
}

/// Every v2 file validates against the schema of its endpoint, written in the repo from
/// Statuspage's format (`static-site/schemas/statuspage-v2.schema.json`).
#[tokio::test]
async fn the_statuspage_v2_files_validate_against_the_schemas() {
    let (service, _dir, _) = fixture().await;
    let objects = render(&snapshot(&service).await);
    let path = format!("{}/../static-site/schemas/statuspage-v2.schema.json", env!("CARGO_MANIFEST_DIR"));
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    for (file, definition) in [
        ("api/v2/summary.json", "summary"),
        ("api/v2/status.json", "status_document"),
        ("api/v2/components.json", "components_document"),
        ("api/v2/incidents.json", "incidents_document"),
        ("api/v2/incidents/unresolved.json", "incidents_document"),
        ("api/v2/scheduled-maintenances.json", "scheduled_maintenances_document"),
        ("api/v2/scheduled-maintenances/upcoming.json", "scheduled_maintenances_document"),
        ("api/v2/scheduled-maintenances/active.json", "scheduled_maintenances_document"),
    ] {
        let mut schema = document.clone();
        schema["$ref"] = serde_json::Value::String(format!("#/$defs/{definition}"));
        let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema: {e}"));
        let instance: serde_json::Value =
            serde_json::from_slice(&find(&objects, file).bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let errors: Vec<String> =
            validator.iter_errors(&instance).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
        // The schema is not vacuous: a broken document fails it.
        let mut broken = instance.clone();
        broken["page"]["url"] = serde_json::json!("not a url");
        assert!(!validator.is_valid(&broken), "{file}: the schema accepted a broken page url");
        if let Some(first) = instance["scheduled_maintenances"].as_array().and_then(|a| a.first()) {
            let mut broken = instance.clone();
            let mut wrong = first.clone();
            wrong["status"] = serde_json::json!("cancelled");
            broken["scheduled_maintenances"][0] = wrong;
            assert!(!validator.is_valid(&broken), "{file}: the schema accepted a maintenance status Statuspage lacks");
        }
    }
}
