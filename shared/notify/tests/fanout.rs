//! Fan-out on the embedded store: who a notice reaches, what each channel receives, and
//! that nothing is lost or sent twice under repeats, races, crashes and failures.

mod common;

use beacon_app::feed::ChangeHandler as _;
use beacon_app::subscribers::delivery_key;
use beacon_app::{PostUpdate, SubscribeOutcome, SubscriberFilter};
use beacon_domain::{
    Actor, Change, ChangeId, ChangeKind, Events, IncidentStatus, Interest, NoticeEvent, SubscriberState,
};
use beacon_notify::transport::HttpTransport as _;
use beacon_notify::{GuardedHttp, OutboundPolicy, Planner, SendError};
use beacon_store::{Condition, Item, Value};
use common::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Runs a case on the embedded store and on DynamoDB (moto): the claims, leases and
/// queue behave the same on both.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn embedded() {
                super::$name(super::common::world().await).await
            }

            #[tokio::test]
            async fn dynamodb() {
                super::$name(super::common::world_on_dynamodb().await).await
            }
        }
    };
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

fn reported(detail: &beacon_app::IncidentDetail) -> Change {
    change(ChangeKind::IncidentReported {
        incident_id: detail.incident.id,
        update_id: detail.updates[0].id,
        components: vec![],
        status_changes: vec![],
    })
}

async fn planned_ids(w: &World, planner: &Planner, c: &Change) -> BTreeSet<beacon_domain::SubscriberId> {
    ok(planner.plan_change(c).await);
    due_jobs(w).await.into_iter().flat_map(|j| j.subscribers).collect()
}

on_both!(a_notice_reaches_exactly_the_followers_of_what_it_touches);
async fn a_notice_reaches_exactly_the_followers_of_what_it_touches(w: World) {
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let (everyone, _) = subscribe(&w, email("all@example.com"), Interest::Page).await;
    let (api_fan, _) = subscribe(&w, email("api@example.com"), only(&[&w.api])).await;
    let (web_fan, _) = subscribe(&w, email("web@example.com"), only(&[&w.web])).await;
    let (group_fan, _) = subscribe(
        &w,
        email("backend@example.com"),
        Interest::Components { components: BTreeSet::new(), groups: BTreeSet::from([w.backend.id]) },
    )
    .await;
    // Follows both API and the Backend group: planned once.
    let (both, _) = subscribe(
        &w,
        email("both@example.com"),
        Interest::Components { components: BTreeSet::from([w.api.id]), groups: BTreeSet::from([w.backend.id]) },
    )
    .await;
    let (created_only, _) = subscribe_with(
        &w,
        email("new@example.com"),
        Interest::Page,
        Events { created: true, updated: false, resolved: false, maintenance: false },
        None,
    )
    .await;

    let incident = report(&w, &[&w.api]).await;
    let (follower, _) =
        subscribe(&w, email("follow@example.com"), Interest::Incident { incident_id: incident.incident.id }).await;
    let first = reported(&incident);
    let ids = planned_ids(&w, &planner, &first).await;
    assert_eq!(ids, BTreeSet::from([everyone.id, api_fan.id, group_fan.id, both.id, created_only.id, follower.id]));
    assert!(!ids.contains(&web_fan.id));

    // A component added to the group later is covered by the group's followers.
    let cache = ok(w
        .service
        .create_component(
            member(),
            beacon_app::NewComponent { name: "Cache".into(), group_id: Some(w.backend.id), ..Default::default() },
        )
        .await);
    let second = report(&w, &[&cache]).await;
    let ids = planned_ids(&w, &planner, &reported(&second)).await;
    assert_eq!(ids, BTreeSet::from([everyone.id, group_fan.id, both.id, created_only.id]));

    // An update reaches those who hear updates.
    let posted = ok(w
        .service
        .post_update(
            member(),
            incident.incident.id,
            None,
            PostUpdate { message: "Found it.".into(), ..Default::default() },
        )
        .await);
    let update = change(ChangeKind::IncidentUpdated {
        incident_id: incident.incident.id,
        update_id: posted.update.id,
        components: vec![],
        status_changes: vec![],
    });
    let ids = planned_ids(&w, &planner, &update).await;
    assert_eq!(ids, BTreeSet::from([everyone.id, api_fan.id, group_fan.id, both.id, follower.id]));

    // A redelivered change plans nothing more.
    assert!(planned_ids(&w, &planner, &update).await.is_empty());
}

