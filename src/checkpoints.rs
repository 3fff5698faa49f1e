//! Signed checkpoints of the ledger's Merkle tree (FORMAT.md section 6), written to the store
//! under `checkpoints/` each time the ledger is flushed, and copied to a witness folder when
//! one is configured.
//!
//! Each checkpoint is a C2SP signed note holding a `tlog-checkpoint`. Beside it the store keeps
//! the tree's right edge ([`Frontier`]) so that the next flush extends the tree by the new
//! events alone. The frontier is only a shortcut: it is used only when its root equals its
//! checkpoint's, and otherwise the tree is recomputed from every segment. This module reads
//! only the store; it knows no index.

use std::path::{Path, PathBuf};

use arkisto_format::checkpoint::Checkpoint;
use arkisto_format::merkle::{self, Frontier};
use arkisto_format::note::{self, Note, NoteError, Signer};

use crate::digest::Sha256;
use crate::ledger;
use crate::store::{ObjectKey, ObjectStore, StoreError};

/// Where checkpoints live in the store.
pub const PREFIX: &str = "checkpoints/";

/// Failures writing or reading checkpoints. Each has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key or note that does not parse or verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The key file could not be read or written.
    #[error("signing key {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The store's ledger cannot be put into a tree (segments missing or damaged).
    #[error("cannot checkpoint the ledger: {0}")]
    Ledger(String),
}

impl CheckpointError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointError::Store(e) => e.code(),
            CheckpointError::Note(e) => e.code(),
            CheckpointError::KeyFile { .. } => "checkpoint-key-file",
            CheckpointError::Ledger(_) => "checkpoint-ledger",
        }
    }
}

/// Object key of the checkpoint of a tree of `size` events.
pub fn note_key(size: u64) -> ObjectKey {
    ObjectKey::trusted(format!("{PREFIX}{size:012}.note"))
}

/// Object key of the right edge of the tree of `size` events.
pub fn frontier_key(size: u64) -> ObjectKey {
    ObjectKey::trusted(format!("{PREFIX}{size:012}.frontier"))
}

/// The size a checkpoint object's key names, and whether it is the note (not the frontier).
pub fn parse_key(key: &str) -> Option<(u64, bool)> {
    let name = key.rsplit('/').next()?;
    let (n, ext) = name.split_once('.')?;
    let size = n.parse().ok()?;
    match ext {
        "note" => Some((size, true)),
        "frontier" => Some((size, false)),
        _ => None,
    }
}

/// Read the signing key at `path`, if the file exists.
pub fn load_signer(path: &Path) -> Result<Option<Signer>, CheckpointError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(Signer::parse(&text)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CheckpointError::KeyFile { path: path.to_path_buf(), source }),
    }
}

/// Make a new signing key named `name` and write it to `path` (readable by its owner only).
/// Refuses to replace an existing key: a key lost is a history nobody can sign on from.
pub fn generate_key(path: &Path, name: &str) -> Result<Signer, CheckpointError> {
    use std::io::Write as _;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| CheckpointError::KeyFile { path: path.into(), source: std::io::Error::other(e.to_string()) })?;
    let signer = Signer::from_seed(name, seed)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| CheckpointError::KeyFile { path: dir.into(), source })?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let key_err = |source| CheckpointError::KeyFile { path: path.into(), source };
    let mut f = opts.open(path).map_err(key_err)?;
    f.write_all(format!("{}\n", signer.secret_text()).as_bytes()).map_err(key_err)?;
    f.sync_all().map_err(key_err)?;
    Ok(signer)
}

/// Where a rotation puts the new key until the old one is retired: `<key file>.next`.
pub fn next_path(path: &Path) -> PathBuf {
    path.with_extension("next")
}

/// Where a rotation keeps the old key: `<key file>.retired-<key id>`.
pub fn retired_path(path: &Path, id: u32) -> PathBuf {
    path.with_extension(format!("retired-{id:08x}"))
}

/// The text a new key's announcement signs under the old key (FORMAT.md section 6.3).
pub fn announcement_text(old: &str, new: &str) -> String {
    format!("arkisto checkpoint key rotation\n{old}\n{new}\n")
}

