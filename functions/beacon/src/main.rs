//! The one-machine runner: reads configuration, opens the store, seeds the sample page
//! into an empty store, and serves the API until interrupted.

mod config;

use anyhow::Context as _;
use beacon_api::{ApiState, router};
use beacon_app::{Service, SystemClock, seed_demo};
use beacon_store::Store;
use beacon_store_dynamodb::DynamoDbStore;
use beacon_store_redb::RedbStore;
use clap::Parser as _;
use config::{Cli, StoreConfig};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);

    let store: Arc<dyn Store> = match cli.store_config() {
        StoreConfig::Embedded { data_dir } => Arc::new(
            RedbStore::open(&data_dir)
                .with_context(|| format!("opening the embedded store in {}", data_dir.display()))?,
        ),
        StoreConfig::DynamoDb(config) => Arc::new(DynamoDbStore::connect(&config).await),
    };
    let service = Service::new(store, Arc::new(SystemClock));
    if !cli.no_demo && seed_demo(&service).await.context("seeding the sample page")? {
        tracing::info!("seeded the sample page into the empty store (start with --no-demo to skip)");
    }

    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    // Tests and scripts read this line to find the port when listening on port 0.
    println!("beacon listening on http://{address}");
    axum::serve(listener, router(ApiState { service }))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
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
