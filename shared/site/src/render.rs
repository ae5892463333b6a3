use crate::chart;
use crate::markdown;
use crate::snapshot::{IncidentRecord, MaintenanceRecord, PageConfig, Snapshot};
use crate::statuspage;
use crate::uptime;
use askama::Template;
use beacon_domain::PageIndicator;
use bytes::Bytes;
use jiff::Timestamp;

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteObject {
    /// Relative path, e.g. `incidents/01J….html`.
    pub path: String,
    /// Shared, so the render cache and the publisher keep an object without copying it.
    pub bytes: Bytes,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// HTML, JSON and feeds change with every incident update: browsers and the CDN keep
/// them briefly and may serve a stale copy while fetching the new one.
pub const SHORT_CACHE: &str = "public, max-age=30, stale-while-revalidate=60, stale-if-error=86400";

const PAST_DAYS: i64 = 14;

/// Content-hashed files are never rewritten under the same name: kept for a year.
pub const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";

const LOCAL_TIME_SCRIPT: &str = include_str!("../../../static-site/assets/local-time.js");

/// The local-time script's path, named after its content so it can be cached forever.
pub(crate) fn local_time_script_path() -> &'static str {
    static PATH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use sha2::{Digest, Sha256};
        let digest = hex::encode(Sha256::digest(LOCAL_TIME_SCRIPT.as_bytes()));
        format!("assets/local-time.{}.js", &digest[..12])
    });
    &PATH
}

/// A time as the markup carries it: ISO 8601 UTC in the `datetime` attribute (for
/// machines and the local-time script) and readable UTC text for people.
pub(crate) struct When {
    pub(crate) iso: String,
    pub(crate) text: String,
}

fn when(t: Timestamp) -> When {
    When { iso: iso(t), text: text_time(t) }
}

fn text_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn rfc2822(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// A maintenance window: UTC for machines and the local-time script, and the times in
/// the zone it was entered in, for people.
struct WindowView {
    start: When,
    end: When,
    local: String,
}

/// A window in words: local times in its own zone, with the zone and its offset.
pub fn window_text(w: &beacon_domain::Window) -> String {
    window_view(w).local
}

fn window_view(w: &beacon_domain::Window) -> WindowView {
    let (start, end) = w.local();
    let same_day = start.date() == end.date();
    let offset = |z: &jiff::Zoned| {
        let seconds = z.offset().seconds();
        let sign = if seconds < 0 { '-' } else { '+' };
        format!("UTC{sign}{:02}:{:02}", seconds.abs() / 3600, seconds.abs() % 3600 / 60)
    };
    let end_text =
        if same_day { end.strftime("%H:%M").to_string() } else { end.strftime("%a %-d %b %Y %H:%M").to_string() };
    let offsets =
        if start.offset() == end.offset() { offset(&start) } else { format!("{} to {}", offset(&start), offset(&end)) };
    WindowView {
        start: when(w.starts_at),
        end: when(w.ends_at),
        local: format!("{} – {} {} ({offsets})", start.strftime("%a %-d %b %Y %H:%M"), end_text, w.time_zone),
    }
}

struct MaintCard {
    id: String,
    title: String,
    status: &'static str,
    window: WindowView,
    components: Vec<String>,
    latest_html: String,
}

fn maint_card(s: &Snapshot, r: &MaintenanceRecord) -> MaintCard {
    let m = &r.maintenance;
    MaintCard {
        id: m.id.to_string(),
        title: m.title.to_string(),
        status: m.status.label(),
        window: window_view(&m.window),
        components: m.components.iter().filter_map(|id| s.component(*id)).map(|c| c.name.to_string()).collect(),
        latest_html: r.updates.last().map(|u| markdown::render(u.message.as_str())).unwrap_or_default(),
    }
}

struct MaintUpdateView {
    status: &'static str,
    at: When,
    html: String,
    /// The window this update announced, when it moved it.
    moved_to: Option<String>,
}

#[derive(Template)]
#[template(path = "maintenance.html")]
struct MaintenancePage<'a> {
    title: String,
    root: &'static str,
    page: &'a PageConfig,
    updated: Option<When>,
    script: &'static str,
    m: MaintCard,
    updates: Vec<MaintUpdateView>,
}

