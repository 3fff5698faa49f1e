//! `arkisto serve`: a tokio daemon made of workers that share one shutdown signal.
//!
//! - **inbox**: archival runs over inbox folders. Each subfolder is a batch, taken only when
//!   complete: it holds a `READY` file, or it is a BagIt bag that validates. A finished batch
//!   gets an `ARCHIVED` marker (run id, status) and is not taken again. A run stopped by
//!   shutdown commits what is in flight; the next start archives the rest (nothing twice).
//! - **fixity**: a sweep verifies one slice of the packs each time (`serve.fixity_share`), so
//!   the whole archive is covered every `1 / share` sweeps; the slice survives restarts.
//! - **lock**: `lock renew` where the store has Object Lock configured.
//! - **api**: the HTTP API (`serve.listen`), see [`crate::api`].
//!
//! Several instances may share one index and store: each batch is claimed with a lease in
//! the index (renewed every `serve.heartbeat_secs`, lost after 6 missed beats); a batch whose
//! holder died is taken over by another instance, whose recovery cleans up the dead run's
//! unindexed packs and archives the rest (what was committed is found as duplicates).
//!
//! Schedules are cron expressions with seconds (`sec min hour day month weekday`).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::archive::{Archive, now};
use crate::ingest::{self, IngestError, IngestOptions};

/// Daemon failures (at start; a failing job is logged and retried at its next tick).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A schedule that cron cannot read.
    #[error("serve.{name} = {expr:?} is not a cron expression (sec min hour day month weekday): {why}")]
    Schedule {
        /// Config key.
        name: String,
        /// The expression.
        expr: String,
        /// Parser's reason.
        why: String,
    },
    /// An inbox folder that is not there.
    #[error("inbox folder {0} does not exist")]
    Inbox(PathBuf),
    /// The API address cannot be listened on.
    #[error("serve.listen = {addr:?}: cannot listen there ({why}); pick a free address or leave it empty for no API")]
    Listen {
        /// Address.
        addr: String,
        /// Cause.
        why: String,
    },
}

impl DaemonError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DaemonError::Schedule { .. } => "daemon-schedule",
            DaemonError::Inbox(_) => "daemon-inbox",
            DaemonError::Listen { .. } => "daemon-listen",
        }
    }
}

/// The marker a finished batch gets.
pub const ARCHIVED: &str = "ARCHIVED";
/// The marker that says a (non-bag) batch is complete.
pub const READY: &str = "READY";

fn log(what: impl AsRef<str>) {
    eprintln!("{} arkisto serve: {}", crate::archive::now(), what.as_ref());
}

fn schedule(name: &str, expr: &str) -> Result<Option<cron::Schedule>, DaemonError> {
    if expr.trim().is_empty() || expr.trim() == "off" {
        return Ok(None);
    }
    cron::Schedule::from_str(expr).map(Some).map_err(|e| DaemonError::Schedule { name: name.into(), expr: expr.into(), why: e.to_string() })
}

/// What a worker does at each tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Job {
    Inbox,
    Fixity,
    Lock,
    Checkpoint,
}

