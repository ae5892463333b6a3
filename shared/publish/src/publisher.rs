//! Publishing one snapshot: render, write what changed, delete what is gone, and never
//! let an older state win over a newer one.
//!
//! The protocol, for a publisher with state version `v`:
//! 1. Read the manifest. If it holds a version at or past `v`, stop: nothing to do.
//! 2. Claim: write the manifest with version `v`, conditioned on the entity tag read
//!    (or on absence). If that fails, someone else claimed; start again at 1.
//! 3. Write each changed object conditioned on the entity tag the manifest recorded
//!    for it. A failed condition means another publisher wrote it: if the manifest now
//!    holds a newer version, stop (the newer one wins); otherwise read the object's
//!    current tag and write again.
//! 4. Record the new tags in the manifest, conditioned on the claim.
//!
//! So for every object, the last successful write is the newest publisher's: an older
//! publisher's write either lands before the newer one's (which then overwrites it) or
//! fails its condition and gives up.

use crate::bucket::{BucketError, Precondition, SiteBucket, Upload};
use beacon_site::{RenderCache, SiteObject, Snapshot, render_cached};
use futures::stream::{self, StreamExt as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const MANIFEST: &str = "_beacon/manifest.json";
const CLAIM_ATTEMPTS: usize = 8;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub sha256: String,
    /// The entity tag the bucket gave the object; `None` while a write is pending.
    pub etag: Option<String>,
}

/// What the bucket holds, and from which state version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: i64,
    /// False from a claim until its publish finished: after a crash midway, the
    /// entries may not match the bucket, so the next publisher checks each tag.
    pub complete: bool,
    pub objects: BTreeMap<String, ManifestEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Bucket(#[from] BucketError),
    #[error("the manifest is unreadable: {0}")]
    Manifest(String),
    #[error("could not claim the manifest after {CLAIM_ATTEMPTS} attempts")]
    Contended,
}

/// What a publish did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishReport {
    pub written: Vec<String>,
    pub deleted: Vec<String>,
    /// The bucket already held this version or a newer one (or a newer publisher took
    /// over midway).
    pub superseded: bool,
}

/// Path → (bytes, SHA-256 hex) of the last publish.
type PublishedBytes = std::collections::HashMap<String, (bytes::Bytes, Arc<str>)>;

/// How many objects are written (or deleted) at once: a changed incident touches about
/// ten, so they all go out together, and a first publish of thousands stays bounded.
const WRITES_AT_ONCE: usize = 16;

enum Written {
    Tag(String),
    /// A newer publisher took over.
    Superseded,
}

enum Outcome {
    Written(String, Arc<str>, String),
    Superseded,
    Unchanged,
}

#[derive(Clone, Debug)]
pub struct Publisher {
    bucket: Arc<dyn SiteBucket>,
    /// The bytes and hash of every object this publisher last published: comparing
    /// bytes is far cheaper than hashing them again, and most objects do not change.
    last: Arc<std::sync::Mutex<PublishedBytes>>,
    renderer: Arc<std::sync::Mutex<RenderCache>>,
    /// The manifest this publisher last wrote, with its entity tag: the next claim is
    /// conditioned on that tag, so while nobody else publishes, the manifest is never
    /// read back and parsed. Any other writer changes the tag and the claim falls back
    /// to reading.
    written: Arc<std::sync::Mutex<Option<(Manifest, String)>>>,
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Publisher {
    pub fn new(bucket: Arc<dyn SiteBucket>) -> Self {
        Self { bucket, last: Arc::default(), renderer: Arc::default(), written: Arc::default() }
    }

    fn hashes(&self, objects: &[SiteObject]) -> Vec<Arc<str>> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let hashes: Vec<Arc<str>> = objects
            .iter()
            .map(|o| match last.get(&o.path) {
                // An object from the render cache is the very same buffer.
                Some((bytes, hash)) if bytes.as_ptr() == o.bytes.as_ptr() && bytes.len() == o.bytes.len() => {
                    hash.clone()
                }
                Some((bytes, hash)) if *bytes == o.bytes => hash.clone(),
                _ => Arc::from(sha(&o.bytes)),
            })
            .collect();
        if last.len() != objects.len() {
            let keep: std::collections::HashSet<&str> = objects.iter().map(|o| o.path.as_str()).collect();
            last.retain(|path, _| keep.contains(path.as_str()));
        }
        for (o, h) in objects.iter().zip(&hashes) {
            match last.get_mut(&o.path) {
                Some(entry) => *entry = (o.bytes.clone(), h.clone()),
                None => {
                    last.insert(o.path.clone(), (o.bytes.clone(), h.clone()));
                }
            }
        }
        hashes
    }

