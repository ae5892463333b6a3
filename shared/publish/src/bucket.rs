//! The site bucket port.

/// Why a bucket call failed.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The object changed since the entity tag the write was conditioned on.
    #[error("precondition failed on {0}")]
    PreconditionFailed(String),
    #[error("site bucket unavailable: {0}")]
    Unavailable(String),
}

/// What must hold for a write to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    None,
    /// The object exists with this entity tag.
    IfMatch(String),
    /// The object does not exist.
    IfNoneMatch,
}

/// An object to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload<'a> {
    pub path: &'a str,
    pub bytes: &'a [u8],
    pub content_type: &'a str,
    pub cache_control: &'a str,
}

/// Where the page lives: keys are relative paths like `incidents/01J….html`.
#[async_trait::async_trait]
pub trait SiteBucket: Send + Sync + std::fmt::Debug {
    /// The object and its entity tag.
    async fn read(&self, path: &str) -> Result<Option<(Vec<u8>, String)>, BucketError>;
    /// The object's entity tag, if it exists.
    async fn etag(&self, path: &str) -> Result<Option<String>, BucketError>;
    /// Writes the object if the precondition holds; returns its new entity tag.
    async fn write(&self, upload: Upload<'_>, precondition: Precondition) -> Result<String, BucketError>;
    /// Deletes the object (absent is fine).
    async fn delete(&self, path: &str) -> Result<(), BucketError>;
}
