use super::*;
use crate::ids::MemberId;
use crate::timeline::EventKind;
use proptest::prelude::*;
use ulid::Ulid;

fn ts(second: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + second).unwrap_or(Timestamp::UNIX_EPOCH)
}

struct Ids(u128);

impl Ids {
    fn next(&mut self) -> Ulid {
        self.0 += 1;
        Ulid(self.0)
    }
}

fn member() -> Actor {
    Actor::Member { id: MemberId::new(Ulid(7)) }
}

fn component(n: u128) -> ComponentId {
    ComponentId::new(Ulid(1_000 + n))
}

fn text(s: &str) -> Markdown {
    Markdown::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn report(status: IncidentStatus, components: Vec<AffectedComponent>) -> IncidentOutcome {
    let mut ids = Ids(0);
    let mut next = || ids.next();
    let mut stamp = Stamp { at: ts(0), actor: member(), next_id: &mut next };
    let new = NewIncident {
        title: Title::parse("API errors").unwrap_or_else(|e| panic!("{e}")),
        status,
        impact: Impact::Major,
        message: text("We are looking into it."),
        components,
        source: IncidentSource::Manual,
        template_id: None,
        monitor_id: None,
        integration_id: None,
        published: true,
    };
    Incident::report(new, &mut stamp).unwrap_or_else(|e| panic!("{e}"))
}

fn update(incident: &Incident, status: Option<IncidentStatus>, at: i64) -> Result<IncidentOutcome, DomainError> {
    let mut ids = Ids(10_000 + incident.version as u128 * 100);
    let mut next = || ids.next();
    let mut stamp = Stamp { at: ts(at), actor: member(), next_id: &mut next };
    incident.post_update(NewUpdate { message: text("news"), status, impact: None, components: vec![] }, &mut stamp)
}

#[test]
fn reporting_records_the_first_update_and_the_timeline() {
    let c = AffectedComponent { id: component(1), status: ComponentStatus::MajorOutage };
    let out = report(IncidentStatus::Investigating, vec![c]);
    assert_eq!(out.incident.version, 1);
    assert_eq!(out.incident.status, IncidentStatus::Investigating);
    let first = out.update.unwrap_or_else(|| panic!("first update missing"));
    assert_eq!(first.message.as_str(), "We are looking into it.");
    assert_eq!(first.affected_components, vec![AffectedChange { id: c.id, old: None, new: Some(c.status) }]);
    let kinds: Vec<_> = out.entries.iter().map(|e| &e.kind).collect();
    assert!(matches!(kinds[0], EventKind::Created { .. }));
    assert!(matches!(kinds[1], EventKind::ComponentAdded { .. }));
    assert!(matches!(kinds[2], EventKind::UpdatePosted { .. }));
    assert_eq!(out.incident.imposed().collect::<Vec<_>>(), vec![c]);
}

#[test]
fn skipping_forward_is_allowed_and_stamps_the_resolution() {
    let out = report(IncidentStatus::Investigating, vec![]);
    let resolved = update(&out.incident, Some(IncidentStatus::Resolved), 60).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resolved.incident.status, IncidentStatus::Resolved);
    assert_eq!(resolved.incident.resolved_at, Some(ts(60)));
    assert_eq!(resolved.incident.identified_at, None);
    assert_eq!(resolved.incident.version, 2);
}

#[test]
fn moving_backwards_names_the_allowed_statuses() {
    let out = report(IncidentStatus::Monitoring, vec![]);
    let err = update(&out.incident, Some(IncidentStatus::Identified), 60).err();
    assert_eq!(
        err,
        Some(DomainError::Transition {
            from: IncidentStatus::Monitoring,
            to: IncidentStatus::Identified,
            allowed: vec![IncidentStatus::Monitoring, IncidentStatus::Resolved],
        })
    );
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("allowed next: monitoring, resolved"), "{message}");
}

