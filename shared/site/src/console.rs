//! The admin console's pages: server-rendered HTML whose every form works without
//! scripts, in the page's own look (light and dark), with the member's role deciding
//! which forms are shown. The API checks the role again on every request; hiding a
//! form is for the reader, not for security.

use crate::render::render_template;
use askama::Template;

/// Who is signed in, for the header (and the sign-out form's CSRF token).
#[derive(Clone, Debug)]
pub struct Viewer {
    pub name: String,
    pub role: String,
    pub csrf: String,
    /// Responder and up: may report and update incidents.
    pub can_respond: bool,
    /// Admin and up: may change components, templates and the like.
    pub can_manage: bool,
}

/// The console's frame: the page's name and the public page's address.
#[derive(Clone, Debug)]
pub struct Frame {
    pub page_name: String,
    pub public_url: String,
}

impl Frame {
    /// The console script's address (see [`script_path`]).
    pub fn script(&self) -> &'static str {
        script_path()
    }
}

/// The console's one script: conveniences over forms that work without it.
pub const SCRIPT: &str = include_str!("../../../static-site/assets/console.js");

/// Where the console serves [`SCRIPT`]: named after its content, so browsers may keep
/// it for good and a new version is a new address.
pub fn script_path() -> &'static str {
    static PATH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use sha2::{Digest, Sha256};
        format!("/admin/assets/console.{}.js", &hex::encode(Sha256::digest(SCRIPT.as_bytes()))[..12])
    });
    &PATH
}

/// A notice at the top of a page: `kind` is `ok`, `error` or `warning`.
#[derive(Clone, Debug)]
pub struct Notice {
    pub kind: &'static str,
    pub text: String,
}

#[derive(Template)]
#[template(path = "admin/sign_in.html")]
struct SignInPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    /// The one-time link's confirmation: its action; `None` for the address form.
    confirm_action: Option<&'a str>,
    sent: bool,
}

/// The sign-in form, the "check your inbox" page (`sent`), or the button that uses a
/// mailed link (`confirm_action`; a button, so mail scanners that open links cannot use
/// it up).
pub fn sign_in(frame: &Frame, notice: Option<&Notice>, sent: bool, confirm_action: Option<&str>) -> String {
    let page = SignInPage { frame, title: "Sign in", viewer: None, notice, confirm_action, sent };
    to_string(render_template(&page, "admin/sign_in.html"))
}

/// A row of the overview's or list's incidents.
#[derive(Clone, Debug)]
pub struct IncidentRow {
    pub id: String,
    pub title: String,
    pub status: String,
    pub impact: String,
    pub published: bool,
    pub updated_iso: String,
    pub updated_text: String,
}

#[derive(Clone, Debug)]
pub struct MaintenanceRow {
    pub id: String,
    pub title: String,
    pub status: String,
    pub window: String,
}

#[derive(Clone, Debug)]
pub struct ComponentRow {
    pub name: String,
    pub status: String,
    pub status_label: String,
}

#[derive(Clone, Debug)]
pub struct GroupRows {
    pub name: Option<String>,
    pub components: Vec<ComponentRow>,
}

#[derive(Clone, Debug)]
pub struct MonitorRow {
    pub name: String,
    pub state: String,
    pub paused: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Overview {
    pub open: Vec<IncidentRow>,
    pub active_maintenance: Vec<MaintenanceRow>,
    pub upcoming_maintenance: Vec<MaintenanceRow>,
    pub groups: Vec<GroupRows>,
    pub monitors: Vec<MonitorRow>,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    o: &'a Overview,
}

pub fn overview(frame: &Frame, viewer: &Viewer, notice: Option<&Notice>, o: &Overview) -> String {
    to_string(render_template(
        &OverviewPage { frame, title: "Overview", viewer: Some(viewer), notice, o },
        "admin/overview.html",
    ))
}

#[derive(Template)]
#[template(path = "admin/incidents.html")]
struct IncidentsPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    list: &'a IncidentList,
}

/// The incident list with its filters, and the next page's query when there is one.
#[derive(Clone, Debug, Default)]
pub struct IncidentList {
    pub rows: Vec<IncidentRow>,
    pub search: String,
    pub states: Vec<Choice>,
    pub impacts: Vec<Choice>,
    pub next: Option<String>,
    /// Whether any filter is set (the empty list then says nothing matched).
    pub filtered: bool,
}

pub fn incidents(frame: &Frame, viewer: &Viewer, notice: Option<&Notice>, list: &IncidentList) -> String {
    to_string(render_template(
        &IncidentsPage { frame, title: "Incidents", viewer: Some(viewer), notice, list },
        "admin/incidents.html",
    ))
}

