//! The one-machine runner: reads configuration, opens the store, seeds the sample page
//! into an empty store, and serves the API until interrupted.

mod client;
mod config;
mod events;

use anyhow::Context as _;
use beacon_api::{ApiState, router};
use beacon_app::{NewMember, Service, SystemClock, seed_demo};
use beacon_domain::{Actor, Role};
use beacon_store::{ChangeFeed, Store};
use beacon_store_dynamodb::DynamoDbStore;
use beacon_store_redb::RedbStore;
use clap::Parser as _;
use config::{Cli, Command, StoreConfig, TokenCommand};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match &cli.command {
        Some(Command::Openapi) => {
            println!("{}", beacon_api::openapi().to_pretty_json().context("encoding the OpenAPI document")?);
            Ok(())
        }
        Some(Command::Token { command: TokenCommand::Create { name, role, email } }) => {
            let service = open(&cli).await?;
            let token = create_token(&service, name, *role, email.as_deref()).await?;
            println!("{token}");
            Ok(())
        }
        Some(Command::SignInLink { email, name, role }) => {
            let service = open(&cli).await?;
            let member = match service.member_by_email(email).await? {
                Some(member) => member,
                None => service
                    .create_member(Actor::System, NewMember { name: name.clone(), email: email.clone(), role: *role })
                    .await
                    .context("creating the member")?,
            };
            let secret = service.issue_sign_in(member.id).await.context("issuing the link")?;
            let page = cli.page_config(cli.listen);
            eprintln!(
                "a sign-in link for {} <{}> ({}), valid once for 15 minutes:",
                member.name, member.email, member.role
            );
            println!("{}/admin/sign-in/{}", page.url, secret.expose());
            Ok(())
        }
        Some(Command::Client(command)) => match client::run(&cli.remote, command).await {
            Ok(()) => Ok(()),
            Err(failure) => {
                eprintln!("error: {}", failure.message);
                std::process::exit(failure.code);
            }
        },
        None | Some(Command::Serve) => serve(cli).await,
    }
}

async fn open(cli: &Cli) -> anyhow::Result<Service> {
    Ok(open_with_feed(cli).await?.0)
}

/// The service, and the change feed when the store keeps one (the embedded store; on
/// AWS the table's stream drives the publish function instead).
async fn open_with_feed(cli: &Cli) -> anyhow::Result<(Service, Option<Arc<dyn ChangeFeed>>)> {
    let (store, feed): (Arc<dyn Store>, Option<Arc<dyn ChangeFeed>>) = match cli.store_config() {
        StoreConfig::Embedded { data_dir } => {
            let store = Arc::new(RedbStore::open(&data_dir).with_context(|| {
                format!(
                    "opening the embedded store in {} (is a server running on it? stop it first)",
                    data_dir.display()
                )
            })?);
            (store.clone(), Some(store))
        }
        StoreConfig::DynamoDb(config) => {
            let store = DynamoDbStore::connect(&config).await;
            if cli.dynamodb_create_table {
                store.ensure_table().await.with_context(|| format!("creating table {}", config.table))?;
            }
            (Arc::new(store), None)
        }
    };
    Ok((Service::new(store, Arc::new(SystemClock)), feed))
}

/// How often the page is rebuilt from scratch, repairing anything a missed change left.
const RECONCILE_EVERY: Duration = Duration::from_secs(300);
/// How often the feed is read when it announced nothing (a fallback: the embedded
/// store announces every commit that appended changes).
const FEED_POLL: Duration = Duration::from_secs(1);
/// How long the in-process prober sleeps at most between looks for due monitors (one
/// created or checked-now meanwhile waits no longer than this).
const PROBE_POLL: Duration = Duration::from_secs(2);
/// How often the page is rebuilt when the store keeps no feed (DynamoDB run locally).
const REBUILD_WITHOUT_FEED: Duration = Duration::from_secs(2);