#[test]
fn reopening_returns_to_investigating_and_imposes_again() {
    let c = AffectedComponent { id: component(1), status: ComponentStatus::PartialOutage };
    let out = report(IncidentStatus::Investigating, vec![c]);
    let resolved = update(&out.incident, Some(IncidentStatus::Resolved), 60).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resolved.incident.imposed().count(), 0);
    assert!(update(&resolved.incident, Some(IncidentStatus::Monitoring), 61).is_err());
    let reopened =
        update(&resolved.incident, Some(IncidentStatus::Investigating), 120).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reopened.incident.status, IncidentStatus::Investigating);
    assert_eq!(reopened.incident.resolved_at, None);
    assert!(reopened.entries.iter().any(|e| e.kind == EventKind::Reopened));
    assert_eq!(reopened.incident.imposed().collect::<Vec<_>>(), vec![c]);
}

#[test]
fn an_update_may_keep_the_status_even_when_resolved() {
    let out = report(IncidentStatus::Resolved, vec![]);
    let kept = update(&out.incident, None, 10).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kept.incident.status, IncidentStatus::Resolved);
    assert!(!kept.entries.iter().any(|e| matches!(e.kind, EventKind::StatusChanged { .. })));
}

#[test]
fn components_can_be_added_changed_and_removed_at_any_point() {
    let a = component(1);
    let b = component(2);
    let out = report(IncidentStatus::Resolved, vec![AffectedComponent { id: a, status: ComponentStatus::MajorOutage }]);
    let mut ids = Ids(500);
    let mut next = || ids.next();
    let mut stamp = Stamp { at: ts(5), actor: member(), next_id: &mut next };
    let edit = IncidentEdit {
        title: None,
        impact: Some(Impact::Minor),
        components: vec![
            ComponentEdit::Set { id: a, status: ComponentStatus::DegradedPerformance },
            ComponentEdit::Set { id: b, status: ComponentStatus::PartialOutage },
        ],
        auto_resolve: None,
    };
    let edited = out.incident.edit(edit, &mut stamp).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(edited.incident.components.len(), 2);
    assert!(edited.update.is_none());
    let removed = edited
        .incident
        .edit(IncidentEdit { components: vec![ComponentEdit::Remove { id: a }], ..Default::default() }, &mut stamp)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(removed.incident.components, vec![AffectedComponent { id: b, status: ComponentStatus::PartialOutage }]);
    assert!(matches!(removed.entries[0].kind, EventKind::ComponentRemoved { component_id } if component_id == a));
}

