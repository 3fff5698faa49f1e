//! Finding the inputs of a batch: a directory, a BagIt bag or one file. Every regular file is
//! an input; anything that cannot be read safely (a symlink leading out of the batch, a
//! special file) is still an input, carrying the finding that explains why it is not read.

use std::fs;
use std::path::{Path, PathBuf};

use super::bagit;
use crate::validate::findings::{Code, Finding};

/// What kind of batch a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchKind {
    /// A plain directory.
    Directory,
    /// A BagIt bag (validated before anything else).
    Bag,
    /// A single file.
    File,
}

/// One input file. A batch lists every file before the first is read, so this is kept small
/// (a million files cost ~100 MB as they were; the absolute path is now made when needed,
/// from the root all files share).
#[derive(Clone, Debug)]
pub struct InputFile {
    /// Path relative to the batch root, `/`-separated (for a bag, `data/…`).
    pub rel_path: String,
    /// The folder `rel_path` is relative to.
    root: std::sync::Arc<Path>,
    /// Why it must not be read, if so.
    pub problem: Option<Box<Finding>>,
}

impl InputFile {
    /// The file `rel_path` under `root`, with a problem if any.
    pub fn new(root: &std::sync::Arc<Path>, rel_path: String, problem: Option<Finding>) -> Self {
        Self { rel_path, root: root.clone(), problem: problem.map(Box::new) }
    }

    /// Absolute path to read.
    pub fn abs_path(&self) -> PathBuf {
        self.root.join(&self.rel_path)
    }
}

/// A batch ready to ingest.
#[derive(Debug)]
pub struct Batch {
    /// Root directory (or the file itself).
    pub root: PathBuf,
    /// Kind.
    pub kind: BatchKind,
    /// Inputs, sorted by path.
    pub files: Vec<InputFile>,
}

/// The batch cannot be taken at all.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The path does not exist or cannot be read.
    #[error("cannot read batch {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// An invalid bag, refused before anything was read from its payload.
    #[error("refused bag {path}: {reason}")]
    RefusedBag {
        /// Bag root.
        path: PathBuf,
        /// The first problem found.
        reason: String,
    },
}

impl BatchError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            BatchError::Io { .. } => "batch-io",
            BatchError::RefusedBag { .. } => "bag-refused",
        }
    }
}

/// Files at a batch folder's root that belong to the daemon, not to the batch
/// (`READY`: the batch is complete; `ARCHIVED`: it was archived, with the run id).
pub const CONTROL_FILES: [&str; 3] = ["READY", "ARCHIVED", PROFILE_FILE];

/// A batch-root file naming the source profile to read the batch with (one line: a profile
/// name or a path; or a whole profile in TOML), used when `ingest` is given no `--profile`.
pub const PROFILE_FILE: &str = "PROFILE";

/// Open a batch: one file, a BagIt bag (validated whole first), or a folder.
pub fn open(path: &Path) -> Result<Batch, BatchError> {
    let io = |source| BatchError::Io { path: path.to_path_buf(), source };
    let root = fs::canonicalize(path).map_err(io)?;
    let meta = fs::metadata(&root).map_err(io)?;
    if meta.is_file() {
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let parent: std::sync::Arc<Path> = root.parent().unwrap_or(Path::new("/")).into();
        return Ok(Batch { files: vec![InputFile::new(&parent, name, None)], root, kind: BatchKind::File });
    }
    if root.join("bagit.txt").is_file() {
        let files = bagit::validate(&root, false).map_err(|reason| BatchError::RefusedBag { path: path.to_path_buf(), reason })?;
        return Ok(Batch { root, kind: BatchKind::Bag, files });
    }
    let mut files = Vec::new();
    walk(&root.as_path().into(), &root, &mut files).map_err(io)?;
    // The daemon's control markers at the batch root are not records.
    files.retain(|f| !CONTROL_FILES.contains(&f.rel_path.as_str()));
    files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok(Batch { root, kind: BatchKind::Directory, files })
}

/// Every file under `root` (relative, `/`-separated, sorted); symlinks are reported, not followed
/// out of the tree.
pub fn walk(root: &std::sync::Arc<Path>, dir: &Path, out: &mut Vec<InputFile>) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = p.strip_prefix(&**root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk(root, &p, out)?;
        } else if ft.is_file() {
            out.push(InputFile::new(root, rel, None));
        } else if ft.is_symlink() {
            let problem = match fs::canonicalize(&p) {
                Ok(t) if !t.starts_with(&**root) => Some(Finding::new(Code::V013, "symbolic link leads outside the batch; not followed")),
                Ok(t) if t.is_dir() => Some(Finding::new(Code::V013, "symbolic link to a directory; not followed")),
                Ok(_) => None,
                Err(_) => Some(Finding::new(Code::V013, "dangling symbolic link")),
            };
            out.push(InputFile::new(root, rel, problem));
        } else {
            out.push(InputFile::new(root, rel, Some(Finding::new(Code::V013, "not a regular file (device, socket or pipe)"))));
        }
    }
    Ok(())
}
