//! `S3Store`: packs, ledger segments and dictionaries in an S3-compatible bucket (AWS, Ceph,
//! MinIO, Garage, …), behind the same [`ObjectStore`] trait as the local directory.
//!
//! - Writes are put-if-absent: a HEAD first (Garage 2.5 silently ignores `If-None-Match`),
//!   and `If-None-Match: *` for servers that honour it, carry `x-amz-checksum-sha256` when the server accepts it, and stream from
//!   the pack's temp file: large objects as multipart uploads, a few parts in flight.
//! - Every request runs under a semaphore (bounded concurrency) and is retried with
//!   exponential backoff on 5xx, 429, timeouts and connection failures; each retry is reported
//!   on stderr and counted.
//! - Object Lock: packs are written with the configured mode and their retain-until date;
//!   legal holds and renewals are separate calls. Whether the bucket *enforces* any of it is
//!   not assumed: `arkisto store check` (see [`super::probe`]) finds out.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime, Length};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetention, ObjectLockRetentionMode,
};
use base64::Engine;
use chrono::NaiveDate;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::Semaphore;

use super::{LockState, ObjectInfo, ObjectKey, ObjectStore, PutOptions, StoreError};
use crate::config::StoreConfig;

const MIB: u64 = 1024 * 1024;

/// A store in an S3 bucket.
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
    multipart_threshold: u64,
    part_size: u64,
    permits: Semaphore,
    max_concurrency: usize,
    max_attempts: u32,
    checksum: ChecksumUse,
    /// Cleared once the server has refused the checksum header (`checksum = auto`).
    send_checksum: AtomicBool,
    /// Cleared once the server has answered `If-None-Match` with 501.
    conditional_put: AtomicBool,
    lock_mode: Option<ObjectLockMode>,
    lock_default_days: u32,
    retries: AtomicU64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ChecksumUse {
    Auto,
    Always,
    Never,
}

/// Where the bytes of a single-request write come from.
#[derive(Clone, Copy)]
enum Src<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// What one failed S3 attempt tells: whether to try again, and the error to report.
struct Failure {
    retry: bool,
    err: StoreError,
}

impl S3Store {
    /// Build a client from the store configuration. Credentials: the configured pair, else
    /// the usual AWS chain (environment, profile files, web identity, container, IMDS).
    pub async fn open(cfg: &StoreConfig) -> Result<Self, StoreError> {
        let region = Region::new(cfg.region.clone());
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .operation_attempt_timeout(Duration::from_secs(cfg.timeout_secs))
            .build();
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .force_path_style(cfg.path_style)
            // Servers that reject the SDK's default CRC headers still work; SHA-256 is sent
            // explicitly where wanted.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            // Retries are ours (reported and counted), not the SDK's silent ones.
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if !cfg.endpoint.is_empty() {
            b = b.endpoint_url(cfg.endpoint.clone());
        }
        if cfg.access_key_id.is_empty() {
            let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder().region(region).build().await;
            b = b.credentials_provider(chain);
        } else {
            b = b.credentials_provider(Credentials::new(
                cfg.access_key_id.clone(),
                cfg.secret_access_key.expose().to_string(),
                None,
                None,
                "arkisto-config",
            ));
        }
        let checksum = match cfg.checksum.as_str() {
            "sha256" => ChecksumUse::Always,
            "none" => ChecksumUse::Never,
            _ => ChecksumUse::Auto,
        };
        let lock_mode = match cfg.lock_mode.as_str() {
            "compliance" => Some(ObjectLockMode::Compliance),
            "governance" => Some(ObjectLockMode::Governance),
            _ => None,
        };
        let endpoint = if cfg.endpoint.is_empty() { format!("AWS S3 ({})", cfg.region) } else { cfg.endpoint.clone() };
        Ok(Self {
            inner: Arc::new(Inner {
                client: Client::from_conf(b.build()),
                bucket: cfg.bucket.clone(),
                prefix: cfg.prefix.clone(),
                endpoint,
                multipart_threshold: cfg.multipart_threshold_mib.max(5) * MIB,
                part_size: cfg.part_size_mib.max(5) * MIB,
                permits: Semaphore::new(cfg.max_concurrency),
                max_concurrency: cfg.max_concurrency,
                max_attempts: cfg.max_attempts.max(1),
                send_checksum: AtomicBool::new(checksum != ChecksumUse::Never),
                checksum,
                conditional_put: AtomicBool::new(true),
                lock_mode,
                lock_default_days: cfg.lock_default_days,
                retries: AtomicU64::new(0),
            }),
        })
    }

