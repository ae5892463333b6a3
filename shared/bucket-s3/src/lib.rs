//! The S3 adapter of the site bucket port.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use beacon_publish::{BucketError, Precondition, SiteBucket, Upload};

/// The site bucket on S3; keys may carry a prefix.
#[derive(Clone, Debug)]
pub struct S3Bucket {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Bucket {
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), prefix: prefix.into() }
    }

    fn key(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn classify<E>(path: &str, err: SdkError<E, HttpResponse>) -> BucketError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match (err.code(), status(&err)) {
        (Some("PreconditionFailed" | "ConditionalRequestConflict"), _) | (_, Some(412 | 409)) => {
            BucketError::PreconditionFailed(path.to_owned())
        }
        (Some(code), _) => BucketError::Unavailable(format!("{code}: {}", err.message().unwrap_or_default())),
        (None, _) => BucketError::Unavailable(aws_sdk_s3::error::DisplayErrorContext(&err).to_string()),
    }
}

fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err.code(), Some("NoSuchKey" | "NotFound" | "404"))
}

#[async_trait::async_trait]
impl SiteBucket for S3Bucket {
    async fn read(&self, path: &str) -> Result<Option<(Vec<u8>, String)>, BucketError> {
        match self.client.get_object().bucket(&self.bucket).key(self.key(path)).send().await {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_owned();
                let bytes = out.body.collect().await.map_err(|e| BucketError::Unavailable(e.to_string()))?.into_bytes();
                Ok(Some((bytes.to_vec(), etag)))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(classify(path, e)),
        }
    }

    async fn etag(&self, path: &str) -> Result<Option<String>, BucketError> {
        match self.client.head_object().bucket(&self.bucket).key(self.key(path)).send().await {
            Ok(out) => Ok(out.e_tag().map(str::to_owned)),
            Err(e) if is_not_found(&e) || status(&e) == Some(404) => Ok(None),
            Err(e) => Err(classify(path, e)),
        }
    }

    async fn write(&self, upload: Upload<'_>, precondition: Precondition) -> Result<String, BucketError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(upload.path))
            .body(ByteStream::from(upload.bytes.to_vec()))
            .content_type(upload.content_type)
            .cache_control(upload.cache_control);
        request = match precondition {
            Precondition::None => request,
            Precondition::IfMatch(etag) => request.if_match(etag),
            Precondition::IfNoneMatch => request.if_none_match("*"),
        };
        let out = request.send().await.map_err(|e| classify(upload.path, e))?;
        Ok(out.e_tag().unwrap_or_default().to_owned())
    }

    async fn delete(&self, path: &str) -> Result<(), BucketError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .send()
            .await
            .map_err(|e| classify(path, e))?;
        Ok(())
    }
}
