//! The change feed: every committed change leaves exactly one change record, delivered
//! at least once, in commit order, from a cursor that survives a restart; on AWS the
//! same records travel through the table's stream.

use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, ShardIteratorType};
use beacon_app::feed::{ChangeHandler, HandlerError, drain};
use beacon_app::{NewComponent, PostUpdate, ReportIncident, Service, SystemClock, repo};
use beacon_domain::{Actor, Change, ChangeKind, IncidentStatus, MemberId};
use beacon_store::{Item, Key, Value};
use beacon_store_redb::RedbStore;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Change>>,
    fail_on: Option<usize>,
}

#[async_trait::async_trait]
impl ChangeHandler for Recorder {
    async fn handle(&self, change: &Change) -> Result<(), HandlerError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if Some(seen.len()) == self.fail_on {
            return Err(HandlerError("simulated failure".into()));
        }
        seen.push(change.clone());
        Ok(())
    }
}

impl Recorder {
    fn kinds(&self) -> Vec<&'static str> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|c| kind_name(&c.kind)).collect()
    }
}

fn kind_name(kind: &ChangeKind) -> &'static str {
    match kind {
        ChangeKind::IncidentReported { .. } => "reported",
        ChangeKind::IncidentUpdated { .. } => "updated",
        ChangeKind::IncidentResolved { .. } => "resolved",
        ChangeKind::IncidentReopened { .. } => "reopened",
        ChangeKind::IncidentEdited { .. } => "edited",
        ChangeKind::CommentAdded { .. } => "comment",
        ChangeKind::ComponentChanged { .. } => "component",
        _ => "other",
    }
}

fn member() -> Actor {
    Actor::Member { id: MemberId::new(ulid::Ulid::new()) }
}

