//! Notifications on the AWS adapters, against the moto server: SES v2 raw mail (read
//! back from moto's record of what was sent, headers included), the SQS work queue,
//! the EventBridge relay, and the fan-out function's handling of each event it takes:
//! stream records, change events, queue messages and SES feedback.

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use beacon_app::{NewSubscriber, ReportIncident, Service, SystemClock};
use beacon_domain::{Actor, Change, ChangeId, ChangeKind, Channel, Email, Events, Interest, MemberId};
use beacon_notify::transport::{MailTransport as _, SendError};
use beacon_notify::{Deliverer, GuardedHttp, Job, MessageConfig, OutboundPolicy, OutboxMailer, Planner, WorkQueue};
use beacon_notify_aws::lambda::{Fanout, Handled, handle};
use beacon_notify_aws::{BusRelay, SesMailer, SqsQueue};
use beacon_site::PageConfig;
use std::sync::Arc;
use std::time::Duration;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), ulid::Ulid::new().to_string().to_lowercase())
}

/// One AWS configuration for every client: the moto server, throwaway credentials.
fn moto() -> aws_types::SdkConfig {
    aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(beacon_tests::moto_url())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "tests",
        )))
        .http_client(beacon_store_dynamodb::https_client())
        .build()
}

fn ses() -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(&moto())
}

fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto())
}

fn events() -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&moto())
}

/// A sender domain of its own, verified on moto.
async fn verified_sender() -> String {
    let domain = format!("{}.example", unique("acme"));
    ok(ses().create_email_identity().email_identity(&domain).send().await);
    format!("status@{domain}")
}

fn messages(from: &str) -> MessageConfig {
    MessageConfig {
        page: PageConfig {
            id: "test".into(),
            name: "Acme Status".into(),
            url: "https://status.acme.example".into(),
            time_zone: "Etc/UTC".into(),
            logo_url: None,
            links: vec![],
            subscribe_url: Some("https://status.acme.example/subscriptions".into()),
            accent: None,
            accent_dark: None,
        },
        api_url: "https://status.acme.example".into(),
        from: ok(format!("Acme Status <{from}>").parse()),
    }
}