    /// The SDK client (for the capability probe).
    pub(crate) fn client(&self) -> &Client {
        &self.inner.client
    }
    /// The bucket.
    pub(crate) fn bucket(&self) -> &str {
        &self.inner.bucket
    }
    /// The full key of an object (prefix included).
    pub(crate) fn full_key(&self, key: &ObjectKey) -> String {
        format!("{}{}", self.inner.prefix, key.as_str())
    }
    /// HEAD an object; `None` when it is absent.
    async fn head_object(&self, key: &ObjectKey) -> Result<Option<aws_sdk_s3::operation::head_object::HeadObjectOutput>, StoreError> {
        let full = self.full_key(key);
        let r = self
            .call("head", &full, || async {
                self.inner.client.head_object().bucket(&self.inner.bucket).key(&full).send().await.map_err(|e| failure("head", &full, e))
            })
            .await;
        match r {
            Ok(out) => Ok(Some(out)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Run one request with the semaphore, retrying what may succeed later.
    async fn call<T, F, Fut>(&self, op: &str, key: &str, mut f: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut attempt = 1;
        loop {
            let r = {
                let _permit =
                    self.inner.permits.acquire().await.map_err(|e| StoreError::Io { key: key.into(), source: std::io::Error::other(e) })?;
                f().await
            };
            match r {
                Ok(v) => return Ok(v),
                Err(Failure { retry: true, err }) if attempt < self.inner.max_attempts => {
                    let wait = backoff(attempt);
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "arkisto: {op} {key} on {} failed ({err}); retry {attempt}/{} in {} ms",
                        self.inner.endpoint,
                        self.inner.max_attempts - 1,
                        wait.as_millis()
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(f) => return Err(f.err),
            }
        }
    }

    fn checksum_on(&self) -> bool {
        self.inner.send_checksum.load(Ordering::Relaxed)
    }

    /// The server refused our checksum header: under `auto`, stop sending it (once, loudly).
    fn refused_checksum(&self, e: &StoreError) -> bool {
        if self.inner.checksum == ChecksumUse::Auto && is_checksum_refusal(e) && self.inner.send_checksum.swap(false, Ordering::Relaxed) {
            eprintln!(
                "arkisto: {} refuses x-amz-checksum-sha256 ({e}); writing without it (fixity rests on arkisto's own digests and read-back)",
                self.inner.endpoint
            );
            return true;
        }
        false
    }

    fn lock_until(&self, opts: &PutOptions) -> Option<DateTime> {
        self.inner.lock_mode.as_ref()?;
        if opts.no_lock {
            return None;
        }
        let date = chrono::Utc::now().date_naive() + chrono::Days::new(self.inner.lock_default_days.into());
        Some(date_time(date))
    }

    async fn put_single(&self, key: &ObjectKey, src: Src<'_>, size: u64, opts: &PutOptions) -> Result<(), StoreError> {
        // Some servers (Garage 2.5) ignore If-None-Match on PUT without saying so: look first.
        // Keys are random, so the window between look and write matters only for a bug.
        if self.head(key).await?.is_some() {
            return Err(StoreError::Exists(key.clone()));
        }
        self.put_single_unguarded(key, src, size, opts).await
    }

    async fn put_single_unguarded(&self, key: &ObjectKey, src: Src<'_>, size: u64, opts: &PutOptions) -> Result<(), StoreError> {
        let full = self.full_key(key);
        let sha = match (&opts.sha256, self.checksum_on()) {
            (Some(d), true) => Some(b64(&d.0)),
            (None, true) => Some(b64(&match src {
                Src::File(path) => sha256_file(path, 0, size).await?,
                Src::Bytes(b) => crate::digest::Sha256::of(b).0,
            })),
            _ => None,
        };
        let attempts = AtomicU64::new(0);
        let r = self
            .call("put", &full, || {
                let (full, sha) = (full.clone(), sha.clone());
                attempts.fetch_add(1, Ordering::Relaxed);
                async move {
                    let body = match src {
                        Src::File(path) => ByteStream::read_from().path(path).length(Length::Exact(size)).build().await.map_err(|e| {
                            Failure { retry: false, err: StoreError::Io { key: full.clone(), source: std::io::Error::other(e) } }
                        })?,
                        // In memory: never through a temp file (dictionaries hold fragments of records).
                        Src::Bytes(b) => ByteStream::from(b.to_vec()),
                    };
                    let mut req =
                        self.inner.client.put_object().bucket(&self.inner.bucket).key(&full).body(body).content_length(size as i64);
                    if self.inner.conditional_put.load(Ordering::Relaxed) {
                        req = req.if_none_match("*");
                    }
                    if let Some(s) = sha {
                        // The algorithm header too: Object Lock buckets demand it (or Content-MD5).
                        req = req.checksum_algorithm(ChecksumAlgorithm::Sha256).checksum_sha256(s);
                    }
                    if let (Some(mode), Some(until)) = (&self.inner.lock_mode, self.lock_until(opts)) {
                        req = req.object_lock_mode(mode.clone()).object_lock_retain_until_date(until);
                    }
                    req.send().await.map(|_| ()).map_err(|e| failure("put", &full, e))
                }
            })
            .await;
        match r {
            Err(e) if self.refused_checksum(&e) => Box::pin(self.put_single_unguarded(key, src, size, opts)).await,
            Err(e) if is_not_implemented(&e) && self.inner.conditional_put.swap(false, Ordering::Relaxed) => {
                Box::pin(self.put_single_unguarded(key, src, size, opts)).await
            }
            Err(e) if is_precondition_failed(&e) => {
                // A retried write finding the key taken: our earlier attempt may have landed
                // before its answer was lost. Same size: accept it (callers read back).
                if attempts.load(Ordering::Relaxed) > 1 && self.head(key).await?.is_some_and(|i| i.size == size) {
                    return Ok(());
                }
                Err(StoreError::Exists(key.clone()))
            }
            other => other,
        }
    }

    async fn put_multipart(&self, key: &ObjectKey, path: &Path, size: u64, opts: &PutOptions) -> Result<(), StoreError> {
        if self.head(key).await?.is_some() {
            return Err(StoreError::Exists(key.clone()));
        }
        let full = self.full_key(key);
        let with_sha = self.checksum_on();
        let upload_id = self
            .call("create-multipart", &full, || async {
                let mut req = self.inner.client.create_multipart_upload().bucket(&self.inner.bucket).key(&full);
                if with_sha {
                    req = req.checksum_algorithm(ChecksumAlgorithm::Sha256);
                }
                if let (Some(mode), Some(until)) = (&self.inner.lock_mode, self.lock_until(opts)) {
                    req = req.object_lock_mode(mode.clone()).object_lock_retain_until_date(until);
                }
                let out = req.send().await.map_err(|e| failure("create-multipart", &full, e))?;
                out.upload_id
                    .ok_or_else(|| Failure { retry: false, err: remote("create-multipart", &full, None, None, "no upload id in answer") })
            })
            .await;
        let upload_id = match upload_id {
            Err(e) if self.refused_checksum(&e) => return Box::pin(self.put_multipart(key, path, size, opts)).await,
            other => other?,
        };
        let r = self.upload_parts(&full, &upload_id, path, size, with_sha).await;
        let r = match r {
            Ok(parts) => match self.complete(&full, &upload_id, parts).await {
                // An answer we could not read (moto 5.2 names its XML root differently): the
                // object tells whether the upload completed.
                Err(StoreError::Remote { status: Some(200), .. }) if self.head(key).await?.is_some_and(|i| i.size == size) => Ok(()),
                other => other,
            },
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            // Leave nothing half-written behind; the caller decides whether to try again.
            let _ = self.inner.client.abort_multipart_upload().bucket(&self.inner.bucket).key(&full).upload_id(&upload_id).send().await;
            return Err(if is_precondition_failed(&e) { StoreError::Exists(key.clone()) } else { e });
        }
        Ok(())
    }

    async fn upload_parts(
        &self,
        full: &str,
        upload_id: &str,
        path: &Path,
        size: u64,
        with_sha: bool,
    ) -> Result<Vec<CompletedPart>, StoreError> {
        let n = size.div_ceil(self.inner.part_size);
        let in_flight = self.inner.max_concurrency.clamp(1, 4);
        let mut parts = Vec::with_capacity(n as usize);
        let mut next = 0u64;
        let mut running = FuturesOrdered::new();
        while next < n || !running.is_empty() {
            while next < n && running.len() < in_flight {
                let (number, offset) = ((next + 1) as i32, next * self.inner.part_size);
                let len = self.inner.part_size.min(size - offset);
                running.push_back(self.upload_part(full, upload_id, path, number, offset, len, with_sha));
                next += 1;
            }
            if let Some(r) = running.next().await {
                parts.push(r?);
            }
        }
        Ok(parts)
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_part(
        &self,
        full: &str,
        upload_id: &str,
        path: &Path,
        number: i32,
        offset: u64,
        len: u64,
        with_sha: bool,
    ) -> Result<CompletedPart, StoreError> {
        let sha = if with_sha { Some(b64(&sha256_file(path, offset, len).await?)) } else { None };
        self.call("upload-part", full, || {
            let sha = sha.clone();
            async move {
                let body =
                    ByteStream::read_from().path(path).offset(offset).length(Length::Exact(len)).build().await.map_err(|e| Failure {
                        retry: false,
                        err: StoreError::Io { key: full.into(), source: std::io::Error::other(e) },
                    })?;
                let mut req = self
                    .inner
                    .client
                    .upload_part()
                    .bucket(&self.inner.bucket)
                    .key(full)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_length(len as i64)
                    .body(body);
                if let Some(s) = &sha {
                    req = req.checksum_algorithm(ChecksumAlgorithm::Sha256).checksum_sha256(s);
                }
                let out = req.send().await.map_err(|e| failure("upload-part", full, e))?;
                let mut part = CompletedPart::builder().part_number(number).set_e_tag(out.e_tag);
                if let Some(s) = sha {
                    part = part.checksum_sha256(s);
                }
                Ok(part.build())
            }
        })
        .await
    }

    async fn complete(&self, full: &str, upload_id: &str, parts: Vec<CompletedPart>) -> Result<(), StoreError> {
        let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        self.call("complete-multipart", full, || async {
            // No If-None-Match here: absence was checked before the upload began, and some
            // servers (moto) answer a conditional completion with an unreadable error.
            let req = self
                .inner
                .client
                .complete_multipart_upload()
                .bucket(&self.inner.bucket)
                .key(full)
                .upload_id(upload_id)
                .multipart_upload(done.clone());
            req.send().await.map(|_| ()).map_err(|e| failure("complete-multipart", full, e))
        })
        .await
    }

    /// Delete every version of a key (and its delete markers): on a versioned bucket a plain
    /// DELETE only hides the object, and disposal must destroy it.
    async fn delete_versions(&self, full: &str) -> Result<(), StoreError> {
        let listed = self
            .call("list-versions", full, || async {
                self.inner
                    .client
                    .list_object_versions()
                    .bucket(&self.inner.bucket)
                    .prefix(full)
                    .send()
                    .await
                    .map_err(|e| failure("list-versions", full, e))
            })
            .await;
        let out = match listed {
            Ok(o) => o,
            // Servers without versioning (Garage) say so; the plain delete was the whole job.
            Err(e) if is_not_implemented(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let versions = out.versions().iter().filter(|v| v.key() == Some(full)).filter_map(|v| v.version_id().map(str::to_string));
        let markers = out.delete_markers().iter().filter(|v| v.key() == Some(full)).filter_map(|v| v.version_id().map(str::to_string));
        for vid in versions.chain(markers).collect::<Vec<_>>() {
            if vid == "null" {
                continue;
            }
            self.call("delete-version", full, || async {
                self.inner
                    .client
                    .delete_object()
                    .bucket(&self.inner.bucket)
                    .key(full)
                    .version_id(&vid)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| failure("delete-version", full, e))
            })
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn describe(&self) -> String {
        format!("S3 bucket {} at {} (prefix {:?})", self.inner.bucket, self.inner.endpoint, self.inner.prefix)
    }

    async fn put_file(&self, key: &ObjectKey, path: &Path, opts: &PutOptions) -> Result<(), StoreError> {
        let size = tokio::fs::metadata(path).await.map_err(|source| StoreError::Io { key: key.to_string(), source })?.len();
        if size > self.inner.multipart_threshold {
            self.put_multipart(key, path, size, opts).await
        } else {
            self.put_single(key, Src::File(path), size, opts).await
        }
    }

    async fn put_bytes(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        let opts = PutOptions { sha256: Some(crate::digest::Sha256::of(&bytes)), ..Default::default() };
        self.put_single(key, Src::Bytes(&bytes), bytes.len() as u64, &opts).await
    }

    async fn get_range(&self, key: &ObjectKey, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let full = self.full_key(key);
        let range = format!("bytes={}-{}", offset, offset.saturating_add(len - 1));
        let r = self
            .call("get", &full, || async {
                let out = self
                    .inner
                    .client
                    .get_object()
                    .bucket(&self.inner.bucket)
                    .key(&full)
                    .range(&range)
                    .send()
                    .await
                    .map_err(|e| failure("get", &full, e))?;
                let total = out.content_range().and_then(|r| r.rsplit('/').next()).and_then(|t| t.parse::<u64>().ok());
                let body =
                    out.body.collect().await.map_err(|e| Failure { retry: true, err: remote("get", &full, None, None, &e.to_string()) })?;
                Ok((body.into_bytes().to_vec(), total))
            })
            .await;
        match r {
            Ok((bytes, _)) if bytes.len() as u64 == len => Ok(bytes),
            Ok((bytes, total)) => {
                Err(StoreError::Range { key: key.clone(), offset, len, size: total.unwrap_or(offset + bytes.len() as u64) })
            }
            Err(StoreError::Remote { status: Some(416), .. }) => {
                let size = self.head(key).await?.map(|i| i.size).unwrap_or(0);
                Err(StoreError::Range { key: key.clone(), offset, len, size })
            }
            Err(e) if is_not_found(&e) => Err(StoreError::NotFound(key.clone())),
            Err(e) => Err(e),
        }
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StoreError> {
        Ok(self.head_object(key).await?.map(|out| ObjectInfo { key: key.clone(), size: out.content_length.unwrap_or(0).max(0) as u64 }))
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let full = self.full_key(key);
        let r = self
            .call("delete", &full, || async {
                self.inner
                    .client
                    .delete_object()
                    .bucket(&self.inner.bucket)
                    .key(&full)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| failure("delete", &full, e))
            })
            .await;
        match r {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
        self.delete_versions(&full).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let full_prefix = format!("{}{}", self.inner.prefix, prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call("list", &full_prefix, || async {
                    self.inner
                        .client
                        .list_objects_v2()
                        .bucket(&self.inner.bucket)
                        .prefix(&full_prefix)
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| failure("list", &full_prefix, e))
                })
                .await?;
            for o in page.contents() {
                let Some(k) = o.key().and_then(|k| k.strip_prefix(self.inner.prefix.as_str())) else { continue };
                // Keys arkisto did not write (or cannot name) are not its objects.
                if let Ok(key) = ObjectKey::new(k) {
                    out.push(ObjectInfo { key, size: o.size().unwrap_or(0).max(0) as u64 });
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn health(&self) -> Result<(), StoreError> {
        let key = ObjectKey::new(format!("probe/health-{}", ulid::Ulid::new()))?;
        let full = self.full_key(&key);
        self.call("put", &full, || async {
            self.inner
                .client
                .put_object()
                .bucket(&self.inner.bucket)
                .key(&full)
                .body(ByteStream::from_static(b"ok"))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| failure("put", &full, e))
        })
        .await?;
        self.delete(&key).await
    }

    fn lock_configured(&self) -> bool {
        self.inner.lock_mode.is_some()
    }

    async fn set_retention(&self, key: &ObjectKey, until: NaiveDate) -> Result<(), StoreError> {
        let Some(mode) = &self.inner.lock_mode else { return Err(StoreError::Unsupported("Object Lock is off (store.lock_mode)".into())) };
        let full = self.full_key(key);
        let mode = match mode {
            ObjectLockMode::Compliance => ObjectLockRetentionMode::Compliance,
            _ => ObjectLockRetentionMode::Governance,
        };
        let retention = ObjectLockRetention::builder().mode(mode).retain_until_date(date_time(until)).build();
        self.call("put-retention", &full, || async {
            self.inner
                .client
                .put_object_retention()
                .bucket(&self.inner.bucket)
                .key(&full)
                .retention(retention.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| failure("put-retention", &full, e))
        })
        .await
    }

    async fn set_legal_hold(&self, key: &ObjectKey, on: bool) -> Result<(), StoreError> {
        if self.inner.lock_mode.is_none() {
            return Err(StoreError::Unsupported("Object Lock is off (store.lock_mode)".into()));
        }
        let full = self.full_key(key);
        let status = if on { ObjectLockLegalHoldStatus::On } else { ObjectLockLegalHoldStatus::Off };
        let hold = ObjectLockLegalHold::builder().status(status).build();
        self.call("put-legal-hold", &full, || async {
            self.inner
                .client
                .put_object_legal_hold()
                .bucket(&self.inner.bucket)
                .key(&full)
                .legal_hold(hold.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| failure("put-legal-hold", &full, e))
        })
        .await
    }

    async fn lock_state(&self, key: &ObjectKey) -> Result<Option<LockState>, StoreError> {
        // Read from HEAD: some servers (moto 5.2) answer GetObjectRetention with 500.
        Ok(self.head_object(key).await?.map(|out| LockState {
            mode: out.object_lock_mode().map(|m| m.as_str().to_ascii_lowercase()),
            retain_until: out
                .object_lock_retain_until_date()
                .and_then(|d| chrono::DateTime::from_timestamp(d.secs(), 0))
                .map(|d| d.date_naive()),
            legal_hold: out.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::On),
        }))
    }

    fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }
}

/// The start of `date` (UTC) as an SDK timestamp.
fn date_time(date: NaiveDate) -> DateTime {
    DateTime::from_secs(date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or(0))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// SHA-256 of `len` bytes of a file at `offset`, off the async threads.
async fn sha256_file(path: &Path, offset: u64, len: u64) -> Result<[u8; 32], StoreError> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&p)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut h = crate::digest::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shorter than expected"));
            }
            h.update(&buf[..n]);
            left -= n as u64;
        }
        Ok(h.finish().0)
    })
    .await
    .map_err(|e| StoreError::Io { key: path.display().to_string(), source: std::io::Error::other(e) })?
    .map_err(|source| StoreError::Io { key: path.display().to_string(), source })
}

/// Exponential backoff with jitter: 200 ms, 400 ms, … capped at 10 s.
fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1 << attempt.min(6)).min(10_000) / 2;
    let jitter = u64::from(ulid::Ulid::new().random() as u16) % base.max(1);
    Duration::from_millis(base + jitter)
}

fn remote(op: &str, key: &str, status: Option<u16>, code: Option<&str>, message: &str) -> StoreError {
    StoreError::Remote {
        op: op.into(),
        key: key.into(),
        status,
        code: code.map(str::to_string),
        message: message.chars().take(300).collect(),
    }
}

/// Classify an SDK error: status, S3 error code, and whether trying again may help.
fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(op: &str, key: &str, e: SdkError<E, HttpResponse>) -> Failure {
    match &e {
        SdkError::TimeoutError(_) => Failure { retry: true, err: remote(op, key, None, Some("Timeout"), "request timed out") },
        SdkError::DispatchFailure(d) => {
            let why = if d.is_timeout() {
                "timed out"
            } else if d.is_io() {
                "connection failed"
            } else {
                "could not send"
            };
            let chain = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e));
            Failure {
                retry: !d.is_user(),
                err: remote(op, key, None, None, &format!("{why} ({})", chain.trim_start_matches("dispatch failure: "))),
            }
        }
        SdkError::ResponseError(r) => {
            Failure { retry: true, err: remote(op, key, Some(r.raw().status().as_u16()), Some("BadResponse"), "unreadable response") }
        }
        SdkError::ServiceError(s) => {
            let status = Some(s.raw().status().as_u16());
            let code = s.err().code();
            let context = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e));
            let msg = s.err().message().unwrap_or(if code.is_none() { context.as_str() } else { "" });
            // 501 Not Implemented will not change on a retry.
            let retry = status.is_some_and(|c| (c >= 500 && c != 501) || c == 429)
                || matches!(code, Some("SlowDown" | "RequestTimeout" | "InternalError"));
            Failure { retry, err: remote(op, key, status, code, msg) }
        }
        other => Failure { retry: false, err: remote(op, key, None, None, &format!("{other:?}")) },
    }
}

