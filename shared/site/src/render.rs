use crate::chart;
use crate::markdown;
use crate::snapshot::{IncidentRecord, PageConfig, Snapshot};
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
    id: String,
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
    id: String,
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
    id: String,
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
    let uptime_days = uptime::days_by_component(&s.components, &s.incidents, &s.monitored, now);
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
                    let title = match d.class() {
                        "none" => format!("{date}: no data"),
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
                id: r.incident.id.to_string(),
                title: r.incident.title.to_string(),
                status: r.incident.status.label(),
                impact: r.incident.impact.as_str(),
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

    // history/ by month, newest first
    // Incidents come newest first, so the month sought is almost always the last one.
    let mut by_month: Vec<(String, Vec<&IncidentRecord>)> = Vec::new();
    for r in &s.incidents {
        let m = r.incident.created_at.strftime("%Y-%m").to_string();
        match by_month.iter_mut().rev().find(|(month, _)| *month == m) {
            Some((_, records)) => records.push(r),
            None => by_month.push((m, vec![r])),
        }
    }
    by_month.sort_by(|a, b| b.0.cmp(&a.0));
    let months: Vec<String> = by_month.iter().map(|(m, _)| m.clone()).collect();
    let entry = |r: &IncidentRecord| HistoryEntry {
        id: r.incident.id.to_string(),
        title: r.incident.title.to_string(),
        status: r.incident.status.label(),
        impact: r.incident.impact.as_str(),
        at: when(r.incident.created_at),
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
                let i = &r.incident;
                (i.id, i.title.as_str(), i.status, i.impact, i.created_at).hash(&mut h);
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
            title: format!("Incidents in {m} · {}", s.page.name),
            root: "../",
            page: &s.page,
            updated: None,
            script: local_time_script_path(),
            heading: format!("Incidents in {m}"),
            months: months.clone(),
            entries: records.iter().copied().map(entry).collect(),
        };
        let path = format!("history/{m}.html");
        let object = html(path.clone(), render_template(&page, &path));
        out.push(object.clone());
        history_pages.insert(m.clone(), (fingerprint, object));
    }
    cache.history_pages = history_pages;

    // Feeds: the 50 newest incidents, each with its updates.
    let entries: Vec<FeedEntry> = s
        .incidents
        .iter()
        .take(50)
        .map(|r| FeedEntry {
            id: r.incident.id.to_string(),
            title: format!("{} ({})", r.incident.title, r.incident.status.label()),
            updated: iso(r.incident.updated_at),
            published: iso(r.incident.created_at),
            published_rfc2822: rfc2822(r.incident.created_at),
            html: r
                .updates
                .iter()
                .rev()
                .map(|u| {
                    format!(
                        "<p><strong>{}</strong> · {}</p>{}",
                        u.status.label(),
                        text_time(u.created_at),
                        markdown::render(u.message.as_str())
                    )
                })
                .collect(),
        })
        .collect();
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
    out.push(SiteObject {
        path: local_time_script_path().to_owned(),
        bytes: Bytes::from_static(LOCAL_TIME_SCRIPT.as_bytes()),
        content_type: "text/javascript; charset=utf-8",
        cache_control: IMMUTABLE_CACHE,
    });
    out
}