/// A choice in a select.
#[derive(Clone, Debug)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// A component in a form: ticked or not, with the status to impose.
#[derive(Clone, Debug)]
pub struct ComponentChoice {
    pub id: String,
    pub name: String,
    pub checked: bool,
    pub statuses: Vec<Choice>,
}

/// The report form, filled from a template or from what was typed before an error.
#[derive(Clone, Debug, Default)]
pub struct ReportForm {
    pub templates: Vec<Choice>,
    pub title: String,
    pub message: String,
    pub impacts: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub components: Vec<ComponentChoice>,
    pub template_id: String,
    pub internal: bool,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/incident_new.html")]
struct ReportPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    f: &'a ReportForm,
}

pub fn report(frame: &Frame, viewer: &Viewer, form: &ReportForm) -> String {
    to_string(render_template(
        &ReportPage { frame, title: "Report an incident", viewer: Some(viewer), notice: None, f: form },
        "admin/incident_new.html",
    ))
}

/// One entry of a list with a time: a public update, a comment, a timeline event.
#[derive(Clone, Debug)]
pub struct Entry {
    pub heading: String,
    pub at_iso: String,
    pub at_text: String,
    /// Rendered, sanitised Markdown (or escaped text in a `<p>`).
    pub html: String,
}

#[derive(Clone, Debug, Default)]
pub struct IncidentView {
    pub id: String,
    pub title: String,
    pub status: String,
    pub impact: String,
    pub version: u64,
    pub published: bool,
    pub resolved: bool,
    /// A monitor's or integration's incident: it may be taken over.
    pub automated: bool,
    pub auto_resolve: bool,
    pub public_url: String,
    pub components: Vec<ComponentRow>,
    pub updates: Vec<Entry>,
    pub comments: Vec<Entry>,
    pub timeline: Vec<Entry>,
    /// The statuses an update may move to (the current one first).
    pub next_statuses: Vec<Choice>,
    pub impacts: Vec<Choice>,
    pub edit_components: Vec<ComponentChoice>,
    /// What was typed before a conflict or an error, kept for another try.
    pub draft_update: String,
    pub draft_comment: String,
    pub postmortem: String,
    pub postmortem_published: bool,
}

#[derive(Template)]
#[template(path = "admin/incident.html")]
struct IncidentPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    i: &'a IncidentView,
}

pub fn incident(frame: &Frame, viewer: &Viewer, notice: Option<&Notice>, view: &IncidentView) -> String {
    to_string(render_template(
        &IncidentPage { frame, title: &view.title, viewer: Some(viewer), notice, i: view },
        "admin/incident.html",
    ))
}

/// The maintenance list: under way, scheduled, and past.
#[derive(Clone, Debug, Default)]
pub struct Maintenances {
    pub active: Vec<MaintenanceRow>,
    pub upcoming: Vec<MaintenanceRow>,
    pub past: Vec<MaintenanceRow>,
}

#[derive(Template)]
#[template(path = "admin/maintenances.html")]
struct MaintenancesPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    m: &'a Maintenances,
}

pub fn maintenances(frame: &Frame, viewer: &Viewer, m: &Maintenances) -> String {
    to_string(render_template(
        &MaintenancesPage { frame, title: "Maintenance", viewer: Some(viewer), notice: None, m },
        "admin/maintenances.html",
    ))
}

/// The schedule form (also after an error, as typed).
#[derive(Clone, Debug, Default)]
pub struct ScheduleForm {
    pub title: String,
    pub message: String,
    pub starts_at: String,
    pub ends_at: String,
    pub time_zone: String,
    pub components: Vec<ComponentChoice>,
    pub auto_start: bool,
    pub auto_complete: bool,
    pub remind_subscribers_minutes: String,
    pub remind_team: bool,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/maintenance_new.html")]
struct SchedulePage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    f: &'a ScheduleForm,
}

pub fn schedule(frame: &Frame, viewer: &Viewer, form: &ScheduleForm) -> String {
    to_string(render_template(
        &SchedulePage { frame, title: "Schedule maintenance", viewer: Some(viewer), notice: None, f: form },
        "admin/maintenance_new.html",
    ))
}

#[derive(Clone, Debug, Default)]
pub struct MaintenanceView {
    pub id: String,
    pub title: String,
    pub status: String,
    pub version: u64,
    pub window: String,
    pub scheduled: bool,
    pub closed: bool,
    pub components: Vec<String>,
    pub updates: Vec<Entry>,
    pub next_statuses: Vec<Choice>,
    pub time_zone: String,
    pub draft_update: String,
}

#[derive(Template)]
#[template(path = "admin/maintenance.html")]
struct MaintenancePage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    m: &'a MaintenanceView,
}

pub fn maintenance(frame: &Frame, viewer: &Viewer, notice: Option<&Notice>, view: &MaintenanceView) -> String {
    to_string(render_template(
        &MaintenancePage { frame, title: &view.title, viewer: Some(viewer), notice, m: view },
        "admin/maintenance.html",
    ))
}

