//! The committer: stores each finished pack durably, reads it back, then commits its index
//! rows and ingestion event in one transaction. It runs on its own thread so that index work
//! overlaps parsing and compression; a bounded queue keeps at most a few packs in flight.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use chrono::Datelike;
use tokio::runtime::Handle;

use super::pipeline::IngestError;
use super::report::{FileOutcome, FileReport};
use crate::archive::{Archive, now};
use crate::ids::{PackId, RunId};
use crate::index::{NewRecord, PackRow};
use crate::ledger::{self, NewEvent};
use crate::pack::{self, FinishedPack, format::FOOTER_LEN};
use crate::record::{RecordLocation, RecordMeta};
use crate::store::{ObjectKey, PutOptions};
use crate::validate::findings::Finding;

/// One record waiting in a pack: where it is, and where its index data sits in the spool.
pub struct Pending {
    pub path: String,
    pub row_id: i64,
    pub loc: RecordLocation,
    pub spool_offset: u64,
    pub meta_len: u64,
    pub warnings: Vec<Finding>,
}

/// A finished pack and what is needed to index it.
pub struct Job {
    pub pack: FinishedPack,
    pub pending: Vec<Pending>,
    pub spool: PathBuf,
}

/// What the committer did.
#[derive(Default)]
pub struct Committed {
    pub files: Vec<FileReport>,
    pub packs: Vec<PackId>,
    pub bytes_archived: u64,
    pub bytes_stored: u64,
}

/// Handle to the committer thread.
pub struct Committer {
    tx: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<Result<Committed, IngestError>>>,
}

impl Committer {
    /// Start the committer for a run.
    pub fn start(archive: Archive, run_id: RunId, actor: String, handle: Handle) -> Self {
        let (tx, rx) = sync_channel::<Job>(2);
        let thread = std::thread::spawn(move || run(archive, run_id, actor, handle, rx));
        Self { tx: Some(tx), thread: Some(thread) }
    }

    /// Queue a pack; fails if the committer has stopped on an error (take it with `finish`).
    pub fn send(&self, job: Job) -> Result<(), Box<Job>> {
        match &self.tx {
            Some(tx) => tx.send(job).map_err(|e| Box::new(e.0)),
            None => Err(Box::new(job)),
        }
    }

    /// The error the thread stopped on (after `send` failed).
    pub fn stopped_error(&mut self) -> IngestError {
        drop(self.tx.take());
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => e,
            _ => IngestError::Io {
                what: "pack committer".into(),
                source: std::io::Error::other("stopped without an error (thread panicked?)"),
            },
        }
    }

    /// Wait for every queued pack and return what was committed, or the first error.
    pub fn finish(mut self) -> Result<Committed, IngestError> {
        drop(self.tx.take());
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Err(IngestError::Io { what: "pack committer".into(), source: std::io::Error::other("committer thread panicked") }),
        }
    }
}

fn run(archive: Archive, run_id: RunId, actor: String, handle: Handle, rx: Receiver<Job>) -> Result<Committed, IngestError> {
    let mut done = Committed::default();
    for job in rx {
        let (pack_path, spool) = (job.pack.path.clone(), job.spool.clone());
        let r = commit(&archive, run_id, &actor, &handle, job, &mut done);
        let _ = fs::remove_file(&pack_path);
        let _ = fs::remove_file(&spool);
        r?;
    }
    Ok(done)
}

fn read_back_err(key: &ObjectKey, why: impl ToString) -> IngestError {
    IngestError::ReadBack { key: key.to_string(), why: why.to_string() }
}

