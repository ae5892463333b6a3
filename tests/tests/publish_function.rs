//! The publish function's handler with real event JSON (a DynamoDB stream batch, the
//! reconcile schedule's event), on DynamoDB and S3 at the moto server, as on AWS.

use beacon_app::{ReportIncident, Service, SystemClock};
use beacon_domain::{Actor, Change, ChangeId, ChangeKind, CommentId, UpdateId};
use beacon_publish::lambda::{Outcome, changes_in_stream_event, handle_event};
use beacon_publish::{PublishOnChange, Publisher, SiteBucket};
use beacon_site::PageConfig;
use std::sync::Arc;

fn fixture(name: &str, change: Option<&Change>) -> serde_json::Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if let Some(change) = change {
        let json = serde_json::to_string(change).unwrap_or_default();
        // The change travels as a JSON string inside the event's JSON.
        let escaped = serde_json::to_string(&json).unwrap_or_default();
        text = text.replace("\"{{CHANGE}}\"", &escaped).replace("{{CHANGE_ID}}", &change.id.to_string());
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn change(kind: ChangeKind) -> Change {
    Change {
        id: ChangeId::new(ulid::Ulid::new()),
        at: jiff::Timestamp::now(),
        actor: Actor::System,
        kind,
        incident: None,
        maintenance: None,
    }
}

#[tokio::test]
async fn stream_batches_and_the_schedule_publish_the_state_from_dynamodb_to_s3() {
    let (store, _) = beacon_tests::dynamodb_store().await;
    let service = Service::new(store, Arc::new(SystemClock));
    let incident = service
        .report_incident(
            Actor::System,
            ReportIncident {
                title: Some("Search is slow".into()),
                message: Some("Looking.".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .incident;
    let (bucket, _, _) = beacon_tests::s3_bucket().await;
    let bucket = Arc::new(bucket);
    let page = PageConfig {
        id: "beacon".into(),
        name: "Acme".into(),
        url: "https://status.acme.test".into(),
        time_zone: "Etc/UTC".into(),
        logo_url: None,
        links: vec![],
        subscribe_url: None,
        accent: None,
        accent_dark: None,
    };
    let handler = PublishOnChange::new(service.clone(), Publisher::new(bucket.clone()), page);

    // A comment is private: the batch publishes nothing.
    let comment =
        change(ChangeKind::CommentAdded { incident_id: incident.id, comment_id: CommentId::new(ulid::Ulid::new()) });
    let event = fixture("streams/comment-added.json", Some(&comment));
    assert_eq!(changes_in_stream_event(&event).ok(), Some(vec![comment]));
    assert_eq!(handle_event(&event, &handler).await.ok(), Some(Outcome::NothingPublic));
    assert_eq!(bucket.read("index.html").await.ok().flatten(), None);

    // An incident change publishes the page.
    let reported = change(ChangeKind::IncidentReported {
        incident_id: incident.id,
        update_id: UpdateId::new(ulid::Ulid::new()),
        components: vec![],
        status_changes: vec![],
    });
    let event = fixture("streams/incident-reported.json", Some(&reported));
    match handle_event(&event, &handler).await {
        Ok(Outcome::Published { written, .. }) => assert!(written > 10),
        other => panic!("expected a publish, got {other:?}"),
    }
    let index = bucket.read("index.html").await.ok().flatten().map(|(b, _)| b).unwrap_or_default();
    assert!(String::from_utf8_lossy(&index).contains("Search is slow"));
    let page_path = format!("incidents/{}.html", incident.id);
    assert!(bucket.read(&page_path).await.ok().flatten().is_some());

    // The reconcile schedule publishes whatever changed since (here: nothing new).
    let event = fixture("events/scheduled-reconcile.json", None);
    assert!(matches!(handle_event(&event, &handler).await, Ok(Outcome::Published { .. })));
}

#[test]
fn a_stream_record_that_is_not_a_change_is_ignored_and_a_broken_one_is_an_error() {
    let other = serde_json::json!({"Records": [{"eventSource": "aws:dynamodb", "dynamodb": {"NewImage": {"type": {"S": "incident"}}}}]});
    assert_eq!(changes_in_stream_event(&other).ok(), Some(vec![]));
    let broken = serde_json::json!({"Records": [{"eventSource": "aws:dynamodb", "dynamodb": {"NewImage": {
        "type": {"S": "change"}, "feed": {"BOOL": true}, "data": {"S": "{not json"}}}}]});
    assert!(changes_in_stream_event(&broken).is_err());
}
