//! Where a package's files go: a folder, a TAR stream, or either wrapped as a BagIt 1.0 bag.
//! Every file is written once, in one pass, as it is produced: a package of any size takes
//! flat memory (a TAR header needs the size, which the caller always knows beforehand).

use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::digest::{HashingWriter, Sha256};

/// A destination for a package's files. Paths are relative, `/`-separated, and made by
/// arkisto (never taken from input without [`safe_name`]).
pub trait Sink {
    /// Add the file `path` of exactly `size` bytes read from `r`.
    fn add(&mut self, path: &str, size: u64, r: &mut dyn Read) -> io::Result<()>;
    /// Add a small file from memory.
    fn add_bytes(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.add(path, bytes.len() as u64, &mut &bytes[..])
    }
}

/// A file name made safe for any file system and for a package path: letters, digits, `.`,
/// `-` and `_` kept (Finnish and Swedish letters included), everything else `_`, never empty,
/// never `.` or `..`, at most 80 characters.
pub fn safe_name(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).take(80).collect();
    if out.trim_matches('.').is_empty() {
        out = format!("_{out}");
    }
    out
}

/// Files written under a folder.
pub struct DirSink {
    root: PathBuf,
}

impl DirSink {
    /// Write under `root` (created).
    pub fn new(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        Ok(DirSink { root: root.to_path_buf() })
    }
}

impl DirSink {
    /// Make everything written durable: one `syncfs` of the file system holding the folder
    /// (an fsync per file cost more than writing the package), elsewhere every file synced.
    pub fn sync(&self) -> io::Result<()> {
        let root = File::open(&self.root)?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: `root` is an open file descriptor for the duration of the call; syncfs
            // only flushes the file system it belongs to.
            if unsafe { libc::syncfs(root.as_raw_fd()) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let mut stack = vec![self.root.clone()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d)? {
                    let p = e?.path();
                    if p.is_dir() { stack.push(p) } else { File::open(&p)?.sync_all()? }
                }
            }
        }
        root.sync_all()
    }
}

impl Sink for DirSink {
    fn add(&mut self, path: &str, size: u64, r: &mut dyn Read) -> io::Result<()> {
        let dest = self.root.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = BufWriter::with_capacity(1 << 20, File::create(&dest)?);
        let n = io::copy(&mut r.take(size), &mut f)?;
        if n != size {
            return Err(io::Error::other(format!("{path}: {n} bytes written, {size} expected")));
        }
        f.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}

/// Files streamed into a TAR file (POSIX ustar, GNU long names), hashed as written.
pub struct TarSink {
    tar: tar::Builder<HashingWriter<BufWriter<File>>>,
    mtime: u64,
}

impl TarSink {
    /// Stream into `file`; every entry carries `mtime` (seconds since the epoch).
    pub fn new(file: File, mtime: u64) -> Self {
        let mut tar = tar::Builder::new(HashingWriter::new(BufWriter::with_capacity(1 << 20, file)));
        tar.mode(tar::HeaderMode::Deterministic);
        TarSink { tar, mtime }
    }

    /// End the archive and sync it: its SHA-256 and size.
    pub fn finish(self) -> io::Result<(Sha256, u64)> {
        let w = self.tar.into_inner()?;
        let (buf, digest, n) = w.finish();
        let f = buf.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok((digest, n))
    }
}

impl Sink for TarSink {
    fn add(&mut self, path: &str, size: u64, r: &mut dyn Read) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        self.tar.append_data(&mut h, path, r.take(size))
    }
}

/// What a bag's manifests list for one file.
struct Listed {
    path: String,
    sha256: String,
    sha512: String,
}

/// Wraps a sink as a BagIt 1.0 bag (RFC 8493): payload under `data/`, SHA-256 and SHA-512
/// manifests and tag manifests, `bag-info.txt` with Bagging-Date, Payload-Oxum and
/// External-Identifier. Every payload file is hashed as it passes.
pub struct Bag<S: Sink> {
    inner: S,
    prefix: String,
    payload: Vec<Listed>,
    bytes: u64,
}

impl<S: Sink> Bag<S> {
    /// A bag whose files go to `inner` under `prefix` (`""` or `name/`).
    pub fn new(inner: S, prefix: &str) -> Self {
        Bag { inner, prefix: prefix.to_string(), payload: Vec::new(), bytes: 0 }
    }