fn maintenance_page(s: &Snapshot, r: &MaintenanceRecord) -> SiteObject {
    let page = MaintenancePage {
        title: format!("{} · {} status", r.maintenance.title, s.page.name),
        root: "../",
        page: &s.page,
        updated: None,
        script: local_time_script_path(),
        m: maint_card(s, r),
        updates: r
            .updates
            .iter()
            .rev()
            .map(|u| MaintUpdateView {
                status: u.status.label(),
                at: when(u.created_at),
                html: markdown::render(u.message.as_str()),
                moved_to: u.window.as_ref().map(|w| window_view(w).local),
            })
            .collect(),
    };
    let path = format!("maintenances/{}.html", r.maintenance.id);
    let bytes = render_template(&page, &path);
    html(path, bytes)
}

struct Card {
    id: String,
    title: String,
    impact: &'static str,
    status: &'static str,
    at: When,
    latest_html: String,
}

struct Bar {
    class: &'static str,
    title: String,
}

struct ComponentView {
    id: String,
    name: String,
    description: String,
    status: &'static str,
    status_label: &'static str,
    uptime: String,
    bars: Vec<Bar>,
    /// Automated checks measure it: its checked days and response-time chart.
    measured: bool,
    /// Inline SVG, built here from numbers only.
    chart: Option<String>,
}

struct GroupView {
    id: Option<String>,
    name: Option<String>,
    components: Vec<ComponentView>,
}

struct DayEntry {
    href: String,
    title: String,
    status: &'static str,
    impact: &'static str,
}

struct DayView {
    date: String,
    incidents: Vec<DayEntry>,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    title: String,
    root: &'static str,
    page: &'a PageConfig,
    updated: Option<When>,
    script: &'static str,
    indicator: &'static str,
    description: String,
    active: Vec<Card>,
    maint_active: Vec<MaintCard>,
    maint_upcoming: Vec<MaintCard>,
    groups: Vec<GroupView>,
    days: Vec<DayView>,
}

struct UpdateView {
    status: &'static str,
    at: When,
    html: String,
}

struct IncidentView {
    id: String,
    resolved: bool,
    title: String,
    impact: &'static str,
    status: &'static str,
    started: When,
    duration: Option<String>,
    components: Vec<String>,
    updates: Vec<UpdateView>,
    postmortem: Option<Postmortem>,
    backfilled: bool,
}

struct Postmortem {
    at: When,
    html: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage<'a> {
    title: String,
    root: &'static str,
    page: &'a PageConfig,
    updated: Option<When>,
    script: &'static str,
    i: IncidentView,
}

struct HistoryEntry {
    href: String,
    title: String,
    status: &'static str,
    impact: &'static str,
    at: When,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage<'a> {
    title: String,
    root: &'static str,
    page: &'a PageConfig,
    updated: Option<When>,
    script: &'static str,
    heading: String,
    months: Vec<String>,
    entries: Vec<HistoryEntry>,
}

#[derive(Template)]
#[template(path = "404.html")]
struct NotFoundPage<'a> {
    title: String,
    root: &'static str,
    page: &'a PageConfig,
    updated: Option<When>,
    script: &'static str,
}

struct FeedEntry {
    /// The entry's page, relative to the page's root (`incidents/….html`).
    href: String,
    title: String,
    updated: String,
    published: String,
    published_rfc2822: String,
    html: String,
}

#[derive(Template)]
#[template(path = "atom.xml")]
struct AtomFeed<'a> {
    page: &'a PageConfig,
    updated: String,
    entries: &'a [FeedEntry],
}

#[derive(Template)]
#[template(path = "rss.xml")]
struct RssFeed<'a> {
    page: &'a PageConfig,
    updated_rfc2822: String,
    entries: &'a [FeedEntry],
}

#[derive(Template)]
#[template(path = "badge.svg")]
struct Badge {
    width: u32,
    colour: &'static str,
    description: String,
}

