//! Mail through SES v2 as raw MIME: exactly the bytes the outbox would hold.

use aws_sdk_sesv2::error::ProvideErrorMetadata as _;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{EmailContent, RawMessage};
use beacon_notify::render::Mail;
use beacon_notify::transport::{MailTransport, SendError};
use std::time::Duration;

/// SES v2, at most at the account's sending rate (this instance's share of it), in
/// the configuration set whose events report bounces and complaints.
#[derive(Debug)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    configuration_set: Option<String>,
    limiter: governor::DefaultDirectRateLimiter,
    rate: f64,
}

impl SesMailer {
    /// Reads the account's `MaxSendRate` and keeps `share` of it (the fan-out function
    /// runs at most `1 / share` instances at once); `fallback` messages per second when
    /// the account cannot be read.
    pub async fn new(
        client: aws_sdk_sesv2::Client,
        configuration_set: Option<String>,
        share: f64,
        fallback: f64,
    ) -> Self {
        let account_rate = match client.get_account().send().await {
            Ok(account) => account.send_quota().map(|q| q.max_send_rate()),
            Err(e) => {
                tracing::warn!(error = %e.message().unwrap_or("unknown"), code = e.code().unwrap_or_default(), "cannot read the SES account's sending rate; using the fallback");
                None
            }
        };
        // A share may be below one a second (a sandbox account's rate split between
        // deliverers): the bucket then refills more slowly than once a second.
        let rate = (account_rate.unwrap_or(fallback) * share).max(0.01);
        tracing::info!(rate, "sending mail at most this many per second");
        Self {
            client,
            configuration_set,
            limiter: governor::RateLimiter::direct(beacon_notify::transport::quota(rate)),
            rate,
        }
    }

    /// Messages per second this sender keeps to.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

/// How an SES error code is handled: slow down, give up on this message, or retry.
pub fn classify(code: Option<&str>, message: String) -> SendError {
    match code {
        Some("TooManyRequestsException" | "Throttling" | "ThrottlingException" | "LimitExceededException") => {
            SendError::Throttled { retry_after: Duration::from_secs(2) }
        }
        Some(
            "MessageRejected" | "MailFromDomainNotVerifiedException" | "BadRequestException" | "NotFoundException",
        ) => SendError::Rejected(message),
        // Paused or suspended sending is the account's state, not the message's: it is
        // kept and retried (never dropped) until sending resumes.
        _ => SendError::Failed(message),
    }
}

#[async_trait::async_trait]
impl MailTransport for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        self.limiter.until_ready().await;
        let raw = RawMessage::builder()
            .data(Blob::new(mail.bytes.clone()))
            .build()
            .map_err(|e| SendError::Rejected(format!("building the raw message: {e}")))?;
        // Recipients come from the message's own To header.
        let result = self
            .client
            .send_email()
            .from_email_address(&mail.from)
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let message = format!(
                    "SES: {}",
                    e.message()
                        .map(str::to_owned)
                        .unwrap_or_else(|| aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string())
                );
                Err(classify(e.code(), message))
            }
        }
    }
}