/// The ledger event that announces `new`, signed by `old` when there is one.
pub fn announcement(new: &Signer, old: Option<&Signer>, actor: &str) -> Result<ledger::NewEvent, CheckpointError> {
    let verifier = new.verifier().to_string();
    let (previous, signed) = match old {
        Some(o) => {
            let prev = o.verifier().to_string();
            let note = note::sign(&announcement_text(&prev, &verifier), &[o])?;
            (Some(prev), Some(note))
        }
        None => (None, None),
    };
    Ok(ledger::NewEvent {
        event_type: ledger::KEY_ANNOUNCED.into(),
        actor: actor.into(),
        purpose: None,
        object: verifier.clone(),
        outcome: "success".into(),
        detail: serde_json::json!({ "verifier_key": verifier, "previous_key": previous, "announcement": signed }),
    })
}

/// Put the announced new key in place: the old file becomes `.retired-<id>`, `.next` the key.
pub fn finish_rotation(path: &Path) -> Result<(), CheckpointError> {
    let next = next_path(path);
    let key_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| CheckpointError::KeyFile { path: p, source }
    };
    if let Some(old) = load_signer(path)? {
        std::fs::rename(path, retired_path(path, old.verifier().id())).map_err(key_err(path))?;
    }
    std::fs::rename(&next, path).map_err(key_err(&next))
}

/// A checkpoint as read from the store.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The note's bytes as stored.
    pub note: String,
    /// The checkpoint it holds.
    pub checkpoint: Checkpoint,
    /// Names of the keys that signed it (not verified here).
    pub signed_by: Vec<String>,
}