/// Keeps `site_dir` equal to the rendered state: a publish at start, one per batch of
/// changes from the feed, and a periodic reconcile.
fn spawn_publisher(
    service: Service,
    feed: Option<Arc<dyn ChangeFeed>>,
    page: beacon_site::PageConfig,
    site_dir: std::path::PathBuf,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let publisher = beacon_publish::Publisher::new(Arc::new(beacon_publish::DirBucket::new(site_dir)));
    let handler = Arc::new(beacon_publish::PublishOnChange::new(service, publisher, page));
    let reconciler = handler.clone();
    let mut reconcile_shutdown = shutdown.clone();
    let every = if feed.is_some() { RECONCILE_EVERY } else { REBUILD_WITHOUT_FEED };
    tokio::spawn(async move {
        loop {
            if let Err(e) = reconciler.reconcile().await {
                tracing::warn!(error = %e, "publishing the page failed; will retry");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = reconcile_shutdown.changed() => return,
            }
        }
    });
    if let Some(feed) = feed {
        tokio::spawn(async move {
            beacon_app::feed::run(feed.as_ref(), "publisher", handler.as_ref(), FEED_POLL, shutdown).await;
        });
    }
}

/// Runs the maintenance scheduler at start and then every `every`: it
/// creates recurring occurrences ahead and takes each reminder, start and completion
/// once, catching up on whatever fell due while the process was stopped.
fn spawn_scheduler(service: Service, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            match service.run_maintenance_scheduler().await {
                Ok(run) if !run.taken.is_empty() || !run.created.is_empty() => {
                    tracing::info!(steps = run.taken.len(), created = run.created.len(), "maintenance scheduler ran");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the maintenance scheduler failed; will retry"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Tells subscribers: the planner reads the change feed into the store queue, and a
/// worker delivers from it. Without a feed (DynamoDB run locally) nothing is planned.
fn spawn_notifier(
    service: Service,
    feed: Option<Arc<dyn ChangeFeed>>,
    mail: Arc<dyn beacon_notify::MailTransport>,
    messages: beacon_notify::MessageConfig,
    policy: beacon_notify::OutboundPolicy,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(feed) = feed else {
        tracing::warn!("notifications need the embedded store's change feed; none will be sent with this store");
        return Ok(());
    };
    let queue = beacon_notify::StoreQueue::new(service.store().clone(), service.clock().clone());
    let http = Arc::new(beacon_notify::GuardedHttp::new(policy).map_err(anyhow::Error::msg)?);
    let deliverer =
        Arc::new(beacon_notify::Deliverer::new(service.clone(), Arc::new(queue.clone()), mail, http, messages));
    let planner = beacon_notify::Planner::new(service, Arc::new(queue.clone()));
    let planner_shutdown = shutdown.clone();
    tokio::spawn(async move {
        beacon_app::feed::run(feed.as_ref(), "notifier", &planner, FEED_POLL, planner_shutdown).await;
    });
    tokio::spawn(beacon_notify::run_store_queue(queue, deliverer, FEED_POLL, shutdown));
    Ok(())
}

/// Writes domain events: `<data-dir>/events.jsonl`, and the events URL if one is set.
/// The URL is the operator's own, so plain HTTP and loopback are allowed.
fn spawn_events(
    feed: Option<Arc<dyn ChangeFeed>>,
    data_dir: &std::path::Path,
    url: Option<&str>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(feed) = feed else {
        tracing::warn!("domain events need the embedded store's change feed; none will be written with this store");
        return Ok(());
    };
    let target = match url {
        Some(url) => {
            let url = beacon_domain::EndpointUrl::parse(url, true)
                .map_err(|e| anyhow::anyhow!("--events-url: {}", e.message))?;
            let policy = beacon_notify::OutboundPolicy { allow_plain_http: true, allow_loopback: true };
            let http: Arc<dyn beacon_notify::HttpTransport> =
                Arc::new(beacon_notify::GuardedHttp::new(policy).map_err(anyhow::Error::msg)?);
            Some((url, http))
        }
        None => None,
    };
    let sink = events::EventSink::new(data_dir.join("events.jsonl"), target);
    tokio::spawn(async move {
        beacon_app::feed::run(feed.as_ref(), "events", &sink, FEED_POLL, shutdown).await;
    });
    Ok(())
}

/// Creates a member (unless one has the address) and a token for it; returns the secret.
async fn create_token(service: &Service, name: &str, role: Role, email: Option<&str>) -> anyhow::Result<String> {
    let email = match email {
        Some(e) => e.to_owned(),
        None => {
            let slug: String =
                name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
            format!("{}@members.invalid", slug.trim_matches('-'))
        }
    };
    let member = match service.member_by_email(&email).await? {
        Some(member) => member,
        None => service
            .create_member(Actor::System, NewMember { name: name.to_owned(), email: email.clone(), role })
            .await
            .context("creating the member")?,
    };
    let (token, secret) = service
        .create_token(Actor::System, member.id, name, role.min(member.role))
        .await
        .context("creating the token")?;
    eprintln!(
        "created token {} ({}) for member {} <{}>; it is shown only now",
        token.id, token.role, member.name, member.email
    );
    Ok(secret.expose().to_owned())
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    let (service, feed) = open_with_feed(&cli).await?;
    if !cli.no_demo && seed_demo(&service).await.context("seeding the sample page")? {
        tracing::info!("seeded the sample page into the empty store (start with --no-demo to skip)");
    }

    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    // Tests and scripts read this line to find the port when listening on port 0.
    println!("beacon listening on http://{address}");
    // The static page folder is served at `/` on the same port as the API, as the CDN
    // serves the bucket beside the API on AWS.
    let site_dir = cli.data_dir.join("site");
    std::fs::create_dir_all(&site_dir).with_context(|| format!("creating {}", site_dir.display()))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    spawn_publisher(service.clone(), feed.clone(), cli.page_config(address), site_dir.clone(), stopped.clone());

    let messages = cli.message_config(address).map_err(anyhow::Error::msg)?;
    let mail: Arc<dyn beacon_notify::MailTransport> = match cli.smtp_relay().map_err(anyhow::Error::msg)? {
        Some(relay) => {
            tracing::info!(relay = %format!("{}:{}", relay.host, relay.port), "mail goes out through SMTP");
            let smtp = beacon_notify::SmtpMailer::plain(&relay.host, relay.port, relay.credentials);
            Arc::new(beacon_notify::RateBound::new(smtp, cli.mail_rate))
        }
        None => {
            let outbox = cli.data_dir.join("outbox");
            tracing::info!(outbox = %outbox.display(), "mail is written to the outbox folder");
            Arc::new(beacon_notify::RateBound::new(beacon_notify::OutboxMailer::new(outbox), cli.mail_rate))
        }
    };
    let policy = beacon_notify::OutboundPolicy { allow_plain_http: cli.dev_webhooks, allow_loopback: cli.dev_webhooks };
    spawn_events(feed.clone(), &cli.data_dir, cli.events_url.as_deref(), stopped.clone())?;
    spawn_notifier(service.clone(), feed, mail.clone(), messages.clone(), policy, stopped.clone())?;

    spawn_scheduler(service.clone(), Duration::from_secs(cli.scheduler_every_seconds), stopped.clone());
    if cli.no_probes {
        tracing::info!("monitors are not checked by this process (--no-probes)");
    } else {
        let policy = beacon_notify::OutboundPolicy { allow_plain_http: true, allow_loopback: cli.dev_probes };
        let prober =
            beacon_probe::Prober::new(service.clone(), cli.probe_region.clone(), policy).map_err(anyhow::Error::msg)?;
        tracing::info!(region = %cli.probe_region, "monitors are checked in this process");
        tokio::spawn(prober.run(PROBE_POLL, stopped.clone()));
    }
    let mut state = ApiState::new(service)
        .with_subscriptions(beacon_api::Subscriptions { mail, messages })
        .allowing_plain_http(cli.dev_webhooks)
        .with_probe_regions(vec![cli.probe_region.clone()])
        .with_sns(Arc::new(beacon_api::integrations::HttpSnsFetch::new(false).map_err(anyhow::Error::msg)?));
    // Plain HTTP on loopback: a `Secure` cookie would never be sent back. Anywhere else
    // the runner is expected behind TLS.
    if address.ip().is_loopback() && cli.public_url.as_deref().is_none_or(|u| u.starts_with("http://")) {
        state = state.with_insecure_console_cookies();
    }
    let app = router(state)
        .fallback_service(
            tower_http::services::ServeDir::new(&site_dir)
                .append_index_html_on_directories(true)
                .not_found_service(axum::routing::any(not_found)),
        )
        .layer(axum::middleware::from_fn(client_address));
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    let _ = stop.send(true);
    tracing::info!("stopped");
    Ok(())
}

/// Hands the peer's address to the handlers (rate limits of the public endpoints).
async fn client_address(
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    request.extensions_mut().insert(beacon_api::ClientAddress(peer.ip()));
    next.run(request).await
}

async fn not_found() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    beacon_api::Problem::not_found("no such page or route").into_response()
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