    async fn manifest(&self) -> Result<Option<(Manifest, String)>, PublishError> {
        match self.bucket.read(MANIFEST).await? {
            Some((bytes, etag)) => {
                let manifest = serde_json::from_slice(&bytes).map_err(|e| PublishError::Manifest(e.to_string()))?;
                Ok(Some((manifest, etag)))
            }
            None => Ok(None),
        }
    }

    async fn write_manifest(&self, manifest: &Manifest, precondition: Precondition) -> Result<String, BucketError> {
        let bytes = serde_json::to_vec(manifest).unwrap_or_default();
        self.bucket
            .write(
                Upload { path: MANIFEST, bytes: &bytes, content_type: "application/json", cache_control: "no-store" },
                precondition,
            )
            .await
    }

    /// Writes one object unless the bucket already holds these bytes; `None` when it did.
    async fn write_if_changed(
        &self,
        object: &SiteObject,
        hash: &str,
        previous: Option<&ManifestEntry>,
        manifest_trusted: bool,
        version: i64,
    ) -> Result<Option<Written>, PublishError> {
        if let Some(p) = previous.filter(|p| p.sha256 == hash && p.etag.is_some()) {
            // After an interrupted publish, or when verifying, the bucket may hold
            // something else than the manifest says.
            if manifest_trusted || self.bucket.etag(&object.path).await? == p.etag {
                return Ok(None);
            }
        }
        let mut precondition = match previous.and_then(|p| p.etag.clone()) {
            Some(etag) => Precondition::IfMatch(etag),
            None => Precondition::IfNoneMatch,
        };
        let upload = Upload {
            path: &object.path,
            bytes: &object.bytes,
            content_type: object.content_type,
            cache_control: object.cache_control,
        };
        loop {
            match self.bucket.write(upload.clone(), precondition.clone()).await {
                Ok(etag) => return Ok(Some(Written::Tag(etag))),
                Err(BucketError::PreconditionFailed(_)) => {
                    if self.newer_than(version).await? {
                        return Ok(Some(Written::Superseded));
                    }
                    precondition = match self.bucket.etag(&object.path).await? {
                        Some(etag) => Precondition::IfMatch(etag),
                        None => Precondition::IfNoneMatch,
                    };
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn newer_than(&self, version: i64) -> Result<bool, PublishError> {
        Ok(self.manifest().await?.is_some_and(|(m, _)| m.version > version))
    }

    /// Renders `snapshot` and publishes it as state `version`.
    pub async fn publish(&self, snapshot: &Snapshot, version: i64) -> Result<PublishReport, PublishError> {
        self.publish_objects(&self.render(snapshot), version).await
    }

    fn render(&self, snapshot: &Snapshot) -> Vec<SiteObject> {
        let mut cache = self.renderer.lock().unwrap_or_else(|p| p.into_inner());
        render_cached(snapshot, &mut cache)
    }

    pub async fn publish_objects(&self, objects: &[SiteObject], version: i64) -> Result<PublishReport, PublishError> {
        self.publish_objects_checked(objects, version, false).await
    }

    /// [`Publisher::publish`], also checking every unchanged object against the bucket
    /// instead of trusting the manifest: the periodic repair. It rewrites an object that
    /// holds other bytes than the manifest says, for instance an older publisher's write
    /// that landed after a newer one had found the object unchanged.
    pub async fn publish_verifying(&self, snapshot: &Snapshot, version: i64) -> Result<PublishReport, PublishError> {
        self.publish_objects_checked(&self.render(snapshot), version, true).await
    }

    async fn publish_objects_checked(
        &self,
        objects: &[SiteObject],
        version: i64,
        verify: bool,
    ) -> Result<PublishReport, PublishError> {
        // 1 and 2: read and claim; the first attempt trusts the manifest this publisher
        // wrote last, and its conditional write proves it is still the bucket's.
        let mut claimed = None;
        let mut remembered = self.written.lock().unwrap_or_else(|p| p.into_inner()).take();
        for _ in 0..CLAIM_ATTEMPTS {
            let current = match remembered.take() {
                Some(known) => Some(known),
                None => self.manifest().await?,
            };
            let (old, precondition) = match current {
                Some((m, _)) if m.version >= version => {
                    return Ok(PublishReport { superseded: true, ..Default::default() });
                }
                Some((m, etag)) => (m, Precondition::IfMatch(etag)),
                None => (Manifest::default(), Precondition::IfNoneMatch),
            };
            let claim = Manifest { version, complete: false, objects: old.objects.clone() };
            match self.write_manifest(&claim, precondition).await {
                Ok(etag) => {
                    claimed = Some((old, claim, etag));
                    break;
                }
                Err(BucketError::PreconditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let Some((old, mut manifest, manifest_etag)) = claimed else { return Err(PublishError::Contended) };

        // 3: write what changed and delete what is gone, several objects at a time (each
        // object's writes stay in order; different objects do not depend on each other).
        let mut report = PublishReport::default();
        let hashes = self.hashes(objects);
        let old = &old;
        // The futures are made first and then streamed: mapping inside the stream makes
        // closures over borrowed data that the compiler cannot prove `Send` for.
        let writes: Vec<_> = objects
            .iter()
            .zip(hashes)
            .map(|(object, hash)| async move {
                let previous = old.objects.get(&object.path);
                let trusted = old.complete && !verify;
                Ok(match self.write_if_changed(object, &hash, previous, trusted, version).await? {
                    Some(Written::Tag(etag)) => Outcome::Written(object.path.clone(), hash, etag),
                    Some(Written::Superseded) => Outcome::Superseded,
                    None => Outcome::Unchanged,
                })
            })
            .collect();
        let outcomes: Vec<Result<Outcome, PublishError>> =
            stream::iter(writes).buffer_unordered(WRITES_AT_ONCE).collect().await;
        let mut superseded = false;
        for outcome in outcomes {
            match outcome? {
                Outcome::Written(path, sha256, etag) => {
                    manifest
                        .objects
                        .insert(path.clone(), ManifestEntry { sha256: sha256.to_string(), etag: Some(etag) });
                    report.written.push(path);
                }
                Outcome::Superseded => superseded = true,
                Outcome::Unchanged => {}
            }
        }
        if superseded {
            return Ok(PublishReport { superseded: true, ..report });
        }
        let keep: std::collections::HashSet<&str> = objects.iter().map(|o| o.path.as_str()).collect();
        let gone: Vec<&String> = old.objects.keys().filter(|p| !keep.contains(p.as_str())).collect();
        // One at a time, each after checking no newer publisher has claimed: a delete is
        // unconditional, and a newer state may keep the object. Deletes are rare (an
        // incident removed), so this costs nothing in the common publish.
        for path in gone {
            if self.newer_than(version).await? {
                return Ok(PublishReport { superseded: true, ..report });
            }
            self.bucket.delete(path).await?;
            manifest.objects.remove(path);
            report.deleted.push(path.clone());
        }

        // 4: record the tags, unless a newer publisher claimed meanwhile.
        manifest.complete = true;
        match self.write_manifest(&manifest, Precondition::IfMatch(manifest_etag)).await {
            Ok(etag) => *self.written.lock().unwrap_or_else(|p| p.into_inner()) = Some((manifest, etag)),
            Err(BucketError::PreconditionFailed(_)) => report.superseded = true,
            Err(e) => return Err(e.into()),
        }
        Ok(report)
    }
}