#[tokio::test]
async fn an_update_posted_without_notify_tells_nobody() {
    let w = world().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    subscribe(&w, email("all@example.com"), Interest::Page).await;
    let incident = report(&w, &[&w.api]).await;
    let quiet = ok(w
        .service
        .post_update(
            member(),
            incident.incident.id,
            None,
            PostUpdate { message: "Typo fixed.".into(), silent: true, ..Default::default() },
        )
        .await);
    assert!(!quiet.update.notify);
    let c = change(ChangeKind::IncidentUpdated {
        incident_id: incident.incident.id,
        update_id: quiet.update.id,
        components: vec![],
        status_changes: vec![],
    });
    assert!(planned_ids(&w, &planner, &c).await.is_empty());
}

on_both!(pending_subscribers_hear_nothing_until_they_confirm);
async fn pending_subscribers_hear_nothing_until_they_confirm(w: World) {
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let outcome = ok(w.service.subscribe_email("Visitor@Example.com", Interest::Page, Events::default()).await);
    let SubscribeOutcome::ConfirmationNeeded { subscriber, confirm, .. } = outcome else {
        panic!("expected a confirmation, got {outcome:?}")
    };
    assert_eq!(subscriber.state, SubscriberState::Pending);
    let first = report(&w, &[&w.api]).await;
    assert!(planned_ids(&w, &planner, &reported(&first)).await.is_empty());

    // A wrong token confirms nothing; the right one once.
    assert!(ok(w.service.confirm_subscription(&format!("{}.nope", subscriber.id)).await).is_none());
    let (active, _manage) =
        ok(w.service.confirm_subscription(confirm.expose()).await).unwrap_or_else(|| panic!("confirm"));
    assert_eq!(active.state, SubscriberState::Active);
    assert!(ok(w.service.confirm_subscription(confirm.expose()).await).is_none(), "a confirmation link is single-use");
    let second = report(&w, &[&w.web]).await;
    assert_eq!(planned_ids(&w, &planner, &reported(&second)).await, BTreeSet::from([subscriber.id]));

    // Asking again for an active address mails a manage link instead; the visitor sees
    // no difference.
    let again = ok(w.service.subscribe_email("visitor@example.com", Interest::Page, Events::default()).await);
    assert!(matches!(again, SubscribeOutcome::AlreadySubscribed { .. }), "{again:?}");
}

#[tokio::test]
async fn unconfirmed_subscriptions_expire_after_seven_days() {
    let w = world().await;
    let outcome = ok(w.service.subscribe_email("late@example.com", Interest::Page, Events::default()).await);
    let SubscribeOutcome::ConfirmationNeeded { confirm, .. } = outcome else { panic!("{outcome:?}") };
    later(&w, 7 * 24 * 3600 + 1);
    assert!(ok(w.service.confirm_subscription(confirm.expose()).await).is_none());
    assert_eq!(ok(w.service.count_subscribers(SubscriberFilter::default()).await), 0);
    // The address can subscribe afresh.
    let again = ok(w.service.subscribe_email("late@example.com", Interest::Page, Events::default()).await);
    assert!(matches!(again, SubscribeOutcome::ConfirmationNeeded { .. }), "{again:?}");
}

#[tokio::test]
async fn mails_to_one_address_are_limited_per_hour() {
    let w = world().await;
    let mut quiet = 0;
    for _ in 0..5 {
        let outcome = ok(w.service.subscribe_email("spam@example.com", Interest::Page, Events::default()).await);
        if outcome == SubscribeOutcome::Quiet {
            quiet += 1;
        }
    }
    assert_eq!(quiet, 2, "three mails an hour, then nothing");
    later(&w, 3600);
    let outcome = ok(w.service.subscribe_email("spam@example.com", Interest::Page, Events::default()).await);
    assert_ne!(outcome, SubscribeOutcome::Quiet);
}

