//! Configuration, read once in `main`: every flag also has an environment variable.

use beacon_domain::Role;
use beacon_store_dynamodb::DynamoDbConfig;
use clap::{Parser, Subcommand, ValueEnum};
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

    /// Create the DynamoDB table if it is missing (for an emulator; on AWS the stack
    /// owns the table).
    #[arg(long, env = "BEACON_DYNAMODB_CREATE_TABLE", global = true)]
    pub dynamodb_create_table: bool,

    /// Log lines as JSON (for log shippers) instead of text.
    #[arg(long, env = "BEACON_LOG_JSON", global = true)]
    pub log_json: bool,

    /// The status page's name.
    #[arg(long, env = "BEACON_PAGE_NAME", default_value = "Status", global = true)]
    pub page_name: String,

    /// The page's public address (links in feeds and JSON); defaults to the listen address.
    #[arg(long, env = "BEACON_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// IANA time zone the page names (times are shown in UTC).
    #[arg(long, env = "BEACON_TIME_ZONE", default_value = "Etc/UTC", global = true)]
    pub time_zone: String,

    /// The From of notification mail, e.g. `Acme Status <status@acme.example>`;
    /// defaults to the page's name at a local address.
    #[arg(long, env = "BEACON_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,

    /// Send mail through this SMTP relay (`host:port`, no TLS: a local relay such as
    /// Mailpit) instead of writing it to the outbox folder (`<data-dir>/outbox`).
    #[arg(long, env = "BEACON_SMTP", global = true)]
    pub smtp: Option<String>,

    /// SMTP user name and password (with `--smtp`), as `user:password`.
    #[arg(long, env = "BEACON_SMTP_CREDENTIALS", global = true, hide_env_values = true)]
    pub smtp_credentials: Option<String>,

    /// Mails sent per second at most.
    #[arg(long, env = "BEACON_MAIL_RATE", default_value_t = 50.0, global = true)]
    pub mail_rate: f64,

    /// Local development: webhook subscribers may use plain HTTP and loopback
    /// addresses (private ranges stay refused). Never on a shared machine.
    #[arg(long, env = "BEACON_DEV_WEBHOOKS", global = true)]
    pub dev_webhooks: bool,

    /// Also post every domain event (docs/events.md) to this URL, as JSON; they are
    /// always appended to `<data-dir>/events.jsonl`.
    #[arg(long, env = "BEACON_EVENTS_URL", global = true)]
    pub events_url: Option<String>,

    /// The region name the in-process prober runs as (monitors choose from it).
    #[arg(long, env = "BEACON_PROBE_REGION", default_value = "local", global = true)]
    pub probe_region: String,

    /// How often the in-process maintenance scheduler runs (AWS runs it every minute).
    #[arg(long, env = "BEACON_SCHEDULER_EVERY_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=300), global = true)]
    pub scheduler_every_seconds: u64,

    /// Do not run monitors' checks in this process.
    #[arg(long, env = "BEACON_NO_PROBES", global = true)]
    pub no_probes: bool,

    /// Local development: monitors may check loopback addresses (private ranges stay
    /// refused), as a team trying the system against a service on its own machine.
    #[arg(long, env = "BEACON_DEV_PROBES", global = true)]
    pub dev_probes: bool,

    /// The command-line client's connection (client commands only).
    #[command(flatten)]
    pub remote: crate::client::Remote,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Manage API tokens directly in the store (bootstrap: the first owner's token).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the OpenAPI document of the API.
    Openapi,
    /// Print a one-time link that signs a member in to the console (valid 15 minutes),
    /// creating the member if none has the address: a fresh install's first owner needs
    /// no mail set up. The link is printed alone on the last line of standard output.
    SignInLink {
        /// The member's address.
        #[arg(long)]
        email: String,
        /// The member's name, when the member is created.
        #[arg(long, default_value = "Owner")]
        name: String,
        /// The member's role, when the member is created.
        #[arg(long, value_parser = parse_role, default_value = "owner")]
        role: Role,
    },
    /// Client commands: the API of a running beacon, local or on AWS.
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token, and its member if none has the address. The token is printed
    /// alone on the last line of standard output.
    Create {
        /// The member's name (and the token's).
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The member's address; defaults to one derived from the name.
        #[arg(long)]
        email: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// redb in the data folder.
    Embedded,
    /// A DynamoDB table.
    Dynamodb,
}

/// An SMTP relay: where, and who we are to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

/// Where state lives, resolved from the flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    Embedded { data_dir: PathBuf },
    DynamoDb(DynamoDbConfig),
}

impl Cli {
    pub fn page_config(&self, listening: std::net::SocketAddr) -> beacon_site::PageConfig {
        let url = self.public_url.clone().unwrap_or_else(|| format!("http://{listening}"));
        beacon_site::PageConfig {
            id: "beacon".into(),
            name: self.page_name.clone(),
            url: url.trim_end_matches('/').to_owned(),
            time_zone: self.time_zone.clone(),
            logo_url: None,
            links: Vec::new(),
            subscribe_url: Some(format!("{}/subscriptions", url.trim_end_matches('/'))),
            accent: None,
            accent_dark: None,
        }
    }

    /// How notifications look and where their links point (the page's own address: the
    /// subscription endpoints are served beside the page).
    pub fn message_config(&self, listening: std::net::SocketAddr) -> Result<beacon_notify::MessageConfig, String> {
        let page = self.page_config(listening);
        let from = self.mail_from.clone().unwrap_or_else(|| format!("{} <notifications@beacon.localhost>", page.name));
        let from = from.parse().map_err(|e| format!("--mail-from {from:?} is not a mailbox: {e}"))?;
        Ok(beacon_notify::MessageConfig { api_url: page.url.clone(), page, from })
    }

    /// The SMTP relay, when configured.
    pub fn smtp_relay(&self) -> Result<Option<SmtpRelay>, String> {
        let Some(raw) = self.smtp.as_deref() else { return Ok(None) };
        let (host, port) = raw.rsplit_once(':').ok_or_else(|| format!("--smtp {raw:?} must be host:port"))?;
        let port = port.parse().map_err(|_| format!("--smtp {raw:?}: {port:?} is not a port"))?;
        let credentials = match self.smtp_credentials.as_deref() {
            Some(c) => {
                let (user, password) =
                    c.split_once(':').ok_or_else(|| "--smtp-credentials must be user:password".to_owned())?;
                Some((user.to_owned(), password.to_owned()))
            }
            None => None,
        };
        Ok(Some(SmtpRelay { host: host.to_owned(), port, credentials }))
    }

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

#[cfg(test)]
mod command_tests {
    use super::*;

    #[test]
    fn token_create_takes_a_name_and_a_role() {
        let cli = Cli::try_parse_from(["beacon", "token", "create", "--name", "Ada", "--role", "owner"])
            .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Some(Command::Token { command: TokenCommand::Create { name, role, email } }) => {
                assert_eq!((name.as_str(), role, email), ("Ada", Role::Owner, None));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Cli::try_parse_from(["beacon", "token", "create", "--name", "Ada", "--role", "king"]).is_err());
    }
}
