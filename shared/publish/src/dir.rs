//! The site bucket as a local folder. Writes go to a temporary file that is renamed over
//! the target, so a reader (the local web server) never sees half a file. Entity tags are
//! the SHA-256 of the bytes; a lock per key (striped) makes check-and-write atomic
//! within the process while different objects are written at the same time.
//!
//! Computing a tag means reading and hashing the file, so tags are remembered with the
//! file's identity (inode, length, modification time): every write makes a
//! new file (the renamed temporary), so a file replaced by anyone else, even another
//! process, no longer matches and is hashed again.

use crate::bucket::{BucketError, Precondition, SiteBucket, Upload};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

#[derive(Debug)]
pub struct DirBucket {
    root: PathBuf,
    locks: Vec<Mutex<()>>,
    tags: std::sync::Mutex<HashMap<PathBuf, (FileIdentity, String)>>,
}

/// What changes whenever a file is replaced or rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileIdentity {
    inode: u64,
    len: u64,
    modified: (i64, i64),
}

impl FileIdentity {
    fn of(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Self { inode: metadata.ino(), len: metadata.len(), modified: (metadata.mtime(), metadata.mtime_nsec()) }
    }
}

fn io(e: std::io::Error) -> BucketError {
    BucketError::Unavailable(e.to_string())
}

pub fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(bytes)))
}

const LOCK_STRIPES: usize = 64;

impl DirBucket {
    fn lock_for(&self, path: &Path) -> &Mutex<()> {
        use std::hash::Hasher as _;
        let mut h = std::hash::DefaultHasher::new();
        h.write(path.as_os_str().as_encoded_bytes());
        &self.locks[(h.finish() as usize) % LOCK_STRIPES]
    }

    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(), tags: Default::default() }
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

    async fn identity(path: &Path) -> Result<Option<FileIdentity>, BucketError> {
        match tokio::fs::metadata(path).await {
            Ok(metadata) => Ok(Some(FileIdentity::of(&metadata))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    fn remembered(&self, path: &Path, identity: FileIdentity) -> Option<String> {
        let tags = self.tags.lock().unwrap_or_else(|p| p.into_inner());
        tags.get(path).filter(|(known, _)| *known == identity).map(|(_, tag)| tag.clone())
    }

    fn remember(&self, path: &Path, identity: FileIdentity, tag: &str) {
        let mut tags = self.tags.lock().unwrap_or_else(|p| p.into_inner());
        tags.insert(path.to_owned(), (identity, tag.to_owned()));
    }

    async fn current_tag(&self, path: &Path) -> Result<Option<String>, BucketError> {
        let Some(identity) = Self::identity(path).await? else { return Ok(None) };
        if let Some(tag) = self.remembered(path, identity) {
            return Ok(Some(tag));
        }
        let Some(bytes) = self.current(path).await? else { return Ok(None) };
        let tag = etag_of(&bytes);
        // Only remember the tag if the file did not change while it was read.
        if Self::identity(path).await? == Some(identity) {
            self.remember(path, identity, &tag);
        }
        Ok(Some(tag))
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
        self.current_tag(&self.resolve(key)?).await
    }

    async fn write(&self, upload: Upload<'_>, precondition: Precondition) -> Result<String, BucketError> {
        let path = self.resolve(upload.path)?;
        let _guard = self.lock_for(&path).lock().await;
        let current = self.current_tag(&path).await?;
        let holds = match (&precondition, &current) {
            (Precondition::None, _) => true,
            (Precondition::IfNoneMatch, None) => true,
            (Precondition::IfMatch(want), Some(have)) => want == have,
            _ => false,
        };
        if !holds {
            return Err(BucketError::PreconditionFailed(upload.path.to_owned()));
        }
        // Unique per write in the process (two objects may share a stem, `history.atom`
        // and `history.rss`, and two buckets may share a folder) and across processes.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let mut temporary = path.clone().into_os_string();
        temporary.push(format!(".tmp-{}-{}", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed)));
        let temporary = PathBuf::from(temporary);
        let result = self.replace(&path, &temporary, upload.bytes).await;
        if result.is_err() {
            // Never leave a half-written temporary for the web server to serve.
            let _ = tokio::fs::remove_file(&temporary).await;
        }
        result
    }

    async fn delete(&self, key: &str) -> Result<(), BucketError> {
        let path = self.resolve(key)?;
        let _guard = self.lock_for(&path).lock().await;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

impl DirBucket {
    /// Writes `bytes` to `temporary`, then renames it over `path`; returns the new tag.
    async fn replace(&self, path: &Path, temporary: &Path, bytes: &[u8]) -> Result<String, BucketError> {
        if let Err(e) = tokio::fs::write(temporary, bytes).await {
            // The first object of a folder creates it.
            let Some(parent) = path.parent().filter(|_| e.kind() == std::io::ErrorKind::NotFound) else {
                return Err(io(e));
            };
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
            tokio::fs::write(temporary, bytes).await.map_err(io)?;
        }
        let tag = etag_of(bytes);
        // Renaming keeps the inode and modification time the temporary has now.
        if let Some(identity) = Self::identity(temporary).await? {
            self.remember(path, identity, &tag);
        }
        tokio::fs::rename(temporary, path).await.map_err(io)?;
        Ok(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload<'a>(bytes: &'a [u8]) -> Upload<'a> {
        Upload { path: "incidents/a.html", bytes, content_type: "text/html", cache_control: "no-store" }
    }

    #[tokio::test]
    async fn a_tag_remembered_by_one_bucket_is_not_trusted_after_another_replaced_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mine = DirBucket::new(dir.path());
        let theirs = DirBucket::new(dir.path());
        let first = mine.write(upload(b"first"), Precondition::IfNoneMatch).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mine.etag("incidents/a.html").await.ok().flatten(), Some(first.clone()));

        // The other writer replaces it with bytes of the same length.
        let second = theirs.write(upload(b"secnd"), Precondition::IfMatch(first.clone())).await;
        let second = second.unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(first, second);

        assert_eq!(mine.etag("incidents/a.html").await.ok().flatten(), Some(second.clone()));
        let stale = mine.write(upload(b"third"), Precondition::IfMatch(first)).await;
        assert!(matches!(stale, Err(BucketError::PreconditionFailed(_))), "{stale:?}");
        assert_eq!(
            std::fs::read(dir.path().join("incidents/a.html")).unwrap_or_default(),
            b"secnd",
            "the stale write changed nothing"
        );
    }

    #[tokio::test]
    async fn two_objects_sharing_a_stem_are_written_at_the_same_time() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bucket = DirBucket::new(dir.path());
        for round in 0..20u8 {
            let atom = [b'a', round];
            let rss = [b'r', round];
            let (a, r) = tokio::join!(
                bucket.write(
                    Upload { path: "history.atom", bytes: &atom, content_type: "a", cache_control: "c" },
                    Precondition::None
                ),
                bucket.write(
                    Upload { path: "history.rss", bytes: &rss, content_type: "r", cache_control: "c" },
                    Precondition::None
                ),
            );
            assert!(a.is_ok() && r.is_ok(), "{a:?} {r:?}");
            assert_eq!(std::fs::read(dir.path().join("history.atom")).unwrap_or_default(), atom);
            assert_eq!(std::fs::read(dir.path().join("history.rss")).unwrap_or_default(), rss);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
    }
}