/// Run the daemon until `shutdown` turns true. With `once`, run every job one time, now,
/// and return.
pub async fn serve(archive: Archive, actor: String, mut shutdown: watch::Receiver<bool>, once: bool) -> Result<(), DaemonError> {
    let cfg = archive.config.serve.clone();
    for d in &cfg.inbox {
        if !d.is_dir() {
            return Err(DaemonError::Inbox(d.clone()));
        }
    }
    let mut jobs = vec![
        (Job::Inbox, schedule("ingest_schedule", &cfg.ingest_schedule)?),
        (Job::Fixity, schedule("fixity_schedule", &cfg.fixity_schedule)?),
        (Job::Lock, schedule("lock_schedule", &cfg.lock_schedule)?),
        (Job::Checkpoint, schedule("checkpoint_schedule", &cfg.checkpoint_schedule)?),
    ];
    if !archive.store.lock_configured() {
        jobs.retain(|(j, _)| *j != Job::Lock);
    }
    // Ingest runs check this between files: shutdown stops a run cleanly.
    let cancel = Arc::new(AtomicBool::new(false));
    if once {
        for (job, _) in jobs.iter().filter(|(_, s)| s.is_some()) {
            run_job(&archive, &actor, *job, &cancel).await;
        }
        return Ok(());
    }
    log(format!("started: instance {}, {} ({} inbox folder(s))", archive.instance, archive.store.describe(), cfg.inbox.len()));
    let mut workers = tokio::task::JoinSet::new();
    if !cfg.listen.trim().is_empty() {
        let addr = cfg.listen.trim().to_string();
        let listener =
            tokio::net::TcpListener::bind(&addr).await.map_err(|e| DaemonError::Listen { addr: addr.clone(), why: e.to_string() })?;
        let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
        log(format!("api listening on http://{local}"));
        let (a, stop) = (archive.clone(), shutdown.clone());
        workers.spawn(async move {
            if let Err(e) = crate::api::serve(a, listener, stop).await {
                log(format!("api stopped: {e}"));
            }
        });
    }
    for (job, sched) in jobs.into_iter().filter_map(|(j, s)| s.map(|s| (j, s))) {
        let (a, actor, mut stop, cancel) = (archive.clone(), actor.clone(), shutdown.clone(), cancel.clone());
        workers.spawn(async move {
            while let Some(next) = sched.upcoming(chrono::Utc).next() {
                let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => run_job(&a, &actor, job, &cancel).await,
                    _ = stop.changed() => break,
                }
                if *stop.borrow() {
                    break;
                }
            }
        });
    }
    let _ = shutdown.changed().await;
    cancel.store(true, Ordering::Relaxed);
    log("stopping: runs in progress commit what is in flight");
    while workers.join_next().await.is_some() {}
    log("stopped");
    Ok(())
}

async fn run_job(archive: &Archive, actor: &str, job: Job, cancel: &Arc<AtomicBool>) {
    match job {
        Job::Inbox => inbox(archive, actor, cancel).await,
        Job::Fixity => fixity(archive, actor).await,
        Job::Lock => match crate::lock::renew(archive, actor, false, chrono::Utc::now().date_naive()).await {
            Ok(r) => log(format!("lock renew: {} packs, {} extended, {} failures", r.packs, r.extended, r.failures.len())),
            Err(e) => log(format!("lock renew failed: {e}")),
        },
        Job::Checkpoint => checkpoint(archive).await,
    }
}

/// Flush the ledger, checkpoint it and copy the checkpoints to the witness.
async fn checkpoint(archive: &Archive) {
    if let Err(e) = archive.flush_ledger().await {
        return log(format!("checkpoint: ledger flush failed: {e}"));
    }
    match archive.checkpoint().await {
        Ok(Some(w)) => {
            log(format!("checkpoint of {} events written{}", w.checkpoint.size, if w.signed { "" } else { " (unsigned: no key)" }))
        }
        Ok(None) => {}
        Err(e) => log(format!("checkpoint failed ({}): {e}", e.code())),
    }
}

/// Whether a batch folder may be taken now, and why not.
pub fn batch_ready(dir: &Path) -> Result<(), String> {
    if dir.join(ARCHIVED).exists() {
        return Err("already archived".into());
    }
    if dir.join(READY).is_file() {
        return Ok(());
    }
    if dir.join("bagit.txt").is_file() {
        return ingest::bagit::validate(dir, true).map(|_| ()).map_err(|e| format!("bag does not validate yet ({e})"));
    }
    Err(format!("no {READY} marker and not a bag"))
}

/// What the marker of a finished batch says.
#[derive(Serialize, Deserialize)]
struct Marker {
    run_id: String,
    status: String,
    finished_at: String,
}

async fn inbox(archive: &Archive, actor: &str, cancel: &Arc<AtomicBool>) {
    for root in &archive.config.serve.inbox {
        let Ok(rd) = std::fs::read_dir(root) else {
            log(format!("inbox {} cannot be read", root.display()));
            continue;
        };
        let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        for dir in dirs {
            if cancel.load(Ordering::Relaxed) {
                return;
            }
            if batch_ready(&dir).is_err() {
                continue;
            }
            if !take_batch(archive, actor, cancel, &dir).await {
                return;
            }
        }
    }
}

