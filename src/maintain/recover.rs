//! Recovery of interrupted work, run before any command that writes packs: packs stored but
//! never indexed are removed, disposals that stopped half-way are finished, runs that never
//! finished are closed (after their packs get the Object Lock the run did not apply).

use crate::archive::{Archive, ArchiveError, now};
use crate::ledger;
use crate::store::ObjectKey;

/// Undo the traces of an interrupted ingest: a pack stored but never indexed is removed
/// (its records were not committed and are archived again by the re-run). Returns the
/// number of packs removed.
pub async fn recover(archive: &Archive) -> Result<usize, ArchiveError> {
    let live = live_runs(archive).await?;
    let pending: Vec<_> =
        archive.index.pending_packs().await?.into_iter().filter(|p| p.run_id.is_none_or(|r| !live.contains(&r))).collect();
    let mut removed = 0;
    for p in &pending {
        // The index first: a run that wakes up can then no longer commit the pack.
        if archive.index.abandon_pending(p.pack_id).await? {
            archive.store.delete(&ObjectKey::new(p.key.clone())?).await?;
            archive.index.drop_pack(p.pack_id).await?;
            removed += 1;
        }
    }
    // Disposal that stopped after the index switched: the object still has to go.
    for (pack_id, key) in archive.index.deleting_packs().await? {
        let key = ObjectKey::new(key)?;
        crate::lock::release_for_delete(archive, &key).await;
        archive.store.delete(&key).await?;
        archive.index.drop_pack(pack_id).await?;
    }
    close_interrupted_runs(archive, &live).await?;
    let tmp = archive.config.tmp_dir();
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(removed)
}

/// Runs that another instance is still running: their heartbeat is recent and comes from
/// an instance other than this one (this one holds the writer lock, so its own earlier
/// runs are dead). A run without a heartbeat predates heartbeats, or died before its first.
async fn live_runs(archive: &Archive) -> Result<std::collections::HashSet<crate::ids::RunId>, ArchiveError> {
    let silent_for = chrono::Duration::seconds((archive.config.serve.heartbeat_secs.max(1) * 4) as i64);
    let now = chrono::Utc::now();
    Ok(archive
        .index
        .heartbeats()
        .await?
        .into_iter()
        .filter(|h| {
            h.instance != archive.instance
                && chrono::DateTime::parse_from_rfc3339(&h.heartbeat_at).is_ok_and(|t| now.signed_duration_since(t) < silent_for)
        })
        .map(|h| h.run_id)
        .collect())
}

/// Runs that never finished (killed, crashed, stopped by a store failure) are recorded as
/// `interrupted`, after their committed packs get the Object Lock the run did not get to
/// apply. A run whose pack cannot be locked now stays open, so the next recovery retries.
async fn close_interrupted_runs(archive: &Archive, live: &std::collections::HashSet<crate::ids::RunId>) -> Result<(), ArchiveError> {
    let open: Vec<_> =
        archive.index.runs(u32::MAX).await?.into_iter().filter(|r| r.status == "running" && !live.contains(&r.run_id)).collect();
    if open.is_empty() {
        return Ok(());
    }
    let packs = archive.index.packs().await?;
    for mut run in open {
        let mine: Vec<_> = packs.iter().filter(|p| p.run_id == Some(run.run_id)).collect();
        let mut locked = 0usize;
        let mut failed = false;
        for p in &mine {
            match crate::lock::lock_if_unlocked(archive, p).await {
                Ok(true) => locked += 1,
                Ok(false) => {}
                Err(e) => {
                    eprintln!("warning: pack {} of interrupted run {} is not locked yet ({e}); it is retried next run", p.key, run.run_id);
                    failed = true;
                }
            }
        }
        if failed {
            continue;
        }
        let now = now();
        run.status = "interrupted".into();
        run.finished_at = Some(now.clone());
        run.summary = Some(serde_json::json!({ "packs_committed": mine.len(), "packs_locked_on_recovery": locked }));
        let event = crate::ledger::NewEvent {
            event_type: ledger::RUN.into(),
            actor: "arkisto recovery".into(),
            purpose: None,
            object: run.run_id.to_string(),
            outcome: run.status.clone(),
            detail: serde_json::json!({ "run": run, "refused": false }),
        };
        archive.index.finish_run(&run, &mut std::iter::empty(), vec![event], &now).await?;
    }
    Ok(())
}