fn duration(from: Timestamp, to: Timestamp) -> String {
    let minutes = to.duration_since(from).as_secs().max(0) / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn incident_view(s: &Snapshot, r: &IncidentRecord) -> IncidentView {
    let i = &r.incident;
    IncidentView {
        id: i.id.to_string(),
        resolved: !i.status.is_open(),
        title: i.title.to_string(),
        impact: i.impact.as_str(),
        status: i.status.label(),
        started: when(i.created_at),
        duration: i.resolved_at.map(|end| duration(i.created_at, end)),
        components: i.components.iter().filter_map(|a| s.component(a.id)).map(|c| c.name.to_string()).collect(),
        updates: r
            .updates
            .iter()
            .rev()
            .map(|u| UpdateView {
                status: u.status.label(),
                at: when(u.created_at),
                html: markdown::render(u.message.as_str()),
            })
            .collect(),
        postmortem: i
            .postmortem
            .as_ref()
            .and_then(|p| Some(Postmortem { at: when(p.published_at?), html: markdown::render(p.body.as_str()) })),
        backfilled: i.backfilled,
    }
}

pub(crate) fn render_template(t: &impl Template, path: &str) -> Bytes {
    // Rendering only fails on a formatting error of our own types; an empty page is
    // better than a panic in the publisher, and the snapshot tests catch it.
    t.render().map(Bytes::from).unwrap_or_else(|e| Bytes::from(format!("render error in {path}: {e}")))
}

fn html(path: String, bytes: Bytes) -> SiteObject {
    SiteObject { path, bytes, content_type: "text/html; charset=utf-8", cache_control: SHORT_CACHE }
}

/// Keeps the incident and history pages of the last render. An incident page depends
/// only on its incident (whose version changes with every update), the page's name and
/// the names of components; a month of history only on what it lists of its incidents.
/// So an unchanged one need not be rendered again.
#[derive(Debug, Default)]
pub struct RenderCache {
    incident_pages: std::collections::HashMap<beacon_domain::IncidentId, (u64, u64, SiteObject)>,
    history_pages: std::collections::HashMap<String, (u64, SiteObject)>,
}

fn context_fingerprint(s: &Snapshot) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&s.page.name, &s.page.url, s.page.logo_url.as_deref(), s.page.subscribe_url.as_deref()).hash(&mut h);
    (s.page.accent.as_deref(), s.page.accent_dark.as_deref(), &s.page.time_zone).hash(&mut h);
    for link in &s.page.links {
        (&link.label, &link.url).hash(&mut h);
    }
    for c in &s.components {
        (c.id, c.name.as_str()).hash(&mut h);
    }
    h.finish()
}

fn incident_page(s: &Snapshot, r: &IncidentRecord) -> SiteObject {
    let page = IncidentPage {
        title: format!("{} · {} status", r.incident.title, s.page.name),
        root: "../",
        page: &s.page,
        updated: None,
        script: local_time_script_path(),
        i: incident_view(s, r),
    };
    let path = format!("incidents/{}.html", r.incident.id);
    let bytes = render_template(&page, &path);
    html(path, bytes)
}

/// Renders every file of the page from one snapshot.
pub fn render(s: &Snapshot) -> Vec<SiteObject> {
    render_cached(s, &mut RenderCache::default())
}