    /// Write the tag files; returns the inner sink.
    pub fn finish(mut self, bagging_date: &str, external_id: &str, source_org: &str) -> io::Result<S> {
        let mut tags: Vec<Listed> = Vec::new();
        let mut tag = |inner: &mut S, prefix: &str, name: &str, text: String| -> io::Result<()> {
            inner.add_bytes(&format!("{prefix}{name}"), text.as_bytes())?;
            tags.push(Listed {
                path: name.to_string(),
                sha256: hex::encode(sha2::Sha256::digest(text.as_bytes())),
                sha512: hex::encode(sha2::Sha512::digest(text.as_bytes())),
            });
            Ok(())
        };
        tag(&mut self.inner, &self.prefix, "bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n".into())?;
        let info = format!(
            "Source-Organization: {}\nBagging-Date: {bagging_date}\nExternal-Identifier: {}\nPayload-Oxum: {}.{}\nBag-Software-Agent: arkisto {}\n",
            one_line(source_org),
            one_line(external_id),
            self.bytes,
            self.payload.len(),
            env!("CARGO_PKG_VERSION"),
        );
        tag(&mut self.inner, &self.prefix, "bag-info.txt", info)?;
        let manifest = |files: &[Listed], alg: fn(&Listed) -> &str| -> String {
            files.iter().map(|f| format!("{}  {}\n", alg(f), encode_path(&f.path))).collect()
        };
        let m256 = manifest(&self.payload, |f| &f.sha256);
        let m512 = manifest(&self.payload, |f| &f.sha512);
        tag(&mut self.inner, &self.prefix, "manifest-sha256.txt", m256)?;
        tag(&mut self.inner, &self.prefix, "manifest-sha512.txt", m512)?;
        let t256 = manifest(&tags, |f| &f.sha256);
        let t512 = manifest(&tags, |f| &f.sha512);
        self.inner.add_bytes(&format!("{}tagmanifest-sha256.txt", self.prefix), t256.as_bytes())?;
        self.inner.add_bytes(&format!("{}tagmanifest-sha512.txt", self.prefix), t512.as_bytes())?;
        Ok(self.inner)
    }
}

impl<S: Sink> Sink for Bag<S> {
    fn add(&mut self, path: &str, size: u64, r: &mut dyn Read) -> io::Result<()> {
        let mut h = TwoHashes { inner: r, sha256: sha2::Sha256::new(), sha512: sha2::Sha512::new(), n: 0 };
        self.inner.add(&format!("{}data/{path}", self.prefix), size, &mut h)?;
        if h.n != size {
            return Err(io::Error::other(format!("{path}: {} bytes read, {size} expected", h.n)));
        }
        self.bytes += size;
        self.payload.push(Listed {
            path: format!("data/{path}"),
            sha256: hex::encode(h.sha256.finalize()),
            sha512: hex::encode(h.sha512.finalize()),
        });
        Ok(())
    }
}

/// A reader that hashes what it reads with SHA-256 and SHA-512.
struct TwoHashes<'a> {
    inner: &'a mut dyn Read,
    sha256: sha2::Sha256,
    sha512: sha2::Sha512,
    n: u64,
}

impl Read for TwoHashes<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha256.update(&buf[..n]);
        self.sha512.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

/// A manifest path: RFC 8493 §2.1.3 percent-encodes CR, LF and `%`.
fn encode_path(p: &str) -> String {
    p.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A tag value on one line.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// Either sink, chosen at run time.
pub enum AnySink {
    /// A folder.
    Dir(DirSink),
    /// A TAR stream.
    Tar(TarSink),
}

impl Sink for AnySink {
    fn add(&mut self, path: &str, size: u64, r: &mut dyn Read) -> io::Result<()> {
        match self {
            AnySink::Dir(d) => d.add(path, size, r),
            AnySink::Tar(t) => t.add(path, size, r),
        }
    }
}

/// A package's sink, bagged or not.
pub enum Output {
    /// Files as they are.
    Plain(AnySink),
    /// Files as a bag's payload.
    Bagged(Bag<AnySink>),
}

impl Sink for Output {
    fn add(&mut self, path: &str, size: u64, r: &mut dyn Read) -> io::Result<()> {
        match self {
            Output::Plain(s) => s.add(path, size, r),
            Output::Bagged(b) => b.add(path, size, r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("Potilas/../etc"), "Potilas_.._etc");
        assert_eq!(safe_name(".."), "_..");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("Päijät-Häme_lab.xml"), "Päijät-Häme_lab.xml");
        assert_eq!(safe_name(&"x".repeat(200)).len(), 80);
    }

    #[test]
    fn a_bag_lists_every_payload_file_with_both_digests() {
        let dir = tempfile::tempdir().unwrap();
        let bag = Bag::new(AnySink::Dir(DirSink::new(dir.path()).unwrap()), "");
        let mut bag = bag;
        bag.add_bytes("p/a.txt", b"hello").unwrap();
        bag.add_bytes("p/b 100%.txt", b"").unwrap();
        bag.finish("2026-12-08", "req-1", "County").unwrap();
        let m = std::fs::read_to_string(dir.path().join("manifest-sha256.txt")).unwrap();
        assert!(m.contains("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  data/p/a.txt"), "{m}");
        assert!(m.contains("data/p/b 100%25.txt"), "{m}");
        let info = std::fs::read_to_string(dir.path().join("bag-info.txt")).unwrap();
        assert!(info.contains("Payload-Oxum: 5.2\n"), "{info}");
        let t = std::fs::read_to_string(dir.path().join("tagmanifest-sha512.txt")).unwrap();
        assert_eq!(t.lines().count(), 4, "{t}");
    }
}
