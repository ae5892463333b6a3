//! Publishing to the folder bucket from state built through the use cases.

use beacon_app::{NewComponent, PostUpdate, ReportIncident, Service, SystemClock};
use beacon_domain::{Actor, IncidentStatus};
use beacon_publish::{DirBucket, MANIFEST, Manifest, Precondition, Publisher, SiteBucket, Upload, snapshot};
use beacon_site::{PageConfig, render};
use std::sync::Arc;

fn page() -> PageConfig {
    PageConfig {
        id: "t".into(),
        name: "Test".into(),
        url: "http://127.0.0.1".into(),
        time_zone: "Etc/UTC".into(),
        logo_url: None,
        links: vec![],
        subscribe_url: None,
        accent: None,
        accent_dark: None,
    }
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

async fn service() -> (Service, tempfile::TempDir) {
    let dir = ok(tempfile::tempdir());
    let store = ok(beacon_store_redb::RedbStore::open(&dir.path().join("store")));
    (Service::new(Arc::new(store), Arc::new(SystemClock)), dir)
}

#[tokio::test]
async fn only_changed_objects_are_written_and_gone_ones_deleted() {
    let (service, dir) = service().await;
    let bucket = Arc::new(DirBucket::new(dir.path().join("site")));
    let publisher = Publisher::new(bucket.clone());
    ok(service.create_component(Actor::System, NewComponent { name: "API".into(), ..Default::default() }).await);
    let (snap, version) = ok(snapshot(&service, &page()).await);
    let first = ok(publisher.publish(&snap, version).await);
    let all = render(&snap);
    assert_eq!(first.written.len(), all.len());
    for object in &all {
        let (bytes, _) = ok(bucket.read(&object.path).await).unwrap_or_else(|| panic!("{} missing", object.path));
        assert_eq!(bytes, object.bytes, "{}", object.path);
    }
    // The same state again: nothing is written.
    let again = ok(publisher.publish(&snap, version + 1).await);
    assert!(again.written.is_empty(), "{:?}", again.written);

    // One incident: its page, the index, feeds, JSON and history change; bounded.
    let incident = ok(service
        .report_incident(
            Actor::System,
            ReportIncident { title: Some("Down".into()), message: Some("m".into()), ..Default::default() },
        )
        .await)
    .incident;
    let (snap, version) = ok(snapshot(&service, &page()).await);
    let changed = ok(publisher.publish(&snap, version).await);
    assert!(changed.written.contains(&format!("incidents/{}.html", incident.id)));
    assert!(changed.written.contains(&"index.html".to_owned()));
    ok(service
        .post_update(
            Actor::System,
            incident.id,
            None,
            PostUpdate { message: "ok".into(), status: Some(IncidentStatus::Resolved), ..Default::default() },
        )
        .await);
    let (later, later_version) = ok(snapshot(&service, &page()).await);
    let update = ok(publisher.publish(&later, later_version).await);
    assert!(update.written.len() <= 10, "one incident's update rewrote {:?}", update.written);

    // An object the render no longer produces is deleted.
    let fewer: Vec<_> = render(&later).into_iter().filter(|o| o.path != "history.rss").collect();
    let trimmed = ok(publisher.publish_objects(&fewer, later_version + 1).await);
    assert_eq!(trimmed.deleted, vec!["history.rss".to_owned()]);
    assert_eq!(ok(bucket.read("history.rss").await), None);
}

#[tokio::test]
async fn an_older_state_never_replaces_a_newer_one() {
    let (service, dir) = service().await;
    let bucket = Arc::new(DirBucket::new(dir.path().join("site")));
    let publisher = Publisher::new(bucket.clone());
    let (old, old_version) = ok(snapshot(&service, &page()).await);
    ok(service.create_component(Actor::System, NewComponent { name: "Newer".into(), ..Default::default() }).await);
    let (new, new_version) = ok(snapshot(&service, &page()).await);
    assert!(new_version > old_version);
    ok(publisher.publish(&new, new_version).await);
    let stale = ok(publisher.publish(&old, old_version).await);
    assert!(stale.superseded);
    let (index, _) = ok(bucket.read("index.html").await).unwrap_or_default();
    assert!(String::from_utf8_lossy(&index).contains("Newer"));
}

/// A publisher that died after claiming and writing part of the page: the next one
/// repairs every object.
#[tokio::test]
async fn a_publish_interrupted_midway_is_repaired_by_the_next() {
    let (service, dir) = service().await;
    let bucket = Arc::new(DirBucket::new(dir.path().join("site")));
    let publisher = Publisher::new(bucket.clone());
    let (snap, version) = ok(snapshot(&service, &page()).await);
    ok(publisher.publish(&snap, version).await);
    let (manifest_bytes, etag) = ok(bucket.read(MANIFEST).await).unwrap_or_default();
    let mut manifest: Manifest = ok(serde_json::from_slice(&manifest_bytes));
    manifest.version += 1;
    manifest.complete = false;
    let claim = ok(serde_json::to_vec(&manifest));
    let upload = |path, bytes| Upload { path, bytes, content_type: "text/html", cache_control: "" };
    ok(bucket.write(upload(MANIFEST, &claim), Precondition::IfMatch(etag)).await);
    ok(bucket.write(upload("index.html", b"half-published garbage"), Precondition::None).await);
    let (snap, _) = ok(snapshot(&service, &page()).await);
    ok(publisher.publish(&snap, manifest.version + 1).await);
    let (index, _) = ok(bucket.read("index.html").await).unwrap_or_default();
    assert_eq!(index, render(&snap).into_iter().find(|o| o.path == "index.html").map(|o| o.bytes).unwrap_or_default());
}

#[tokio::test]
async fn keys_cannot_escape_the_folder() {
    let dir = ok(tempfile::tempdir());
    let bucket = DirBucket::new(dir.path().join("site"));
    for key in ["../outside.html", "/etc/passwd", "a/../../b", ""] {
        assert!(bucket.read(key).await.is_err(), "{key}");
    }
}

#[tokio::test]
async fn a_change_stamped_before_a_publish_but_committed_after_it_is_still_published() {
    // A use case stamps its change, then commits: a publish can begin in between, and
    // must not count the change as already covered.
    let dir = ok(tempfile::tempdir());
    let store = Arc::new(ok(beacon_store_redb::RedbStore::open(&dir.path().join("store"))));
    let start: jiff::Timestamp = ok("2026-05-01T12:00:00Z".parse());
    let clock = Arc::new(beacon_app::ManualClock::new(start));
    let service = Service::new(store.clone(), clock.clone());
    let bucket = Arc::new(DirBucket::new(dir.path().join("site")));
    let handler = beacon_publish::PublishOnChange::new(service.clone(), Publisher::new(bucket.clone()), page());
    ok(handler.publish_now().await);

    clock.set(ok("2026-05-01T11:59:59Z".parse()));
    let incident = ok(service
        .report_incident(
            Actor::System,
            ReportIncident { title: Some("Late commit".into()), message: Some("m".into()), ..Default::default() },
        )
        .await)
    .incident;
    clock.set(ok("2026-05-01T12:00:01Z".parse()));
    let handled = ok(beacon_app::feed::drain(store.as_ref(), "publisher", &handler, 10).await);
    assert!(handled >= 1);
    let page = ok(bucket.read(&format!("incidents/{}.html", incident.id)).await);
    assert!(page.is_some(), "the incident's page was not published");
}

#[tokio::test]
async fn the_verifying_publish_repairs_an_object_the_manifest_wrongly_trusts() {
    // An older publisher's write that lands after a newer publish found the object
    // unchanged leaves other bytes than the (complete) manifest records.
    let (service, dir) = service().await;
    let bucket = Arc::new(DirBucket::new(dir.path().join("site")));
    let publisher = Publisher::new(bucket.clone());
    ok(service.create_component(Actor::System, NewComponent { name: "API".into(), ..Default::default() }).await);
    let (snap, version) = ok(snapshot(&service, &page()).await);
    ok(publisher.publish(&snap, version).await);
    let (good, tag) = ok(bucket.read("api/v2/status.json").await).unwrap_or_default();
    ok(bucket
        .write(
            Upload {
                path: "api/v2/status.json",
                bytes: b"{\"stale\":true}",
                content_type: "application/json",
                cache_control: "no-store",
            },
            Precondition::IfMatch(tag),
        )
        .await);

    let trusting = ok(publisher.publish(&snap, version + 1).await);
    assert!(!trusting.written.contains(&"api/v2/status.json".to_owned()), "the ordinary publish trusts the manifest");
    let verifying = ok(publisher.publish_verifying(&snap, version + 2).await);
    assert_eq!(verifying.written, vec!["api/v2/status.json".to_owned()]);
    assert_eq!(ok(bucket.read("api/v2/status.json").await).map(|(b, _)| b), Some(good));
}

#[tokio::test]
async fn saved_page_settings_rebuild_the_page_with_their_name_logo_links_and_colours() {
    let (service, dir) = service().await;
    let bucket = Arc::new(DirBucket::new(dir.path().join("site")));
    let publisher = Publisher::new(bucket.clone());
    let (snap, version) = ok(snapshot(&service, &page()).await);
    ok(publisher.publish(&snap, version).await);
    let index = |bytes: Option<(Vec<u8>, String)>| {
        String::from_utf8_lossy(&bytes.unwrap_or_else(|| panic!("no index")).0).into_owned()
    };
    let before = index(ok(bucket.read("index.html").await));
    assert!(before.contains("<title>Test status</title>") && !before.contains("assets/theme."), "{before}");

    let saved = ok(service
        .save_page_settings(
            Actor::System,
            Some(0),
            beacon_domain::PageSettingsInput {
                name: "Acme".into(),
                logo_url: Some("/logo.svg".into()),
                accent: Some("#8250DF".into()),
                accent_dark: Some("#d2a8ff".into()),
                links: vec![("Support".into(), "https://acme.test/help".into())],
                time_zone: "Europe/Berlin".into(),
            },
        )
        .await);
    assert_eq!(saved.version, 1);
    // The change that saved them is public: the publisher rebuilds on it.
    let (snap, version) = ok(snapshot(&service, &page()).await);
    let written = ok(publisher.publish(&snap, version).await).written;
    assert!(written.contains(&"index.html".to_owned()), "{written:?}");
    let after = index(ok(bucket.read("index.html").await));
    assert!(after.contains("<title>Acme status</title>") && after.contains("<img src=\"/logo.svg\" alt=\"Acme\">"));
    assert!(after.contains("<a href=\"https://acme.test/help\">Support</a>"), "{after}");
    let theme = snap.page.theme_path().unwrap_or_else(|| panic!("no theme"));
    assert!(after.contains(&format!("<link rel=\"stylesheet\" href=\"{theme}\">")), "{after}");
    let (css, _) = ok(bucket.read(&theme).await).unwrap_or_else(|| panic!("{theme} not published"));
    let css = String::from_utf8_lossy(&css).into_owned();
    assert!(css.contains("--accent:#8250df") && css.contains("prefers-color-scheme:dark") && css.contains("#d2a8ff"));
    // Saving against a stale version is refused and changes nothing.
    let stale = service
        .save_page_settings(
            Actor::System,
            Some(0),
            beacon_domain::PageSettingsInput {
                name: "Other".into(),
                time_zone: "Etc/UTC".into(),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(stale, Err(beacon_app::AppError::Conflict { .. })), "{stale:?}");
    assert_eq!(ok(service.page_settings().await).map(|s| s.name.to_string()), Some("Acme".to_owned()));
}
