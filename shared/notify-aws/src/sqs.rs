//! The work queue on SQS: jobs as messages, delivered to the fan-out function with
//! partial batch responses.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use beacon_notify::queue::{Job, QueueError, WorkQueue};
use std::time::Duration;

/// SQS delays a message by at most 15 minutes; longer waits are cut to that (the
/// delivery backoff never asks for more).
pub const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

#[async_trait::async_trait]
impl WorkQueue for SqsQueue {
    async fn enqueue(&self, jobs: Vec<Job>, delay: Duration) -> Result<(), QueueError> {
        let delay = i32::try_from(delay.min(MAX_DELAY).as_secs()).unwrap_or(900);
        for chunk in jobs.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (n, job) in chunk.iter().enumerate() {
                let body = serde_json::to_string(job).map_err(|e| QueueError::Encode(e.to_string()))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(format!("j{n}"))
                    .message_body(body)
                    .delay_seconds(delay)
                    .build()
                    .map_err(|e| QueueError::Encode(e.to_string()))?;
                entries.push(entry);
            }
            let sent = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
            if let Some(failed) = sent.failed().first() {
                return Err(QueueError::Unavailable(format!(
                    "SQS refused {} of the jobs: {} {}",
                    sent.failed().len(),
                    failed.code(),
                    failed.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}
