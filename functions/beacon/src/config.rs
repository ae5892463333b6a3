//! Configuration, read once in `main`: every flag also has an environment variable.

use beacon_store_dynamodb::DynamoDbConfig;
use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Incident management and a public status page, whole on one machine.
#[derive(Debug, Parser)]
#[command(name = "beacon", version, about)]
pub struct Cli {
    /// Folder of the embedded store (and, as they land, the page and the outbox).
    #[arg(long, env = "BEACON_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Where the server listens.
    #[arg(long, env = "BEACON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Which store holds the state.
    #[arg(long, env = "BEACON_STORE", value_enum, default_value_t = StoreKind::Embedded, global = true)]
    pub store: StoreKind,

    /// DynamoDB table (with `--store dynamodb`).
    #[arg(long, env = "BEACON_DYNAMODB_TABLE", default_value = "beacon", global = true)]
    pub dynamodb_table: String,

    /// DynamoDB endpoint override, e.g. an emulator (with `--store dynamodb`).
    #[arg(long, env = "BEACON_DYNAMODB_ENDPOINT", global = true)]
    pub dynamodb_endpoint: Option<String>,

    /// Do not seed the sample page into an empty store on start.
    #[arg(long, env = "BEACON_NO_DEMO", global = true)]
    pub no_demo: bool,

    /// Log lines as JSON (for log shippers) instead of text.
    #[arg(long, env = "BEACON_LOG_JSON", global = true)]
    pub log_json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// redb in the data folder.
    Embedded,
    /// A DynamoDB table.
    Dynamodb,
}

/// Where state lives, resolved from the flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    Embedded { data_dir: PathBuf },
    DynamoDb(DynamoDbConfig),
}

impl Cli {
    pub fn store_config(&self) -> StoreConfig {
        match self.store {
            StoreKind::Embedded => StoreConfig::Embedded { data_dir: self.data_dir.clone() },
            StoreKind::Dynamodb => StoreConfig::DynamoDb(DynamoDbConfig {
                table: self.dynamodb_table.clone(),
                endpoint: self.dynamodb_endpoint.clone(),
                region: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_embedded_on_loopback() {
        let cli = Cli::try_parse_from(["beacon"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(cli.store_config(), StoreConfig::Embedded { data_dir: PathBuf::from("./data") });
    }

    #[test]
    fn a_bad_listen_address_is_a_clear_error() {
        let err =
            Cli::try_parse_from(["beacon", "--listen", "nowhere"]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--listen"), "{err}");
    }
}
