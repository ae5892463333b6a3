//! Monitor checks, each ending in up, degraded or down with its evidence (status code,
//! latency, error class and message).
//!
//! - HTTP(S): method, headers, body, expected status codes, timeout, redirects followed
//!   or not, a keyword that must be present (or absent), and a response time above which
//!   the result is degraded.
//! - TLS: the certificate chain must verify for the host; expired or invalid is down,
//!   expiring within the warning window is degraded.
//! - TCP: a connection within the timeout.
//! - Heartbeat: the team's job calls in; none within interval plus grace is down.
//!
//! Every address is checked as outbound webhooks are (see `beacon_notify::http`): private,
//! loopback, link-local and metadata ranges are refused before connecting, unless a
//! local-development policy allows loopback.

mod checks;
mod runner;

pub use checks::{
    ErrorClass, Expected, HttpCheck, HttpClients, Keyword, Outcome, ProbeResult, TcpCheck, TlsCheck, heartbeat,
    run_http, run_monitor, run_tcp, run_tls,
};
pub use runner::{DEFAULT_CONCURRENCY, Prober, TickReport};