/// [`render`], reusing the incident pages of the previous render where nothing they
/// show changed.
pub fn render_cached(s: &Snapshot, cache: &mut RenderCache) -> Vec<SiteObject> {
    let now = s.generated_at;
    let status = s.status();
    let mut out = Vec::new();

    // index.html
    let active = s
        .open_incidents()
        .map(|r| Card {
            id: r.incident.id.to_string(),
            title: r.incident.title.to_string(),
            impact: r.incident.impact.as_str(),
            status: r.incident.status.label(),
            at: when(r.updates.last().map_or(r.incident.updated_at, |u| u.created_at)),
            latest_html: r.updates.last().map(|u| markdown::render(u.message.as_str())).unwrap_or_default(),
        })
        .collect();
    let maint_active = s.active_maintenances().map(|r| maint_card(s, r)).collect();
    let maint_upcoming = s.upcoming_maintenances().map(|r| maint_card(s, r)).collect();
    let uptime_days = uptime::days_by_component(&s.components, &s.incidents, &s.maintenances, &s.monitored, now);
    let first = uptime::window_start(now).to_zoned(jiff::tz::TimeZone::UTC).date();
    let dates: Vec<String> =
        (0..uptime::DAYS).map(|n| first.checked_add(jiff::Span::new().days(n)).unwrap_or(first).to_string()).collect();
    let component_view = |c: &beacon_domain::Component| {
        let days = uptime_days.get(&c.id).map_or(&[][..], Vec::as_slice);
        ComponentView {
            id: c.id.to_string(),
            name: c.name.to_string(),
            description: c.description.to_string(),
            status: c.status.as_str(),
            status_label: c.status.label(),
            uptime: format!("{:.2}%", uptime::uptime(days) * 100.0),
            bars: days
                .iter()
                .zip(&dates)
                .map(|(d, date)| {
                    let maintained = if d.maintenance > 0 {
                        format!(", {} min maintenance (not counted)", d.maintenance / 60)
                    } else {
                        String::new()
                    };
                    let title = match d.class() {
                        "none" => format!("{date}: no data"),
                        "maintenance" => format!("{date}: no downtime{maintained}"),
                        "ok" if d.observed > 0 => format!("{date}: no downtime found by automated checks"),
                        "ok" => format!("{date}: no downtime"),
                        _ if d.observed > 0 => format!(
                            "{date}: {} min down, {} min degraded, found by automated checks",
                            d.major / 60,
                            d.degraded / 60
                        ),
                        _ => format!(
                            "{date}: {} min major outage, {} min partial outage, {} min degraded",
                            d.major / 60,
                            d.partial / 60,
                            d.degraded / 60
                        ),
                    };
                    let title =
                        if d.class() == "maintenance" || maintained.is_empty() { title } else { title + &maintained };
                    Bar { class: d.class(), title }
                })
                .collect(),
            measured: s.monitored.contains_key(&c.id),
            chart: s.monitored.get(&c.id).and_then(|checked| chart::response_time_svg(checked, first, uptime::DAYS)),
        }
    };
    let mut groups: Vec<GroupView> = s
        .groups
        .iter()
        .map(|g| GroupView {
            id: Some(g.id.to_string()),
            name: Some(g.name.to_string()),
            components: s.components.iter().filter(|c| c.group_id == Some(g.id)).map(component_view).collect(),
        })
        .filter(|g| !g.components.is_empty())
        .collect();
    let ungrouped: Vec<_> = s
        .components
        .iter()
        .filter(|c| c.group_id.is_none_or(|g| !s.groups.iter().any(|x| x.id == g)))
        .map(component_view)
        .collect();
    if !ungrouped.is_empty() {
        groups.push(GroupView { id: None, name: None, components: ungrouped });
    }
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut days: Vec<DayView> = (0..PAST_DAYS)
        .map(|back| {
            let date = today.checked_sub(jiff::Span::new().days(back)).unwrap_or(today);
            DayView { date: date.strftime("%B %-d, %Y").to_string(), incidents: Vec::new() }
        })
        .collect();
    // One pass: only incidents started in the last PAST_DAYS days land on a day.
    for r in &s.incidents {
        let date = r.incident.created_at.to_zoned(jiff::tz::TimeZone::UTC).date();
        let back = today.since(date).map_or(-1, |span| i64::from(span.get_days()));
        if let Some(day) = usize::try_from(back).ok().and_then(|b| days.get_mut(b)) {
            day.incidents.push(DayEntry {
                href: format!("incidents/{}.html", r.incident.id),
                title: r.incident.title.to_string(),
                status: r.incident.status.label(),
                impact: r.incident.impact.as_str(),
            });
        }
    }
    // Maintenance that took place lands on the day it started.
    for r in s.maintenances.iter().filter(|r| r.maintenance.status != beacon_domain::MaintenanceStatus::Cancelled) {
        let Some(started) = r.maintenance.started_at else { continue };
        let date = started.to_zoned(jiff::tz::TimeZone::UTC).date();
        let back = today.since(date).map_or(-1, |span| i64::from(span.get_days()));
        if let Some(day) = usize::try_from(back).ok().and_then(|b| days.get_mut(b)) {
            day.incidents.push(DayEntry {
                href: format!("maintenances/{}.html", r.maintenance.id),
                title: r.maintenance.title.to_string(),
                status: r.maintenance.status.label(),
                impact: "maintenance",
            });
        }
    }
    let index = IndexPage {
        title: format!("{} status", s.page.name),
        root: "",
        page: &s.page,
        updated: Some(when(now)),
        script: local_time_script_path(),
        indicator: status.indicator.as_str(),
        description: status.description.clone(),
        active,
        maint_active,
        maint_upcoming,
        groups,
        days,
    };
    out.push(html("index.html".into(), render_template(&index, "index.html")));

    // incidents/{id}.html: unchanged incidents come from the cache.
    let context = context_fingerprint(s);
    let mut pages = std::collections::HashMap::with_capacity(s.incidents.len());
    for r in &s.incidents {
        let object = match cache.incident_pages.remove(&r.incident.id) {
            Some((version, fingerprint, object)) if version == r.incident.version && fingerprint == context => object,
            _ => incident_page(s, r),
        };
        out.push(object.clone());
        pages.insert(r.incident.id, (r.incident.version, context, object));
    }
    cache.incident_pages = pages;

    // maintenances/{id}.html: few and small, rendered every time.
    for r in &s.maintenances {
        out.push(maintenance_page(s, r));
    }

    // history/ by month, newest first
    // Incidents come newest first, so the month sought is almost always the last one.
    let mut by_month: Vec<(String, Vec<Listed<'_>>)> = Vec::new();
    let listed = s.incidents.iter().map(Listed::Incident).chain(s.maintenances.iter().map(Listed::Maintenance));
    for r in listed {
        let m = r.at().strftime("%Y-%m").to_string();
        match by_month.iter_mut().rev().find(|(month, _)| *month == m) {
            Some((_, records)) => records.push(r),
            None => by_month.push((m, vec![r])),
        }
    }
    for (_, records) in &mut by_month {
        records.sort_by_key(|r| std::cmp::Reverse(r.at()));
    }
    by_month.sort_by(|a, b| b.0.cmp(&a.0));
    let months: Vec<String> = by_month.iter().map(|(m, _)| m.clone()).collect();
    let entry = |r: Listed<'_>| match r {
        Listed::Incident(r) => HistoryEntry {
            href: format!("incidents/{}.html", r.incident.id),
            title: r.incident.title.to_string(),
            status: r.incident.status.label(),
            impact: r.incident.impact.as_str(),
            at: when(r.incident.created_at),
        },
        Listed::Maintenance(r) => HistoryEntry {
            href: format!("maintenances/{}.html", r.maintenance.id),
            title: r.maintenance.title.to_string(),
            status: r.maintenance.status.label(),
            impact: "maintenance",
            at: when(r.maintenance.window.starts_at),
        },
    };
    let history_index = HistoryPage {
        title: format!("Incident history · {}", s.page.name),
        root: "../",
        page: &s.page,
        updated: None,
        script: local_time_script_path(),
        heading: "Incident history".into(),
        months: months.clone(),
        entries: Vec::new(),
    };
    out.push(html("history/index.html".into(), render_template(&history_index, "history/index.html")));
    let mut history_pages = std::collections::HashMap::with_capacity(by_month.len());
    for (m, records) in &by_month {
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (context, &months).hash(&mut h);
            for r in records {
                match r {
                    Listed::Incident(r) => {
                        let i = &r.incident;
                        (i.id, i.title.as_str(), i.status, i.impact, i.created_at).hash(&mut h);
                    }
                    Listed::Maintenance(r) => {
                        let m = &r.maintenance;
                        (m.id.to_string(), m.title.as_str(), m.status.as_str(), m.window.starts_at).hash(&mut h);
                    }
                }
            }
            h.finish()
        };
        if let Some((cached, object)) = cache.history_pages.remove(m)
            && cached == fingerprint
        {
            out.push(object.clone());
            history_pages.insert(m.clone(), (fingerprint, object));
            continue;
        }
        let page = HistoryPage {
            title: format!("Incidents and maintenance in {m} · {}", s.page.name),
            root: "../",
            page: &s.page,
            updated: None,
            script: local_time_script_path(),
            heading: format!("Incidents and maintenance in {m}"),
            months: months.clone(),
            entries: records.iter().copied().map(entry).collect(),
        };
        let path = format!("history/{m}.html");
        let object = html(path.clone(), render_template(&page, &path));
        out.push(object.clone());
        history_pages.insert(m.clone(), (fingerprint, object));
    }
    cache.history_pages = history_pages;

    // Feeds: the 50 newest incidents and maintenances, each with its updates (and an
    // incident's published postmortem first).
    let incident_entry = |r: &IncidentRecord| {
        let postmortem = r.incident.postmortem.as_ref().filter(|p| p.published_at.is_some()).map(|p| {
            format!(
                "<p><strong>Postmortem</strong> · {}</p>{}",
                text_time(p.updated_at),
                markdown::render(p.body.as_str())
            )
        });
        let updates = r.updates.iter().rev().map(|u| {
            format!(
                "<p><strong>{}</strong> · {}</p>{}",
                u.status.label(),
                text_time(u.created_at),
                markdown::render(u.message.as_str())
            )
        });
        FeedEntry {
            href: format!("incidents/{}.html", r.incident.id),
            title: format!("{} ({})", r.incident.title, r.incident.status.label()),
            updated: iso(r.incident.updated_at),
            published: iso(r.incident.created_at),
            published_rfc2822: rfc2822(r.incident.created_at),
            html: postmortem.into_iter().chain(updates).collect(),
        }
    };
    let maintenance_entry = |r: &MaintenanceRecord| {
        let m = &r.maintenance;
        let window = window_view(&m.window);
        let head = format!(
            "<p><strong>Scheduled maintenance</strong>: {} to {} ({})</p>",
            window.start.text,
            window.end.text,
            window.local.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
        );
        let updates = r.updates.iter().rev().map(|u| {
            format!(
                "<p><strong>{}</strong> · {}</p>{}",
                u.status.label(),
                text_time(u.created_at),
                markdown::render(u.message.as_str())
            )
        });
        FeedEntry {
            href: format!("maintenances/{}.html", m.id),
            title: format!("Maintenance: {} ({})", m.title, m.status.label()),
            updated: iso(m.updated_at),
            published: iso(m.created_at),
            published_rfc2822: rfc2822(m.created_at),
            html: std::iter::once(head).chain(updates).collect(),
        }
    };
    let mut newest: Vec<(Timestamp, FeedEntry)> = s
        .incidents
        .iter()
        .take(50)
        .map(|r| (r.incident.updated_at, incident_entry(r)))
        .chain(s.maintenances.iter().take(50).map(|r| (r.maintenance.updated_at, maintenance_entry(r))))
        .collect();
    newest.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let entries: Vec<FeedEntry> = newest.into_iter().take(50).map(|(_, e)| e).collect();
    let updated = s.incidents_updated_at().unwrap_or_else(|| s.updated_at());
    let atom = AtomFeed { page: &s.page, updated: iso(updated), entries: &entries };
    out.push(SiteObject {
        path: "history.atom".into(),
        bytes: render_template(&atom, "history.atom"),
        content_type: "application/atom+xml; charset=utf-8",
        cache_control: SHORT_CACHE,
    });
    let rss = RssFeed { page: &s.page, updated_rfc2822: rfc2822(updated), entries: &entries };
    out.push(SiteObject {
        path: "history.rss".into(),
        bytes: render_template(&rss, "history.rss"),
        content_type: "application/rss+xml; charset=utf-8",
        cache_control: SHORT_CACHE,
    });

    // Statuspage v2 JSON
    for (path, bytes) in statuspage::files(s) {
        out.push(SiteObject {
            path: path.into(),
            bytes: bytes.into(),
            content_type: "application/json",
            cache_control: SHORT_CACHE,
        });
    }

    // badge.svg and 404.html
    let colour = match status.indicator {
        PageIndicator::None => "#1a7f37",
        PageIndicator::Maintenance => "#0969da",
        PageIndicator::Minor => "#9a6700",
        PageIndicator::Major => "#bc4c00",
        PageIndicator::Critical => "#cf222e",
    };
    let badge =
        Badge { width: 46 + 12 + 7 * status.description.len() as u32, colour, description: status.description.clone() };
    out.push(SiteObject {
        path: "badge.svg".into(),
        bytes: render_template(&badge, "badge.svg"),
        content_type: "image/svg+xml",
        cache_control: SHORT_CACHE,
    });
    let not_found = NotFoundPage {
        title: format!("Not found · {}", s.page.name),
        root: "/",
        page: &s.page,
        updated: None,
        script: local_time_script_path(),
    };
    out.push(html("404.html".into(), render_template(&not_found, "404.html")));
    if let (Some(path), Some(css)) = (s.page.theme_path(), s.page.theme_css()) {
        out.push(SiteObject {
            path,
            bytes: Bytes::from(css),
            content_type: "text/css; charset=utf-8",
            cache_control: IMMUTABLE_CACHE,
        });
    }
    out.push(SiteObject {
        path: local_time_script_path().to_owned(),
        bytes: Bytes::from_static(LOCAL_TIME_SCRIPT.as_bytes()),
        content_type: "text/javascript; charset=utf-8",
        cache_control: IMMUTABLE_CACHE,
    });
    out
}

/// A history line: an incident, or a maintenance.
#[derive(Clone, Copy)]
enum Listed<'a> {
    Incident(&'a IncidentRecord),
    Maintenance(&'a MaintenanceRecord),
}

impl Listed<'_> {
    /// Where it sits in history: an incident when it began, a maintenance at its window.
    fn at(&self) -> Timestamp {
        match self {
            Self::Incident(r) => r.incident.created_at,
            Self::Maintenance(r) => r.maintenance.window.starts_at,
        }
    }
}