#[test]
fn bad_component_edits_are_refused_whole() {
    let a = component(1);
    let out = report(IncidentStatus::Investigating, vec![]);
    let mut ids = Ids(500);
    let mut next = || ids.next();
    let mut stamp = Stamp { at: ts(5), actor: member(), next_id: &mut next };
    let edit = IncidentEdit {
        components: vec![
            ComponentEdit::Set { id: a, status: ComponentStatus::MajorOutage },
            ComponentEdit::Remove { id: a },
            ComponentEdit::Remove { id: component(9) },
        ],
        ..Default::default()
    };
    match out.incident.edit(edit, &mut stamp) {
        Err(DomainError::Invalid(errors)) => {
            let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, vec!["components[1]", "components[2]"]);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn an_edit_that_changes_nothing_is_refused() {
    let out = report(IncidentStatus::Investigating, vec![]);
    let mut ids = Ids(500);
    let mut next = || ids.next();
    let mut stamp = Stamp { at: ts(5), actor: member(), next_id: &mut next };
    let same = IncidentEdit { impact: Some(Impact::Major), ..Default::default() };
    assert!(matches!(out.incident.edit(same, &mut stamp), Err(DomainError::Invalid(_))));
}

#[test]
fn too_many_components_are_refused() {
    let mut ids = Ids(0);
    let mut next = || ids.next();
    let mut stamp = Stamp { at: ts(0), actor: member(), next_id: &mut next };
    let components = (0..=MAX_AFFECTED_COMPONENTS as u128)
        .map(|n| AffectedComponent { id: component(n), status: ComponentStatus::MajorOutage })
        .collect();
    let new = NewIncident {
        title: Title::parse("t").unwrap_or_else(|e| panic!("{e}")),
        status: IncidentStatus::Investigating,
        impact: Impact::None,
        message: text("m"),
        components,
        source: IncidentSource::Manual,
        template_id: None,
        monitor_id: None,
        integration_id: None,
        published: true,
    };
    assert!(Incident::report(new, &mut stamp).is_err());
}

#[test]
fn only_members_comment() {
    let out = report(IncidentStatus::Investigating, vec![]);
    let mut ids = Ids(500);
    let mut next = || ids.next();
    let mut stamp = Stamp { at: ts(5), actor: Actor::Monitor { id: "m1".into() }, next_id: &mut next };
    assert!(out.incident.comment(text("hi"), &mut stamp).is_err());
    stamp.actor = member();
    let commented = out.incident.comment(text("hi"), &mut stamp).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(commented.incident.version, out.incident.version, "comments do not change the incident");
    assert!(commented.comment.is_some());
}

fn any_status() -> impl Strategy<Value = IncidentStatus> {
    prop::sample::select(IncidentStatus::ALL.to_vec())
}

proptest! {
    /// Drives random sequences of moves and checks the status machine's rules after each.
    #[test]
    fn status_only_moves_forward_or_reopens(start in any_status(), moves in prop::collection::vec(prop::option::of(any_status()), 1..40)) {
        let mut incident = report(start, vec![AffectedComponent { id: component(1), status: ComponentStatus::MajorOutage }]).incident;
        for (step, target) in moves.into_iter().enumerate() {
            let before = incident.clone();
            let to = target.unwrap_or(before.status);
            let allowed = to >= before.status || (before.status == IncidentStatus::Resolved && to == IncidentStatus::Investigating);
            match update(&before, target, step as i64 + 1) {
                Ok(out) => {
                    prop_assert!(allowed, "{} -> {} was accepted", before.status, to);
                    prop_assert_eq!(out.incident.status, to);
                    prop_assert_eq!(out.incident.version, before.version + 1);
                    prop_assert!(out.incident.updated_at >= before.updated_at);
                    prop_assert_eq!(out.incident.resolved_at.is_some(), to == IncidentStatus::Resolved);
                    prop_assert_eq!(out.incident.imposed().count(), usize::from(to.is_open()));
                    prop_assert!(out.update.is_some());
                    incident = out.incident;
                }
                Err(DomainError::Transition { from, to: rejected, allowed: next }) => {
                    prop_assert!(!allowed, "{} -> {} was refused", before.status, to);
                    prop_assert_eq!(from, before.status);
                    prop_assert_eq!(rejected, to);
                    prop_assert!(!next.contains(&to));
                    prop_assert_eq!(next, before.status.allowed_next());
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }
    }
}

#[test]
fn an_internal_incident_imposes_nothing_until_published() {
    let a = component(1);
    let mut out =
        report(IncidentStatus::Investigating, vec![AffectedComponent { id: a, status: ComponentStatus::MajorOutage }]);
    out.incident.published = false;
    assert_eq!(out.incident.imposed().count(), 0);
    let mut ids = Ids(700);
    let mut next = || ids.next();
    let mut stamp = Stamp { at: ts(9), actor: member(), next_id: &mut next };
    let published = out.incident.publish(&mut stamp).unwrap_or_else(|e| panic!("{e}"));
    assert!(published.incident.published);
    assert_eq!(published.incident.version, out.incident.version + 1);
    assert_eq!(published.incident.imposed().count(), 1);
    assert!(matches!(published.entries[0].kind, EventKind::Published));
    assert!(published.incident.publish(&mut stamp).is_err(), "published once");
}
