//! The use cases end to end, on both storage adapters: the embedded store in a
//! temporary folder and DynamoDB on the moto server.

use beacon_app::{
    AppError, EditIncident, IncidentFilter, IncidentState, NewComponent, NewGroup, NewMember, NewTemplate, PostUpdate,
    ReportIncident, Service,
};
use beacon_domain::{
    Actor, AffectedComponent, ComponentEdit, ComponentId, ComponentStatus, DomainError, EventKind, Impact,
    IncidentSource, IncidentStatus, MemberId, PageIndicator, Role,
};
use beacon_store::{Query, Store};
use std::sync::Arc;

fn member() -> Actor {
    Actor::Member { id: MemberId::new(ulid::Ulid::new()) }
}

async fn component(service: &Service, name: &str) -> ComponentId {
    service
        .create_component(Actor::System, NewComponent { name: name.into(), ..Default::default() })
        .await
        .unwrap_or_else(|e| panic!("create component: {e}"))
        .id
}

async fn status_of(service: &Service, id: ComponentId) -> ComponentStatus {
    service.component(id).await.unwrap_or_else(|e| panic!("component: {e}")).status
}

/// Every item of the partitions a request might touch, to prove a refusal wrote nothing.
async fn snapshot(store: &dyn Store) -> Vec<beacon_store::Item> {
    let mut all = Vec::new();
    for pk in ["INCIDENTS", "OPEN", "COMPONENTS", "GROUPS", "TEMPLATES", "MEMBERS", "MEMBER_EMAIL"] {
        let page = store.query(Query::partition(pk).limit(1000)).await.unwrap_or_else(|e| panic!("query: {e}"));
        all.extend(page.items);
    }
    all
}

