//! Notifications on AWS: SES v2 for mail, SQS for the work queue, EventBridge to carry
//! the change feed from the table's stream to the planner, and the fan-out function's
//! handling of each kind of event it is given.

pub mod lambda;
mod relay;
mod ses;
mod sqs;

pub use relay::{BusRelay, CHANGE_SOURCE, EVENT_SOURCE};
pub use ses::SesMailer;
pub use sqs::SqsQueue;
