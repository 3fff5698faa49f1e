//! The ingest pipeline proper (see the module doc of `ingest`).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use chrono::Datelike;
use tokio::runtime::Handle;

use super::IngestedRecord;
use super::batch::{self, BatchError, InputFile};
use super::report::{Counts, FileOutcome, FileReport, RunReport};
use crate::archive::{Archive, ArchiveError, now};
use crate::digest::Sha256;
use crate::formats::{cda, xml::Limits};
use crate::ids::{PackId, RecordId, RunId};
use crate::index::{IndexError, NewRecord, PackRow, RunFile, RunRow};
use crate::ledger::{self, NewEvent};
use crate::pack::{self, CompressedRecord, PackWriter, format::FOOTER_LEN};
use crate::record::{RecordLocation, RecordMeta};
use crate::store::{ObjectKey, StoreError};
use crate::validate::{
    self,
    findings::{Code, Finding},
};

/// Options of one ingest run.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Source system name (default: the batch folder's name).
    pub source: Option<String>,
    /// Who runs it.
    pub actor: String,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// Why an ingest run could not complete. Records committed before the failure stay archived;
/// a re-run picks up the rest.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The batch could not be opened.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// Store or index failure.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A stored pack did not read back as written: it is not indexed.
    #[error("pack {key} did not read back as written ({why}); it was not indexed")]
    ReadBack {
        /// Object key.
        key: String,
        /// What differed.
        why: String,
    },
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Archive(e.into())
    }
}
impl From<IndexError> for IngestError {
    fn from(e: IndexError) -> Self {
        IngestError::Archive(e.into())
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> IngestError {
    let what = what.into();
    move |source| IngestError::Io { what, source }
}

/// What a worker made of one input.
enum Work {
    Ready {
        path: String,
        rec: Box<CompressedRecord>,
    },
    Duplicate {
        path: String,
        id: RecordId,
    },
    Quarantine {
        path: String,
        abs: Option<PathBuf>,
        id: Option<RecordId>,
        findings: Vec<Finding>,
    },
    Fatal(IngestError),
}

/// Run one ingest of `path` into `archive`.
pub async fn run(archive: &Archive, path: &Path, opts: &IngestOptions) -> Result<RunReport, IngestError> {
    let recovered = archive.recover().await?;
    let run_id = RunId::generate();
    let started_at = now();
    let source = opts.source.clone().unwrap_or_else(|| default_source(path));
    let mut row = RunRow {
        run_id,
        started_at: started_at.clone(),
        finished_at: None,
        source: source.clone(),
        input: path.display().to_string(),
        status: "running".into(),
        summary: None,
    };
    archive.index.start_run(&row).await?;
    let batch = match batch::open(path) {
        Ok(b) => b,
        Err(BatchError::RefusedBag { reason, .. }) => {
            let report = RunReport {
                run_id,
                source,
                input: row.input.clone(),
                status: "refused".into(),
                refused: Some(reason.clone()),
                started_at,
                finished_at: now(),
                counts: Counts::default(),
                packs: vec![],
                recovered_packs: recovered,
                files: vec![],
            };
            finish(archive, &mut row, &report, &opts.actor).await?;
            return Ok(report);
        }
        Err(e) => return Err(e.into()),
    };
    let ctx = validate::Context {
        source: source.clone(),
        run_id,
        today: chrono::Utc::now().date_naive(),
        now: started_at.clone(),
        invalid_hetu: archive.config.ingest.invalid_hetu,
        incomplete_header: archive.config.ingest.incomplete_header,
    };
    let a = archive.clone();
    let opts2 = opts.clone();
    let handle = Handle::current();
    let (files, counts, packs) = tokio::task::spawn_blocking(move || process(&a, batch.files, &ctx, &opts2, handle))
        .await
        .map_err(|e| IngestError::Io {
            what: "ingest worker".into(),
            source: std::io::Error::other(e.to_string()),
        })??;
    let status = if counts.quarantined > 0 {
        "completed-with-findings"
    } else {
        "completed"
    };
    let report = RunReport {
        run_id,
        source,
        input: row.input.clone(),
        status: status.into(),
        refused: None,
        started_at,
        finished_at: now(),
        counts,
        packs,
        recovered_packs: recovered,
        files,
    };
    finish(archive, &mut row, &report, &opts.actor).await?;
    Ok(report)
}

async fn finish(archive: &Archive, row: &mut RunRow, report: &RunReport, actor: &str) -> Result<(), IngestError> {
    row.finished_at = Some(report.finished_at.clone());
    row.status = report.status.clone();
    row.summary = Some(serde_json::json!({ "counts": report.counts, "packs": report.packs, "refused": report.refused }));
    let files: Vec<RunFile> = report
        .files
        .iter()
        .map(|f| RunFile {
            path: f.path.clone(),
            outcome: f.outcome.as_str().into(),
            record_id: f.record_id,
            findings: serde_json::to_value(&f.findings).unwrap_or_default(),
        })
        .collect();
    let quarantined: Vec<serde_json::Value> = report
        .files
        .iter()
        .filter(|f| f.outcome == FileOutcome::Quarantined)
        .map(|f| serde_json::json!({ "record_id": f.record_id, "codes": f.findings.iter().map(|x| x.code.as_str()).collect::<Vec<_>>() }))
        .collect();
    let mut events = vec![NewEvent {
        event_type: ledger::RUN.into(),
        actor: actor.into(),
        purpose: None,
        object: report.run_id.to_string(),
        outcome: report.status.clone(),
        detail: serde_json::json!({ "run": row, "refused": report.refused }),
    }];
    if !quarantined.is_empty() {
        events.push(NewEvent {
            event_type: ledger::VALIDATION.into(),
            actor: actor.into(),
            purpose: None,
            object: report.run_id.to_string(),
            outcome: "quarantined".into(),
            detail: serde_json::json!({ "quarantined": quarantined }),
        });
    }
    archive.index.finish_run(row, &files, events, &now()).await?;
    archive.flush_ledger().await?;
    Ok(())
}

fn default_source(path: &Path) -> String {
    let p = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = if p.is_file() {
        p.parent().map(Path::to_path_buf).unwrap_or(p)
    } else {
        p
    };
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn process(
    archive: &Archive,
    files: Vec<InputFile>,
    ctx: &validate::Context,
    opts: &IngestOptions,
    handle: Handle,
) -> Result<(Vec<FileReport>, Counts, Vec<PackId>), IngestError> {
    let total = files.len() as u64;
    let workers = archive.config.workers().max(1);
    let jobs = Arc::new(Mutex::new(files.into_iter()));
    let (tx, rx) = sync_channel::<Work>(workers * 2);
    let limits = Limits {
        max_depth: archive.config.ingest.max_xml_depth,
        ..Limits::default()
    };
    let level = archive.config.pack.compression_level;
    let max_size = archive.config.ingest.max_file_size_mib << 20;
    let mut threads = Vec::new();
    for _ in 0..workers {
        let (jobs, tx, ctx, index, handle) = (jobs.clone(), tx.clone(), ctx.clone(), archive.index.clone(), handle.clone());
        threads.push(std::thread::spawn(move || {
            loop {
                let next = jobs.lock().ok().and_then(|mut j| j.next());
                let Some(file) = next else { break };
                let w = prepare(file, &ctx, limits, level, max_size, &*index, &handle);
                if tx.send(w).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} files ({per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut stage = PackStage::new(archive, ctx.run_id, opts.actor.clone(), handle)?;
    let mut result = Ok(());
    for w in rx.iter() {
        if let Err(e) = stage.accept(w) {
            result = Err(e);
            break;
        }
        bar.inc(1);
        bar.set_message(format!(
            "{} archived, {} quarantined",
            stage.counts.archived + stage.pending_count(),
            stage.counts.quarantined
        ));
    }
    drop(rx);
    for t in threads {
        let _ = t.join();
    }
    result?;
    stage.flush_all()?;
    bar.finish_and_clear();
    let mut files = stage.files;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    stage.counts.files = files.len() as u64;
    Ok((files, stage.counts, stage.packs))
}

fn prepare(
    file: InputFile,
    ctx: &validate::Context,
    limits: Limits,
    level: i32,
    max_size: u64,
    index: &dyn crate::index::Index,
    handle: &Handle,
) -> Work {
    let path = file.rel_path;
    let q = |abs: Option<PathBuf>, id: Option<RecordId>, f: Vec<Finding>| Work::Quarantine {
        path: path.clone(),
        abs,
        id,
        findings: f,
    };
    if let Some(p) = file.problem {
        return q(None, None, vec![p]);
    }
    let size = match fs::metadata(&file.abs_path) {
        Ok(m) => m.len(),
        Err(e) => return q(None, None, vec![Finding::new(Code::V013, format!("cannot read: {}", e.kind()))]),
    };
    if size > max_size {
        return q(
            Some(file.abs_path),
            None,
            vec![Finding::new(
                Code::V012,
                format!("{size} bytes is over the {max_size}-byte limit (ingest.max_file_size_mib)"),
            )],
        );
    }
    let bytes = match fs::read(&file.abs_path) {
        Ok(b) => b,
        Err(e) => return q(None, None, vec![Finding::new(Code::V013, format!("cannot read: {}", e.kind()))]),
    };
    let id = RecordId(Sha256::of(&bytes));
    match handle.block_on(index.has_record(&id)) {
        Ok(true) => return Work::Duplicate { path, id },
        Ok(false) => {}
        Err(e) => return Work::Fatal(e.into()),
    }
    let doc = match cda::read(&bytes, limits) {
        Ok(d) => d,
        Err(f) => return q(Some(file.abs_path), Some(id), vec![f]),
    };
    let validated = match validate::validate(
        IngestedRecord {
            rel_path: path.clone(),
            bytes,
            record_id: id,
        },
        doc,
        ctx,
    ) {
        Ok(v) => v,
        Err(f) => return q(Some(file.abs_path), Some(id), f),
    };
    match pack::compress(validated, level) {
        Ok(rec) => Work::Ready { path, rec: Box::new(rec) },
        Err(e) => Work::Fatal(IngestError::Io {
            what: format!("compress {path}"),
            source: e,
        }),
    }
}

struct Pending {
    path: String,
    loc: RecordLocation,
    spool_offset: u64,
    meta_len: u64,
    narrative_len: u64,
}

/// A pack being filled, with a spool file holding its records' index data (so that memory
/// stays flat however large the pack grows).
struct OpenPack {
    writer: PackWriter,
    pending: Vec<Pending>,
    spool: BufWriter<File>,
    spool_path: PathBuf,
    spool_len: u64,
}

struct PackStage<'a> {
    archive: &'a Archive,
    handle: Handle,
    run_id: RunId,
    actor: String,
    open: HashMap<String, OpenPack>,
    seen: HashSet<RecordId>,
    seen_docs: HashMap<String, (RecordId, String)>,
    files: Vec<FileReport>,
    warnings: HashMap<RecordId, Vec<Finding>>,
    counts: Counts,
    packs: Vec<PackId>,
    target: u64,
    tmp: PathBuf,
    quarantine: PathBuf,
}

impl<'a> PackStage<'a> {
    fn new(archive: &'a Archive, run_id: RunId, actor: String, handle: Handle) -> Result<Self, IngestError> {
        let tmp = archive.config.tmp_dir();
        fs::create_dir_all(&tmp).map_err(io(format!("create {}", tmp.display())))?;
        Ok(Self {
            archive,
            handle,
            run_id,
            actor,
            open: HashMap::new(),
            seen: HashSet::new(),
            seen_docs: HashMap::new(),
            files: Vec::new(),
            warnings: HashMap::new(),
            counts: Counts::default(),
            packs: Vec::new(),
            target: archive.config.pack.target_size_mib << 20,
            tmp,
            quarantine: archive.config.quarantine_dir().join(run_id.to_string()),
        })
    }

    fn pending_count(&self) -> u64 {
        self.open.values().map(|p| p.pending.len() as u64).sum()
    }

    fn accept(&mut self, w: Work) -> Result<(), IngestError> {
        match w {
            Work::Fatal(e) => Err(e),
            Work::Duplicate { path, id } => {
                self.duplicate(path, id);
                Ok(())
            }
            Work::Quarantine { path, abs, id, findings } => self.quarantine(path, abs.as_deref(), id, findings),
            Work::Ready { path, rec } => self.add(path, *rec),
        }
    }

    fn duplicate(&mut self, path: String, id: RecordId) {
        self.counts.duplicate += 1;
        self.files.push(FileReport {
            path,
            outcome: FileOutcome::Duplicate,
            record_id: Some(id),
            findings: vec![],
        });
    }

    fn quarantine(&mut self, path: String, abs: Option<&Path>, id: Option<RecordId>, findings: Vec<Finding>) -> Result<(), IngestError> {
        let files_dir = self.quarantine.join("files");
        let find_dir = self.quarantine.join("findings");
        let json =
            serde_json::to_vec_pretty(&serde_json::json!({ "path": path, "record_id": id, "findings": findings })).unwrap_or_default();
        let fpath = find_dir.join(format!("{path}.json"));
        fs::create_dir_all(fpath.parent().unwrap_or(&find_dir)).map_err(io("create quarantine folder"))?;
        fs::write(&fpath, json).map_err(io(format!("write {}", fpath.display())))?;
        if let Some(src) = abs {
            let dst = files_dir.join(&path);
            fs::create_dir_all(dst.parent().unwrap_or(&files_dir)).map_err(io("create quarantine folder"))?;
            fs::copy(src, &dst).map_err(io(format!("copy {path} to quarantine")))?;
        }
        self.counts.quarantined += 1;
        self.files.push(FileReport {
            path,
            outcome: FileOutcome::Quarantined,
            record_id: id,
            findings,
        });
        Ok(())
    }

    fn add(&mut self, path: String, rec: CompressedRecord) -> Result<(), IngestError> {
        let id = rec.meta.record_id;
        if self.seen.contains(&id) {
            self.duplicate(path, id);
            return Ok(());
        }
        let mut rec = rec;
        if let Some(doc) = rec.meta.document_id.as_ref().map(|d| d.0.clone()) {
            // The same document id with other bytes: keep both, flag the newcomer (V008).
            let conflict = match self.seen_docs.get(&doc) {
                Some((other, other_path)) if *other != id => Some(format!(
                    "document id {doc} is also in this batch ({other_path}) with different bytes; both are archived"
                )),
                Some(_) => None,
                None => self
                    .handle
                    .block_on(self.archive.index.records_for_document(&doc))?
                    .into_iter()
                    .find(|other| *other != id)
                    .map(|other| format!("document id {doc} is already archived as record {other} with different bytes; both are kept")),
            };
            if let Some(msg) = conflict {
                rec.meta.findings.push(Finding::new(Code::V008, msg));
            }
            self.seen_docs.entry(doc).or_insert((id, path.clone()));
        }
        self.seen.insert(id);
        if !rec.meta.findings.is_empty() {
            self.warnings.insert(id, rec.meta.findings.clone());
        }
        let group = rec.meta.retention.group_key();
        if !self.open.contains_key(&group) && self.open.len() >= self.archive.config.pack.max_open_packs {
            let fullest = self.open.iter().max_by_key(|(_, p)| p.writer.size()).map(|(k, _)| k.clone());
            if let Some(k) = fullest {
                self.flush(&k)?;
            }
        }
        if !self.open.contains_key(&group) {
            let p = self.open_pack()?;
            self.open.insert(group.clone(), p);
        }
        let Some(op) = self.open.get_mut(&group) else { return Ok(()) };
        let loc = op.writer.append(&rec).map_err(io("write pack"))?;
        let meta_json = serde_json::to_vec(&rec.meta).map_err(|e| IngestError::Io {
            what: "encode metadata".into(),
            source: std::io::Error::other(e),
        })?;
        op.spool.write_all(&meta_json).map_err(io("write spool"))?;
        op.spool.write_all(rec.narrative.as_bytes()).map_err(io("write spool"))?;
        op.pending.push(Pending {
            path,
            loc,
            spool_offset: op.spool_len,
            meta_len: meta_json.len() as u64,
            narrative_len: rec.narrative.len() as u64,
        });
        op.spool_len += (meta_json.len() + rec.narrative.len()) as u64;
        if op.writer.size() >= self.target {
            self.flush(&group)?;
        }
        Ok(())
    }

    fn open_pack(&self) -> Result<OpenPack, IngestError> {
        let id = PackId::generate();
        let writer = PackWriter::create(&self.tmp, id, now()).map_err(io("create pack temp file"))?;
        let spool_path = self.tmp.join(format!("{id}.spool"));
        let spool = BufWriter::new(File::create(&spool_path).map_err(io("create spool"))?);
        Ok(OpenPack {
            writer,
            pending: Vec::new(),
            spool,
            spool_path,
            spool_len: 0,
        })
    }

    fn flush_all(&mut self) -> Result<(), IngestError> {
        let mut keys: Vec<String> = self.open.keys().cloned().collect();
        keys.sort();
        for k in keys {
            self.flush(&k)?;
        }
        Ok(())
    }

    /// Close a pack, store it durably, read it back, then commit its index rows and event.
    fn flush(&mut self, group: &str) -> Result<(), IngestError> {
        let Some(op) = self.open.remove(group) else { return Ok(()) };
        if op.writer.is_empty() {
            op.writer.abandon();
            let _ = fs::remove_file(&op.spool_path);
            return Ok(());
        }
        let OpenPack {
            writer,
            pending,
            spool,
            spool_path,
            ..
        } = op;
        drop(spool.into_inner().map_err(|e| e.into_error()).map_err(io("flush spool"))?);
        let finished = writer.finish().map_err(io("finish pack"))?;
        let key = ObjectKey::new(format!("packs/{}/{}.pack", chrono::Utc::now().year(), finished.id))?;
        let (store, index) = (self.archive.store.clone(), self.archive.index.clone());
        let created = finished.table.created.clone();
        self.handle.block_on(async {
            index.begin_pack(finished.id, key.as_str(), self.run_id, &created).await?;
            store.put_file(&key, &finished.path).await?;
            // Verify before trusting the write: size, footer and table as written.
            let info = store.head(&key).await?.ok_or_else(|| IngestError::ReadBack {
                key: key.to_string(),
                why: "object missing after put".into(),
            })?;
            if info.size != finished.size {
                return Err(IngestError::ReadBack {
                    key: key.to_string(),
                    why: format!("size {} != {}", info.size, finished.size),
                });
            }
            let tail = store.get_range(&key, info.size - FOOTER_LEN as u64, FOOTER_LEN as u64).await?;
            let footer = pack::decode_footer(&tail, info.size).map_err(|e| IngestError::ReadBack {
                key: key.to_string(),
                why: e.to_string(),
            })?;
            let tframe = store.get_range(&key, footer.table_offset, footer.table_len).await?;
            let table = pack::decode_table(&tframe, &footer).map_err(|e| IngestError::ReadBack {
                key: key.to_string(),
                why: e.to_string(),
            })?;
            if table != finished.table {
                return Err(IngestError::ReadBack {
                    key: key.to_string(),
                    why: "table differs".into(),
                });
            }
            Ok::<_, IngestError>(())
        })?;
        let mut spool = File::open(&spool_path).map_err(io("open spool"))?;
        let mut records = Vec::with_capacity(pending.len());
        for p in &pending {
            spool.seek(SeekFrom::Start(p.spool_offset)).map_err(io("read spool"))?;
            let mut m = vec![0u8; p.meta_len as usize];
            spool.read_exact(&mut m).map_err(io("read spool"))?;
            let mut n = vec![0u8; p.narrative_len as usize];
            spool.read_exact(&mut n).map_err(io("read spool"))?;
            let meta: RecordMeta = serde_json::from_slice(&m).map_err(|e| IngestError::Io {
                what: "decode spool".into(),
                source: std::io::Error::other(e),
            })?;
            records.push(NewRecord {
                meta,
                location: p.loc.clone(),
                narrative: String::from_utf8_lossy(&n).into_owned(),
            });
        }
        let row = PackRow {
            pack_id: finished.id,
            key: key.to_string(),
            size: finished.size,
            sha256: finished.sha256,
            record_count: records.len() as u64,
            created_at: created.clone(),
            run_id: Some(self.run_id),
        };
        let event = NewEvent {
            event_type: ledger::INGESTION.into(),
            actor: self.actor.clone(),
            purpose: None,
            object: finished.id.to_string(),
            outcome: "success".into(),
            detail: serde_json::json!({
                "run": self.run_id, "key": key.as_str(), "pack_sha256": finished.sha256, "size": finished.size,
                "records": records.iter().map(|r| r.meta.record_id).collect::<Vec<_>>(),
            }),
        };
        self.handle
            .block_on(self.archive.index.commit_pack(&row, &records, vec![event], &now()))?;
        let _ = fs::remove_file(&finished.path);
        let _ = fs::remove_file(&spool_path);
        for p in pending {
            self.counts.archived += 1;
            self.counts.bytes_archived += p.loc.original_size;
            self.counts.bytes_stored += p.loc.data_len;
            let findings = self.warnings.remove(&p.loc.record_id).unwrap_or_default();
            self.files.push(FileReport {
                path: p.path,
                outcome: FileOutcome::Archived,
                record_id: Some(p.loc.record_id),
                findings,
            });
        }
        self.packs.push(finished.id);
        Ok(())
    }
}