/// A component as the components screen edits it.
#[derive(Clone, Debug)]
pub struct ComponentEditRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub position: u32,
    pub version: u64,
    /// Shown status (what incidents and maintenance impose, or the manual one).
    pub status: String,
    pub status_label: String,
    /// The manual status, as choices.
    pub manual: Vec<Choice>,
    /// The group, as choices (the first: no group).
    pub groups: Vec<Choice>,
}

#[derive(Clone, Debug, Default)]
pub struct ComponentsScreen {
    pub components: Vec<ComponentEditRow>,
    pub groups: Vec<Choice>,
    /// Each group, to rename or move.
    pub group_rows: Vec<GroupEditRow>,
    /// Admin and up: may change components.
    pub can_manage: bool,
}

#[derive(Clone, Debug)]
pub struct GroupEditRow {
    pub id: String,
    pub name: String,
    pub position: u32,
    pub version: u64,
}

#[derive(Template)]
#[template(path = "admin/components.html")]
struct ComponentsPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    c: &'a ComponentsScreen,
}

pub fn components(frame: &Frame, viewer: &Viewer, notice: Option<&Notice>, c: &ComponentsScreen) -> String {
    to_string(render_template(
        &ComponentsPage { frame, title: "Components", viewer: Some(viewer), notice, c },
        "admin/components.html",
    ))
}

/// A monitor with its latest result from each region.
#[derive(Clone, Debug)]
pub struct MonitorCard {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub paused: bool,
    pub incident_id: Option<String>,
    pub regions: Vec<RegionLine>,
}

#[derive(Clone, Debug)]
pub struct RegionLine {
    pub region: String,
    pub outcome: String,
    pub detail: String,
    pub at_iso: String,
    pub at_text: String,
}

#[derive(Template)]
#[template(path = "admin/monitors.html")]
struct MonitorsPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    monitors: &'a [MonitorCard],
}

pub fn monitors(frame: &Frame, viewer: &Viewer, notice: Option<&Notice>, monitors: &[MonitorCard]) -> String {
    to_string(render_template(
        &MonitorsPage { frame, title: "Monitors", viewer: Some(viewer), notice, monitors },
        "admin/monitors.html",
    ))
}

/// One line of the audit log.
#[derive(Clone, Debug)]
pub struct AuditLine {
    pub at_iso: String,
    pub at_text: String,
    pub who: String,
    pub what: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    lines: &'a [AuditLine],
    next: Option<&'a str>,
}

pub fn audit(frame: &Frame, viewer: &Viewer, lines: &[AuditLine], next: Option<&str>) -> String {
    to_string(render_template(
        &AuditPage { frame, title: "Audit log", viewer: Some(viewer), notice: None, lines, next },
        "admin/audit.html",
    ))
}

/// A template as the templates screen edits it (a blank one for adding).
#[derive(Clone, Debug, Default)]
pub struct TemplateForm {
    /// Empty for the form that adds one.
    pub id: String,
    pub version: u64,
    pub name: String,
    pub title: String,
    pub message: String,
    pub impacts: Vec<Choice>,
    pub components: Vec<ComponentChoice>,
}

#[derive(Template)]
#[template(path = "admin/templates.html")]
struct TemplatesPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    templates: &'a [TemplateForm],
    blank: &'a TemplateForm,
}

pub fn templates(
    frame: &Frame,
    viewer: &Viewer,
    notice: Option<&Notice>,
    templates: &[TemplateForm],
    blank: &TemplateForm,
) -> String {
    to_string(render_template(
        &TemplatesPage { frame, title: "Templates", viewer: Some(viewer), notice, templates, blank },
        "admin/templates.html",
    ))
}

/// One subscriber as the subscribers screen lists it (chat webhook paths redacted).
#[derive(Clone, Debug)]
pub struct SubscriberRow {
    pub id: String,
    pub kind: String,
    pub target: String,
    pub scope: String,
    pub state: String,
    pub created_iso: String,
    pub created_text: String,
    pub version: u64,
    /// Quarantined after failed deliveries: may be reactivated.
    pub quarantined: bool,
}

/// What an import did: counts, each refused row with its line, and webhook signing
/// secrets (shown this once).
#[derive(Clone, Debug, Default)]
pub struct ImportOutcome {
    pub created: usize,
    pub duplicates: usize,
    pub errors: Vec<(usize, String)>,
    pub secrets: Vec<(usize, String, String)>,
}

#[derive(Clone, Debug, Default)]
pub struct SubscribersScreen {
    pub count: u64,
    pub rows: Vec<SubscriberRow>,
    /// The query string of the next page, filters kept.
    pub next: Option<String>,
    pub search: String,
    pub states: Vec<Choice>,
    pub channels: Vec<Choice>,
    pub import: Option<ImportOutcome>,
    /// The CSV as typed, kept when the import was refused whole.
    pub csv: String,
}