/// What moto recorded as sent raw, as (source, destinations, raw data).
async fn sent_raw() -> Vec<(String, Vec<String>, String)> {
    let data: serde_json::Value =
        ok(ok(reqwest::get(format!("{}/moto-api/data.json", beacon_tests::moto_url())).await).json().await);
    data["ses"]["RawMessage"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["source"].as_str().unwrap_or_default().to_owned(),
                m["destinations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect(),
                m["raw_data"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn member() -> Actor {
    Actor::Member { id: MemberId::new(ulid::Ulid::new()) }
}

async fn new_queue() -> (SqsQueue, String) {
    let url =
        ok(sqs().create_queue().queue_name(unique("jobs")).send().await).queue_url().unwrap_or_default().to_owned();
    (SqsQueue::new(sqs(), url.clone()), url)
}

/// A bus of our own with one rule sending what matches `pattern` to a queue of our own:
/// the bus's name and the queue's URL.
async fn routed_bus(pattern: &str) -> (String, String) {
    let bus = unique("bus");
    ok(events().create_event_bus().name(&bus).send().await);
    let (_, url) = new_queue().await;
    let arn = ok(sqs()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await)
    .attributes()
    .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
    .unwrap_or_default();
    let rule = unique("rule");
    ok(events().put_rule().name(&rule).event_bus_name(&bus).event_pattern(pattern).send().await);
    ok(events()
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(ok(aws_sdk_eventbridge::types::Target::builder().id("queue").arn(&arn).build()))
        .send()
        .await);
    (bus, url)
}

async fn receive_all(url: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let got = ok(sqs().receive_message().queue_url(url).max_number_of_messages(10).send().await);
        let messages = got.messages();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push((m.message_id().unwrap_or_default().to_owned(), m.body().unwrap_or_default().to_owned()));
            ok(sqs()
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await);
        }
    }
}

#[tokio::test]
async fn ses_sends_exactly_the_bytes_the_outbox_keeps() {
    let from = verified_sender().await;
    let config = messages(&from);
    let mail = ok(beacon_notify::render::plain_mail(
        &config,
        "reader@example.com",
        "Confirm your subscription",
        &["Hello.".to_owned()],
        Some(("Confirm", "https://status.acme.example/subscriptions/confirm?token=x")),
    ));
    let sender = SesMailer::new(ses(), Some("beacon".into()), 1.0, 5.0).await;
    ok(sender.send(&mail).await);
    let dir = ok(tempfile::tempdir());
    let outbox = OutboxMailer::new(dir.path());
    ok(outbox.send(&mail).await);
    let kept = ok(std::fs::read_to_string(dir.path().join(OutboxMailer::file_name(&mail.message_id))));

    let sent = sent_raw().await;
    let (source, destinations, raw) = sent
        .iter()
        .find(|(_, _, raw)| raw.contains(&mail.message_id))
        .unwrap_or_else(|| panic!("moto recorded no mail with {}", mail.message_id));
    assert_eq!(source, &from);
    assert!(destinations.contains(&"reader@example.com".to_owned()), "{destinations:?}");
    assert_eq!(raw, &kept, "SES got the very bytes the outbox keeps");
    assert!(raw.contains("Subject: [Acme Status] Confirm your subscription"));
}

#[tokio::test]
async fn ses_refuses_an_unverified_sender_for_good() {
    let config = messages("status@nowhere-verified.example");
    let mail = ok(beacon_notify::render::plain_mail(&config, "reader@example.com", "Hi", &["x".into()], None));
    let sender = SesMailer::new(ses(), None, 1.0, 5.0).await;
    let refused = sender.send(&mail).await;
    assert!(matches!(refused, Err(SendError::Rejected(_))), "{refused:?}");
}

#[tokio::test]
async fn the_sqs_queue_carries_jobs_and_delays_them() {
    let (queue, url) = new_queue().await;
    let job = |n: usize| Job {
        id: ulid::Ulid::new(),
        notice: beacon_domain::NoticeId::new(ulid::Ulid::new()),
        subscribers: vec![beacon_domain::SubscriberId::new(ulid::Ulid::new()); n],
        attempt: 0,
    };
    let now: Vec<Job> = (1..=12).map(job).collect();
    ok(queue.enqueue(now.clone(), Duration::ZERO).await);
    let got: Vec<Job> = receive_all(&url).await.iter().map(|(_, body)| ok(serde_json::from_str(body))).collect();
    assert_eq!(got.len(), 12, "two batches of SendMessageBatch");
    assert!(now.iter().all(|j| got.contains(j)));

    // A delayed job: invisible to a receive right after it was sent (one call, so a
    // busy machine cannot outrun the delay), visible once the delay has passed.
    let (delayed, delayed_url) = new_queue().await;
    let later = job(1);
    ok(delayed.enqueue(vec![later.clone()], Duration::from_secs(5)).await);
    let early = ok(sqs().receive_message().queue_url(&delayed_url).max_number_of_messages(10).send().await);
    assert!(early.messages().is_empty(), "the delayed job waits");
    tokio::time::sleep(Duration::from_millis(5300)).await;
    let got: Vec<Job> =
        receive_all(&delayed_url).await.iter().map(|(_, body)| ok(serde_json::from_str(body))).collect();
    assert_eq!(got, vec![later]);
}

fn stream_event(change: &Change) -> serde_json::Value {
    let fixture =
        ok(std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/streams/incident-reported.json")));
    let data = ok(serde_json::to_string(change));
    let escaped = ok(serde_json::to_string(&data));
    let text = fixture.replace("{{CHANGE_ID}}", &change.id.to_string()).replace("\"{{CHANGE}}\"", &escaped);
    ok(serde_json::from_str(&text))
}

#[tokio::test]
async fn the_fanout_function_relays_plans_delivers_and_suppresses() {
    // Moto's table, queue, bus and verified sender, all our own.
    let store = Arc::new(beacon_tests::dynamodb().await);
    let service = Service::new(store, Arc::new(SystemClock));
    let (queue, url) = new_queue().await;
    let from = verified_sender().await;
    let address = format!("{}@example.com", unique("reader"));
    let created = ok(service
        .create_subscriber(
            member(),
            NewSubscriber {
                channel: Channel::Email { address: ok(Email::parse(&address)) },
                interest: Interest::Page,
                events: Events::default(),
                contact: None,
            },
        )
        .await);
    let incident = ok(service
        .report_incident(
            member(),
            ReportIncident {
                title: Some("Checkout errors".into()),
                message: Some("Payments fail for some cards.".into()),
                ..Default::default()
            },
        )
        .await);
    let change = Change {
        id: ChangeId::new(ulid::Ulid::new()),
        at: jiff::Timestamp::now(),
        actor: Actor::System,
        kind: ChangeKind::IncidentReported {
            incident_id: incident.incident.id,
            update_id: incident.updates[0].id,
            components: vec![],
            status_changes: vec![],
        },
        incident: None,
        maintenance: None,
    };

    let (bus, relayed_url) = routed_bus(r#"{"source":["beacon.changes"],"detail-type":["incident_reported"]}"#).await;

    let http = ok(GuardedHttp::new(OutboundPolicy::default()));
    let fanout = Fanout {
        service: Some(service.clone()),
        relay: Some(BusRelay::new(events(), bus.clone())),
        planner: Some(Planner::new(service.clone(), Arc::new(queue.clone()))),
        deliverer: Some(Deliverer::new(
            service.clone(),
            Arc::new(queue.clone()),
            Arc::new(SesMailer::new(ses(), Some("beacon".into()), 1.0, 5.0).await),
            Arc::new(http),
            messages(&from),
        )),
    };

    // Relay: the stream record becomes a change event on the bus, which the rule routes,
    // and its domain event (incident.created), which this rule leaves alone.
    assert_eq!(ok(handle(&stream_event(&change), &fanout).await), Handled::Relayed(2));
    let routed = receive_all(&relayed_url).await;
    assert_eq!(routed.len(), 1);
    let event: serde_json::Value = ok(serde_json::from_str(&routed[0].1));
    assert_eq!(event["source"], "beacon.changes");
    assert_eq!(event["detail-type"], "incident_reported");

    // Plan: the event as the rule hands it to the planner.
    assert_eq!(ok(handle(&event, &fanout).await), Handled::Planned { recipients: 1, jobs: 1 });

    // Deliver: the queue's message as the SQS trigger hands it over, plus a poison one.
    let messages: Vec<serde_json::Value> = receive_all(&url)
        .await
        .into_iter()
        .map(|(id, body)| serde_json::json!({"messageId": id, "body": body, "eventSource": "aws:sqs"}))
        .collect();
    assert_eq!(messages.len(), 1);
    let sqs_event = serde_json::json!({ "Records": messages });
    let handled = ok(handle(&sqs_event, &fanout).await);
    assert_eq!(handled, Handled::Delivered { jobs: 1, failed: vec![] });
    assert_eq!(handled.response()["batchItemFailures"], serde_json::json!([]));
    let sent = sent_raw().await;
    let (_, _, raw) =
        sent.iter().find(|(_, d, _)| d.contains(&address)).unwrap_or_else(|| panic!("no mail to {address} on moto"));
    assert!(raw.contains("Subject: [Acme Status] Investigating: Checkout errors"), "{raw}");
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(raw.contains(&format!("Message-ID: <incident.{}.{}@", incident.incident.id, created.subscriber.id)));
    // The same message again (SQS redelivers at least once) sends nothing more.
    ok(handle(&sqs_event, &fanout).await);
    assert_eq!(sent_raw().await.iter().filter(|(_, d, _)| d.contains(&address)).count(), 1);

    // Feedback: SES's own records. A transient bounce keeps the address.
    let fixture = |name: &str| -> serde_json::Value {
        let path = format!("{}/fixtures/ses/{name}", env!("CARGO_MANIFEST_DIR"));
        ok(serde_json::from_str(&ok(std::fs::read_to_string(path)).replace("recipient@example.com", &address)))
    };
    assert_eq!(ok(handle(&fixture("eventbridge-transient-bounce.json"), &fanout).await), Handled::Ignored);
    assert_eq!(ok(service.subscriber(created.subscriber.id).await).id, created.subscriber.id);
    assert_eq!(ok(handle(&fixture("eventbridge-permanent-bounce.json"), &fanout).await), Handled::Suppressed(1));
    assert!(service.subscriber(created.subscriber.id).await.is_err(), "a permanent bounce suppresses");
}

#[tokio::test]
async fn complaints_suppress_whether_through_eventbridge_or_sns() {
    let store = Arc::new(beacon_tests::dynamodb().await);
    let service = Service::new(store, Arc::new(SystemClock));
    let fanout = Fanout { service: Some(service.clone()), ..Default::default() };
    for name in ["eventbridge-complaint.json", "sns-permanent-bounce.json"] {
        let address = format!("{}@example.com", unique("reader"));
        let created = ok(service
            .create_subscriber(
                member(),
                NewSubscriber {
                    channel: Channel::Email { address: ok(Email::parse(&address)) },
                    interest: Interest::Page,
                    events: Events::default(),
                    contact: None,
                },
            )
            .await);
        let path = format!("{}/fixtures/ses/{name}", env!("CARGO_MANIFEST_DIR"));
        let event: serde_json::Value =
            ok(serde_json::from_str(&ok(std::fs::read_to_string(path)).replace("recipient@example.com", &address)));
        assert_eq!(ok(handle(&event, &fanout).await), Handled::Suppressed(1), "{name}");
        assert!(service.subscriber(created.subscriber.id).await.is_err(), "{name}");
    }
}

/// Domain events through a team's own rule: the relay puts every change's events on the
/// bus (ten to a call), a rule on `source: beacon` sends them to the team's queue, each
/// matches the documented schema, and a redelivered batch carries the same ids again.
#[tokio::test]
async fn domain_events_reach_a_team_rule_and_redelivery_keeps_their_ids() {
    use beacon_store::ChangeFeed as _;
    // Real changes, with their facts, from the use cases on the embedded store.
    let dir = ok(tempfile::tempdir());
    let redb = Arc::new(ok(beacon_store_redb::RedbStore::open(dir.path())));
    let service = Service::new(redb.clone(), Arc::new(SystemClock));
    let api = ok(service
        .create_component(member(), beacon_app::NewComponent { name: "API".into(), ..Default::default() })
        .await)
    .id;
    let mut incidents = Vec::new();
    for title in ["Checkout errors", "Slow search", "Login failures"] {
        let reported = ok(service
            .report_incident(
                member(),
                ReportIncident {
                    title: Some(title.into()),
                    message: Some("Looking into it.".into()),
                    components: Some(vec![beacon_domain::AffectedComponent {
                        id: api,
                        status: beacon_domain::ComponentStatus::PartialOutage,
                    }]),
                    ..Default::default()
                },
            )
            .await);
        incidents.push(reported.incident.id);
    }
    for (id, status) in [
        (incidents[0], beacon_domain::IncidentStatus::Identified),
        (incidents[0], beacon_domain::IncidentStatus::Resolved),
    ] {
        let update = beacon_app::PostUpdate { message: "Progress.".into(), status: Some(status), ..Default::default() };
        ok(service.post_update(member(), id, None, update).await);
    }
    // A maintenance announced and, already due, started by the scheduler.
    let docs = ok(service
        .create_component(member(), beacon_app::NewComponent { name: "Docs".into(), ..Default::default() })
        .await)
    .id;
    let now = jiff::Timestamp::now();
    let when = |minutes: i64| {
        now.checked_add(jiff::SignedDuration::from_mins(minutes))
            .unwrap_or(now)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    ok(service
        .schedule_maintenance(
            member(),
            beacon_app::ScheduleMaintenance {
                title: "Database upgrade".into(),
                message: "We upgrade the database.".into(),
                window: beacon_app::WindowInput {
                    starts_at: when(-1),
                    ends_at: when(60),
                    time_zone: Some("Europe/Berlin".into()),
                },
                components: vec![docs],
                automation: None,
            },
        )
        .await);
    ok(service.run_maintenance_scheduler().await);
    let entries = ok(redb.read("events-test", 1_000).await);
    let changes: Vec<Change> = entries.iter().flat_map(|e| ok(beacon_app::repo::change_from_item(&e.item))).collect();
    let expected: Vec<beacon_domain::DomainEvent> =
        changes.iter().flat_map(beacon_domain::DomainEvent::from_change).collect();
    assert!(changes.len() + expected.len() > 10, "enough for more than one PutEvents call");

    let (bus, team_url) = routed_bus(r#"{"source":["beacon"]}"#).await;

    let relay = BusRelay::new(events(), bus.clone());
    assert_eq!(ok(relay.relay(&changes).await), changes.len() + expected.len());
    let schema: serde_json::Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/events.schema.json"
    )))));
    let validator = ok(jsonschema::validator_for(&schema));
    let read = |routed: Vec<(String, String)>| -> Vec<serde_json::Value> {
        routed
            .iter()
            .map(|(_, body)| {
                let event: serde_json::Value = ok(serde_json::from_str(body));
                assert_eq!(event["source"], "beacon", "only domain events match the team's rule");
                assert_eq!(event["detail-type"], event["detail"]["type"]);
                let errors: Vec<String> =
                    validator.iter_errors(&event["detail"]).map(|e| format!("{e} at {}", e.instance_path)).collect();
                assert!(errors.is_empty(), "{}: {errors:?}", event["detail"]);
                event["detail"].clone()
            })
            .collect()
    };
    let first = read(receive_all(&team_url).await);
    let mut ids: Vec<String> = first.iter().map(|d| d["id"].as_str().unwrap_or_default().to_owned()).collect();
    ids.sort();
    let mut wanted: Vec<String> = expected.iter().map(|e| e.id.clone()).collect();
    wanted.sort();
    assert_eq!(ids, wanted, "every event arrived once");
    let types: std::collections::BTreeSet<String> =
        first.iter().map(|d| d["type"].as_str().unwrap_or_default().to_owned()).collect();
    for t in [
        "incident.created",
        "incident.status_changed",
        "incident.resolved",
        "component.status_changed",
        "maintenance.scheduled",
        "maintenance.started",
    ] {
        assert!(types.contains(t), "{t} missing from {types:?}");
    }
    let resolved = first.iter().find(|d| d["type"] == "incident.resolved").cloned().unwrap_or_default();
    assert_eq!(resolved["incident"]["previous_status"], "identified");
    assert_eq!(resolved["incident"]["title"], "Checkout errors");
    let started = first.iter().find(|d| d["type"] == "maintenance.started").cloned().unwrap_or_default();
    assert_eq!(started["maintenance"]["status"], "in_progress");
    assert_eq!(started["maintenance"]["time_zone"], "Europe/Berlin");
    let moved = first
        .iter()
        .find(|d| d["type"] == "component.status_changed" && d["component"]["to"] == "under_maintenance")
        .cloned()
        .unwrap_or_default();
    assert_eq!(moved["component"]["maintenance_id"], started["maintenance"]["id"]);
    // The schema is not vacuous.
    let mut broken = resolved.clone();
    broken["incident"]["status"] = serde_json::json!("fixed");
    assert!(!validator.is_valid(&broken));
    let mut broken = started.clone();
    broken["maintenance"]["status"] = serde_json::json!("postponed");
    assert!(!validator.is_valid(&broken));

    // The stream redelivers the batch: the same events again, under the same ids.
    ok(relay.relay(&changes).await);
    let mut again: Vec<String> =
        read(receive_all(&team_url).await).iter().map(|d| d["id"].as_str().unwrap_or_default().to_owned()).collect();
    again.sort();
    assert_eq!(again, wanted);
}
