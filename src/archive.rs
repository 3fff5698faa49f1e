//! An open archive: configuration, store and index together, plus the bookkeeping every
//! command shares (recovery of interrupted writes, flushing the ledger to the store).

use std::collections::HashSet;
use std::sync::Arc;

use crate::config::Config;
use crate::index::{Index, IndexError, SqliteIndex};
use crate::ledger;
use crate::store::{LocalStore, ObjectKey, ObjectStore, S3Store, StoreError};

/// Failures opening or maintaining an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Index failure.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// `store.require_worm` is set and the store has not been proven to enforce Object Lock.
    #[error("store.require_worm is set, but Object Lock is not proven on this store: {0}")]
    NotWorm(String),
    /// The store holds another archive's objects where this one writes.
    #[error("{0}")]
    Foreign(String),
    /// Local file failure.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Held while a process may recover or rewrite packs; released on drop (or process exit).
pub struct WriterLock {
    _file: std::fs::File,
}

/// The archive a command works on.
#[derive(Clone)]
pub struct Archive {
    /// Configuration in force.
    pub config: Config,
    /// Object store (source of truth).
    pub store: Arc<dyn ObjectStore>,
    /// Index (derived).
    pub index: Arc<dyn Index>,
    /// Dictionaries loaded for reading.
    pub dicts: Arc<crate::dict::DictCache>,
    /// This instance's name in a shared index (runs, heartbeats and batch leases carry it).
    pub instance: String,
}

pub use crate::clock::now;

/// The configured instance name, or the one generated for this data directory.
fn instance_name(config: &Config) -> Result<String, ArchiveError> {
    if !config.serve.instance.trim().is_empty() {
        return Ok(config.serve.instance.trim().to_string());
    }
    let path = config.data_dir.join("instance-id");
    if let Ok(s) = std::fs::read_to_string(&path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_string());
    }
    let host = std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
    let id = crate::ids::RunId::generate().to_string();
    let name = format!("{}-{}", host.unwrap_or_else(|| "arkisto".into()), &id[id.len() - 8..]);
    std::fs::write(&path, &name).map_err(|source| ArchiveError::Io { what: format!("write {}", path.display()), source })?;
    Ok(name)
}

impl Archive {
    /// Open the store and index that `config` names, creating them if needed.
    pub async fn open(config: Config) -> Result<Self, ArchiveError> {
        let archive = Self::open_unchecked(config).await?;
        if archive.config.store.require_worm {
            archive.require_worm().await?;
        }
        Ok(archive)
    }