fn commit(archive: &Archive, run_id: RunId, actor: &str, handle: &Handle, job: Job, done: &mut Committed) -> Result<(), IngestError> {
    let Job { pack: finished, pending, spool } = job;
    let key = ObjectKey::new(format!("packs/{}/{}.pack", chrono::Utc::now().year(), finished.id))?;
    let (store, index) = (archive.store.clone(), archive.index.clone());
    let created = finished.table.created.clone();
    let io = |what: &'static str| move |source| IngestError::Io { what: what.into(), source };
    let mut sp = File::open(&spool).map_err(io("open spool"))?;
    let mut records = Vec::with_capacity(pending.len());
    for p in &pending {
        sp.seek(SeekFrom::Start(p.spool_offset)).map_err(io("read spool"))?;
        let mut m = vec![0u8; p.meta_len as usize];
        sp.read_exact(&mut m).map_err(io("read spool"))?;
        let meta: RecordMeta =
            serde_json::from_slice(&m).map_err(|e| IngestError::Io { what: "decode spool".into(), source: std::io::Error::other(e) })?;
        records.push(NewRecord { row_id: p.row_id, meta, location: p.loc.clone() });
    }
    // Written unlocked: a crash before the index commit leaves a pending pack that the next
    // run must be able to delete. The lock follows the commit (below).
    let opts = PutOptions { sha256: Some(finished.sha256), no_lock: true, ..Default::default() };
    let horizon = pack_lock_horizon(records.iter().map(|r| r.meta.retention.lock_horizon.as_str()));
    handle.block_on(async {
        // Record the intent first: a crash after the put leaves a pending pack that the next
        // run removes, never an unindexed orphan.
        index.begin_pack(finished.id, key.as_str(), run_id, &created).await?;
        store.put_file(&key, &finished.path, &opts).await?;
        // Verify before trusting the write: size, footer and table as written.
        let info = store.head(&key).await?.ok_or_else(|| read_back_err(&key, "object missing after put"))?;
        if info.size != finished.size {
            return Err(read_back_err(&key, format!("size {} != {}", info.size, finished.size)));
        }
        let tail = store.get_range(&key, info.size.saturating_sub(FOOTER_LEN as u64), FOOTER_LEN as u64).await?;
        let footer = pack::decode_footer(&tail, info.size).map_err(|e| read_back_err(&key, e))?;
        let tframe = store.get_range(&key, footer.table_offset, footer.table_len).await?;
        let table = pack::decode_table(&tframe, &footer).map_err(|e| read_back_err(&key, e))?;
        if table != finished.table {
            return Err(read_back_err(&key, "table differs"));
        }
        Ok::<_, IngestError>(())
    })?;
    let row = PackRow {
        pack_id: finished.id,
        key: key.to_string(),
        size: finished.size,
        sha256: finished.sha256,
        record_count: records.len() as u64,
        created_at: created,
        run_id: Some(run_id),
    };
    let event = NewEvent {
        event_type: ledger::INGESTION.into(),
        actor: actor.into(),
        purpose: None,
        object: finished.id.to_string(),
        outcome: "success".into(),
        detail: serde_json::json!({
            "run": run_id, "key": key.as_str(), "pack_sha256": finished.sha256, "size": finished.size,
            "records": records.iter().map(|r| r.meta.record_id).collect::<Vec<_>>(),
        }),
    };
    handle.block_on(archive.index.commit_pack(&row, &records, vec![event], &now()))?;
    // Object Lock: the pack may not be destroyed before its earliest member may be. A failure
    // here leaves an archived but unlocked pack, which `lock renew` finds and locks.
    let ids: Vec<_> = records.iter().map(|r| r.meta.record_id).collect();
    if let Err(e) = handle.block_on(crate::lock::lock_new_pack(archive, &key, horizon, &ids)) {
        eprintln!("warning: pack {key} is archived but not yet locked ({e}); run `arkisto lock renew`");
    }
    for p in pending {
        done.bytes_archived += p.loc.original_size;
        done.bytes_stored += p.loc.data_len;
        done.files.push(FileReport {
            path: p.path,
            outcome: FileOutcome::Archived,
            record_id: Some(p.loc.record_id),
            findings: p.warnings,
        });
    }
    done.packs.push(finished.id);
    Ok(())
}

/// A pack's lock horizon: the earliest of its members' (unparseable or empty ones are
/// ignored; no horizon at all leaves the store's default period).
pub fn pack_lock_horizon<'a>(horizons: impl Iterator<Item = &'a str>) -> Option<chrono::NaiveDate> {
    horizons.filter_map(|h| chrono::NaiveDate::parse_from_str(h, "%Y-%m-%d").ok()).min()
}
