//! The site bucket contract on both adapters (a folder; S3 on the moto server), and the
//! publisher's guarantees on each.

use beacon_app::{NewComponent, ReportIncident, Service, SystemClock};
use beacon_domain::Actor;
use beacon_publish::{BucketError, DirBucket, Precondition, Publisher, SiteBucket, Upload, snapshot};
use beacon_site::{PageConfig, render};
use std::sync::Arc;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn upload<'a>(path: &'a str, bytes: &'a [u8]) -> Upload<'a> {
    Upload { path, bytes, content_type: "text/html; charset=utf-8", cache_control: "public, max-age=30" }
}

async fn contract(bucket: &dyn SiteBucket) {
    assert_eq!(ok(bucket.read("a/b.html").await), None);
    assert_eq!(ok(bucket.etag("a/b.html").await), None);
    let first = ok(bucket.write(upload("a/b.html", b"one"), Precondition::IfNoneMatch).await);
    assert_eq!(ok(bucket.read("a/b.html").await), Some((b"one".to_vec(), first.clone())));
    assert_eq!(ok(bucket.etag("a/b.html").await), Some(first.clone()));
    assert!(matches!(
        bucket.write(upload("a/b.html", b"two"), Precondition::IfNoneMatch).await,
        Err(BucketError::PreconditionFailed(_))
    ));
    assert!(matches!(
        bucket.write(upload("a/b.html", b"two"), Precondition::IfMatch("\"not-the-tag\"".into())).await,
        Err(BucketError::PreconditionFailed(_))
    ));
    assert_eq!(
        ok(bucket.read("a/b.html").await).map(|(b, _)| b),
        Some(b"one".to_vec()),
        "a refused write changes nothing"
    );
    let second = ok(bucket.write(upload("a/b.html", b"two"), Precondition::IfMatch(first.clone())).await);
    assert_ne!(second, first);
    assert!(matches!(
        bucket.write(upload("a/b.html", b"three"), Precondition::IfMatch(first)).await,
        Err(BucketError::PreconditionFailed(_))
    ));
    ok(bucket.write(upload("a/b.html", b"four"), Precondition::None).await);
    ok(bucket.delete("a/b.html").await);
    ok(bucket.delete("a/b.html").await);
    assert_eq!(ok(bucket.read("a/b.html").await), None);
}

#[tokio::test]
async fn the_folder_bucket_keeps_the_contract() {
    let dir = ok(tempfile::tempdir());
    contract(&DirBucket::new(dir.path())).await;
}

#[tokio::test]
async fn the_s3_bucket_keeps_the_contract() {
    let (bucket, _, _) = beacon_tests::s3_bucket().await;
    contract(&bucket).await;
}

fn page() -> PageConfig {
    PageConfig {
        id: "t".into(),
        name: "T".into(),
        url: "https://status.test".into(),
        time_zone: "Etc/UTC".into(),
        logo_url: None,
        links: vec![],
        subscribe_url: None,
        accent: None,
        accent_dark: None,
    }
}

async fn race(bucket: Arc<dyn SiteBucket>, service: &Service, rounds: usize) {
    for round in 0..rounds {
        let (old, old_version) = ok(snapshot(service, &page()).await);
        ok(service
            .report_incident(
                Actor::System,
                ReportIncident {
                    title: Some(format!("Round {round}")),
                    message: Some("m".into()),
                    ..Default::default()
                },
            )
            .await);
        let (new, new_version) = ok(snapshot(service, &page()).await);
        let (a, b) = (Publisher::new(bucket.clone()), Publisher::new(bucket.clone()));
        let (x, y) = tokio::join!(a.publish(&old, old_version), b.publish(&new, new_version));
        ok(x);
        ok(y);
        for object in render(&new) {
            let stored = ok(bucket.read(&object.path).await).map(|(b, _)| b);
            assert!(
                stored.as_deref() == Some(&object.bytes[..]),
                "round {round}: {} is not the newer state's",
                object.path
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_publishers_on_the_folder_leave_the_newer_state() {
    let dir = ok(tempfile::tempdir());
    let store = ok(beacon_store_redb::RedbStore::open(&dir.path().join("store")));
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    race(Arc::new(DirBucket::new(dir.path().join("site"))), &service, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_publishers_on_s3_leave_the_newer_state_and_the_right_headers() {
    let dir = ok(tempfile::tempdir());
    let store = ok(beacon_store_redb::RedbStore::open(dir.path()));
    let service = Service::new(Arc::new(store), Arc::new(SystemClock));
    ok(service.create_component(Actor::System, NewComponent { name: "API".into(), ..Default::default() }).await);
    let (bucket, client, name) = beacon_tests::s3_bucket().await;
    race(Arc::new(bucket), &service, 5).await;
    let head = ok(client.head_object().bucket(&name).key("index.html").send().await);
    assert_eq!(head.content_type(), Some("text/html; charset=utf-8"));
    assert!(head.cache_control().is_some_and(|c| c.contains("stale-while-revalidate")));
    let json = ok(client.head_object().bucket(&name).key("api/v2/summary.json").send().await);
    assert_eq!(json.content_type(), Some("application/json"));
}
