//! Read-only access to a store, as the auditor is given it: a local directory laid out as
//! FORMAT.md says (the embedded default's `store/`, or a copy of a bucket made with any S3
//! client), or the bucket itself (`s3://bucket/prefix`, feature `s3`). The tool never writes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

#[cfg(feature = "s3")]
mod s3;

/// One object: its key and size.
#[derive(Clone, Debug)]
pub struct Object {
    /// Key, `/`-separated, relative to the store's root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// What the audit reads a store through.
pub trait Source {
    /// Every object under `prefix`, sorted by key.
    fn list(&self, prefix: &str) -> io::Result<Vec<Object>>;
    /// A whole (small) object.
    fn read_all(&self, key: &str) -> io::Result<Vec<u8>>;
    /// `len` bytes at `offset`.
    fn read_range(&self, key: &str, offset: u64, len: u64) -> io::Result<Vec<u8>>;
    /// The object as a stream, from its first byte.
    fn open_read(&self, key: &str) -> io::Result<Box<dyn Read + '_>>;
}

/// Open `spec`: `s3://bucket/prefix` or a directory.
pub fn open(spec: &str, endpoint: Option<&str>, region: &str) -> io::Result<Box<dyn Source>> {
    if let Some(rest) = spec.strip_prefix("s3://") {
        #[cfg(feature = "s3")]
        return Ok(Box::new(s3::Bucket::open(rest, endpoint, region)?));
        #[cfg(not(feature = "s3"))]
        {
            let _ = (rest, endpoint, region);
            return Err(io::Error::other("this arkisto-audit was built without S3 (feature s3): copy the bucket to a folder"));
        }
    }
    Ok(Box::new(Dir::open(Path::new(spec))?))
}

/// A store directory.
pub struct Dir {
    root: PathBuf,
}

impl Dir {
    /// Open `root`, which must be a directory.
    pub fn open(root: &Path) -> io::Result<Self> {
        if !root.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} is not a directory", root.display())));
        }
        Ok(Self { root: root.to_path_buf() })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

impl Source for Dir {
    /// Every object under `prefix` (e.g. `packs/`), sorted by key. arkisto's own temporary
    /// files (`.tmp/`) are not objects.
    fn list(&self, prefix: &str) -> io::Result<Vec<Object>> {
        let mut out = Vec::new();
        let start = self.root.join(prefix);
        if !start.exists() {
            return Ok(out);
        }
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let path = entry.path();
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    let Ok(rel) = path.strip_prefix(&self.root) else { continue };
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if !key.starts_with(".tmp/") {
                        out.push(Object { key, size: entry.metadata()?.len() });
                    }
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn read_all(&self, key: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(key))
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut f = File::open(self.path(key))?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(len.min(64 << 20) as usize);
        f.take(len).read_to_end(&mut buf)?;
        if buf.len() as u64 != len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{key}: short read")));
        }
        Ok(buf)
    }

    fn open_read(&self, key: &str) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(File::open(self.path(key))?))
    }
}
