//! The site bucket as a local folder. Writes go to a temporary file that is renamed over
//! the target, so a reader (the local web server) never sees half a file. Entity tags are
//! the SHA-256 of the bytes; a lock makes check-and-write atomic within the process.

use crate::bucket::{BucketError, Precondition, SiteBucket, Upload};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};
use tokio::sync::Mutex;

#[derive(Debug)]
pub struct DirBucket {
    root: PathBuf,
    lock: Mutex<()>,
}

fn io(e: std::io::Error) -> BucketError {
    BucketError::Unavailable(e.to_string())
}

pub fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(bytes)))
}

impl DirBucket {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), lock: Mutex::new(()) }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Keys are relative paths of normal components only: nothing can escape the root.
    fn resolve(&self, key: &str) -> Result<PathBuf, BucketError> {
        let relative = Path::new(key);
        if key.is_empty() || !relative.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(BucketError::Unavailable(format!("refusing key {key:?}")));
        }
        Ok(self.root.join(relative))
    }

    async fn current(&self, path: &Path) -> Result<Option<Vec<u8>>, BucketError> {
        match tokio::fs::read(path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }
}

#[async_trait::async_trait]
impl SiteBucket for DirBucket {
    async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, BucketError> {
        let path = self.resolve(key)?;
        Ok(self.current(&path).await?.map(|b| {
            let tag = etag_of(&b);
            (b, tag)
        }))
    }

    async fn etag(&self, key: &str) -> Result<Option<String>, BucketError> {
        Ok(self.read(key).await?.map(|(_, tag)| tag))
    }

    async fn write(&self, upload: Upload<'_>, precondition: Precondition) -> Result<String, BucketError> {
        let path = self.resolve(upload.path)?;
        let _guard = self.lock.lock().await;
        let current = self.current(&path).await?.map(|b| etag_of(&b));
        let holds = match (&precondition, &current) {
            (Precondition::None, _) => true,
            (Precondition::IfNoneMatch, None) => true,
            (Precondition::IfMatch(want), Some(have)) => want == have,
            _ => false,
        };
        if !holds {
            return Err(BucketError::PreconditionFailed(upload.path.to_owned()));
        }
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
        tokio::fs::write(&temporary, upload.bytes).await.map_err(io)?;
        tokio::fs::rename(&temporary, &path).await.map_err(io)?;
        Ok(etag_of(upload.bytes))
    }

    async fn delete(&self, key: &str) -> Result<(), BucketError> {
        let path = self.resolve(key)?;
        let _guard = self.lock.lock().await;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}
