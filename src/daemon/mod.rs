//! `arkisto serve`: a tokio daemon made of workers that share one shutdown signal.
//!
//! - **inbox**: archival runs over inbox folders. Each subfolder is a batch, taken only when
//!   complete: it holds a `READY` file, or it is a BagIt bag that validates. A finished batch
//!   gets an `ARCHIVED` marker (run id, status) and is not taken again. A run stopped by
//!   shutdown commits what is in flight; the next start archives the rest (nothing twice).
//! - **fixity**: a sweep verifies one slice of the packs each time (`serve.fixity_share`), so
//!   the whole archive is covered every `1 / share` sweeps; the slice survives restarts.
//! - **lock**: `lock renew` where the store has Object Lock configured.
//!
//! Schedules are cron expressions with seconds (`sec min hour day month weekday`).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::archive::Archive;
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
}

impl DaemonError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DaemonError::Schedule { .. } => "daemon-schedule",
            DaemonError::Inbox(_) => "daemon-inbox",
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
    log(format!("started: {} ({} inbox folder(s))", archive.store.describe(), cfg.inbox.len()));
    let mut workers = tokio::task::JoinSet::new();
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
        return ingest::bagit::validate(dir).map(|_| ()).map_err(|e| format!("bag does not validate yet ({e})"));
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
            let opts = IngestOptions { source: None, actor: actor.into(), progress: false, cancel: Some(cancel.clone()) };
            match ingest::run(archive, &dir, &opts).await {
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
                }
                Err(IngestError::Interrupted { done, total }) => {
                    log(format!("{}: stopped after {done} of {total} files; the next start archives the rest", dir.display()));
                    return;
                }
                Err(e) => log(format!("{}: run failed, will try again at the next tick: {e}", dir.display())),
            }
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
