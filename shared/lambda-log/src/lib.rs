//! How every Lambda function logs, set up once at cold start.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The filter `RUST_LOG` asks for, as targets and levels (`info`,
/// `beacon_app=debug,info`); `info` when unset or unreadable. The regex-based env filter
/// would add a megabyte to every zip for nothing a function needs.
fn filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

/// JSON lines without a timestamp (CloudWatch stamps each line itself), filtered by
/// `RUST_LOG`.
pub fn init() {
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().json().with_current_span(false).without_time())
        .with(filter(std::env::var("RUST_LOG").ok().as_deref()))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn rust_log_names_targets_and_levels_and_defaults_to_info() {
        let targets = filter(Some("beacon_app=debug,warn"));
        assert!(targets.would_enable("beacon_app::feed", &tracing::Level::DEBUG));
        assert!(!targets.would_enable("hyper", &tracing::Level::INFO));
        for unset in [None, Some(""), Some("=garbage=")] {
            assert_eq!(filter(unset).default_level(), Some(LevelFilter::INFO), "{unset:?}");
        }
    }
}