    /// Open without the `require_worm` check (for `store check`, which is how it is met).
    pub async fn open_unchecked(config: Config) -> Result<Self, ArchiveError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| ArchiveError::Io { what: format!("create {}", config.data_dir.display()), source })?;
        let store: Arc<dyn ObjectStore> = match config.store.kind.as_str() {
            "s3" => Arc::new(S3Store::open(&config.store).await?),
            _ => Arc::new(LocalStore::open(config.store_dir())?),
        };
        let index: Arc<dyn Index> = match config.index.kind.as_str() {
            "postgres" => Arc::new(crate::index::PgIndex::open(config.index.url.expose()).await?),
            _ => Arc::new(SqliteIndex::open(&config.index_path()).await?),
        };
        let instance = instance_name(&config)?;
        Ok(Self { config, store, index, dicts: Default::default(), instance })
    }

    /// The S3 store, when that is what this archive uses.
    pub async fn s3(&self) -> Result<Option<S3Store>, ArchiveError> {
        Ok(if self.config.store.kind == "s3" { Some(S3Store::open(&self.config.store).await?) } else { None })
    }

    /// Refuse unless the latest `store check` of this very store proved Object Lock enforced,
    /// within the last 30 days.
    async fn require_worm(&self) -> Result<(), ArchiveError> {
        let store = self.store.describe();
        let last = self.index.latest_event(crate::ledger::STORE_CHECK, &store).await?;
        let proven = last.as_ref().and_then(|e| serde_json::from_value::<crate::store::probe::CheckReport>(e.detail.clone()).ok());
        let fresh = |r: &crate::store::probe::CheckReport| {
            chrono::DateTime::parse_from_rfc3339(&r.checked_at)
                .is_ok_and(|t| chrono::Utc::now().signed_duration_since(t) < chrono::Duration::days(30))
        };
        match proven {
            Some(r) if r.object_lock_enforced && fresh(&r) => Ok(()),
            Some(r) if r.object_lock_enforced => {
                Err(ArchiveError::NotWorm(format!("the last proof is from {}; run `arkisto store check` again", r.checked_at)))
            }
            Some(r) => Err(ArchiveError::NotWorm(format!("`store check` on {} found: {}", r.checked_at, r.object_lock_detail))),
            None => Err(ArchiveError::NotWorm("no `arkisto store check` has been run on this store; run it first".into())),
        }
    }

    /// Take the archive's writer lock (a lock file in the data directory), waiting for another
    /// process that holds it. Commands that recover interrupted work or rewrite packs hold it,
    /// so that one never takes another's in-flight pack for a crash's leftovers.
    pub fn lock_writer(&self) -> Result<WriterLock, ArchiveError> {
        let path = self.config.data_dir.join("writer.lock");
        let io = |source| ArchiveError::Io { what: format!("lock {}", path.display()), source };
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!("another arkisto process is writing to {}; waiting for it to finish…", self.config.data_dir.display());
                f.lock().map_err(io)?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        Ok(WriterLock { _file: f })
    }

    /// The dictionary a record's frame needs, checked against the digest the index recorded.
    pub async fn dict_for(&self, loc: &crate::record::RecordLocation) -> Result<Option<Arc<Vec<u8>>>, crate::dict::DictError> {
        if loc.dict_id == 0 {
            return Ok(None);
        }
        let id = crate::dict::DictId(loc.dict_id);
        if let Some(d) = self.dicts.cached(id) {
            return Ok(Some(d));
        }
        // First use: check the object against the digest recorded when it was created.
        let known =
            self.index.dicts().await.map_err(|e| crate::dict::DictError::Index(e.to_string()))?.into_iter().find(|d| d.dict_id == id);
        self.load_dict(id, known.as_ref().map(|d| &d.sha256)).await.map(Some)
    }

    /// The dictionary `id`, from the cache or the store, checked against `expect` (the digest
    /// the index or the ledger recorded for it) when known.
    pub async fn load_dict(
        &self,
        id: crate::dict::DictId,
        expect: Option<&crate::digest::Sha256>,
    ) -> Result<Arc<Vec<u8>>, crate::dict::DictError> {
        if let Some(d) = self.dicts.cached(id) {
            return Ok(d);
        }
        let bytes = match crate::store::get_all(&*self.store, &ObjectKey::trusted(id.key())).await {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => return Err(crate::dict::DictError::Missing(id)),
            Err(e) => return Err(crate::dict::DictError::Store(e.to_string())),
        };
        self.dicts.insert_checked(id, bytes, expect)
    }

    /// Write every ledger event not yet in the store as one segment object.
    pub async fn flush_ledger(&self) -> Result<Option<String>, ArchiveError> {
        let events = self.index.unflushed_events().await?;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(None);
        };
        let (first, last) = (first.seq, last.seq);
        let key = ObjectKey::new(ledger::segment_key(first, last))?;
        let bytes = ledger::encode_segment(&events).map_err(|source| ArchiveError::Io { what: "encode ledger segment".into(), source })?;
        match self.store.put_bytes(&key, bytes.clone()).await {
            Ok(()) => {}
            // An earlier flush that stopped before marking: the same bytes are already there.
            // Other bytes mean another archive (or index) writes to this store: stop.
            Err(StoreError::Exists(_)) => {
                let there = crate::store::get_all(&*self.store, &key).await?;
                if there != bytes {
                    return Err(ArchiveError::Foreign(format!(
                        "ledger segment {key} in {} holds other events than this index: another archive uses the same store (give each its own bucket or store.prefix), or this index belongs to another store",
                        self.store.describe()
                    )));
                }
            }
            Err(e) => return Err(e.into()),
        }
        self.index.mark_flushed(first, last, key.as_str()).await?;
        // The events are in the store whatever happens next; a checkpoint that cannot be
        // written is said, and the next flush tries again.
        if let Err(e) = self.checkpoint().await {
            eprintln!("warning: ledger checkpoint not written ({}: {e})", e.code());
        }
        Ok(Some(key.to_string()))
    }

    /// The checkpoint signing key, when one is configured (or in the data directory). A
    /// rotation that stopped half-way is settled first: a new key (`.next`) whose
    /// announcement the ledger holds is put in place; one never announced is discarded.
    pub async fn signer(&self) -> Result<Option<arkisto_format::note::Signer>, crate::checkpoints::CheckpointError> {
        use crate::checkpoints::{self, CheckpointError};
        let path = self.config.signing_key_path();
        let next = checkpoints::next_path(&path);
        if next.exists() {
            match checkpoints::load_signer(&next) {
                Ok(Some(new)) => {
                    let announced = self
                        .index
                        .latest_event(ledger::KEY_ANNOUNCED, &new.verifier().to_string())
                        .await
                        .map_err(|e| CheckpointError::Ledger(e.to_string()))?
                        .is_some();
                    if announced {
                        checkpoints::finish_rotation(&path)?;
                    } else {
                        std::fs::remove_file(&next).map_err(|source| CheckpointError::KeyFile { path: next.clone(), source })?;
                    }
                }
                // Half-written: never announced, never used.
                _ => std::fs::remove_file(&next).map_err(|source| CheckpointError::KeyFile { path: next.clone(), source })?,
            }
        }
        checkpoints::load_signer(&path)
    }

    /// The origin line of this archive's checkpoints: the signing key's name, or
    /// `arkisto/<instance>` for unsigned tree heads.
    pub fn origin(&self, signer: Option<&arkisto_format::note::Signer>) -> String {
        signer.map(|s| s.name().to_string()).unwrap_or_else(|| format!("arkisto/{}", self.instance))
    }

    /// Bring the store's checkpoints up to its ledger (see [`crate::checkpoints::update`]),
    /// and copy them to the witness, when one is configured.
    pub async fn checkpoint(&self) -> Result<Option<crate::checkpoints::Written>, crate::checkpoints::CheckpointError> {
        let signer = self.signer().await?;
        let origin = self.origin(signer.as_ref());
        let written = crate::checkpoints::update(&*self.store, signer.as_ref(), &origin).await?;
        if let Some(w) = self.witness().await.map_err(|e| crate::checkpoints::CheckpointError::Ledger(format!("witness: {e}")))? {
            crate::checkpoints::sync_witness(&*self.store, &*w).await?;
        }
        Ok(written)
    }

    /// The witness store of `[ledger.witness]`, when one is configured.
    pub async fn witness(&self) -> Result<Option<Arc<dyn ObjectStore>>, ArchiveError> {
        let Some(w) = &self.config.ledger.witness else { return Ok(None) };
        Ok(Some(match w.kind.as_str() {
            "s3" => Arc::new(S3Store::open(w).await?),
            _ => Arc::new(LocalStore::open(w.path.clone().unwrap_or_else(|| self.config.data_dir.join("witness")))?),
        }))
    }

    /// The ledger as the store holds it (after flushing what the index has not yet written),
    /// replayed: the source of truth for holds, facts, plans and tombstones.
    pub async fn ledger_state(&self) -> Result<(crate::truth::LedgerState, crate::truth::StoredLedger), ArchiveError> {
        self.flush_ledger().await?;
        let stored = crate::truth::read_ledger(&*self.store).await?;
        Ok((crate::truth::LedgerState::replay(&stored.events), stored))
    }

    /// Subjects and records under a hold that the ledger *or* the index holds in force: a
    /// hold is lifted only when both agree it is gone (deleting index rows lifts nothing).
    pub async fn held(&self) -> Result<(HashSet<String>, HashSet<crate::ids::RecordId>), ArchiveError> {
        let (mut subjects, mut records) = self.index.held().await?;
        let (state, _) = self.ledger_state().await?;
        for h in state.holds.values().filter(|h| h.removed_at.is_none()) {
            if h.kind == "subject"
                && let Some(s) = &h.subject
            {
                subjects.insert(s.clone());
            }
            records.extend(h.records.iter().copied());
        }
        Ok((subjects, records))
    }
}
