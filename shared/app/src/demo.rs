//! The sample page a newcomer sees on first start.

use crate::clock::ManualClock;
use crate::components::{NewComponent, NewGroup};
use crate::error::AppResult;
use crate::incidents::{PostUpdate, ReportIncident};
use crate::service::Service;
use crate::templates::NewTemplate;
use beacon_domain::{Actor, AffectedComponent, ComponentStatus, Impact, IncidentStatus};
use jiff::SignedDuration;
use std::sync::Arc;

/// Seeds groups, components, a template, a resolved incident from three days ago and a
/// maintenance announced for next week,
/// unless the store already has components. Returns whether it seeded.
pub async fn seed_demo(service: &Service) -> AppResult<bool> {
    if !service.components().await?.is_empty() {
        return Ok(false);
    }
    let actor = Actor::System;
    // The page is written through the same use cases, on a clock set back: the
    // components have existed for four months, so the uptime bars have history.
    let now = service.clock().now();
    let clock = Arc::new(ManualClock::new(now.checked_sub(SignedDuration::from_hours(24 * 120)).unwrap_or(now)));
    let past = Service::new(service.store().clone(), clock.clone());
    let service = &past;
    let platform = service
        .create_group(
            actor.clone(),
            NewGroup { name: "Platform".into(), description: Some("Core services".into()), position: Some(0) },
        )
        .await?;
    let delivery = service
        .create_group(
            actor.clone(),
            NewGroup {
                name: "Delivery".into(),
                description: Some("How your traffic reaches us".into()),
                position: Some(1),
            },
        )
        .await?;
    let mut ids = Vec::new();
    for (position, (name, description, group)) in [
        ("API", "The public REST API", Some(platform.id)),
        ("Dashboard", "The web application", Some(platform.id)),
        ("Background jobs", "Scheduled and queued work", Some(platform.id)),
        ("CDN", "Static assets and downloads", Some(delivery.id)),
        ("Webhooks", "Outbound event delivery", Some(delivery.id)),
    ]
    .into_iter()
    .enumerate()
    {
        let component = service
            .create_component(
                actor.clone(),
                NewComponent {
                    name: name.into(),
                    description: Some(description.into()),
                    group_id: group,
                    position: Some(position as u32),
                    status: None,
                },
            )
            .await?;
        ids.push(component.id);
    }
    service
        .create_template(
            actor.clone(),
            NewTemplate {
                name: "API degraded".into(),
                title: "Elevated API error rates".into(),
                impact: Impact::Minor,
                message: "We are seeing elevated error rates on the API and are investigating.".into(),
                components: vec![AffectedComponent { id: ids[0], status: ComponentStatus::DegradedPerformance }],
            },
        )
        .await?;

    // An older, shorter outage of the API, so the bars show what downtime looks like.
    clock.set(now.checked_sub(SignedDuration::from_hours(24 * 20 + 5)).unwrap_or(now));
    let outage = past
        .report_incident(
            actor.clone(),
            ReportIncident {
                title: Some("API unavailable in one region".into()),
                impact: Some(Impact::Major),
                message: Some("Requests to the API fail for part of our customers. We are investigating.".into()),
                components: Some(vec![AffectedComponent { id: ids[0], status: ComponentStatus::MajorOutage }]),
                ..Default::default()
            },
        )
        .await?
        .incident;
    clock.advance(SignedDuration::from_mins(38));
    past.resolve_incident(
        actor.clone(),
        outage.id,
        None,
        Some("A failed load balancer was replaced; the API is available again.".into()),
    )
    .await?;

    let start = now.checked_sub(SignedDuration::from_hours(72)).unwrap_or(now);
    clock.set(start);
    let incident = past
        .report_incident(
            actor.clone(),
            ReportIncident {
                title: Some("Delayed webhook deliveries".into()),
                impact: Some(Impact::Minor),
                message: Some("Webhook deliveries are delayed by up to 10 minutes. We are investigating.".into()),
                components: Some(vec![AffectedComponent { id: ids[4], status: ComponentStatus::DegradedPerformance }]),
                ..Default::default()
            },
        )
        .await?
        .incident;
    for (minutes, status, message) in [
        (
            25,
            IncidentStatus::Identified,
            "A saturated queue worker pool is holding deliveries back. We are adding capacity.",
        ),
        (50, IncidentStatus::Monitoring, "Capacity is restored and the backlog is draining. We are monitoring."),
        (95, IncidentStatus::Resolved, "All delayed deliveries have been sent. Deliveries are on time again."),
    ] {
        clock.set(start.checked_add(SignedDuration::from_mins(minutes)).unwrap_or(start));
        past.post_update(
            actor.clone(),
            incident.id,
            None,
            PostUpdate { message: message.into(), status: Some(status), ..Default::default() },
        )
        .await?;
    }

    // A maintenance announced for next week, at 02:00 in Berlin.
    clock.set(now);
    let start = now
        .checked_add(SignedDuration::from_hours(24 * 7))
        .unwrap_or(now)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_datetime(jiff::civil::time(2, 0, 0, 0));
    let end = start.checked_add(SignedDuration::from_hours(2)).unwrap_or(start);
    past.schedule_maintenance(
        actor,
        crate::maintenances::ScheduleMaintenance {
            title: "Database upgrade".into(),
            message: "We are upgrading the primary database. The API may refuse writes for a few minutes.".into(),
            window: crate::maintenances::WindowInput {
                starts_at: start.to_string(),
                ends_at: end.to_string(),
                time_zone: Some("Europe/Berlin".into()),
            },
            components: vec![ids[0]],
            automation: None,
        },
    )
    .await?;
    Ok(true)
}
