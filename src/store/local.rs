//! The embedded default store: a directory, with the same keys as S3.
//!
//! Writes are atomic and durable: data goes to a temp file that is fsynced, then hard-linked
//! into place (which fails if the key exists: put-if-absent), then the directory is fsynced.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{ObjectInfo, ObjectKey, ObjectStore, PutOptions, StoreError};

/// A store in a local directory.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

fn io_err(key: impl ToString) -> impl FnOnce(io::Error) -> StoreError {
    move |source| StoreError::Io { key: key.to_string(), source }
}

/// fsync a directory so that a rename or link in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl LocalStore {
    /// Open (and create) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        fs::create_dir_all(root.join(".tmp")).map_err(io_err(root.display()))?;
        Ok(Self { root })
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn ensure_parent(&self, path: &Path) -> io::Result<()> {
        let parent = path.parent().unwrap_or(&self.root);
        if !parent.exists() {
            fs::create_dir_all(parent)?;
            // Make the new directory entries durable, up to the root.
            let mut d = parent;
            while d != self.root {
                let up = d.parent().unwrap_or(&self.root);
                sync_dir(up)?;
                d = up;
            }
        }
        Ok(())
    }

    /// Link a durable temp file into place; refuses to overwrite.
    fn link_into_place(&self, tmp: &Path, key: &ObjectKey) -> Result<(), StoreError> {
        let dst = self.path(key);
        self.ensure_parent(&dst).map_err(io_err(key))?;
        match fs::hard_link(tmp, &dst) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(StoreError::Exists(key.clone())),
            Err(e) => return Err(io_err(key)(e)),
        }
        sync_dir(dst.parent().unwrap_or(&self.root)).map_err(io_err(key))
    }

    fn put_file_sync(&self, key: &ObjectKey, src: &Path) -> Result<(), StoreError> {
        // Same filesystem: link the (already fsynced) file directly. Otherwise copy first.
        match self.link_into_place(src, key) {
            Err(StoreError::Io { source, .. }) if source.raw_os_error() == Some(18) => {
                let tmp = self.root.join(".tmp").join(ulid::Ulid::new().to_string());
                let r = (|| {
                    fs::copy(src, &tmp).map_err(io_err(key))?;
                    File::open(&tmp).and_then(|f| f.sync_all()).map_err(io_err(key))?;
                    self.link_into_place(&tmp, key)
                })();
                let _ = fs::remove_file(&tmp);
                r
            }
            other => other,
        }
    }

    fn put_bytes_sync(&self, key: &ObjectKey, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = self.root.join(".tmp").join(ulid::Ulid::new().to_string());
        let r = (|| {
            let mut f = File::create(&tmp).map_err(io_err(key))?;
            f.write_all(bytes).map_err(io_err(key))?;
            f.sync_all().map_err(io_err(key))?;
            self.link_into_place(&tmp, key)
        })();
        let _ = fs::remove_file(&tmp);
        r
    }

    fn get_range_sync(&self, key: &ObjectKey, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let mut f = match File::open(self.path(key)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound(key.clone())),
            Err(e) => return Err(io_err(key)(e)),
        };
        let size = f.metadata().map_err(io_err(key))?.len();
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(StoreError::Range { key: key.clone(), offset, len, size });
        }
        f.seek(SeekFrom::Start(offset)).map_err(io_err(key))?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf).map_err(io_err(key))?;
        Ok(buf)
    }

    fn list_sync(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(dir.display())(e)),
            };
            for ent in rd {
                let ent = ent.map_err(io_err(dir.display()))?;
                let p = ent.path();
                let ft = ent.file_type().map_err(io_err(p.display()))?;
                let Ok(rel) = p.strip_prefix(&self.root) else { continue };
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel.starts_with(".tmp") {
                    continue;
                }
                if ft.is_dir() {
                    if prefix.starts_with(&rel) || rel.starts_with(prefix) || prefix.is_empty() {
                        stack.push(p);
                    }
                } else if ft.is_file() && rel.starts_with(prefix) {
                    let size = ent.metadata().map_err(io_err(p.display()))?.len();
                    if let Ok(key) = ObjectKey::new(rel) {
                        out.push(ObjectInfo { key, size });
                    }
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(StoreError::Io { key: "task".into(), source: io::Error::other(e) }))
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn describe(&self) -> String {
        format!("local directory {}", self.root.display())
    }

    async fn put_file(&self, key: &ObjectKey, path: &Path, _opts: &PutOptions) -> Result<(), StoreError> {
        let (s, k, p) = (self.clone(), key.clone(), path.to_path_buf());
        blocking(move || s.put_file_sync(&k, &p)).await
    }

    async fn put_bytes(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        let (s, k) = (self.clone(), key.clone());
        blocking(move || s.put_bytes_sync(&k, &bytes)).await
    }

    async fn get_range(&self, key: &ObjectKey, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let (s, k) = (self.clone(), key.clone());
        blocking(move || s.get_range_sync(&k, offset, len)).await
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StoreError> {
        match fs::metadata(self.path(key)) {
            Ok(m) if m.is_file() => Ok(Some(ObjectInfo { key: key.clone(), size: m.len() })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(key)(e)),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let p = self.path(key);
        match fs::remove_file(&p) {
            Ok(()) => sync_dir(p.parent().unwrap_or(&self.root)).map_err(io_err(key)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(key)(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let (s, p) = (self.clone(), prefix.to_string());
        blocking(move || s.list_sync(&p)).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        let k = ObjectKey::new(format!(".tmp/health-{}", ulid::Ulid::new()))?;
        let p = self.path(&k);
        fs::write(&p, b"ok").and_then(|_| fs::remove_file(&p)).map_err(io_err(self.root.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_is_durable_ranged_and_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::open(d.path().join("store")).unwrap();
        let k = ObjectKey::new("packs/2026/x.pack").unwrap();
        s.put_bytes(&k, b"hello world".to_vec()).await.unwrap();
        assert_eq!(s.get_range(&k, 6, 5).await.unwrap(), b"world");
        assert!(matches!(s.put_bytes(&k, b"evil".to_vec()).await, Err(StoreError::Exists(_))));
        assert!(matches!(s.get_range(&k, 6, 50).await, Err(StoreError::Range { .. })));
        assert_eq!(s.list("packs/").await.unwrap().len(), 1);
        assert_eq!(s.list("ledger/").await.unwrap().len(), 0);
        s.delete(&k).await.unwrap();
        assert!(s.head(&k).await.unwrap().is_none());
        assert!(ObjectKey::new("../etc/passwd").is_err());
        assert!(ObjectKey::new("/abs").is_err());
    }
}
