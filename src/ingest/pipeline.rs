//! The ingest pipeline proper (see the module doc of `ingest`).

use std::fs;
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;

use super::batch::{self, BatchError, InputFile};
use super::commit::Committer;
use super::dicts::Trainer;
use super::report::{Counts, FileOutcome, RunReport};
use super::stage::{PackStage, StageOutcome};
use super::worker::{CHUNK, Work, WorkerConfig, process_chunk};
use crate::archive::{Archive, ArchiveError, now};
use crate::formats::xml::Limits;
use crate::ids::RunId;
use crate::index::{IndexError, RunFile, RunRow};
use crate::ledger::{self, NewEvent};
use crate::sources::{self, Profile, ProfileError, Unit};
use crate::store::StoreError;
use crate::validate;

/// Options of one ingest run.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Source system name (default: the batch folder's name).
    pub source: Option<String>,
    /// Who runs it.
    pub actor: String,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Set to stop the run early (the daemon's shutdown): no new file is started, the packs
    /// in flight are committed, and the run ends with [`IngestError::Interrupted`]; a later
    /// run of the same batch archives the rest and nothing twice.
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The source profile to read the batch with (None: a `PROFILE` file at the batch root
    /// names one; without it every file is read as CDA).
    pub profile: Option<Arc<Profile>>,
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
    /// Stopped on request after committing what was in flight.
    #[error("run stopped on request after {done} of {total} files; committed packs stay archived, a re-run archives the rest")]
    Interrupted {
        /// Files with an outcome.
        done: usize,
        /// Files in the batch.
        total: usize,
    },
    /// The source profile cannot be used.
    #[error(transparent)]
    Profile(#[from] ProfileError),
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

/// Run one ingest of `path` into `archive`.
pub async fn run(archive: &Archive, path: &Path, opts: &IngestOptions) -> Result<RunReport, IngestError> {
    let _writer = archive.lock_writer()?;
    let recovered = crate::maintain::recover::recover(archive).await?;
    let run_id = RunId::generate();
    let started_at = now();
    let profile = match &opts.profile {
        Some(p) => Some(p.clone()),
        None => batch_profile(archive, path)?,
    };
    let source = opts.source.clone().or_else(|| profile.as_ref().and_then(|p| p.source.clone())).unwrap_or_else(|| default_source(path));
    let mut row = RunRow {
        run_id,
        started_at: started_at.clone(),
        finished_at: None,
        source: source.clone(),
        input: path.display().to_string(),
        status: "running".into(),
        summary: None,
    };
    let progress = Arc::new(super::heartbeat::RunProgress::default());
    let _heartbeat = super::heartbeat::Heartbeater::start(archive, run_id, progress.clone()).await?;
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
                dicts: vec![],
                recovered_packs: recovered,
                store_retries: archive.store.retries(),
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
        policies: std::sync::Arc::new(
            archive
                .config
                .retention
                .policies()
                .map_err(|e| IngestError::Io { what: "load retention policies".into(), source: std::io::Error::other(e.to_string()) })?,
        ),
        default_class: Some(archive.config.retention.default_class.clone()).filter(|c| !c.is_empty()),
    };
    let a = archive.clone();
    let opts2 = opts.clone();
    let handle = Handle::current();
    let StageOutcome { files, counts, packs, dicts, links } =
        tokio::task::spawn_blocking(move || process(&a, batch.files, profile, &ctx, &opts2, handle, &progress))
            .await
            .map_err(|e| IngestError::Io { what: "ingest worker".into(), source: std::io::Error::other(e.to_string()) })??;
    if !links.is_empty() {
        // A file already archived, referred to by another record too: link it to that one
        // as well (a ledger event, so that a rebuild restores the link).
        let event = NewEvent {
            event_type: ledger::LINK.into(),
            actor: opts.actor.clone(),
            purpose: None,
            object: run_id.to_string(),
            outcome: "linked".into(),
            detail: serde_json::json!({}),
        };
        archive.index.add_links(&links, Some(event), &now()).await?;
    }
    let status = if counts.quarantined > 0 { "completed-with-findings" } else { "completed" };
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
        dicts,
        recovered_packs: recovered,
        store_retries: archive.store.retries(),
        files,
    };
    finish(archive, &mut row, &report, &opts.actor).await?;
    Ok(report)
}

async fn finish(archive: &Archive, row: &mut RunRow, report: &RunReport, actor: &str) -> Result<(), IngestError> {
    row.finished_at = Some(report.finished_at.clone());
    row.status = report.status.clone();
    row.summary = Some(serde_json::json!({ "counts": report.counts, "packs": report.packs, "refused": report.refused }));
    let mut files = report.files.iter().map(|f| RunFile {
        path: f.path.clone(),
        outcome: f.outcome.as_str().into(),
        record_id: f.record_id,
        findings: serde_json::to_value(&f.findings).unwrap_or_default(),
    });
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
    archive.index.finish_run(row, &mut files, events, &now()).await?;
    archive.flush_ledger().await?;
    Ok(())
}

fn default_source(path: &Path) -> String {
    let p = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = if p.is_file() { p.parent().map(Path::to_path_buf).unwrap_or(p) } else { p };
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "unknown".into())
}