on_both!(every_channel_gets_its_own_message_once_and_signed_webhooks_verify);
async fn every_channel_gets_its_own_message_once_and_signed_webhooks_verify(w: World) {
    let (receiver, base) = receiver().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    let (reader, _) = subscribe(&w, email("reader@example.com"), Interest::Page).await;
    let (hook, secret) =
        subscribe(&w, beacon_domain::Channel::Webhook { url: url(&format!("{base}/hook")) }, Interest::Page).await;
    let secret = secret.unwrap_or_else(|| panic!("webhooks get a signing secret"));
    subscribe(&w, beacon_domain::Channel::Slack { url: url(&format!("{base}/slack")) }, Interest::Page).await;
    subscribe(&w, beacon_domain::Channel::Teams { url: url(&format!("{base}/teams")) }, Interest::Page).await;
    subscribe(&w, beacon_domain::Channel::Discord { url: url(&format!("{base}/discord")) }, Interest::Page).await;

    let incident = report(&w, &[&w.api]).await;
    ok(planner.plan_change(&reported(&incident)).await);
    let jobs = due_jobs(&w).await;
    assert_eq!(jobs.len(), 1);
    let report = ok(deliverer.process(&jobs[0]).await);
    assert_eq!((report.sent, report.retried, report.failed), (5, 0, 0), "{report:?}");
    // The same job again (a redelivered queue message) sends nothing.
    let again = ok(deliverer.process(&jobs[0]).await);
    assert_eq!((again.sent, again.skipped), (0, 5), "{again:?}");

    let requests = receiver.taken();
    assert_eq!(requests.len(), 4, "one request per webhook-like subscriber");
    let hook_request = requests.iter().find(|r| r.path == "/hook").unwrap_or_else(|| panic!("no webhook"));
    let signature = hook_request.headers.get("x-beacon-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(verify_signature(&secret, signature, &hook_request.body), "signature {signature}");
    assert!(!verify_signature("whsec_wrong", signature, &hook_request.body));
    let delivery = hook_request.headers.get("x-beacon-delivery").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(delivery, format!("{}.{}", incident.updates[0].id, hook.id));
    let payload: serde_json::Value = ok(serde_json::from_slice(&hook_request.body));
    assert_eq!(payload["page"]["status_indicator"], "major");
    assert_eq!(payload["incident"]["name"], "Elevated errors");
    assert_eq!(payload["incident"]["status"], "investigating");
    assert_eq!(payload["incident"]["impact"], "major");
    assert_eq!(payload["incident"]["incident_updates"][0]["body"], "We are looking into **errors** on the API.");
    assert_eq!(payload["incident"]["components"][0]["name"], "API");
    let unsubscribe = payload["meta"]["unsubscribe"].as_str().unwrap_or_default().to_owned();
    assert!(unsubscribe.starts_with("https://status.acme.example/subscriptions/unsubscribe?token="), "{unsubscribe}");

    let body = |path: &str| -> serde_json::Value {
        let r = requests.iter().find(|r| r.path == path).unwrap_or_else(|| panic!("no {path}"));
        ok(serde_json::from_slice(&r.body))
    };
    let slack = body("/slack");
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert!(slack["text"].as_str().unwrap_or_default().contains("Elevated errors"));
    assert!(slack.to_string().contains("https://status.acme.example/incidents/"));
    let teams = body("/teams");
    assert_eq!(teams["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(teams["attachments"][0]["content"]["version"], "1.4");
    let discord = body("/discord");
    assert_eq!(discord["embeds"][0]["fields"][0]["value"], "Investigating");
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));

    // The mail: both parts, the subject, a stable Message-ID, one-click unsubscribe.
    let mails = mail.mails();
    assert_eq!(mails.len(), 1);
    let text = String::from_utf8_lossy(&mails[0].bytes).to_string();
    let expected_id = format!("<incident.{}.{}@acme.example>", incident.incident.id, reader.id);
    assert!(text.contains(&format!("Message-ID: {expected_id}")), "{text}");
    assert!(text.contains("Subject: [Acme Status] Investigating: Elevated errors"), "{text}");
    assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{text}");
    assert!(text.contains("List-Unsubscribe: <https://status.acme.example/subscriptions/unsubscribe?token="));
    assert!(text.contains("multipart/alternative"));
    assert!(text.contains("Content-Type: text/plain") && text.contains("Content-Type: text/html"));
    assert!(std::fs::read_dir(w.outbox.dir()).map(|d| d.count()).unwrap_or(0) == 1);

    // The link in the message manages that subscriber, and unsubscribes it in one step.
    let token = unsubscribe.split("token=").nth(1).unwrap_or_default();
    let found = ok(w.service.subscriber_by_token(token).await).unwrap_or_else(|| panic!("token"));
    assert_eq!(found.id, hook.id);
    assert!(ok(w.service.unsubscribe_by_token(token).await));
    assert!(!ok(w.service.unsubscribe_by_token(token).await), "a second click finds nothing");
}

#[tokio::test]
async fn later_mails_of_an_incident_thread_under_the_first() {
    let w = world().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    let (reader, _) = subscribe(&w, email("reader@example.com"), Interest::Page).await;
    let incident = report(&w, &[&w.api]).await;
    let resolved = ok(w.service.resolve_incident(member(), incident.incident.id, None, None).await);
    let c = change(ChangeKind::IncidentResolved {
        incident_id: incident.incident.id,
        update_id: resolved.update.id,
        components: vec![],
        status_changes: vec![],
    });
    ok(planner.plan_change(&c).await);
    for job in due_jobs(&w).await {
        ok(deliverer.process(&job).await);
    }
    let mails = mail.mails();
    assert_eq!(mails.len(), 1);
    let text = String::from_utf8_lossy(&mails[0].bytes).to_string();
    let root = format!("<incident.{}.{}@acme.example>", incident.incident.id, reader.id);
    assert!(text.contains(&format!("In-Reply-To: {root}")), "{text}");
    assert!(text.contains(&format!("References: {root}")), "{text}");
    assert!(text.contains(&format!("Message-ID: <update.{}.{}@acme.example>", resolved.update.id, reader.id)));
    assert!(text.contains("Subject: [Acme Status] Resolved: Elevated errors"));
}

on_both!(two_workers_racing_on_one_job_send_each_message_once);
async fn two_workers_racing_on_one_job_send_each_message_once(w: World) {
    let (receiver, base) = receiver().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let first = deliverer(&w, mail.clone(), "https://status.acme.example");
    let second = deliverer(&w, mail.clone(), "https://status.acme.example");
    for n in 0..30 {
        subscribe(&w, email(&format!("r{n}@example.com")), Interest::Page).await;
    }
    for n in 0..10 {
        subscribe(&w, beacon_domain::Channel::Webhook { url: url(&format!("{base}/h{n}")) }, Interest::Page).await;
    }
    let incident = report(&w, &[&w.api]).await;
    ok(planner.plan_change(&reported(&incident)).await);
    let jobs = due_jobs(&w).await;
    assert_eq!(jobs.len(), 1);
    let (a, b) = tokio::join!(first.process(&jobs[0]), second.process(&jobs[0]));
    let (a, b) = (ok(a), ok(b));
    assert_eq!(a.sent + b.sent, 40, "{a:?} {b:?}");
    // The loser of a claim race retries later, finds it sent, and sends nothing.
    later(&w, 120);
    for job in due_jobs(&w).await {
        let r = ok(first.process(&job).await);
        assert_eq!(r.sent, 0);
    }
    assert_eq!(mail.mails().len(), 30);
    assert_eq!(receiver.taken().len(), 10);
}

on_both!(a_crash_between_claim_and_send_is_retried_after_the_lease);
async fn a_crash_between_claim_and_send_is_retried_after_the_lease(w: World) {
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    let (reader, _) = subscribe(&w, email("reader@example.com"), Interest::Page).await;
    let incident = report(&w, &[&w.api]).await;
    ok(planner.plan_change(&reported(&incident)).await);
    let jobs = due_jobs(&w).await;
    // A worker claimed the delivery and died before sending.
    let lease_end = beacon_app::Clock::now(w.clock.as_ref()).as_millisecond() + 60_000;
    let claimed = Item::new(delivery_key(incident.updates[0].id.into(), reader.id))
        .with("state", Value::S("claimed".into()))
        .with("lease", Value::N(lease_end))
        .with("failures", Value::N(0))
        .with("version", Value::N(1));
    ok(w.service.store().put(claimed, Condition::NotExists).await);

    let r = ok(deliverer.process(&jobs[0]).await);
    assert_eq!((r.sent, r.retried), (0, 1), "a live claim is left alone");
    assert!(due_jobs(&w).await.is_empty(), "the retry waits for the lease");
    later(&w, 61);
    let retry = due_jobs(&w).await;
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempt, 1);
    let r = ok(deliverer.process(&retry[0]).await);
    assert_eq!(r.sent, 1, "the expired claim is taken over");
    assert_eq!(mail.mails().len(), 1);
}

