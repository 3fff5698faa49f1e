//! Object stores: where packs, ledger segments and dictionaries live. The store is the source
//! of truth (DESIGN principle 2); everything else can be rebuilt from it.
//!
//! `ObjectStore` is deliberately small; retries, metrics and fault injection wrap a store
//! rather than living inside one. A store never overwrites an object.

mod local;

use std::fmt;
use std::path::Path;

use async_trait::async_trait;

pub use local::LocalStore;

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
        }
    }
    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Io { .. })
    }
}

/// An object store.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Human description (no secrets).
    fn describe(&self) -> String;
    /// Store a local file under `key`, durably, only if `key` is absent.
    async fn put_file(&self, key: &ObjectKey, path: &Path) -> Result<(), StoreError>;
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
}

/// Read a whole (small) object.
pub async fn get_all(store: &dyn ObjectStore, key: &ObjectKey) -> Result<Vec<u8>, StoreError> {
    let info = store.head(key).await?.ok_or_else(|| StoreError::NotFound(key.clone()))?;
    store.get_range(key, 0, info.size).await
}
