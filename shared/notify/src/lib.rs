//! Notifications: subscribers hear about incidents through the channel they chose, about
//! the components they follow, once.
//!
//! The flow: a change record (from the change feed, or the event bus on AWS) becomes a
//! [`Notice`] (frozen news of one public update); the [`Planner`] streams the follow
//! index and puts [`Job`]s on a durable [`WorkQueue`]; the [`Deliverer`] claims each
//! (notice, subscriber) pair, renders the channel's message, sends it through a
//! transport, and marks it sent.

pub mod alert;
pub mod bounces;
pub mod deliver;
#[cfg(feature = "http")]
pub mod http;
pub mod notice;
pub mod plan;
pub mod queue;
pub mod render;
pub mod transport;

pub use deliver::{Deliverer, JobReport};
#[cfg(feature = "http")]
pub use http::{GuardedHttp, OutboundPolicy};
pub use notice::Notice;
pub use plan::{Planned, Planner};
pub use queue::{Job, Leased, QueueError, StoreQueue, WorkQueue};
pub use render::{Mail, MessageConfig};
#[cfg(feature = "smtp")]
pub use transport::SmtpMailer;
pub use transport::{HttpAnswer, HttpTransport, MailTransport, OutboxMailer, RateBound, SendError};

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a job taken from the store queue stays invisible: enough for a job of slow
/// endpoints (100 subscribers, 16 at a time, 10 s each at worst).
pub const JOB_LEASE: Duration = Duration::from_secs(300);

/// Delivers jobs from the store queue until `shutdown` turns true: the one-machine
/// stand-in for SQS triggering the delivery function. A job that fails is left to
/// reappear when its lease ends.
pub async fn run_store_queue(
    queue: StoreQueue,
    deliverer: Arc<Deliverer>,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let wake = queue.wakeup();
    loop {
        let taken = match queue.receive(10, JOB_LEASE).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(error = %e, "reading the work queue failed; will retry");
                Vec::new()
            }
        };
        let idle = taken.is_empty();
        for leased in taken {
            match deliverer.process(&leased.job).await {
                Ok(report) => {
                    tracing::debug!(job = %leased.job.id, ?report, "job delivered");
                    if let Err(e) = queue.ack(&leased).await {
                        tracing::warn!(job = %leased.job.id, error = %e, "could not remove a finished job; it will repeat harmlessly");
                    }
                }
                Err(e) => tracing::warn!(job = %leased.job.id, error = %e, "job failed; it will be retried"),
            }
        }
        if *shutdown.borrow() {
            return;
        }
        if idle {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
