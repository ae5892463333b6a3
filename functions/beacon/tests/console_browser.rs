//! The admin console in Debian's Chromium, driven through chromedriver (WebDriver)
//! against the real binary: sign in through the link in the outbox, report an incident
//! from a template, move it through every status, comment, change its impact, resolve
//! and reopen it while the public page follows; a concurrent change is reported and not
//! lost; a form without its CSRF token is refused; a viewer gets no responder forms;
//! script payloads in every field never run. Screenshots of the main screens are taken
//! on the way (into `BEACON_SCREENSHOTS_DIR` when set; the README shows them).

mod common;

use common::{Backend, start, terminate};
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PAYLOAD: &str =
    r#"<img src=x onerror="document.body.dataset.pwned='img'"><script>document.body.dataset.pwned='script'</script>"#;

/// One that fits a component's name (at most 100 characters).
const SHORT_PAYLOAD: &str = r#"<img src=x onerror="document.body.dataset.pwned='c'">"#;

fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e:?}"))
}

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let program = std::env::var("BEACON_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let port = ok(std::net::TcpListener::bind("127.0.0.1:0")).local_addr().map(|a| a.port()).unwrap_or(9515);
    let child = Command::new(&program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program} (tests/run.sh installs Debian's chromium-driver): {e}"));
    // Dropped on every path, and dropping kills and waits for it.
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return driver;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not start on port {port}");
}

async fn browser(driver: &Driver) -> Client {
    browser_with(driver, &[]).await
}

async fn browser_with(driver: &Driver, extra: &[&str]) -> Client {
    let chromium = std::env::var("BEACON_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut args =
        vec!["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"];
    args.extend_from_slice(extra);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": chromium, "args": args }));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ok(ClientBuilder::new(connector).capabilities(capabilities).connect(&driver.url).await)
}

/// The newest sign-in link mailed to `address`, from the runner's outbox.
fn link_for(outbox: &std::path::Path, address: &str) -> String {
    let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(outbox)
        .map(|d| d.filter_map(Result::ok).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let modified = e.metadata().and_then(|m| m.modified()).ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?.replace("=\r\n", "").replace("=3D", "=");
            text.contains(address).then_some((modified, text))
        })
        .collect();
    mails.sort_by_key(|(at, _)| *at);
    let text = mails.last().map(|(_, t)| t.clone()).unwrap_or_else(|| panic!("no mail to {address}"));
    let start = text.find("/admin/sign-in/").unwrap_or_else(|| panic!("no link in {text}"));
    let secret: String =
        text[start + 15..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    format!("/admin/sign-in/{secret}")
}

async fn sign_in(c: &Client, base: &str, outbox: &std::path::Path, address: &str) {
    ok(c.goto(&format!("{base}/admin/sign-in")).await);
    let form = ok(c.form(Locator::Css("form.stack")).await);
    ok(form.set_by_name("email", address).await);
    ok(form.submit().await);
    page_with(c, "a sign-in link is on its way").await;
    let mut link = String::new();
    for _ in 0..50 {
        if let Ok(found) = std::panic::catch_unwind(|| link_for(outbox, address)) {
            link = found;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ok(c.goto(&format!("{base}{link}")).await);
    ok(ok(c.find(Locator::Css("main form button[type=submit]")).await).click().await);
    page_with(c, "<h1>Overview</h1>").await;
}

/// The page once it shows `needle`: a click starts a navigation that WebDriver does not
/// wait for, so the test waits for what the next page says.
async fn page_with(c: &Client, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        last = ok(c.source().await);
        if last.contains(needle) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page never showed {needle:?}: {last}");
}

async fn shoot(c: &Client, name: &str) {
    let png = ok(c.screenshot().await);
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    if let Ok(dir) = std::env::var("BEACON_SCREENSHOTS_DIR") {
        ok(std::fs::create_dir_all(&dir));
        ok(std::fs::write(format!("{dir}/{name}.png"), png));
    }
}

/// axe-core's source, from the npm package tests/run.sh installs.
fn axe_source() -> String {
    let path = std::env::var("BEACON_TEST_AXE").unwrap_or_else(|_| {
        panic!("BEACON_TEST_AXE is not set: run the suite with tests/run.sh, which installs axe-core")
    });
    ok(std::fs::read_to_string(&path))
}

/// Audits the page in the browser with axe-core against WCAG 2.1 A and AA (labels,
/// names, contrast, landmarks, ARIA): no violation may be found.
async fn audit(c: &Client, axe: &str, screen: &str) {
    let violations = findings(c, axe).await;
    assert!(violations.is_empty(), "{screen}: {violations:#?}");
}

async fn findings(c: &Client, axe: &str) -> Vec<String> {
    ok(c.execute(&format!("{axe}\nreturn true;"), vec![]).await);
    let found = ok(c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
              .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                  v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
              .catch(e => done(['axe failed: ' + e]));"#,
            vec![],
        )
        .await);
    found.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

/// Nothing on the page is wider than the window: usable on a phone without scrolling
/// sideways (wide tables scroll inside their own box).
async fn fits(c: &Client, screen: &str) {
    let widths = ok(c.execute("return [document.documentElement.scrollWidth, window.innerWidth]", vec![]).await);
    let (page, window) = (widths[0].as_i64().unwrap_or(i64::MAX), widths[1].as_i64().unwrap_or(0));
    if page > window {
        let culprits = ok(c
            .execute(
                "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth && ![...e.children].some(k => k.getBoundingClientRect().right > innerWidth)).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))",
                vec![],
            )
            .await);
        panic!("{screen}: the page is {page}px wide in a {window}px window; widest: {culprits}");
    }
}

/// The console's screens an owner reaches, each with a phrase it shows.
const SCREENS: [(&str, &str); 11] = [
    ("/admin", "<h1>Overview</h1>"),
    ("/admin/incidents", "<h1>Incidents</h1>"),
    ("/admin/maintenance", "<h1>Maintenance</h1>"),
    ("/admin/components", "<h1>Components</h1>"),
    ("/admin/templates", "<h1>Templates</h1>"),
    ("/admin/monitors", "<h1>Monitors</h1>"),
    ("/admin/subscribers", "<h1>Subscribers</h1>"),
    ("/admin/integrations", "<h1>Integrations</h1>"),
    ("/admin/team", "<h1>Team</h1>"),
    ("/admin/settings", "<h1>Page settings</h1>"),
    ("/admin/audit", "<h1>Audit log</h1>"),
];

async fn pwned(c: &Client) -> bool {
    ok(c.execute("return document.body.dataset.pwned || null", vec![]).await) != serde_json::Value::Null
}

/// Posts an update through the incident page's form.
async fn update(c: &Client, status: &str, message: &str) {
    let select = ok(c.find(Locator::Id("update-status")).await);
    ok(select.select_by_value(status).await);
    let text = ok(c.find(Locator::Id("update-message")).await);
    ok(text.send_keys(message).await);
    ok(ok(c.find(Locator::Css("#update-h + form button[type=submit]")).await).click().await);
}

async fn api(
    client: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: String,
    body: serde_json::Value,
) -> serde_json::Value {
    let response = ok(client.request(method, url).bearer_auth(token).json(&body).send().await);
    assert!(response.status().is_success(), "{}", response.status());
    ok(response.json().await)
}

#[tokio::test]
async fn the_team_runs_an_incident_from_the_console_in_chromium() {
    let backend = Backend::embedded();
    let token = backend.create_token("Ada", "owner");
    let running = start(&backend, &["--no-demo", "--no-probes", "--page-name", "Acme"]);
    let base = running.base.clone();
    let outbox = match &backend {
        Backend::Embedded(dir) => dir.path().join("outbox"),
        Backend::DynamoDb { dir, .. } => dir.path().join("outbox"),
    };
    let http = reqwest::Client::new();
    let v1 = format!("{base}/api/v1");
    let component =
        api(&http, &token, reqwest::Method::POST, format!("{v1}/components"), serde_json::json!({"name": "Checkout"}))
            .await;
    let component_id = component["id"].as_str().unwrap_or_default().to_owned();
    let search = api(
        &http,
        &token,
        reqwest::Method::POST,
        format!("{v1}/components"),
        serde_json::json!({"name": format!("Search {SHORT_PAYLOAD}")}),
    )
    .await;
    let search_id = search["id"].as_str().unwrap_or_default().to_owned();
    let billing =
        api(&http, &token, reqwest::Method::POST, format!("{v1}/components"), serde_json::json!({"name": "Billing"}))
            .await;
    let billing_id = billing["id"].as_str().unwrap_or_default().to_owned();
    api(
        &http,
        &token,
        reqwest::Method::POST,
        format!("{v1}/templates"),
        serde_json::json!({
            "name": "Payments degraded", "title": format!("Payments are slow {PAYLOAD}"), "impact": "major",
            "message": format!("Card payments take longer than usual. {PAYLOAD}"),
            "components": [{"id": component_id, "status": "degraded_performance"}],
        }),
    )
    .await;
    api(
        &http,
        &token,
        reqwest::Method::POST,
        format!("{v1}/members"),
        serde_json::json!({
            "name": "Vic", "email": "vic@acme.test", "role": "viewer",
        }),
    )
    .await;
    let driver = chromedriver();
    let c = browser(&driver).await;

    sign_in(&c, &base, &outbox, "ada@members.invalid").await;

    // Report from the template: choosing it fills title, impact, message and components
    // in place (the script; without it the form's own button asks the server).
    ok(c.goto(&format!("{base}/admin/incidents/new")).await);
    let template = ok(c.find(Locator::Id("template")).await);
    let choice =
        ok(ok(template.find(Locator::Css("option:nth-child(2)")).await).attr("value").await).unwrap_or_default();
    let button_shown = ok(ok(c.find(Locator::Css("form[method=get] button[type=submit]")).await).is_displayed().await);
    assert!(!button_shown, "with the script the fill-in button is not needed");
    ok(template.select_by_value(&choice).await);
    let mut title = String::new();
    for _ in 0..100 {
        title = ok(ok(c.find(Locator::Id("title")).await).prop("value").await).unwrap_or_default();
        if !title.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(title.starts_with("Payments are slow"), "{title}");
    let message = ok(ok(c.find(Locator::Id("message")).await).prop("value").await).unwrap_or_default();
    assert!(message.starts_with("Card payments take longer"), "{message}");
    assert!(ok(c.current_url().await).query().is_none(), "filled without leaving the page");
    // The Markdown preview is the page's own renderer: payloads show as text.
    ok(ok(c.find(Locator::Css("#message + .preview-button")).await).click().await);
    let mut preview = String::new();
    for _ in 0..100 {
        let shown = ok(c
            .execute(
                "const p = document.getElementById('message-preview'); return p && !p.hidden ? p.innerHTML : ''",
                vec![],
            )
            .await);
        preview = shown.as_str().unwrap_or_default().to_owned();
        if !preview.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(preview.starts_with("<p>Card payments") && preview.contains("&lt;script&gt;"), "{preview}");
    assert!(!pwned(&c).await, "a payload ran in the preview");
    let ticked = ok(ok(c.find(Locator::Css(&format!("input[value='{component_id}']"))).await).prop("checked").await);
    assert_eq!(ticked.as_deref(), Some("true"));
    shoot(&c, "console-report").await;
    let axe = axe_source();
    audit(&c, &axe, "the report form").await;
    ok(ok(c.find(Locator::Css("form[action='/admin/incidents'] button[type=submit]")).await).click().await);
    page_with(&c, "Incident reported.").await;
    let url = ok(c.current_url().await).to_string();
    let id = url.split("/admin/incidents/").nth(1).and_then(|r| r.split('?').next()).unwrap_or_default().to_owned();
    assert!(!pwned(&c).await, "a payload ran on the incident page");

    // Times also say how long ago they were.
    let ago = ok(ok(c.find(Locator::Css("time + .ago")).await).text().await);
    assert!(ago.contains("now") || ago.contains("ago") || ago.contains("second"), "{ago}");

    // Through every status, a comment and a change of impact on the way.
    update(&c, "identified", "The card processor is slow.").await;
    page_with(&c, "Update posted.").await;
    let comment = ok(c.find(Locator::Id("comment")).await);
    ok(comment.send_keys(&format!("Paged the processor's on-call. {PAYLOAD}")).await);
    ok(ok(c.find(Locator::Css("form[action$='/comments'] button[type=submit]")).await).click().await);
    let page = page_with(&c, "Comment added.").await;
    assert!(page.contains("Paged the processor"), "{page}");
    ok(ok(c.find(Locator::Id("edit-impact")).await).select_by_value("critical").await);
    // Billing is affected too, with a partial outage.
    ok(ok(c.find(Locator::Css(&format!("form[action$='/edit'] input[value='{billing_id}']"))).await).click().await);
    ok(ok(c.find(Locator::Css(&format!("form[action$='/edit'] select[name='status_{billing_id}']"))).await)
        .select_by_value("partial_outage")
        .await);
    ok(ok(c.find(Locator::Css("form[action$='/edit'] button[type=submit]")).await).click().await);
    page_with(&c, "impact critical").await;
    let detail =
        api(&http, &token, reqwest::Method::GET, format!("{v1}/incidents/{id}"), serde_json::Value::Null).await;
    let affected: Vec<(String, String)> = detail["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["id"].as_str().unwrap_or_default().to_owned(), c["status"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert!(affected.contains(&(billing_id.clone(), "partial_outage".to_owned())), "{affected:?}");
    update(&c, "monitoring", &format!("A fix is out. {PAYLOAD}")).await;
    page_with(&c, "A fix is out.").await;
    shoot(&c, "console-incident").await;
    audit(&c, &axe, "the incident page").await;
    update(&c, "resolved", "Payments are back to normal.").await;
    page_with(&c, "Payments are back to normal.").await;
    let public = ok(ok(http.get(format!("{base}/incidents/{id}.html")).send().await).text().await);
    assert!(public.contains("Payments are back to normal."), "the public page follows");
    assert!(!public.contains("Paged the processor"), "comments stay private");
    // Reopen: the only choice on a resolved incident.
    update(&c, "investigating", "It is slow again.").await;
    page_with(&c, "It is slow again.").await;
    assert!(!pwned(&c).await);

    // Someone else posts while the page is open: ours is refused, shown, and kept.
    api(
        &http,
        &token,
        reqwest::Method::POST,
        format!("{v1}/incidents/{id}/updates"),
        serde_json::json!({
            "message": "Posted through the API.", "status": "identified",
        }),
    )
    .await;
    update(&c, "monitoring", "My stale update.").await;
    let page = page_with(&c, "Someone else changed this incident meanwhile").await;
    assert!(page.contains("Posted through the API.") && page.contains("My stale update."));
    let detail =
        api(&http, &token, reqwest::Method::GET, format!("{v1}/incidents/{id}"), serde_json::Value::Null).await;
    assert_eq!(detail["status"], "identified", "nothing overwritten");

    // A form stripped of its CSRF token is refused.
    ok(c.execute("document.querySelector('#update-h + form input[name=csrf]').remove()", vec![]).await);
    update(&c, "monitoring", "Without a token.").await;
    page_with(&c, "CSRF token is missing or stale").await;

    // Planned maintenance on Search (Checkout's degradation would outrank it): scheduled
    // from the form (its times filled an hour and three hours ahead), started by hand,
    // the component under maintenance, then completed.
    ok(c.goto(&format!("{base}/admin/maintenance/new")).await);
    let form = ok(c.form(Locator::Css("form[action='/admin/maintenance']")).await);
    ok(form.set_by_name("title", "Database upgrade").await);
    ok(form.set_by_name("message", &format!("We upgrade the **database**. {PAYLOAD}")).await);
    ok(ok(c.find(Locator::Css(&format!("form[action='/admin/maintenance'] input[value='{search_id}']"))).await)
        .click()
        .await);
    ok(ok(c.find(Locator::Css("form[action='/admin/maintenance'] button[type=submit]")).await).click().await);
    page_with(&c, "Maintenance scheduled.").await;
    assert!(!pwned(&c).await, "a payload ran on the maintenance page");
    shoot(&c, "console-maintenance").await;
    audit(&c, &axe, "the maintenance page").await;
    ok(ok(c.find(Locator::Id("mstatus")).await).select_by_value("in_progress").await);
    ok(ok(c.find(Locator::Id("mmessage")).await).send_keys("Started early.").await);
    ok(ok(c.find(Locator::Css("#mupdate-h + form button[type=submit]")).await).click().await);
    page_with(&c, "Started early.").await;
    ok(c.goto(&format!("{base}/admin")).await);
    page_with(&c, "Under maintenance").await;
    shoot(&c, "console-overview").await;
    ok(c.goto(&format!("{base}/admin/maintenance")).await);
    ok(ok(c.find(Locator::LinkText("Database upgrade")).await).click().await);
    page_with(&c, "Started early.").await;
    ok(ok(c.find(Locator::Id("mstatus")).await).select_by_value("completed").await);
    ok(ok(c.find(Locator::Id("mmessage")).await).send_keys("All done.").await);
    ok(ok(c.find(Locator::Css("#mupdate-h + form button[type=submit]")).await).click().await);
    page_with(&c, "All done.").await;
    let public = ok(ok(http.get(format!("{base}/api/v2/scheduled-maintenances.json")).send().await).text().await);
    assert!(public.contains("Database upgrade") && public.contains("\"completed\""), "{public}");

    // Every screen passes axe-core's WCAG 2.1 AA audit, and fits a phone's width.
    for (path, heading) in SCREENS {
        ok(c.goto(&format!("{base}{path}")).await);
        page_with(&c, heading).await;
        audit(&c, &axe, path).await;
    }
    // The audit does find things: an unlabelled field slipped into a screen is caught.
    ok(c.execute("document.querySelector('main').append(document.createElement('input'))", vec![]).await);
    let caught = findings(&c, &axe).await;
    assert!(caught.iter().any(|v| v.starts_with("label")), "{caught:?}");
    ok(c.set_window_size(390, 844).await);
    for (path, heading) in SCREENS.iter().chain(&[("/admin/incidents/new", "<h1>Report an incident</h1>")]) {
        ok(c.goto(&format!("{base}{path}")).await);
        page_with(&c, heading).await;
        fits(&c, path).await;
    }
    ok(c.goto(&format!("{base}/admin/incidents/{id}")).await);
    page_with(&c, "It is slow again.").await;
    fits(&c, "the incident page").await;
    shoot(&c, "console-phone").await;
    ok(c.set_window_size(1280, 1000).await);

    // In dark mode too (its own colours, its own contrast).
    let dark = browser_with(&driver, &["--force-dark-mode"]).await;
    ok(dark.goto(&format!("{base}/admin/sign-in")).await);
    page_with(&dark, "<h1>Sign in</h1>").await;
    let is_dark = ok(dark.execute("return matchMedia('(prefers-color-scheme: dark)').matches", vec![]).await);
    assert_eq!(is_dark, serde_json::Value::Bool(true), "the browser prefers dark");
    audit(&dark, &axe, "sign-in (dark)").await;
    sign_in(&dark, &base, &outbox, "ada@members.invalid").await;
    for (path, heading) in SCREENS {
        ok(dark.goto(&format!("{base}{path}")).await);
        page_with(&dark, heading).await;
        audit(&dark, &axe, &format!("{path} (dark)")).await;
    }
    ok(dark.goto(&format!("{base}/admin/incidents/{id}")).await);
    page_with(&dark, "It is slow again.").await;
    audit(&dark, &axe, "the incident page (dark)").await;
    shoot(&dark, "console-dark").await;
    ok(dark.close().await);

    // A viewer reads, and finds no responder forms.
    ok(c.goto(&format!("{base}/admin")).await);
    ok(ok(c.find(Locator::Css("form.signout button[type=submit]")).await).click().await);
    page_with(&c, "You are signed out.").await;
    sign_in(&c, &base, &outbox, "vic@acme.test").await;
    ok(c.goto(&format!("{base}/admin/incidents/{id}")).await);
    let page = page_with(&c, "Payments are slow").await;
    assert!(!page.contains("id=\"update-message\""), "{page}");
    ok(c.goto(&format!("{base}/admin/incidents/new")).await);
    page_with(&c, "needs the responder role").await;
    assert!(!pwned(&c).await);

    ok(c.close().await);
    terminate(running);
}