#[derive(Template)]
#[template(path = "admin/subscribers.html")]
struct SubscribersPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    s: &'a SubscribersScreen,
    max_rows: usize,
}

pub fn subscribers(
    frame: &Frame,
    viewer: &Viewer,
    notice: Option<&Notice>,
    s: &SubscribersScreen,
    max_rows: usize,
) -> String {
    to_string(render_template(
        &SubscribersPage { frame, title: "Subscribers", viewer: Some(viewer), notice, s, max_rows },
        "admin/subscribers.html",
    ))
}

#[derive(Clone, Debug)]
pub struct IntegrationRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub components: String,
    pub publish: bool,
    pub version: u64,
}

/// Secrets an integration form just made: shown on this answer only.
#[derive(Clone, Debug)]
pub struct FreshSecrets {
    pub name: String,
    pub hook_url: Option<String>,
    pub signing_secret: Option<String>,
}

#[derive(Clone, Debug)]
pub struct DeliveryLine {
    pub at_iso: String,
    pub at_text: String,
    pub outcome: String,
    pub alerts: usize,
    pub incidents: Vec<String>,
    pub error: String,
}

#[derive(Clone, Debug, Default)]
pub struct IntegrationsScreen {
    pub rows: Vec<IntegrationRow>,
    pub fresh: Option<FreshSecrets>,
    pub kinds: Vec<Choice>,
    pub components: Vec<ComponentChoice>,
    /// The integration whose delivery log is open, with its lines and the next page.
    pub open: Option<IntegrationRow>,
    pub deliveries: Vec<DeliveryLine>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/integrations.html")]
struct IntegrationsPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    i: &'a IntegrationsScreen,
}

pub fn integrations(frame: &Frame, viewer: &Viewer, notice: Option<&Notice>, i: &IntegrationsScreen) -> String {
    to_string(render_template(
        &IntegrationsPage { frame, title: "Integrations", viewer: Some(viewer), notice, i },
        "admin/integrations.html",
    ))
}

#[derive(Clone, Debug)]
pub struct MemberRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub version: u64,
    /// The roles the viewer may give this member; empty when the viewer may not manage them.
    pub roles: Vec<Choice>,
    pub is_viewer: bool,
}

#[derive(Clone, Debug)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub member: String,
    pub role: String,
    pub created_text: String,
    pub revoked: bool,
    pub may_revoke: bool,
}

#[derive(Clone, Debug, Default)]
pub struct TeamScreen {
    pub members: Vec<MemberRow>,
    pub tokens: Vec<TokenRow>,
    /// Roles the viewer may give a new member.
    pub new_roles: Vec<Choice>,
    /// Roles a token of the viewer's may carry (at most the viewer's own).
    pub token_roles: Vec<Choice>,
    /// A token just made: its name and secret, shown this once.
    pub fresh_token: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "admin/team.html")]
struct TeamPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    t: &'a TeamScreen,
}

pub fn team(frame: &Frame, viewer: &Viewer, notice: Option<&Notice>, t: &TeamScreen) -> String {
    to_string(render_template(&TeamPage { frame, title: "Team", viewer: Some(viewer), notice, t }, "admin/team.html"))
}

/// The page settings form's values (links padded with blank rows to the most allowed).
#[derive(Clone, Debug, Default)]
pub struct SettingsForm {
    pub name: String,
    pub logo_url: String,
    pub accent: String,
    pub accent_dark: String,
    pub links: Vec<(String, String)>,
    pub time_zone: String,
    pub version: u64,
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    f: &'a SettingsForm,
    /// What was typed, when a concurrent change kept it from being saved.
    typed: Option<&'a SettingsForm>,
}

pub fn settings(
    frame: &Frame,
    viewer: &Viewer,
    notice: Option<&Notice>,
    f: &SettingsForm,
    typed: Option<&SettingsForm>,
) -> String {
    to_string(render_template(
        &SettingsPage { frame, title: "Page settings", viewer: Some(viewer), notice, f, typed },
        "admin/settings.html",
    ))
}

#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage<'a> {
    frame: &'a Frame,
    title: &'a str,
    viewer: Option<&'a Viewer>,
    notice: Option<&'a Notice>,
    paragraphs: &'a [String],
}

/// A plain page: a heading and some paragraphs (refusals, errors).
pub fn message(frame: &Frame, viewer: Option<&Viewer>, heading: &str, paragraphs: &[String]) -> String {
    to_string(render_template(
        &MessagePage { frame, title: heading, viewer, notice: None, paragraphs },
        "admin/message.html",
    ))
}

fn to_string(bytes: bytes::Bytes) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}