/// Read and parse the checkpoint of `size`, if there is one.
pub async fn read(store: &dyn ObjectStore, size: u64) -> Result<Option<Stored>, CheckpointError> {
    let key = note_key(size);
    let bytes = match crate::store::get_all(store, &key).await {
        Ok(b) => b,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let text = String::from_utf8(bytes).map_err(|_| NoteError::Malformed(format!("{key} is not UTF-8")))?;
    let n = Note::parse(&text)?;
    let checkpoint = Checkpoint::parse(&n.text)?;
    if checkpoint.size != size {
        return Err(NoteError::Malformed(format!("{key} holds a checkpoint of {} events", checkpoint.size)).into());
    }
    Ok(Some(Stored { note: text, checkpoint, signed_by: n.signatures.iter().map(|s| s.name.clone()).collect() }))
}

/// Sizes of the checkpoint notes in the store, ascending.
pub async fn sizes(store: &dyn ObjectStore) -> Result<Vec<u64>, CheckpointError> {
    let mut out: Vec<u64> =
        store.list(PREFIX).await?.iter().filter_map(|o| parse_key(o.key.as_str())).filter(|(_, note)| *note).map(|(s, _)| s).collect();
    out.sort_unstable();
    Ok(out)
}

/// The newest checkpoint in the store.
pub async fn latest(store: &dyn ObjectStore) -> Result<Option<Stored>, CheckpointError> {
    match sizes(store).await?.last() {
        Some(&s) => read(store, s).await,
        None => Ok(None),
    }
}

/// What [`update`] wrote.
#[derive(Clone, Debug)]
pub struct Written {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Its object key.
    pub key: ObjectKey,
    /// Whether it is signed.
    pub signed: bool,
}

/// The newest frontier whose root its checkpoint confirms.
async fn usable_frontier(store: &dyn ObjectStore, ledger_end: u64) -> Result<Frontier, CheckpointError> {
    let keys = store.list(PREFIX).await?;
    let mut frontiers: Vec<u64> = keys.iter().filter_map(|o| parse_key(o.key.as_str())).filter(|(_, n)| !n).map(|(s, _)| s).collect();
    frontiers.sort_unstable();
    for size in frontiers.into_iter().rev().filter(|s| *s <= ledger_end) {
        let Ok(bytes) = crate::store::get_all(store, &frontier_key(size)).await else { continue };
        let Ok(f) = serde_json::from_slice::<Frontier>(&bytes) else { continue };
        let Ok(Some(c)) = read(store, size).await else { continue };
        if f.size == size && f.is_well_formed() && f.root() == c.checkpoint.root {
            return Ok(f);
        }
    }
    Ok(Frontier::default())
}

/// Bring the checkpoints up to the store's ledger: extend the tree by the events after the
/// newest usable frontier, then write the frontier and the (signed, when `signer` is given)
/// checkpoint. `None` when the newest checkpoint already covers every event.
pub async fn update(store: &dyn ObjectStore, signer: Option<&Signer>, origin: &str) -> Result<Option<Written>, CheckpointError> {
    let segments: Vec<(i64, i64, ObjectKey)> = store
        .list("ledger/")
        .await?
        .into_iter()
        .filter_map(|o| ledger::parse_segment_key(o.key.as_str()).map(|(a, b)| (a, b, o.key)))
        .collect();
    let end = segments.iter().map(|s| s.1).max().unwrap_or(0).max(0) as u64;
    let mut frontier = usable_frontier(store, end).await?;
    if frontier.size == end && store.head(&note_key(end)).await?.is_some() {
        return Ok(None);
    }
    let from = frontier.size as i64;
    let mut leaves = std::collections::BTreeMap::<i64, Sha256>::new();
    for (_, last, key) in segments.iter().filter(|s| s.1 > from) {
        let bytes = crate::store::get_all(store, key).await?;
        let lines = ledger::decode_segment_lines(&bytes).map_err(|e| CheckpointError::Ledger(format!("{key}: {e}")))?;
        for (e, line) in lines.into_iter().filter(|(e, _)| e.seq > from) {
            leaves.entry(e.seq).or_insert_with(|| merkle::leaf_hash(line.as_bytes()));
        }
        debug_assert!(*last > from);
    }
    for (expect, (seq, leaf)) in (from + 1..).zip(&leaves) {
        if *seq != expect {
            return Err(CheckpointError::Ledger(format!("event {expect} is in no ledger segment")));
        }
        frontier.push(*leaf);
    }
    if frontier.size != end {
        return Err(CheckpointError::Ledger(format!("the segments name {end} events, but hold {}", frontier.size)));
    }
    let checkpoint = Checkpoint { origin: origin.to_string(), size: end, root: frontier.root(), extensions: Vec::new() };
    let text = checkpoint.text();
    let note = match signer {
        Some(s) => note::sign(&text, &[s])?,
        None => text,
    };
    let fbytes = serde_json::to_vec(&frontier).map_err(|e| CheckpointError::Ledger(e.to_string()))?;
    put_once(store, &frontier_key(end), fbytes).await?;
    let key = note_key(end);
    put_once(store, &key, note.clone().into_bytes()).await?;
    Ok(Some(Written { checkpoint, key, signed: signer.is_some() }))
}

/// Put bytes unless the same bytes are there already (a retried update). Other bytes at the
/// same key are left alone: a store never overwrites.
async fn put_once(store: &dyn ObjectStore, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), CheckpointError> {
    match store.put_bytes(key, bytes).await {
        Ok(()) | Err(StoreError::Exists(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Copy the checkpoints the witness lacks into it (same key, never replaced), and compare
/// the newest one both hold: a witness holding *another* checkpoint of that size means the
/// store's history changed after the witness saw it. That is an error, and nothing is copied
/// over it. Returns how many were copied. Reads only what is new, not every checkpoint.
pub async fn sync_witness(store: &dyn ObjectStore, witness: &dyn ObjectStore) -> Result<u64, CheckpointError> {
    let there: std::collections::BTreeSet<u64> =
        witness.list(PREFIX).await?.iter().filter_map(|o| parse_key(o.key.as_str())).filter(|(_, note)| *note).map(|(s, _)| s).collect();
    let ours = sizes(store).await?;
    if let Some(&shared) = ours.iter().rev().find(|s| there.contains(s)) {
        let key = note_key(shared);
        if crate::store::get_all(store, &key).await? != crate::store::get_all(witness, &key).await? {
            return Err(CheckpointError::Ledger(format!(
                "the witness {} holds another checkpoint of {shared} events than the store: the store's history changed after the witness saw it (run arkisto-audit with the witness's checkpoint)",
                witness.describe()
            )));
        }
    }
    let mut copied = 0;
    for size in ours.into_iter().filter(|s| !there.contains(s)) {
        let key = note_key(size);
        witness.put_bytes(&key, crate::store::get_all(store, &key).await?).await?;
        copied += 1;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse() {
        assert_eq!(parse_key(note_key(42).as_str()), Some((42, true)));
        assert_eq!(parse_key(frontier_key(7).as_str()), Some((7, false)));
        assert_eq!(parse_key("checkpoints/x.note"), None);
    }
}
