//! Every route against no token, a revoked token and each role: each refused call gets
//! 401 or 403 and changes nothing; the lowest role allowed succeeds.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use beacon_api::{ApiState, router};
use beacon_app::{NewComponent, NewGroup, NewMember, NewTemplate, ReportIncident, Service, SystemClock};
use beacon_domain::{Actor, Impact, Role};
use beacon_store::{ChangeFeed, Query, Store};
use beacon_store_redb::RedbStore;
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

struct Route {
    method: Method,
    path: String,
    min: Role,
    body: Option<&'static str>,
}

fn route(method: Method, path: impl Into<String>, min: Role, body: Option<&'static str>) -> Route {
    Route { method, path: path.into(), min, body }
}

async fn call(app: &axum::Router, route: &Route, token: Option<&str>) -> StatusCode {
    let mut request = Request::builder().method(route.method.clone()).uri(&route.path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match route.body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Body::from(b)
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.status();
    let _ = response.into_body().collect().await;
    status
}

fn ok<T>(r: Result<T, beacon_app::AppError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

async fn snapshot(store: &RedbStore) -> (usize, Vec<beacon_store::Item>) {
    let changes = store.read("roles-probe", 10_000).await.map(|e| e.len()).unwrap_or_else(|e| panic!("{e}"));
    let mut items = Vec::new();
    for pk in [
        "INCIDENTS",
        "OPEN",
        "COMPONENTS",
        "GROUPS",
        "TEMPLATES",
        "MEMBERS",
        "TOKENS",
        "AUDIT",
        "MONITORS",
        "ALERT_RULES",
        "SUBSCRIBERS",
        "INTEGRATIONS",
        "HOOKS",
        "PAGE",
    ] {
        items.extend(store.query(Query::partition(pk).limit(1000)).await.unwrap_or_else(|e| panic!("{e}")).items);
    }
    (changes, items)
}

#[tokio::test]
async fn every_route_refuses_callers_without_the_role_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
    let service = Service::new(store.clone(), Arc::new(SystemClock));
    let sys = Actor::System;

    let mut tokens = Vec::new();
    for role in Role::ALL {
        let m = ok(service
            .create_member(
                sys.clone(),
                NewMember { name: format!("{role}"), email: format!("{role}@example.com"), role },
            )
            .await);
        let (_, secret) = ok(service.create_token(sys.clone(), m.id, "t", role).await);
        tokens.push((role, secret.expose().to_owned()));
    }
    let owner = ok(service.member_by_email("owner@example.com").await).unwrap_or_else(|| panic!("owner"));
    let (revoked, revoked_secret) = ok(service.create_token(sys.clone(), owner.id, "old", Role::Owner).await);
    ok(service.revoke_token(sys.clone(), revoked.id).await);

    let group = ok(service.create_group(sys.clone(), NewGroup { name: "G".into(), ..Default::default() }).await).id;
    let component =
        ok(service.create_component(sys.clone(), NewComponent { name: "C".into(), ..Default::default() }).await).id;
    let template = ok(service
        .create_template(
            sys.clone(),
            NewTemplate {
                name: "T".into(),
                title: "t".into(),
                impact: Impact::Minor,
                message: "m".into(),
                components: vec![],
            },
        )
        .await)
    .id;
    let incident = ok(service
        .report_incident(
            sys.clone(),
            ReportIncident { title: Some("t".into()), message: Some("m".into()), ..Default::default() },
        )
        .await)
    .incident
    .id;
    let internal = ok(service
        .report_incident(
            sys.clone(),
            ReportIncident {
                title: Some("internal".into()),
                message: Some("m".into()),
                internal: true,
                ..Default::default()
            },
        )
        .await)
    .incident
    .id;
    let target = ok(service
        .create_member(
            sys.clone(),
            NewMember { name: "Target".into(), email: "target@example.com".into(), role: Role::Viewer },
        )
        .await);
    let (target_token, _) = ok(service.create_token(sys.clone(), target.id, "t", Role::Viewer).await);
    let regions = vec!["local".to_owned()];
    let check: beacon_domain::MonitorKind =
        serde_json::from_str(r#"{"kind":"tcp","host":"db.example.com","port":5432}"#).unwrap_or_else(|e| panic!("{e}"));
    let monitor = ok(service
        .create_monitor(
            sys.clone(),
            beacon_app::MonitorSettings {
                name: "M".into(),
                check,
                interval_seconds: None,
                regions: None,
                thresholds: None,
                components: vec![],
                incident_title: None,
                incident_message: None,
                publish: true,
                paused: false,
            },
            &regions,
        )
        .await)
    .monitor
    .id;
    let alert_rule = ok(service
        .create_alert_rule(
            sys.clone(),
            beacon_app::NewAlertRule {
                name: "On call".into(),
                on: beacon_domain::AlertOn { incident_opened: true, ..Default::default() },
                monitors: None,
                channel: beacon_domain::Channel::Email {
                    address: beacon_domain::Email::parse("oncall@example.com").unwrap_or_else(|e| panic!("{e}")),
                },
                contact: None,
            },
        )
        .await)
    .rule
    .id;
    let integration = ok(service
        .create_integration(
            sys.clone(),
            beacon_app::NewIntegration {
                name: "Prometheus".into(),
                kind: Some(beacon_domain::IntegrationKind::Alertmanager),
                ..Default::default()
            },
        )
        .await)
    .integration
    .id;

    let maintenance = || async {
        ok(service
            .schedule_maintenance(
                sys.clone(),
                beacon_app::ScheduleMaintenance {
                    title: "Upgrade".into(),
                    message: "m".into(),
                    window: beacon_app::WindowInput {
                        starts_at: "2099-01-01T02:00:00Z".into(),
                        ends_at: "2099-01-01T04:00:00Z".into(),
                        time_zone: None,
                    },
                    components: vec![],
                    automation: None,
                },
            )
            .await)
        .maintenance
        .id
    };
    let (m_update, m_move, m_cancel) = (maintenance().await, maintenance().await, maintenance().await);
    let (series, _) = ok(service
        .create_series(
            sys.clone(),
            beacon_app::NewSeries {
                title: "Patching".into(),
                message: "m".into(),
                recurrence: "FREQ=WEEKLY;BYDAY=SU".into(),
                first_start: "2099-01-04T02:00".into(),
                time_zone: "Europe/Berlin".into(),
                duration_minutes: 60,
                components: vec![],
                automation: None,
            },
        )
        .await);
    let series = series.id;
    let resolved = ok(service
        .report_incident(
            sys.clone(),
            ReportIncident { title: Some("past".into()), message: Some("m".into()), ..Default::default() },
        )
        .await)
    .incident
    .id;
    ok(service.resolve_incident(sys.clone(), resolved, None, None).await);

    use Role::*;
    let v1 = "/api/v1";
    let routes = vec![
        route(Method::GET, format!("{v1}/components"), Viewer, None),
        route(Method::POST, format!("{v1}/components"), Admin, Some(r#"{"name":"New"}"#)),
        route(Method::GET, format!("{v1}/components/{component}"), Viewer, None),
        route(Method::PATCH, format!("{v1}/components/{component}"), Admin, Some(r#"{"name":"Renamed"}"#)),
        route(Method::GET, format!("{v1}/component-groups"), Viewer, None),
        route(Method::POST, format!("{v1}/component-groups"), Admin, Some(r#"{"name":"New"}"#)),
        route(Method::GET, format!("{v1}/component-groups/{group}"), Viewer, None),
        route(Method::PATCH, format!("{v1}/component-groups/{group}"), Admin, Some(r#"{"name":"Renamed"}"#)),
        route(Method::GET, format!("{v1}/incidents"), Viewer, None),
        route(Method::POST, format!("{v1}/incidents"), Responder, Some(r#"{"title":"t","message":"m"}"#)),
        route(Method::GET, format!("{v1}/incidents/{incident}"), Viewer, None),
        route(Method::PATCH, format!("{v1}/incidents/{incident}"), Responder, Some(r#"{"title":"Renamed"}"#)),
        route(Method::POST, format!("{v1}/incidents/{incident}/updates"), Responder, Some(r#"{"message":"m"}"#)),
        route(Method::GET, format!("{v1}/incidents/{incident}/comments"), Viewer, None),
        route(Method::POST, format!("{v1}/incidents/{incident}/comments"), Responder, Some(r#"{"body":"b"}"#)),
        route(Method::GET, format!("{v1}/incidents/{incident}/timeline"), Viewer, None),
        route(Method::POST, format!("{v1}/incidents/{internal}/publish"), Responder, None),
        route(Method::GET, format!("{v1}/templates"), Viewer, None),
        route(Method::POST, format!("{v1}/templates"), Admin, Some(r#"{"name":"n","title":"t","message":"m"}"#)),
        route(Method::GET, format!("{v1}/templates/{template}"), Viewer, None),
        route(Method::PATCH, format!("{v1}/templates/{template}"), Admin, Some(r#"{"name":"Renamed"}"#)),
        route(Method::GET, format!("{v1}/members"), Viewer, None),
        route(
            Method::POST,
            format!("{v1}/members"),
            Admin,
            Some(r#"{"name":"n","email":"n@example.com","role":"viewer"}"#),
        ),
        route(Method::GET, format!("{v1}/members/{}", target.id), Viewer, None),
        route(Method::PATCH, format!("{v1}/members/{}", target.id), Admin, Some(r#"{"name":"Renamed"}"#)),
        route(Method::GET, format!("{v1}/tokens"), Admin, None),
        route(Method::POST, format!("{v1}/tokens"), Admin, Some(r#"{"name":"t"}"#)),
        route(Method::GET, format!("{v1}/audit"), Admin, None),
        route(Method::GET, format!("{v1}/page-settings"), Viewer, None),
        route(
            Method::PUT,
            format!("{v1}/page-settings"),
            Admin,
            Some(r##"{"name":"Acme status","time_zone":"Europe/Berlin","accent":"#0969da"}"##),
        ),
        route(Method::GET, format!("{v1}/monitors"), Viewer, None),
        route(
            Method::POST,
            format!("{v1}/monitors"),
            Admin,
            Some(r#"{"name":"n","check":{"kind":"tcp","host":"db.example.com","port":5432}}"#),
        ),
        route(Method::GET, format!("{v1}/monitors/{monitor}"), Viewer, None),
        route(Method::PATCH, format!("{v1}/monitors/{monitor}"), Admin, Some(r#"{"name":"Renamed"}"#)),
        route(Method::POST, format!("{v1}/monitors/{monitor}/pause"), Responder, None),
        route(Method::POST, format!("{v1}/monitors/{monitor}/resume"), Responder, None),
        route(Method::POST, format!("{v1}/monitors/{monitor}/check"), Responder, None),
        route(Method::GET, format!("{v1}/monitors/{monitor}/results"), Viewer, None),
        route(Method::GET, format!("{v1}/monitors/{monitor}/stats"), Viewer, None),
        route(Method::DELETE, format!("{v1}/monitors/{monitor}"), Admin, None),
        route(Method::GET, format!("{v1}/alert-rules"), Viewer, None),
        route(
            Method::POST,
            format!("{v1}/alert-rules"),
            Admin,
            Some(r#"{"name":"n","on":{"incident_resolved":true},"kind":"email","target":"n@example.com"}"#),
        ),
        route(Method::GET, format!("{v1}/alert-rules/{alert_rule}"), Viewer, None),
        route(Method::PATCH, format!("{v1}/alert-rules/{alert_rule}"), Admin, Some(r#"{"name":"Renamed"}"#)),
        route(Method::GET, format!("{v1}/alert-rules/{alert_rule}/deliveries"), Viewer, None),
        route(Method::DELETE, format!("{v1}/alert-rules/{alert_rule}"), Admin, None),
        route(Method::GET, format!("{v1}/integrations"), Admin, None),
        route(Method::POST, format!("{v1}/integrations"), Admin, Some(r#"{"name":"Grafana","kind":"grafana"}"#)),
        route(Method::GET, format!("{v1}/integrations/{integration}"), Admin, None),
        route(Method::PATCH, format!("{v1}/integrations/{integration}"), Admin, Some(r#"{"name":"Renamed"}"#)),
        route(Method::GET, format!("{v1}/integrations/{integration}/deliveries"), Admin, None),
        route(Method::DELETE, format!("{v1}/integrations/{integration}"), Admin, None),
        route(Method::GET, format!("{v1}/maintenances"), Viewer, None),
        route(
            Method::POST,
            format!("{v1}/maintenances"),
            Responder,
            Some(
                r#"{"title":"t","message":"m","starts_at":"2099-02-01T02:00","ends_at":"2099-02-01T03:00","time_zone":"Europe/Berlin"}"#,
            ),
        ),
        route(Method::GET, format!("{v1}/maintenances/{m_update}"), Viewer, None),
        route(Method::PATCH, format!("{v1}/maintenances/{m_update}"), Responder, Some(r#"{"title":"Renamed"}"#)),
        route(Method::POST, format!("{v1}/maintenances/{m_update}/updates"), Responder, Some(r#"{"message":"m"}"#)),
        route(
            Method::POST,
            format!("{v1}/maintenances/{m_move}/reschedule"),
            Responder,
            Some(r#"{"starts_at":"2099-03-01T02:00:00Z","ends_at":"2099-03-01T03:00:00Z"}"#),
        ),
        route(Method::POST, format!("{v1}/maintenances/{m_cancel}/cancel"), Responder, Some(r#"{}"#)),
        route(Method::GET, format!("{v1}/maintenance-series"), Viewer, None),
        route(
            Method::POST,
            format!("{v1}/maintenance-series"),
            Responder,
            Some(
                r#"{"title":"t","message":"m","recurrence":"FREQ=DAILY","first_start":"2099-01-01T01:00","time_zone":"Etc/UTC","duration_minutes":30}"#,
            ),
        ),
        route(Method::GET, format!("{v1}/maintenance-series/{series}"), Viewer, None),
        route(Method::DELETE, format!("{v1}/maintenance-series/{series}"), Responder, None),
        route(
            Method::PUT,
            format!("{v1}/incidents/{resolved}/postmortem"),
            Responder,
            Some(r#"{"body":"What happened."}"#),
        ),
        route(
            Method::POST,
            format!("{v1}/incidents/{resolved}/postmortem/publish"),
            Responder,
            Some(r#"{"notify":false}"#),
        ),
        route(
            Method::POST,
            format!("{v1}/incidents/backfill"),
            Responder,
            Some(
                r#"{"title":"Old outage","impact":"major","updates":[{"at":"2020-01-01T00:00:00Z","status":"investigating","message":"Down."},{"at":"2020-01-01T01:00:00Z","status":"resolved","message":"Up."}]}"#,
            ),
        ),
        route(Method::DELETE, format!("{v1}/tokens/{}", target_token.id), Admin, None),
        route(Method::DELETE, format!("{v1}/members/{}", target.id), Admin, None),
        route(Method::DELETE, format!("{v1}/templates/{template}"), Admin, None),
        route(Method::DELETE, format!("{v1}/components/{component}"), Admin, None),
        route(Method::DELETE, format!("{v1}/component-groups/{group}"), Admin, None),
    ];
    let app = router(ApiState::new(service.clone()).with_probe_regions(regions.clone()));
    let before = snapshot(&store).await;
    for r in &routes {
        assert_eq!(call(&app, r, None).await, StatusCode::UNAUTHORIZED, "{} {} without a token", r.method, r.path);
        assert_eq!(
            call(&app, r, Some("bcn_garbage")).await,
            StatusCode::UNAUTHORIZED,
            "{} {} with garbage",
            r.method,
            r.path
        );
        assert_eq!(
            call(&app, r, Some(revoked_secret.expose())).await,
            StatusCode::UNAUTHORIZED,
            "{} {} revoked",
            r.method,
            r.path
        );
        for (role, token) in tokens.iter().filter(|(role, _)| *role < r.min) {
            assert_eq!(call(&app, r, Some(token)).await, StatusCode::FORBIDDEN, "{} {} as {role}", r.method, r.path);
        }
    }
    assert_eq!(snapshot(&store).await, before, "a refused call changed something");

    // Admins do not manage owners or admins.
    let admin_token = tokens.iter().find(|(r, _)| *r == Admin).map(|(_, t)| t.clone()).unwrap_or_default();
    let make_admin = route(
        Method::POST,
        format!("{v1}/members"),
        Admin,
        Some(r#"{"name":"a","email":"a@example.com","role":"admin"}"#),
    );
    assert_eq!(call(&app, &make_admin, Some(&admin_token)).await, StatusCode::FORBIDDEN);
    let demote_owner = route(Method::PATCH, format!("{v1}/members/{}", owner.id), Admin, Some(r#"{"role":"viewer"}"#));
    assert_eq!(call(&app, &demote_owner, Some(&admin_token)).await, StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&store).await, before);

    // The lowest allowed role gets through on every route.
    for r in &routes {
        let token = tokens.iter().find(|(role, _)| *role == r.min).map(|(_, t)| t.clone()).unwrap_or_default();
        let status = call(&app, r, Some(&token)).await;
        assert!(status.is_success(), "{} {} as {}: {status}", r.method, r.path, r.min);
    }
}