fn ok<T>(r: Result<T, AppError>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

pub async fn an_incident_runs_its_whole_lifecycle(service: Service) {
    let actor = member();
    let group =
        ok(service.create_group(actor.clone(), NewGroup { name: "Platform".into(), ..Default::default() }).await);
    let api = ok(service
        .create_component(
            actor.clone(),
            NewComponent { name: "API".into(), group_id: Some(group.id), ..Default::default() },
        )
        .await)
    .id;
    let web = component(&service, "Web").await;
    let template = ok(service
        .create_template(
            actor.clone(),
            NewTemplate {
                name: "API errors".into(),
                title: "Elevated API errors".into(),
                impact: Impact::Minor,
                message: "We are investigating errors.".into(),
                components: vec![AffectedComponent { id: api, status: ComponentStatus::DegradedPerformance }],
            },
        )
        .await);

    // From the template, overriding the impact only.
    let reported = ok(service
        .report_incident(
            actor.clone(),
            ReportIncident { template_id: Some(template.id), impact: Some(Impact::Major), ..Default::default() },
        )
        .await);
    let incident = reported.incident;
    assert_eq!(incident.title.as_str(), "Elevated API errors");
    assert_eq!(incident.impact, Impact::Major);
    assert_eq!(incident.source, IncidentSource::Template);
    assert_eq!(reported.updates.len(), 1);
    assert_eq!(reported.updates[0].message.as_str(), "We are investigating errors.");
    assert_eq!(status_of(&service, api).await, ComponentStatus::DegradedPerformance);
    assert_eq!(ok(service.page_status().await).indicator, PageIndicator::Major);

    // Forward through every status, widening the outage on the way.
    let identified = ok(service
        .post_update(
            actor.clone(),
            incident.id,
            Some(incident.version),
            PostUpdate {
                message: "Found it: a bad deploy.".into(),
                status: Some(IncidentStatus::Identified),
                components: vec![
                    ComponentEdit::Set { id: api, status: ComponentStatus::MajorOutage },
                    ComponentEdit::Set { id: web, status: ComponentStatus::PartialOutage },
                ],
                ..Default::default()
            },
        )
        .await);
    assert_eq!(identified.incident.version, 2);
    assert_eq!(status_of(&service, api).await, ComponentStatus::MajorOutage);
    assert_eq!(status_of(&service, web).await, ComponentStatus::PartialOutage);
    let monitoring = ok(service
        .post_update(
            actor.clone(),
            incident.id,
            None,
            PostUpdate {
                message: "Rolled back.".into(),
                status: Some(IncidentStatus::Monitoring),
                ..Default::default()
            },
        )
        .await);

    // A move backwards is refused, names what is allowed, and changes nothing.
    let before = snapshot(service.store().as_ref()).await;
    let backwards = service
        .post_update(
            actor.clone(),
            incident.id,
            None,
            PostUpdate { message: "oops".into(), status: Some(IncidentStatus::Investigating), ..Default::default() },
        )
        .await;
    match backwards {
        Err(AppError::Domain(DomainError::Transition { allowed, .. })) => {
            assert_eq!(allowed, vec![IncidentStatus::Monitoring, IncidentStatus::Resolved]);
        }
        other => panic!("expected a transition error, got {other:?}"),
    }
    assert_eq!(snapshot(service.store().as_ref()).await, before);

    // Resolving returns the components to their manual status.
    let resolved =
        ok(service.resolve_incident(actor.clone(), incident.id, Some(monitoring.incident.version), None).await);
    assert_eq!(resolved.incident.status, IncidentStatus::Resolved);
    assert!(resolved.incident.resolved_at.is_some());
    assert_eq!(status_of(&service, api).await, ComponentStatus::Operational);
    assert_eq!(status_of(&service, web).await, ComponentStatus::Operational);
    assert_eq!(ok(service.page_status().await).indicator, PageIndicator::None);

    // Reopening imposes the statuses again.
    let reopened = ok(service.reopen_incident(actor.clone(), incident.id, None, None).await);
    assert_eq!(reopened.incident.status, IncidentStatus::Investigating);
    assert_eq!(status_of(&service, api).await, ComponentStatus::MajorOutage);

    // Components can be removed mid-incident.
    let edited = ok(service
        .edit_incident(
            actor.clone(),
            incident.id,
            None,
            EditIncident {
                title: Some("API and web errors".into()),
                components: vec![ComponentEdit::Remove { id: web }],
                ..Default::default()
            },
        )
        .await);
    assert_eq!(edited.title.as_str(), "API and web errors");
    assert_eq!(status_of(&service, web).await, ComponentStatus::Operational);

    // A private comment, attributed to its author, does not change the incident.
    let comment = ok(service.add_comment(actor.clone(), incident.id, "Root cause: **config** push.".into()).await);
    assert_eq!(Actor::Member { id: comment.author }, actor);
    assert_eq!(ok(service.comments(incident.id).await), vec![comment.clone()]);
    assert_eq!(ok(service.incident(incident.id).await).incident.version, edited.version);

    let detail = ok(service.incident(incident.id).await);
    let statuses: Vec<_> = detail.updates.iter().map(|u| u.status).collect();
    assert_eq!(
        statuses,
        vec![
            IncidentStatus::Investigating,
            IncidentStatus::Identified,
            IncidentStatus::Monitoring,
            IncidentStatus::Resolved,
            IncidentStatus::Investigating
        ]
    );

    let timeline = ok(service.timeline(incident.id).await);
    let has = |f: &dyn Fn(&EventKind) -> bool| timeline.iter().any(|e| f(&e.kind));
    assert!(matches!(timeline[0].kind, EventKind::Created { .. }));
    assert!(has(&|k| matches!(k, EventKind::TemplateApplied { template_id } if *template_id == template.id)));
    assert!(has(&|k| matches!(k, EventKind::Reopened)));
    assert!(has(&|k| matches!(k, EventKind::ComponentRemoved { component_id } if *component_id == web)));
    assert!(has(&|k| matches!(k, EventKind::TitleChanged { .. })));
    assert!(has(&|k| matches!(k, EventKind::CommentAdded { comment_id } if *comment_id == comment.id)));
    assert!(timeline.iter().all(|e| e.actor == actor));
    assert!(timeline.windows(2).all(|w| w[0].at <= w[1].at));

    // Deleting a component an open incident affects is refused; after resolving it works.
    assert!(matches!(service.delete_component(actor.clone(), api, None).await, Err(AppError::InUse(_))));
    ok(service.resolve_incident(actor.clone(), incident.id, None, Some("Fixed for good.".into())).await);
    ok(service.delete_component(actor.clone(), api, None).await);
    assert!(matches!(service.component(api).await, Err(AppError::NotFound { .. })));
}

pub async fn the_worst_open_incident_sets_a_component_status(service: Service) {
    let actor = member();
    let api = component(&service, "API").await;
    ok(service
        .update_component(
            actor.clone(),
            api,
            None,
            beacon_app::ComponentPatch { status: Some(ComponentStatus::DegradedPerformance), ..Default::default() },
        )
        .await);
    let report = |status| ReportIncident {
        title: Some("trouble".into()),
        message: Some("details".into()),
        components: Some(vec![AffectedComponent { id: api, status }]),
        ..Default::default()
    };
    let partial = ok(service.report_incident(actor.clone(), report(ComponentStatus::PartialOutage)).await).incident;
    let major = ok(service.report_incident(actor.clone(), report(ComponentStatus::MajorOutage)).await).incident;
    assert_eq!(status_of(&service, api).await, ComponentStatus::MajorOutage);
    ok(service.resolve_incident(actor.clone(), major.id, None, None).await);
    assert_eq!(
        status_of(&service, api).await,
        ComponentStatus::PartialOutage,
        "the other open incident still affects it"
    );
    ok(service.resolve_incident(actor.clone(), partial.id, None, None).await);
    assert_eq!(status_of(&service, api).await, ComponentStatus::DegradedPerformance, "back to the manual status");
    let open =
        ok(service.list_incidents(IncidentFilter { state: IncidentState::Open, ..Default::default() }, None, 10).await);
    assert!(open.items.is_empty());
}

pub async fn rejected_requests_change_nothing(service: Service) {
    let actor = member();
    let api = component(&service, "API").await;
    let incident = ok(service
        .report_incident(
            actor.clone(),
            ReportIncident { title: Some("t".into()), message: Some("m".into()), ..Default::default() },
        )
        .await)
    .incident;
    let before = snapshot(service.store().as_ref()).await;
    let refused = [
        service
            .report_incident(
                actor.clone(),
                ReportIncident { title: Some("   ".into()), message: Some("m".into()), ..Default::default() },
            )
            .await
            .map(drop),
        service
            .report_incident(
                actor.clone(),
                ReportIncident { title: Some("x".repeat(201)), message: Some("m".into()), ..Default::default() },
            )
            .await
            .map(drop),
        service
            .report_incident(actor.clone(), ReportIncident { title: Some("t".into()), ..Default::default() })
            .await
            .map(drop),
        service
            .report_incident(
                actor.clone(),
                ReportIncident {
                    title: Some("t".into()),
                    message: Some("m".into()),
                    components: Some(vec![AffectedComponent {
                        id: ComponentId::new(ulid::Ulid::new()),
                        status: ComponentStatus::MajorOutage,
                    }]),
                    ..Default::default()
                },
            )
            .await
            .map(drop),
        service
            .report_incident(
                actor.clone(),
                ReportIncident {
                    template_id: Some(beacon_domain::TemplateId::new(ulid::Ulid::new())),
                    ..Default::default()
                },
            )
            .await
            .map(drop),
        service
            .post_update(
                actor.clone(),
                incident.id,
                None,
                PostUpdate { message: "x".repeat(10_001), ..Default::default() },
            )
            .await
            .map(drop),
        service
            .post_update(
                actor.clone(),
                incident.id,
                Some(99),
                PostUpdate { message: "stale".into(), ..Default::default() },
            )
            .await
            .map(drop),
        service
            .post_update(
                actor.clone(),
                incident.id,
                None,
                PostUpdate {
                    message: "m".into(),
                    components: vec![ComponentEdit::Remove { id: api }],
                    ..Default::default()
                },
            )
            .await
            .map(drop),
        service.edit_incident(actor.clone(), incident.id, None, EditIncident::default()).await.map(drop),
        service.add_comment(Actor::System, incident.id, "not a member".into()).await.map(drop),
        service
            .create_component(actor.clone(), NewComponent { name: String::new(), ..Default::default() })
            .await
            .map(drop),
        service
            .create_component(
                actor.clone(),
                NewComponent {
                    name: "x".into(),
                    group_id: Some(beacon_domain::GroupId::new(ulid::Ulid::new())),
                    ..Default::default()
                },
            )
            .await
            .map(drop),
        service
            .create_member(
                actor.clone(),
                NewMember { name: "Ada".into(), email: "not-an-address".into(), role: Role::Admin },
            )
            .await
            .map(drop),
    ];
    for (i, result) in refused.iter().enumerate() {
        match result {
            Err(AppError::Domain(_) | AppError::NotFound { .. } | AppError::Conflict { .. }) => {}
            other => panic!("case {i}: expected a refusal, got {other:?}"),
        }
    }
    if let Err(AppError::Domain(DomainError::Invalid(errors))) = &refused[1] {
        assert_eq!(errors[0].field, "title");
        assert!(errors[0].message.contains("at most 200"), "{}", errors[0].message);
    } else {
        panic!("expected a field error for the long title");
    }
    assert!(matches!(&refused[6], Err(AppError::Conflict { current_version: Some(1), .. })));
    assert_eq!(snapshot(service.store().as_ref()).await, before, "a refused request must change nothing");
    assert_eq!(ok(service.incident(incident.id).await).updates.len(), 1);
}

pub async fn members_have_unique_addresses(service: Service) {
    let actor = member();
    let ada = ok(service
        .create_member(
            actor.clone(),
            NewMember { name: "Ada".into(), email: "Ada@Example.com".into(), role: Role::Owner },
        )
        .await);
    let again = service
        .create_member(
            actor.clone(),
            NewMember { name: "Ada 2".into(), email: "ada@example.com".into(), role: Role::Viewer },
        )
        .await;
    assert!(matches!(again, Err(AppError::Duplicate(_))), "{again:?}");
    assert_eq!(ok(service.members().await).len(), 1);
    assert_eq!(ok(service.member_by_email("ADA@example.com").await).map(|m| m.id), Some(ada.id));
    ok(service.delete_member(actor.clone(), ada.id).await);
    ok(service
        .create_member(actor, NewMember { name: "Ada".into(), email: "ada@example.com".into(), role: Role::Owner })
        .await);
}

pub async fn listing_pages_through_incidents_newest_first(service: Service) {
    let actor = member();
    let mut ids = Vec::new();
    for n in 0..7 {
        let incident = ok(service
            .report_incident(
                actor.clone(),
                ReportIncident {
                    title: Some(format!("incident {n}")),
                    message: Some("m".into()),
                    ..Default::default()
                },
            )
            .await)
        .incident;
        if n % 2 == 0 {
            ok(service.resolve_incident(actor.clone(), incident.id, None, None).await);
        }
        ids.push(incident.id);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = ok(service.list_incidents(IncidentFilter::default(), cursor, 3).await);
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|s| s.id));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let resolved = ok(service
        .list_incidents(IncidentFilter { state: IncidentState::Resolved, ..Default::default() }, None, 10)
        .await);
    assert_eq!(resolved.items.len(), 4);
    assert!(resolved.items.iter().all(|s| s.status == IncidentStatus::Resolved));
    let open =
        ok(service.list_incidents(IncidentFilter { state: IncidentState::Open, ..Default::default() }, None, 10).await);
    assert_eq!(open.items.iter().map(|s| s.id).collect::<Vec<_>>(), vec![ids[5], ids[3], ids[1]]);
    let future = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(1)).ok();
    let none = ok(service.list_incidents(IncidentFilter { since: future, ..Default::default() }, None, 10).await);
    assert!(none.items.is_empty());
}