/// The profile a batch names in its `PROFILE` control file, if any.
fn batch_profile(archive: &Archive, path: &Path) -> Result<Option<Arc<Profile>>, IngestError> {
    let f = path.join(batch::PROFILE_FILE);
    if !f.is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&f).map_err(io(format!("read {}", f.display())))?;
    // One line names a profile; more is a whole profile in TOML (a self-describing batch).
    let p = if text.trim().contains('\n') {
        Profile::parse(&text, &f)?
    } else {
        sources::profile::resolve(text.trim(), &archive.config.data_dir)?
    };
    Ok(Some(Arc::new(p)))
}

type Units = Box<dyn Iterator<Item = Unit> + Send>;

fn process(
    archive: &Archive,
    files: Vec<InputFile>,
    profile: Option<Arc<Profile>>,
    ctx: &validate::Context,
    opts: &IngestOptions,
    handle: Handle,
    progress: &Arc<super::heartbeat::RunProgress>,
) -> Result<StageOutcome, IngestError> {
    let limits = Limits { max_depth: archive.config.ingest.max_xml_depth, ..Limits::default() };
    let max_size = archive.config.ingest.max_file_size_mib << 20;
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (units, producer): (Units, Option<std::thread::JoinHandle<()>>) = match profile.clone() {
        None => {
            let n = files.len() as u64;
            progress.total.store(n, std::sync::atomic::Ordering::Relaxed);
            sent.store(n, std::sync::atomic::Ordering::Relaxed);
            (Box::new(files.into_iter().map(Unit::File)), None)
        }
        Some(p) => {
            // The producer reads export files on its own thread; a short bounded channel keeps
            // memory flat (it waits while the workers are behind; records can be large).
            let (tx, rx) = sync_channel::<Unit>(64);
            let sink = sources::Sink::new(tx, sent.clone(), opts.cancel.clone());
            let progress = progress.clone();
            let t = std::thread::Builder::new()
                .name("arkisto-reader".into())
                .spawn(move || {
                    sources::produce(&p, files, &sink, limits, max_size);
                    progress.total.store(sink.sent.load(std::sync::atomic::Ordering::Relaxed), std::sync::atomic::Ordering::Relaxed);
                })
                .map_err(io("start reader thread"))?;
            (Box::new(rx.into_iter()), Some(t))
        }
    };
    let workers = archive.config.workers().max(1);
    let jobs = Arc::new(Mutex::new(units));
    let (tx, rx) = sync_channel::<Vec<Work>>(workers * 2);
    let trainer = Trainer::start(archive, &handle, &ctx.source)?;
    let cfg = WorkerConfig {
        ctx: ctx.clone(),
        limits,
        level: archive.config.pack.compression_level,
        max_size,
        rules: profile.as_deref().map(|p| Arc::new(sources::rules(p))),
        tmp: archive.config.tmp_dir(),
        max_dict_record: trainer.max_record(),
        dict: trainer.slot.clone(),
    };
    let mut threads = Vec::new();
    for n in 0..workers {
        let (jobs, tx, cfg, index, handle) = (jobs.clone(), tx.clone(), cfg.clone(), archive.index.clone(), handle.clone());
        let cancel = opts.cancel.clone();
        let t = std::thread::Builder::new().name(format!("arkisto-worker-{n}")).spawn(move || {
            loop {
                if cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                    break;
                }
                let chunk: Vec<Unit> = match jobs.lock() {
                    Ok(mut j) => j.by_ref().take(CHUNK).collect(),
                    Err(_) => break,
                };
                if chunk.is_empty() {
                    break;
                }
                if tx.send(process_chunk(chunk, &cfg, &*index, &handle)).is_err() {
                    break;
                }
            }
        });
        threads.push(t.map_err(io("start worker thread"))?);
    }
    drop(tx);
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(progress.total.load(std::sync::atomic::Ordering::Relaxed));
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} files, eta {eta}  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let committer = Committer::start(archive.clone(), ctx.run_id, opts.actor.clone(), handle.clone());
    let mut stage = PackStage::new(archive, committer, handle, ctx.run_id, trainer)?;
    let mut result = Ok(());
    'outer: for works in rx.iter() {
        for w in works {
            if let Err(e) = stage.accept(w) {
                result = Err(e);
                break 'outer;
            }
            bar.inc(1);
            progress.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if producer.is_some() {
            // The total grows while the reader finds records.
            let n = sent.load(std::sync::atomic::Ordering::Relaxed);
            bar.set_length(n);
            progress.total.store(n, std::sync::atomic::Ordering::Relaxed);
        }
        bar.set_message(format!("{} quarantined", stage.quarantined()));
    }
    drop(rx);
    for t in threads {
        let _ = t.join();
    }
    if let Some(t) = producer {
        let _ = t.join();
    }
    let inputs = sent.load(std::sync::atomic::Ordering::Relaxed) as usize;
    let finished = stage.finish();
    bar.finish_and_clear();
    result?;
    let out = finished?;
    // Records decoded from inside a document have report lines of their own, beyond the inputs.
    let outcomes = out.files.iter().filter(|f| !super::report::is_embedded(&f.path)).count();
    if opts.cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) && outcomes < inputs {
        return Err(IngestError::Interrupted { done: outcomes, total: inputs });
    }
    // Every input file must be accounted for; anything else is a bug, not a result.
    if outcomes != inputs {
        return Err(IngestError::Io {
            what: "run report".into(),
            source: std::io::Error::other(format!(
                "{} input files but {} outcomes; committed packs stay archived, re-run",
                inputs, outcomes
            )),
        });
    }
    Ok(out)
}