on_both!(a_throttled_mail_is_retried_and_never_dropped);
async fn a_throttled_mail_is_retried_and_never_dropped(w: World) {
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    mail.fail_next.store(1, Ordering::SeqCst);
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    let (reader, _) = subscribe(&w, email("reader@example.com"), Interest::Page).await;
    let incident = report(&w, &[&w.api]).await;
    ok(planner.plan_change(&reported(&incident)).await);
    let r = ok(deliverer.process(&due_jobs(&w).await[0]).await);
    assert_eq!((r.sent, r.retried), (0, 1));
    later(&w, 3);
    let r = ok(deliverer.process(&due_jobs(&w).await[0]).await);
    assert_eq!(r.sent, 1);
    let log = ok(w.service.delivery_log(reader.id, None, 10).await).items;
    let outcomes: Vec<_> = log.iter().map(|a| a.outcome).collect();
    use beacon_app::subscribers::DeliveryOutcome::*;
    assert_eq!(outcomes, vec![Sent, Throttled], "newest first");
}

#[tokio::test]
async fn failing_webhooks_back_off_then_quarantine_and_the_owner_is_told() {
    let w = world().await;
    let (receiver, base) = receiver().await;
    receiver.failures.store(1000, Ordering::SeqCst);
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    let (hook, _) = subscribe_with(
        &w,
        beacon_domain::Channel::Webhook { url: url(&format!("{base}/hook")) },
        Interest::Page,
        Events::default(),
        Some("owner@example.com"),
    )
    .await;
    let incident = report(&w, &[&w.api]).await;
    ok(planner.plan_change(&reported(&incident)).await);
    let mut attempts = 0;
    let mut waits = Vec::new();
    loop {
        let jobs = due_jobs(&w).await;
        if jobs.is_empty() {
            // Move to the next retry, measuring the wait.
            let mut waited = 0;
            while due_jobs_peek(&w).await == 0 && waited < 3600 {
                later(&w, 10);
                waited += 10;
            }
            if waited >= 3600 {
                break;
            }
            waits.push(waited);
            continue;
        }
        for job in jobs {
            ok(deliverer.process(&job).await);
            attempts += 1;
        }
    }
    assert_eq!(attempts, 9, "nine tries of one notice");
    assert_eq!(waits.len(), 8, "{waits:?}");
    assert!(waits[0] <= 40 && waits[7] >= 700, "waits grow from half a minute to a quarter hour: {waits:?}");
    let total: i64 = waits.iter().sum();
    assert!((45 * 60..=75 * 60).contains(&total), "about an hour of retries: {total}s {waits:?}");
    let s = ok(w.service.subscriber(hook.id).await);
    assert_eq!((s.state, s.consecutive_failures), (SubscriberState::Active, 9));

    // One more failure (a second notice) reaches ten: quarantined, the owner mailed.
    let posted = ok(w
        .service
        .post_update(member(), incident.incident.id, None, PostUpdate { message: "More.".into(), ..Default::default() })
        .await);
    ok(planner
        .plan_change(&change(ChangeKind::IncidentUpdated {
            incident_id: incident.incident.id,
            update_id: posted.update.id,
            components: vec![],
            status_changes: vec![],
        }))
        .await);
    let r = ok(deliverer.process(&due_jobs(&w).await[0]).await);
    assert_eq!(r.failed, 1);
    let s = ok(w.service.subscriber(hook.id).await);
    assert_eq!(s.state, SubscriberState::Quarantined);
    let told = mail.mails();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].to, "owner@example.com");
    assert!(String::from_utf8_lossy(&told[0].bytes).contains("paused"));
    assert_eq!(receiver.taken().len(), 10);
    let log = ok(w.service.delivery_log(hook.id, None, 50).await).items;
    assert_eq!(log.len(), 10);
    assert!(log.iter().all(|a| a.status_code == Some(500)));

    // Quarantined: later notices are not sent; reactivated: they are.
    later(&w, 3600);
    assert!(due_jobs(&w).await.is_empty());
    let back = ok(w.service.reactivate_subscriber(&member(), hook.id, None).await);
    assert_eq!((back.state, back.consecutive_failures), (SubscriberState::Active, 0));
}