/// Fifty writers post to one incident at once, each pinned to the version it read:
/// every write lands or gets a conflict, and the stored updates are exactly the ones
/// that landed.
pub async fn concurrent_writers_lose_no_update(service: Service) {
    let actor = member();
    let api = component(&service, "API").await;
    let incident = ok(service
        .report_incident(
            actor.clone(),
            ReportIncident {
                title: Some("busy".into()),
                message: Some("start".into()),
                components: Some(vec![AffectedComponent { id: api, status: ComponentStatus::DegradedPerformance }]),
                ..Default::default()
            },
        )
        .await)
    .incident;
    let service = Arc::new(service);
    let writers: Vec<_> = (0..50)
        .map(|n| {
            let service = service.clone();
            let actor = actor.clone();
            tokio::spawn(async move {
                let current = service.incident(incident.id).await?.incident;
                // Half the writers also change a component, which takes the component's
                // guard into the same transaction.
                let components = if n % 2 == 0 {
                    vec![ComponentEdit::Set {
                        id: api,
                        status: if n % 4 == 0 { ComponentStatus::MajorOutage } else { ComponentStatus::PartialOutage },
                    }]
                } else {
                    vec![]
                };
                let input = PostUpdate { message: format!("writer {n}"), components, ..Default::default() };
                service.post_update(actor, incident.id, Some(current.version), input).await
            })
        })
        .collect();
    let mut landed = Vec::new();
    let mut conflicts = 0;
    for writer in writers {
        match writer.await.unwrap_or_else(|e| panic!("writer task: {e}")) {
            Ok(posted) => landed.push(posted.update.message.to_string()),
            Err(AppError::Conflict { .. }) => conflicts += 1,
            Err(e) => panic!("a writer failed with something other than a conflict: {e}"),
        }
    }
    assert!(!landed.is_empty());
    assert_eq!(landed.len() + conflicts, 50);
    let detail = ok(service.incident(incident.id).await);
    let mut stored: Vec<_> = detail.updates.iter().skip(1).map(|u| u.message.to_string()).collect();
    stored.sort();
    landed.sort();
    assert_eq!(stored, landed, "stored updates must equal the successful writes exactly");
    assert_eq!(detail.incident.version, 1 + landed.len() as u64);
    let posted_events = ok(service.timeline(incident.id).await)
        .iter()
        .filter(|e| matches!(e.kind, EventKind::UpdatePosted { .. }))
        .count();
    assert_eq!(posted_events, 1 + landed.len());
    // The component shows what the incident's final state imposes.
    let imposed = detail.incident.components.iter().find(|c| c.id == api).map(|c| c.status);
    assert_eq!(Some(status_of(&service, api).await), imposed);
}

