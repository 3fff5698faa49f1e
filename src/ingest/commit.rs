//! The committer: stores each finished pack durably, reads it back, then commits its index
//! rows and ingestion event in one transaction. It runs on its own thread so that index work
//! overlaps parsing and compression; a bounded queue keeps at most a few packs in flight.

use std::collections::VecDeque;
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
    // Up to `in_flight` packs are being stored at once (S3 round trips overlap); each is
    // indexed as soon as it is durably stored and read back, oldest first.
    let in_flight = archive.config.pack.upload_concurrency.max(1);
    let mut storing: VecDeque<tokio::task::JoinHandle<Result<Stored, (Job, IngestError)>>> = VecDeque::new();
    let mut first_err: Option<IngestError> = None;
    let settle = |r: Result<Result<Stored, (Job, IngestError)>, tokio::task::JoinError>, done: &mut Committed| -> Result<(), IngestError> {
        match r {
            Ok(Ok(stored)) => {
                let (pack, spool) = (stored.job.pack.path.clone(), stored.job.spool.clone());
                let r = index_pack(&archive, run_id, &actor, &handle, stored, done);
                let _ = fs::remove_file(&pack);
                let _ = fs::remove_file(&spool);
                r
            }
            Ok(Err((job, e))) => {
                let _ = fs::remove_file(&job.pack.path);
                let _ = fs::remove_file(&job.spool);
                Err(e)
            }
            Err(e) => Err(IngestError::Io { what: "pack upload task".into(), source: std::io::Error::other(e.to_string()) }),
        }
    };
    for job in rx {
        storing.push_back(handle.spawn(store_pack(archive.clone(), run_id, job)));
        if storing.len() >= in_flight
            && let Some(t) = storing.pop_front()
            && let Err(e) = settle(handle.block_on(t), &mut done)
        {
            first_err.get_or_insert(e);
        }
        if first_err.is_some() {
            break; // dropping `rx` stops the stage; what is in flight is still settled below
        }
    }
    while let Some(t) = storing.pop_front() {
        if let Err(e) = settle(handle.block_on(t), &mut done) {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

fn read_back_err(key: &ObjectKey, why: impl ToString) -> IngestError {
    IngestError::ReadBack { key: key.to_string(), why: why.to_string() }
}

/// A pack durably stored and read back, not yet indexed.
struct Stored {
    job: Job,
    key: ObjectKey,
}

/// Record the intent, put the pack, and read its table and footer back from the store.
async fn store_pack(archive: Archive, run_id: RunId, job: Job) -> Result<Stored, (Job, IngestError)> {
    let r = async {
        let finished = &job.pack;
        let key = ObjectKey::new(format!("packs/{}/{}.pack", chrono::Utc::now().year(), finished.id))?;
        let (store, index) = (&archive.store, &archive.index);
        // Record the intent first: a crash after the put leaves a pending pack that the next
        // run removes, never an unindexed orphan.
        index.begin_pack(finished.id, key.as_str(), run_id, &finished.table.created).await?;
        // Written unlocked: a pending pack must stay deletable. The lock follows the commit.
        let opts = PutOptions { sha256: Some(finished.sha256), no_lock: true };
        store.put_file(&key, &finished.path, &opts).await?;
        // Verify before trusting the write: one ranged read of table and footer as written
        // (the footer also fixes the size; a short object fails the range).
        let tail_len = finished.size - finished.table_offset;
        let tail = store.get_range(&key, finished.table_offset, tail_len).await?;
        let (tframe, foot) = tail.split_at(tail.len().saturating_sub(FOOTER_LEN));
        let footer = pack::decode_footer(foot, finished.size).map_err(|e| read_back_err(&key, e))?;
        if footer.table_offset != finished.table_offset || footer.table_len != tframe.len() as u64 {
            return Err(read_back_err(&key, "footer differs"));
        }
        let table = pack::decode_table(tframe, &footer).map_err(|e| read_back_err(&key, e))?;
        if table != finished.table {
            return Err(read_back_err(&key, "table differs"));
        }
        match store.head(&key).await? {
            Some(i) if i.size == finished.size => Ok(key),
            other => Err(read_back_err(&key, format!("size {:?} != {}", other.map(|i| i.size), finished.size))),
        }
    }
    .await;
    match r {
        Ok(key) => Ok(Stored { job, key }),
        Err(e) => Err((job, e)),
    }
}

/// Commit a stored pack's index rows and ingestion event in one transaction, then lock it.
fn index_pack(
    archive: &Archive,
    run_id: RunId,
    actor: &str,
    handle: &Handle,
    stored: Stored,
    done: &mut Committed,
) -> Result<(), IngestError> {
    let Stored { job: Job { pack: finished, pending, spool }, key } = stored;
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
    let horizon = pack_lock_horizon(records.iter().map(|r| r.meta.retention.lock_horizon.as_str()));
    let row = PackRow {
        pack_id: finished.id,
        key: key.to_string(),
        size: finished.size,
        sha256: finished.sha256,
        record_count: records.len() as u64,
        created_at: finished.table.created.clone(),
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
    handle.block_on(archive.index.commit_pack(&row, &records, vec![event], &now(), true))?;
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
