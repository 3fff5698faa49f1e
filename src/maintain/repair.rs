//! `arkisto repair`: make the index and the store agree again without a full rebuild.
//!
//! - interrupted writes (packs recorded as pending) are removed, as every run does;
//! - a pack in the store that the index does not know (an orphan) is **adopted** when it
//!   holds records the index lacks — nothing archived is thrown away — and **removed** when
//!   every record in it is already indexed from another pack (or was destroyed);
//! - every adoption and removal is a ledger event (`repair`).

use std::collections::HashSet;

use serde::Serialize;

use crate::archive::{Archive, ArchiveError, now};
use crate::ids::RecordId;
use crate::index::{NewRecord, TextRow};
use crate::ledger::NewEvent;

/// Ledger event type of a repair action.
pub const REPAIR: &str = crate::ledger::REPAIR;

/// What `repair` did.
#[derive(Debug, Default, Serialize)]
pub struct RepairReport {
    /// Interrupted writes removed.
    pub pending_removed: usize,
    /// Orphan packs adopted into the index, with the records they brought.
    pub adopted: Vec<(String, usize)>,
    /// Orphan packs removed (all their records were indexed elsewhere or destroyed).
    pub removed: Vec<String>,
    /// Packs that could not be read (run `arkisto verify`).
    pub problems: Vec<String>,
}

/// Find orphan packs and adopt or remove each one; log every action.
pub async fn repair(archive: &Archive, actor: &str) -> Result<RepairReport, ArchiveError> {
    let _writer = archive.lock_writer()?;
    let mut rep = RepairReport { pending_removed: crate::maintain::recover::recover(archive).await?, ..Default::default() };
    let known: HashSet<String> = archive.index.packs().await?.into_iter().map(|p| p.key).collect();
    let mut seen: HashSet<RecordId> = archive.index.tombstoned().await?;
    seen.extend(archive.index.retention_rows(None).await?.into_iter().map(|r| r.record_id));
    for o in archive.store.list("packs/").await? {
        if known.contains(o.key.as_str()) {
            continue;
        }
        let mut scratch = super::rebuild::RebuildReport::default();
        match super::rebuild::read_pack(archive, &o.key, o.size, &mut seen, &mut scratch).await {
            Ok(Some((row, found))) if !found.is_empty() => {
                let n = found.len();
                let first = archive.index.reserve_ids(n as u64).await?;
                let mut records = Vec::with_capacity(n);
                let mut texts = Vec::with_capacity(n);
                for (i, (meta, location, body)) in found.into_iter().enumerate() {
                    let row_id = first + i as i64;
                    texts.push(TextRow::analyse(row_id, meta.title.as_deref().unwrap_or_default(), &body, meta.language.as_deref()));
                    records.push(NewRecord { row_id, meta, location });
                }
                let event = NewEvent {
                    event_type: REPAIR.into(),
                    actor: actor.into(),
                    purpose: None,
                    object: row.pack_id.to_string(),
                    outcome: "adopted".into(),
                    detail: serde_json::json!({ "key": o.key.as_str(), "pack_sha256": row.sha256, "size": row.size, "records": records.iter().map(|r| r.meta.record_id).collect::<Vec<_>>() }),
                };
                archive.index.index_text(&texts).await?;
                archive.index.commit_pack(&row, &records, vec![event], &now(), false).await?;
                rep.adopted.push((o.key.to_string(), n));
            }
            Ok(_) => {
                crate::lock::release_for_delete(archive, &o.key).await;
                archive.store.delete(&o.key).await?;
                let event = NewEvent {
                    event_type: REPAIR.into(),
                    actor: actor.into(),
                    purpose: None,
                    object: o.key.to_string(),
                    outcome: "removed".into(),
                    detail: serde_json::json!({ "key": o.key.as_str(), "why": "every record in it is indexed from another pack or was destroyed" }),
                };
                archive.index.append_events(vec![event], &now()).await?;
                rep.removed.push(o.key.to_string());
            }
            Err(why) => rep.problems.push(format!("{}: {why}", o.key)),
        }
    }
    archive.flush_ledger().await?;
    Ok(rep)
}