/// Counts the reads that reach the store.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn Store>,
    reads: std::sync::atomic::AtomicUsize,
}

impl CountingStore {
    fn reads(&self) -> usize {
        self.reads.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Store for CountingStore {
    async fn get(&self, key: &beacon_store::Key) -> beacon_store::StoreResult<Option<beacon_store::Item>> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put(&self, item: beacon_store::Item, condition: beacon_store::Condition) -> beacon_store::StoreResult<()> {
        self.inner.put(item, condition).await
    }
    async fn update(&self, update: beacon_store::Update) -> beacon_store::StoreResult<beacon_store::Item> {
        self.inner.update(update).await
    }
    async fn delete(
        &self,
        key: &beacon_store::Key,
        condition: beacon_store::Condition,
    ) -> beacon_store::StoreResult<()> {
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<beacon_store::Write>) -> beacon_store::StoreResult<()> {
        self.inner.transact(writes).await
    }
    async fn query(&self, query: Query) -> beacon_store::StoreResult<beacon_store::Page> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.query(query).await
    }
}

pub async fn the_public_state_rereads_only_changed_incidents(service: Service) {
    let counting = Arc::new(CountingStore { inner: service.store().clone(), reads: Default::default() });
    let service = Service::new(counting.clone(), service.clock().clone());
    let api = component(&service, "API").await;
    let mut ids = Vec::new();
    for n in 0..12 {
        let reported = ok(service
            .report_incident(
                member(),
                ReportIncident {
                    title: Some(format!("Incident {n}")),
                    message: Some("Looking.".into()),
                    components: Some(vec![AffectedComponent { id: api, status: ComponentStatus::PartialOutage }]),
                    ..Default::default()
                },
            )
            .await);
        ids.push(reported.incident.id);
    }
    counting.reads();

    let first = ok(service.public_state().await);
    assert_eq!(first.incidents.len(), 12);
    // The listing, then an incident and its updates for each, the maintenance listing,
    // then groups, the page settings and components.
    assert_eq!(counting.reads(), 1 + 12 * 2 + 1 + 3);

    let resolve = PostUpdate { message: "Fixed.".into(), status: Some(IncidentStatus::Resolved), ..Default::default() };
    ok(service.post_update(member(), ids[3], None, resolve).await);
    counting.reads();
    let second = ok(service.public_state_since(Some(&first)).await);
    assert_eq!(counting.reads(), 1 + 2 + 1 + 3, "only the changed incident is read again");
    // And the result is the same as a full read.
    assert_eq!(second, ok(service.public_state().await));
    let changed = second.incidents.iter().find(|d| d.incident.id == ids[3]).map(|d| d.incident.status);
    assert_eq!(changed, Some(IncidentStatus::Resolved));
}

macro_rules! on_both_adapters {
    ($($case:ident),* $(,)?) => {
        mod redb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let (store, _guard) = beacon_tests::redb_store().await;
                    super::$case(beacon_tests::service(store)).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let (store, _guard) = beacon_tests::dynamodb_store().await;
                    super::$case(beacon_tests::service(store)).await;
                }
            )*
        }
    };
}

on_both_adapters!(
    an_incident_runs_its_whole_lifecycle,
    the_worst_open_incident_sets_a_component_status,
    rejected_requests_change_nothing,
    members_have_unique_addresses,
    listing_pages_through_incidents_newest_first,
    concurrent_writers_lose_no_update,
    the_public_state_rereads_only_changed_incidents,
);