/// A component, an incident, an update, a refused backward move, a comment, a resolve.
async fn make_changes(service: &Service) {
    let actor = member();
    service
        .create_component(actor.clone(), NewComponent { name: "API".into(), ..Default::default() })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let incident = service
        .report_incident(
            actor.clone(),
            ReportIncident { title: Some("t".into()), message: Some("m".into()), ..Default::default() },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .incident;
    let update = |status| PostUpdate { message: "news".into(), status: Some(status), ..Default::default() };
    service
        .post_update(actor.clone(), incident.id, None, update(IncidentStatus::Monitoring))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(service.post_update(actor.clone(), incident.id, None, update(IncidentStatus::Identified)).await.is_err());
    service.add_comment(actor.clone(), incident.id, "private".into()).await.unwrap_or_else(|e| panic!("{e}"));
    service.resolve_incident(actor, incident.id, None, None).await.unwrap_or_else(|e| panic!("{e}"));
}

const EXPECTED: [&str; 5] = ["component", "reported", "updated", "comment", "resolved"];

#[tokio::test]
async fn the_embedded_feed_delivers_every_change_once_in_order_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    {
        let store = Arc::new(RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
        make_changes(&Service::new(store.clone(), Arc::new(SystemClock))).await;

        let publisher = Recorder::default();
        assert_eq!(drain(store.as_ref(), "publisher", &publisher, 2).await.ok(), Some(5));
        assert_eq!(publisher.kinds(), EXPECTED);

        // A consumer that fails mid-batch acknowledges nothing of that batch.
        let flaky = Recorder { fail_on: Some(2), ..Default::default() };
        assert!(drain(store.as_ref(), "notifier", &flaky, 10).await.is_err());
        assert_eq!(flaky.kinds(), EXPECTED[..2]);
        // The store "crashes" here: dropped with no further acknowledgement.
    }
    let store = Arc::new(RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
    let publisher = Recorder::default();
    assert_eq!(
        drain(store.as_ref(), "publisher", &publisher, 10).await.ok(),
        Some(0),
        "the cursor survived the restart"
    );
    let notifier = Recorder::default();
    assert_eq!(
        drain(store.as_ref(), "notifier", &notifier, 10).await.ok(),
        Some(5),
        "the unacknowledged batch comes again"
    );
    assert_eq!(notifier.kinds(), EXPECTED);

    // A change committed just before a crash is delivered after it.
    let service = Service::new(store.clone(), Arc::new(SystemClock));
    service
        .create_component(member(), NewComponent { name: "Web".into(), ..Default::default() })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(service);
    drop(store);
    let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let publisher = Recorder::default();
    assert_eq!(drain(&store, "publisher", &publisher, 10).await.ok(), Some(1));
    assert_eq!(publisher.kinds(), ["component"]);
}

#[tokio::test]
async fn a_running_consumer_is_woken_by_each_commit_instead_of_waiting_for_its_poll() {
    use beacon_store::{ChangeFeed as _, Store as _};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
    let service = Service::new(store.clone(), Arc::new(SystemClock));

    // A write that records no change announces nothing.
    let appended = store.appended().unwrap_or_else(|| panic!("the embedded feed announces appends"));
    store.put(Item::new(Key::new("PLAIN", "x")), beacon_store::Condition::None).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!appended.has_changed().unwrap_or(true));

    // A consumer polling only once an hour still sees each change at once.
    let recorder = Arc::new(Recorder::default());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let consumer = {
        let (store, recorder) = (store.clone(), recorder.clone());
        tokio::spawn(async move {
            beacon_app::feed::run(
                store.as_ref(),
                "publisher",
                recorder.as_ref(),
                std::time::Duration::from_secs(3600),
                shutdown,
            )
            .await;
        })
    };
    for n in 1..=3 {
        service
            .create_component(member(), NewComponent { name: format!("Component {n}"), ..Default::default() })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let seen = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while recorder.kinds().len() < n {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(seen.is_ok(), "change {n} was not delivered without a poll");
    }
    assert!(appended.has_changed().unwrap_or(false));
    let _ = stop.send(true);
    consumer.await.unwrap_or_else(|e| panic!("{e}"));
}

fn from_stream(name: &str, value: &StreamValue) -> Value {
    match value {
        StreamValue::S(s) => Value::S(s.clone()),
        StreamValue::N(n) => Value::N(n.parse().unwrap_or_else(|e| panic!("{name}: {e}"))),
        StreamValue::Bool(b) => Value::Bool(*b),
        StreamValue::B(b) => Value::B(b.clone().into_inner()),
        other => panic!("{name}: unexpected stream attribute {other:?}"),
    }
}

#[tokio::test]
async fn on_dynamodb_the_change_records_travel_through_the_table_stream() {
    let store = beacon_tests::dynamodb().await;
    let table_name = store.table().to_owned();
    let service = beacon_tests::service(Arc::new(store));
    make_changes(&service).await;

    let client = beacon_tests::moto_client();
    let table =
        client.describe_table().table_name(table_name).send().await.unwrap_or_else(|e| panic!("describe table: {e}"));
    let stream_arn =
        table.table().and_then(|t| t.latest_stream_arn()).unwrap_or_else(|| panic!("the table has no stream"));
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .endpoint_url(beacon_tests::moto_url())
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new("test", "test", None, None, "tests"))
        .build();
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(config);
    let described = streams.describe_stream().stream_arn(stream_arn).send().await.unwrap_or_else(|e| panic!("{e}"));
    let shards = described.stream_description().map(|d| d.shards().to_vec()).unwrap_or_default();
    let mut changes = Vec::new();
    for shard in shards {
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard.shard_id().unwrap_or_default())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let records = streams
            .get_records()
            .set_shard_iterator(iterator.shard_iterator().map(str::to_owned))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for record in records.records() {
            let Some(image) = record.dynamodb().and_then(|d| d.new_image()) else { continue };
            // The stream filter of the publish function picks change records by `feed`.
            if image.get("feed") != Some(&StreamValue::Bool(true)) {
                continue;
            }
            let key = |name: &str| match image.get(name) {
                Some(StreamValue::S(s)) => s.clone(),
                other => panic!("{name}: {other:?}"),
            };
            let mut item = Item::new(Key::new(key("pk"), key("sk")));
            for (name, value) in image.iter().filter(|(n, _)| *n != "pk" && *n != "sk") {
                item.attrs.insert(name.clone(), from_stream(name, value));
            }
            let change = repo::change_from_item(&item).unwrap_or_else(|e| panic!("{e}"));
            changes.push(change.unwrap_or_else(|| panic!("a feed item that is not a change")));
        }
    }
    let kinds: Vec<_> = changes.iter().map(|c| kind_name(&c.kind)).collect();
    assert_eq!(kinds, EXPECTED, "exactly one record per committed change, none for the refused one");
}
