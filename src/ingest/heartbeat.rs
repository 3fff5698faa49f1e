//! A run's heartbeat: while it runs, the run writes which instance runs it, that it is
//! alive, and how far it is, every `serve.heartbeat_secs`. Other instances read it to tell
//! a live run (leave its pending packs alone) from a dead one (clean up after it), and the
//! HTTP API reads it for progress.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::archive::{Archive, now};
use crate::ids::RunId;
use crate::index::IndexError;
use crate::index::coord::Heartbeat;

/// Files done and to do, updated by the pipeline as it goes.
#[derive(Debug, Default)]
pub struct RunProgress {
    /// Input files with an outcome.
    pub done: AtomicU64,
    /// Input files in the batch.
    pub total: AtomicU64,
}

/// Writes the heartbeat until dropped.
pub struct Heartbeater {
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeater {
    /// Write the first heartbeat now (before the run is visible as running), then keep
    /// writing it in the background.
    pub async fn start(archive: &Archive, run_id: RunId, progress: Arc<RunProgress>) -> Result<Self, IndexError> {
        let beat = {
            let (index, instance) = (archive.index.clone(), archive.instance.clone());
            move |p: &RunProgress| {
                let hb = Heartbeat {
                    run_id,
                    instance: instance.clone(),
                    heartbeat_at: now(),
                    files_done: p.done.load(Ordering::Relaxed),
                    files_total: p.total.load(Ordering::Relaxed),
                };
                let index = index.clone();
                async move { index.heartbeat(&hb).await }
            }
        };
        beat(&progress).await?;
        let every = std::time::Duration::from_secs(archive.config.serve.heartbeat_secs.max(1));
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = beat(&progress).await {
                    // A missed beat only matters if it lasts 4 beats; the run goes on.
                    eprintln!("warning: run {run_id}: heartbeat not recorded ({e})");
                }
            }
        });
        Ok(Self { task })
    }
}

impl Drop for Heartbeater {
    fn drop(&mut self) {
        self.task.abort();
    }
}