fn is_not_found(e: &StoreError) -> bool {
    matches!(e, StoreError::Remote { status: Some(404), .. })
        || matches!(e, StoreError::Remote { code: Some(c), .. } if c == "NoSuchKey" || c == "NotFound")
}
fn is_not_implemented(e: &StoreError) -> bool {
    matches!(e, StoreError::Remote { status: Some(501), .. })
        || matches!(e, StoreError::Remote { code: Some(c), .. } if c == "NotImplemented")
}
fn is_precondition_failed(e: &StoreError) -> bool {
    matches!(e, StoreError::Remote { status: Some(412), .. })
        || matches!(e, StoreError::Remote { code: Some(c), .. } if c == "PreconditionFailed" || c == "ConditionalRequestConflict")
}
/// The server does not support the checksum header (as opposed to: it checked the checksum
/// and it did not match, or it wants *more* integrity headers — never a reason to drop it).
fn is_checksum_refusal(e: &StoreError) -> bool {
    match e {
        StoreError::Remote { status: Some(400 | 501), code: Some(code), message, .. } => {
            let m = message.to_ascii_lowercase();
            matches!(code.as_str(), "NotImplemented" | "InvalidRequest" | "InvalidArgument")
                && m.contains("checksum")
                && !(m.contains("mismatch") || m.contains("did not match") || m.contains("required"))
        }
        _ => false,
    }
}
