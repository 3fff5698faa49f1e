//! Object stores: where packs, ledger segments and dictionaries live. The store is the source
//! of truth (DESIGN principle 2); everything else can be rebuilt from it.
//!
//! `ObjectStore` is deliberately small; retries, metrics and fault injection wrap a store
//! rather than living inside one. A store never overwrites an object.

mod local;
pub mod probe;
mod s3;

use std::fmt;
use std::path::Path;

use async_trait::async_trait;

pub use local::LocalStore;
pub use s3::S3Store;

/// How an object is written.
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    /// SHA-256 of the whole object when the caller already knows it (sent as the integrity
    /// header instead of reading the file again).
    pub sha256: Option<crate::digest::Sha256>,
    /// Write without Object Lock even where it is configured. Packs are written so (they are
    /// locked to their horizon once indexed, so that an interrupted write stays deletable), as
    /// are probe objects; ledger segments and dictionaries get the default lock period.
    pub no_lock: bool,
}

/// An object's lock as the server reports it (HEAD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockState {
    /// `compliance` or `governance`, if any.
    pub mode: Option<String>,
    /// Retain-until date, if any.
    pub retain_until: Option<chrono::NaiveDate>,
    /// Legal hold on.
    pub legal_hold: bool,
}

/// A validated object key: relative, `/`-separated, no `..`, only safe characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Check and wrap a key.
    pub fn new(key: impl Into<String>) -> Result<Self, StoreError> {
        let key = key.into();
        let ok = !key.is_empty()
            && key.len() <= 512
            && !key.starts_with('/')
            && key.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
        if ok { Ok(Self(key)) } else { Err(StoreError::BadKey(key.chars().take(100).collect())) }
    }
    /// A key built by arkisto from parts that are always valid (e.g. `dicts/<number>`).
    pub(crate) fn trusted(key: String) -> Self {
        debug_assert!(Self::new(key.clone()).is_ok());
        Self(key)
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a store knows about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
}

/// Store failures. Each variant has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("object {0} not found")]
    NotFound(ObjectKey),
    /// Put-if-absent found an object already there.
    #[error("object {0} already exists; arkisto never overwrites")]
    Exists(ObjectKey),
    /// A key that is not acceptable.
    #[error("invalid object key {0:?}")]
    BadKey(String),
    /// A range outside the object.
    #[error("range {offset}+{len} is outside object {key} ({size} bytes)")]
    Range {
        /// Object.
        key: ObjectKey,
        /// Start.
        offset: u64,
        /// Length asked.
        len: u64,
        /// Object size.
        size: u64,
    },
    /// The server answered with an error, or could not be reached.
    #[error("{op} {key}: {}{}{message}", .status.map(|s| format!("HTTP {s} ")).unwrap_or_default(), .code.as_ref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Remote {
        /// Operation (put, get, …).
        op: String,
        /// Full object key.
        key: String,
        /// HTTP status, when there was an answer.
        status: Option<u16>,
        /// S3 error code.
        code: Option<String>,
        /// Server's message (never contains credentials).
        message: String,
    },
    /// The store cannot do this (e.g. Object Lock on a local directory).
    #[error("not supported by this store: {0}")]
    Unsupported(String),
    /// I/O failure on an object.
    #[error("store I/O on {key}: {source}")]
    Io {
        /// Object (or prefix) concerned.
        key: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound(_) => "store-not-found",
            StoreError::Exists(_) => "store-exists",
            StoreError::BadKey(_) => "store-bad-key",
            StoreError::Range { .. } => "store-range",
            StoreError::Io { .. } => "store-io",
            StoreError::Remote { .. } => "store-remote",
            StoreError::Unsupported(_) => "store-unsupported",
        }
    }
    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Io { .. } => true,
            StoreError::Remote { status, .. } => status.is_none_or(|s| s >= 500 || s == 429),
            _ => false,
        }
    }
}

/// An object store.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Human description (no secrets).
    fn describe(&self) -> String;
    /// Store a local file under `key`, durably, only if `key` is absent.
    async fn put_file(&self, key: &ObjectKey, path: &Path, opts: &PutOptions) -> Result<(), StoreError>;
    /// Store small bytes under `key`, durably, only if absent.
    async fn put_bytes(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), StoreError>;
    /// Read `len` bytes at `offset`.
    async fn get_range(&self, key: &ObjectKey, offset: u64, len: u64) -> Result<Vec<u8>, StoreError>;
    /// Size of an object, or `None` when absent.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StoreError>;
    /// Delete an object (absent is not an error).
    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;
    /// Whether the store is reachable and writable.
    async fn health(&self) -> Result<(), StoreError>;
    /// Whether writes ask the server for Object Lock (not whether it enforces it: see
    /// `store check`).
    fn lock_configured(&self) -> bool {
        false
    }
    /// Extend an object's Object Lock retention to `until`.
    async fn set_retention(&self, _key: &ObjectKey, _until: chrono::NaiveDate) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(format!("Object Lock retention on {}", self.describe())))
    }
    /// Switch an object's legal hold on or off.
    async fn set_legal_hold(&self, _key: &ObjectKey, _on: bool) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(format!("legal hold on {}", self.describe())))
    }
    /// The object's lock as the server reports it; `None` when the object is absent.
    async fn lock_state(&self, _key: &ObjectKey) -> Result<Option<LockState>, StoreError> {
        Ok(None)
    }
    /// Requests retried so far by this process (reported in run summaries).
    fn retries(&self) -> u64 {
        0
    }
}

/// Read a whole (small) object.
pub async fn get_all(store: &dyn ObjectStore, key: &ObjectKey) -> Result<Vec<u8>, StoreError> {
    let info = store.head(key).await?.ok_or_else(|| StoreError::NotFound(key.clone()))?;
    store.get_range(key, 0, info.size).await
}