/// A lease lasts 6 heartbeats, longer than the 4 after which a silent run is taken for dead:
/// the instance that takes a batch over then always finds the holder's run dead, and its
/// recovery cleans up after it before archiving the batch.
fn lease_until(archive: &Archive) -> String {
    let secs = archive.config.serve.heartbeat_secs.max(1) * 6;
    (chrono::Utc::now() + chrono::Duration::seconds(secs as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Claim `dir` for this instance and archive it. Returns false when the daemon is stopping.
async fn take_batch(archive: &Archive, actor: &str, cancel: &Arc<AtomicBool>, dir: &Path) -> bool {
    let batch = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).display().to_string();
    match archive.index.claim_batch(&batch, &archive.instance, &now(), &lease_until(archive)).await {
        Ok(true) => {}
        Ok(false) => return true, // another instance holds it, or it is done
        Err(e) => {
            log(format!("{}: cannot claim the batch ({e}); will try again at the next tick", dir.display()));
            return true;
        }
    }
    // The run stops on shutdown, or when the lease is lost (this instance was taken for dead).
    let stop_run = Arc::new(AtomicBool::new(false));
    let keeper = tokio::spawn(keep_lease(archive.clone(), batch.clone(), cancel.clone(), stop_run.clone()));
    let opts = IngestOptions { source: None, actor: actor.into(), progress: false, cancel: Some(stop_run.clone()), profile: None };
    let result = ingest::run(archive, dir, &opts).await;
    keeper.abort();
    let mut done = false;
    match result {
        Ok(rep) => {
            log(format!(
                "{}: run {} {}: {} archived, {} already archived, {} quarantined",
                dir.display(),
                rep.run_id,
                rep.status,
                rep.counts.archived,
                rep.counts.duplicate,
                rep.counts.quarantined
            ));
            let m = Marker { run_id: rep.run_id.to_string(), status: rep.status.clone(), finished_at: rep.finished_at.clone() };
            if let Err(e) = std::fs::write(dir.join(ARCHIVED), serde_json::to_vec_pretty(&m).unwrap_or_default()) {
                log(format!("{}: archived, but the {ARCHIVED} marker could not be written ({e})", dir.display()));
            }
            done = true;
        }
        Err(IngestError::Interrupted { done, total }) => {
            log(format!("{}: stopped after {done} of {total} files; the rest is archived later (nothing twice)", dir.display()))
        }
        Err(e) => log(format!("{}: run failed, will try again at the next tick: {e}", dir.display())),
    }
    if let Err(e) = archive.index.release_claim(&batch, &archive.instance, done, &now()).await {
        log(format!("{}: lease not released ({e}); it expires by itself", dir.display()));
    }
    !cancel.load(Ordering::Relaxed)
}

/// Renew the batch lease every heartbeat while the run goes on; stop the run on shutdown
/// or when the lease was lost.
async fn keep_lease(archive: Archive, batch: String, shutdown: Arc<AtomicBool>, stop_run: Arc<AtomicBool>) {
    let every = std::time::Duration::from_secs(archive.config.serve.heartbeat_secs.max(1));
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if shutdown.load(Ordering::Relaxed) {
            stop_run.store(true, Ordering::Relaxed);
        }
        if last.elapsed() < every {
            continue;
        }
        last = tokio::time::Instant::now();
        match archive.index.renew_claim(&batch, &archive.instance, None, &now(), &lease_until(&archive)).await {
            Ok(true) => {}
            Ok(false) => {
                log(format!("{batch}: lease lost to another instance; stopping this run"));
                stop_run.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => log(format!("{batch}: lease not renewed ({e}); retrying")),
        }
    }
}

/// Which slice the next sweep checks, kept in the data directory across restarts.
fn slice_path(archive: &Archive) -> PathBuf {
    archive.config.data_dir.join("serve-fixity-slice")
}

async fn fixity(archive: &Archive, actor: &str) {
    let share = archive.config.serve.fixity_share.clamp(0.0001, 1.0);
    let slices = (1.0 / share).ceil() as u32;
    let slice: u32 = std::fs::read_to_string(slice_path(archive)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0) % slices;
    match crate::verify::verify_slice(archive, actor, slice, slices).await {
        Ok(r) => {
            log(format!("fixity sweep {}/{slices}: {} packs, {} records, {} problem(s)", slice + 1, r.packs, r.records, r.findings.len()));
            for f in &r.findings {
                log(format!("  {:?} {}", f.code, f.message));
            }
            let _ = std::fs::write(slice_path(archive), ((slice + 1) % slices).to_string());
        }
        Err(e) => log(format!("fixity sweep failed, will try again at the next tick: {e}")),
    }
}
