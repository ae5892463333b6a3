//! Transports: how a rendered message leaves the system. Ports here, with the
//! adapters that need no cloud: an outbox folder of `.eml` files, and a rate bound.
//! SES lives in its own crate; the guarded HTTP client in [`crate::http`].

use crate::render::Mail;
use beacon_domain::EndpointUrl;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

/// Why a send failed, and so what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The provider asks us to slow down; not the recipient's fault.
    #[error("throttled; retry in {retry_after:?}")]
    Throttled { retry_after: Duration },
    /// The provider refused this message for good (bad address, rejected content).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Refused before any connection: the endpoint is not allowed.
    #[error("refused: {0}")]
    Refused(String),
    /// Anything that may pass on a later try (network, timeouts, 5xx).
    #[error("{0}")]
    Failed(String),
}

/// Sends mail. Implementations: the outbox folder, SMTP, SES v2.
#[async_trait::async_trait]
pub trait MailTransport: Send + Sync + std::fmt::Debug {
    async fn send(&self, mail: &Mail) -> Result<(), SendError>;
}

/// A webhook-like delivery's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub latency: Duration,
}

impl HttpAnswer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// POSTs JSON to subscriber endpoints.
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync + std::fmt::Debug {
    async fn post(&self, url: &EndpointUrl, headers: &[(&str, String)], body: Vec<u8>)
    -> Result<HttpAnswer, SendError>;
}

/// Writes each mail as `<message id>.eml` into a folder: the one-machine stand-in for a
/// mail provider, with the very bytes SES would be given. Writing is atomic (a temporary
/// file renamed into place), and a repeat of the same message overwrites itself.
#[derive(Clone, Debug)]
pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The file name of a message: its id without the brackets, made safe for any file
    /// system.
    pub fn file_name(message_id: &str) -> String {
        let stem: String = message_id
            .trim_matches(|c| c == '<' || c == '>')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') { c } else { '_' })
            .collect();
        format!("{stem}.eml")
    }
}

#[async_trait::async_trait]
impl MailTransport for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let dir = self.dir.clone();
        let name = Self::file_name(&mail.message_id);
        let bytes = mail.bytes.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let temp = dir.join(format!(".{name}.{}.tmp", ulid::Ulid::new()));
            std::fs::write(&temp, &bytes)?;
            std::fs::rename(&temp, dir.join(&name)).inspect_err(|_| {
                let _ = std::fs::remove_file(&temp);
            })
        })
        .await
        .map_err(|e| SendError::Failed(format!("outbox writer stopped: {e}")))?
        .map_err(|e| SendError::Failed(format!("writing to the outbox {}: {e}", self.dir.display())))
    }
}

/// A rate as a token bucket whose burst is a tenth of a second's worth: a full bucket
/// of a whole second would let the first second send twice the rate.
pub fn quota(per_second: f64) -> governor::Quota {
    let per_second = per_second.clamp(0.01, 1_000_000.0);
    let burst = NonZeroU32::new((per_second / 10.0).floor() as u32).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs_f64(1.0 / per_second);
    governor::Quota::with_period(period)
        .map_or_else(|| governor::Quota::per_second(NonZeroU32::MIN), |q| q.allow_burst(burst))
}

/// Bounds another transport to a rate (messages per second), as the provider's account
/// allows: senders wait for their turn instead of being throttled.
#[derive(Debug)]
pub struct RateBound<T> {
    inner: T,
    limiter: governor::DefaultDirectRateLimiter,
}

impl<T> RateBound<T> {
    /// At most `per_second` sends per second (fractions allowed).
    pub fn new(inner: T, per_second: f64) -> Self {
        Self { inner, limiter: governor::RateLimiter::direct(quota(per_second)) }
    }
}

#[async_trait::async_trait]
impl<T: MailTransport> MailTransport for RateBound<T> {
    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        self.limiter.until_ready().await;
        self.inner.send(mail).await
    }
}

/// Sends through an SMTP relay (a local Mailpit or the organisation's relay), plain or
/// STARTTLS as the relay offers; for running on one machine with real mail.
#[cfg(feature = "smtp")]
#[derive(Clone, Debug)]
pub struct SmtpMailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
}

#[cfg(feature = "smtp")]
impl SmtpMailer {
    /// A relay at `host:port`, without TLS (local relays) — credentials optional.
    pub fn plain(host: &str, port: u16, credentials: Option<(String, String)>) -> Self {
        let mut builder = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(30)));
        if let Some((user, password)) = credentials {
            builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(user, password));
        }
        Self { transport: builder.build() }
    }
}

#[cfg(feature = "smtp")]
#[async_trait::async_trait]
impl MailTransport for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        use lettre::AsyncTransport as _;
        let from = mail.from.parse().map_err(|e| SendError::Rejected(format!("sender {}: {e}", mail.from)))?;
        let to = mail.to.parse().map_err(|e| SendError::Rejected(format!("recipient {}: {e}", mail.to)))?;
        let envelope = lettre::address::Envelope::new(Some(from), vec![to])
            .map_err(|e| SendError::Rejected(format!("envelope: {e}")))?;
        match self.transport.send_raw(&envelope, &mail.bytes).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Rejected(e.to_string())),
            Err(e) => Err(SendError::Failed(e.to_string())),
        }
    }
}