async fn due_jobs_peek(w: &World) -> usize {
    // Reads without taking: a zero-length lease leaves the jobs due.
    let taken = ok(w.queue.receive(1000, std::time::Duration::ZERO).await);
    taken.len()
}

#[tokio::test]
async fn the_guard_refuses_inside_addresses_before_connecting() {
    let (receiver, base) = receiver().await;
    let port = base.rsplit(':').next().unwrap_or_default().to_owned();
    let strict = ok(GuardedHttp::new(OutboundPolicy::default()));
    let only_http = ok(GuardedHttp::new(OutboundPolicy { allow_plain_http: true, allow_loopback: false }));
    let cases = [
        (&strict, format!("http://127.0.0.1:{port}/x")),
        (&only_http, format!("http://127.0.0.1:{port}/x")),
        // A name that resolves to loopback: refused at resolution, not connection.
        (&only_http, format!("http://localhost:{port}/x")),
        (&strict, format!("https://localhost:{port}/x")),
        (&only_http, "http://169.254.169.254/latest/meta-data/".to_owned()),
        (&only_http, "http://[::ffff:169.254.169.254]/".to_owned()),
        (&only_http, "http://10.0.0.1/".to_owned()),
        (&only_http, "http://[fd00:ec2::254]/".to_owned()),
    ];
    for (client, raw) in cases {
        let outcome = client.post(&url(&raw), &[], b"{}".to_vec()).await;
        assert!(matches!(outcome, Err(SendError::Refused(_))), "{raw}: {outcome:?}");
    }
    assert_eq!(receiver.connections.load(Ordering::SeqCst), 0, "nothing connected");
    assert!(receiver.taken().is_empty());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    use axum::response::Redirect;
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let address = ok(listener.local_addr());
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app =
        axum::Router::new().route("/start", axum::routing::post(|| async { Redirect::temporary("/target") })).route(
            "/target",
            axum::routing::post(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { "reached" }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = dev_http();
    let answer = ok(client.post(&url(&format!("http://{address}/start")), &[], b"{}".to_vec()).await);
    assert_eq!(answer.status, 307);
    assert!(!answer.is_success());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_event_filter_keeps_a_resolved_only_subscriber_quiet_until_resolution() {
    let w = world().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let (quiet, _) = subscribe_with(
        &w,
        email("resolved@example.com"),
        Interest::Page,
        Events { created: false, updated: false, resolved: true, maintenance: false },
        None,
    )
    .await;
    let incident = report(&w, &[&w.api]).await;
    assert!(planned_ids(&w, &planner, &reported(&incident)).await.is_empty());
    let resolved = ok(w
        .service
        .post_update(
            member(),
            incident.incident.id,
            None,
            PostUpdate { message: "Fixed.".into(), status: Some(IncidentStatus::Resolved), ..Default::default() },
        )
        .await);
    let c = change(ChangeKind::IncidentResolved {
        incident_id: incident.incident.id,
        update_id: resolved.update.id,
        components: vec![],
        status_changes: vec![],
    });
    assert_eq!(planned_ids(&w, &planner, &c).await, BTreeSet::from([quiet.id]));
    assert_eq!(beacon_notify::notice::announced(&c).map(|a| a.0), Some(NoticeEvent::Resolved));
}

#[tokio::test]
async fn the_planner_is_a_feed_consumer() {
    let w = world().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    subscribe(&w, email("all@example.com"), Interest::Page).await;
    let incident = report(&w, &[&w.api]).await;
    ok(planner.handle(&reported(&incident)).await.map_err(|e| e.0));
    assert_eq!(due_jobs(&w).await.len(), 1);
}

#[tokio::test]
async fn webhooks_hear_of_component_status_changes_in_statuspage_shape() {
    let w = world().await;
    let feed = w.feed.clone().unwrap_or_else(|| panic!("the embedded store keeps a feed"));
    let (receiver, base) = receiver().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    // Everything written so far (the page's set-up) is not news.
    ok(beacon_app::feed::drain(feed.as_ref(), "test", &planner, 100).await);
    let (hook, secret) =
        subscribe(&w, beacon_domain::Channel::Webhook { url: url(&format!("{base}/hook")) }, only(&[&w.db])).await;
    let secret = secret.unwrap_or_else(|| panic!("a secret"));
    subscribe(&w, beacon_domain::Channel::Webhook { url: url(&format!("{base}/other")) }, only(&[&w.web])).await;
    subscribe(&w, email("reader@example.com"), only(&[&w.db])).await;

    // An incident moves the database to a partial outage: the incident goes to everyone
    // following it, the status change to the webhook only.
    let incident = report(&w, &[&w.db]).await;
    ok(beacon_app::feed::drain(feed.as_ref(), "test", &planner, 100).await);
    let jobs = due_jobs(&w).await;
    let incident_notice: beacon_domain::NoticeId = incident.updates[0].id.into();
    let status_jobs: Vec<_> = jobs.iter().filter(|j| j.notice != incident_notice).collect();
    assert_eq!(status_jobs.len(), 1);
    assert_eq!(status_jobs[0].subscribers, vec![hook.id], "status news is planned for webhooks only");
    for job in jobs {
        ok(deliverer.process(&job).await);
    }
    assert_eq!(mail.mails().len(), 1, "people hear of the incident, not of each status move");
    let requests = receiver.taken();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths.iter().filter(|p| **p == "/hook").count(), 2, "the incident and the status change: {paths:?}");
    assert!(!paths.contains(&"/other"), "nothing for a webhook following another component");
    let component = requests
        .iter()
        .map(|r| (r, serde_json::from_slice::<serde_json::Value>(&r.body).unwrap_or_default()))
        .find(|(_, p)| p.get("component_update").is_some())
        .unwrap_or_else(|| panic!("no component_update delivery"));
    let (request, payload) = component;
    let signature = request.headers.get("x-beacon-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(verify_signature(&secret, signature, &request.body));
    assert_eq!(request.headers.get("x-beacon-event").and_then(|v| v.to_str().ok()), Some("component.updated"));
    assert_eq!(payload["component_update"]["old_status"], "operational");
    assert_eq!(payload["component_update"]["new_status"], "partial_outage");
    assert_eq!(payload["component_update"]["component_id"], w.db.id.to_string());
    assert_eq!(payload["component"]["name"], "Database");
    assert_eq!(payload["component"]["status"], "partial_outage");
    assert_eq!(payload["page"]["status_indicator"], "major");
    assert!(payload["meta"]["unsubscribe"].as_str().is_some_and(|u| u.contains("token=")));

    // A manual change of the website's status reaches the other webhook only.
    ok(w.service
        .update_component(
            member(),
            w.web.id,
            None,
            beacon_app::ComponentPatch {
                status: Some(beacon_domain::ComponentStatus::UnderMaintenance),
                ..Default::default()
            },
        )
        .await);
    ok(beacon_app::feed::drain(feed.as_ref(), "test", &planner, 100).await);
    for job in due_jobs(&w).await {
        ok(deliverer.process(&job).await);
    }
    let other: Vec<_> = receiver.taken().into_iter().filter(|r| r.path == "/other").collect();
    assert_eq!(other.len(), 1);
    let payload: serde_json::Value = ok(serde_json::from_slice(&other[0].body));
    assert_eq!(payload["component_update"]["new_status"], "under_maintenance");
}

on_both!(the_widest_change_of_interest_fits_one_transaction);
async fn the_widest_change_of_interest_fits_one_transaction(w: World) {
    let max = beacon_domain::MAX_FOLLOWED;
    let mut components = Vec::new();
    for n in 0..2 * max {
        components.push(ok(w
            .service
            .create_component(member(), beacon_app::NewComponent { name: format!("C{n}"), ..Default::default() })
            .await));
    }
    let first: Vec<&beacon_domain::Component> = components[..max].iter().collect();
    let second: Vec<&beacon_domain::Component> = components[max..].iter().collect();
    let created = ok(w
        .service
        .create_subscriber(
            member(),
            beacon_app::NewSubscriber {
                channel: email("wide@example.com"),
                interest: only(&first),
                events: Events::default(),
                contact: None,
            },
        )
        .await);
    // Every followed component replaced by another: removals and additions at once.
    let updated =
        ok(w.service.update_subscription_by_token(created.manage.expose(), only(&second), Events::default()).await)
            .unwrap_or_else(|| panic!("the manage token is valid"));
    assert_eq!(updated.interest, only(&second));
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let old = report(&w, &[first[0]]).await;
    assert!(planned_ids(&w, &planner, &reported(&old)).await.is_empty(), "no stale follow entry is left");
    let new = report(&w, &[second[0]]).await;
    assert_eq!(planned_ids(&w, &planner, &reported(&new)).await, BTreeSet::from([created.subscriber.id]));
    // One more than allowed is refused, with a clear reason.
    let mut too_many: Vec<&beacon_domain::Component> = second.clone();
    too_many.push(first[0]);
    let refused =
        w.service.update_subscription_by_token(created.manage.expose(), only(&too_many), Events::default()).await;
    assert!(matches!(refused, Err(beacon_app::AppError::Domain(_))), "{refused:?}");
}

on_both!(a_redelivered_job_neither_hurries_a_retry_nor_revives_a_given_up_delivery);
async fn a_redelivered_job_neither_hurries_a_retry_nor_revives_a_given_up_delivery(w: World) {
    let (receiver, base) = receiver().await;
    receiver.failures.store(1, Ordering::SeqCst);
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    mail.reject_next.store(1, Ordering::SeqCst);
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    subscribe(&w, email("gone@example.com"), Interest::Page).await;
    subscribe(&w, beacon_domain::Channel::Webhook { url: url(&format!("{base}/hook")) }, Interest::Page).await;
    let incident = report(&w, &[&w.api]).await;
    ok(planner.plan_change(&reported(&incident)).await);
    let job = due_jobs(&w).await.remove(0);
    let first = ok(deliverer.process(&job).await);
    assert_eq!((first.failed, first.retried), (1, 1), "the mail rejected for good, the webhook to retry: {first:?}");
    // The same job again at once (SQS delivers at least once): the webhook's next try
    // is not due yet, and the rejected mail stays given up.
    let again = ok(deliverer.process(&job).await);
    assert_eq!((again.sent, again.skipped, again.retried), (0, 1, 1), "{again:?}");
    assert_eq!(receiver.taken().len(), 1, "no early second try");
    assert!(mail.mails().is_empty());
    // When the retry is due, the webhook is tried again and succeeds; the mail never is.
    later(&w, 60);
    for job in due_jobs(&w).await {
        ok(deliverer.process(&job).await);
    }
    assert_eq!(receiver.taken().len(), 2);
    assert!(mail.mails().is_empty());
}

#[tokio::test]
async fn following_an_incident_ends_with_its_resolution() {
    let w = world().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    let incident = report(&w, &[&w.api]).await;
    let (follower, _) =
        subscribe(&w, email("follow@example.com"), Interest::Incident { incident_id: incident.incident.id }).await;
    let resolved = ok(w.service.resolve_incident(member(), incident.incident.id, None, None).await);
    ok(planner
        .plan_change(&change(ChangeKind::IncidentResolved {
            incident_id: incident.incident.id,
            update_id: resolved.update.id,
            components: vec![],
            status_changes: vec![],
        }))
        .await);
    for job in due_jobs(&w).await {
        ok(deliverer.process(&job).await);
    }
    assert_eq!(mail.mails().len(), 1, "the follower hears of the resolution");
    assert!(w.service.subscriber(follower.id).await.is_err(), "and follows no more");
}

#[tokio::test]
async fn messages_carry_the_page_name_the_team_saved() {
    let w = world().await;
    let planner = Planner::new(w.service.clone(), Arc::new(w.queue.clone()));
    let mail = Arc::new(Counting::new(w.outbox.clone()));
    let deliverer = deliverer(&w, mail.clone(), "https://status.acme.example");
    subscribe(&w, email("reader@example.com"), Interest::Page).await;
    ok(w.service
        .save_page_settings(
            member(),
            Some(0),
            beacon_domain::PageSettingsInput {
                name: "Acme Cloud".into(),
                time_zone: "Etc/UTC".into(),
                ..Default::default()
            },
        )
        .await);
    let incident = report(&w, &[&w.api]).await;
    let c = change(ChangeKind::IncidentReported {
        incident_id: incident.incident.id,
        update_id: incident.updates[0].id,
        components: vec![w.api.id],
        status_changes: vec![],
    });
    ok(planner.plan_change(&c).await);
    for job in due_jobs(&w).await {
        ok(deliverer.process(&job).await);
    }
    let mails = mail.mails();
    assert_eq!(mails.len(), 1);
    let text = String::from_utf8_lossy(&mails[0].bytes).to_string();
    assert!(text.contains("Subject: [Acme Cloud] Investigating: Elevated errors"), "{text}");
}
