//! Disposal: plan → approve (by someone else) → execute. Execute deletes packs whose records
//! are all due and compacts mixed ones (survivors' frames copied byte for byte into a new
//! pack, stored and verified, then the index switched in one transaction, then the old
//! object deleted). A crash at any point and a re-run end in the same state.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::{DisposalError, due};
use crate::archive::{Archive, now};
use crate::ids::{PackId, RecordId};
use crate::index::PackRow;
use crate::index::retention::{PackDisposal, Plan, PlanItem, Tombstone};
use crate::ledger::{self, NewEvent};
use crate::pack::{self, PackWriter, format::FOOTER_LEN};
use crate::store::ObjectKey;

/// Make a plan of everything due on `as_of`.
pub async fn plan(archive: &Archive, as_of: NaiveDate, actor: &str) -> Result<Plan, DisposalError> {
    let packs = due(archive, as_of).await?;
    let items: Vec<PlanItem> = packs
        .iter()
        .flat_map(|p| {
            p.due.iter().map(|d| PlanItem {
                record_id: d.record_id,
                pack_id: p.pack_id,
                disposal: d.disposal.clone(),
                rule: d.rule.clone(),
            })
        })
        .collect();
    let plan = Plan {
        plan_id: format!("plan-{}", ulid::Ulid::new().to_string().to_lowercase()),
        as_of: as_of.to_string(),
        planned_by: actor.into(),
        planned_at: now(),
        approved_by: None,
        approved_at: None,
        executed_at: None,
        items,
    };
    let event = NewEvent {
        event_type: ledger::DISPOSAL_PLAN.into(),
        actor: actor.into(),
        purpose: None,
        object: plan.plan_id.clone(),
        outcome: "planned".into(),
        detail: serde_json::to_value(&plan).unwrap_or_default(),
    };
    archive.index.add_plan(&plan, vec![event], &now()).await?;
    archive.flush_ledger().await?;
    Ok(plan)
}

/// Approve a plan. The approver must not be the planner.
pub async fn approve(archive: &Archive, plan_id: &str, actor: &str) -> Result<Plan, DisposalError> {
    let p = archive.index.plan(plan_id).await?.ok_or_else(|| DisposalError::Refused(format!("no plan {plan_id}")))?;
    if p.planned_by == actor {
        return Err(DisposalError::Refused(format!("{actor} made plan {plan_id}; another person must approve it")));
    }
    if let Some(by) = &p.approved_by {
        return Err(DisposalError::Refused(format!("plan {plan_id} is already approved by {by}")));
    }
    let at = now();
    let event = NewEvent {
        event_type: ledger::DISPOSAL_APPROVAL.into(),
        actor: actor.into(),
        purpose: None,
        object: plan_id.into(),
        outcome: "approved".into(),
        detail: serde_json::json!({ "plan_id": plan_id, "approved_by": actor, "approved_at": at, "planned_by": p.planned_by, "records": p.items.len() }),
    };
    archive.index.approve_plan(plan_id, actor, &at, vec![event], &now()).await?;
    archive.flush_ledger().await?;
    Ok(archive.index.plan(plan_id).await?.unwrap_or(p))
}

/// What `dispose execute` did.
#[derive(Debug, Default, Serialize)]
pub struct ExecuteReport {
    /// Plan.
    pub plan_id: String,
    /// Records destroyed now.
    pub disposed: usize,
    /// Packs deleted whole.
    pub packs_deleted: usize,
    /// Packs compacted (survivors rewritten).
    pub packs_compacted: usize,
    /// Records kept back at execution time: (record, why).
    pub kept: Vec<(RecordId, String)>,
}

/// Carry out an approved plan. Re-checks every record now: still indexed, still due by the
/// plan's date under its current retention, not held.
pub async fn execute(archive: &Archive, plan_id: &str, actor: &str) -> Result<ExecuteReport, DisposalError> {
    let _writer = archive.lock_writer()?;
    archive.recover().await?;
    let p = archive.index.plan(plan_id).await?.ok_or_else(|| DisposalError::Refused(format!("no plan {plan_id}")))?;
    let Some(approver) = p.approved_by.clone() else {
        return Err(DisposalError::Refused(format!(
            "plan {plan_id} is not approved; another person must run `arkisto dispose approve {plan_id}`"
        )));
    };
    let mut rep = ExecuteReport { plan_id: plan_id.into(), ..Default::default() };
    let as_of: NaiveDate = p.as_of.parse().map_err(|_| DisposalError::Refused(format!("plan {plan_id} has a bad date")))?;
    let rows: HashMap<RecordId, _> = archive.index.retention_rows(None).await?.into_iter().map(|r| (r.record_id, r)).collect();
    let (held_subjects, held_records) = archive.index.held().await?;
    let mut by_pack: HashMap<PackId, Vec<Tombstone>> = HashMap::new();
    for item in &p.items {
        let Some(r) = rows.get(&item.record_id) else { continue }; // disposed already (re-run)
        let held = held_records.contains(&r.record_id) || r.subject.as_ref().is_some_and(|s| held_subjects.contains(s));
        let still_due = r.disposal.parse::<NaiveDate>().ok().is_some_and(|d| d <= as_of);
        if held || !still_due {
            let why = if held { "under a legal hold".to_string() } else { format!("no longer due ({} under {})", r.disposal, r.rule) };
            rep.kept.push((r.record_id, why));
            continue;
        }
        by_pack.entry(r.pack_id).or_default().push(Tombstone {
            record_id: r.record_id,
            document_id: r.document_id.clone(),
            plan_id: plan_id.into(),
            disposed_at: String::new(),
            detail: serde_json::json!({
                "record_id": r.record_id, "document_id": r.document_id, "stored_sha256": r.stored_sha256,
                "rule": r.rule, "disposal": r.disposal, "plan_id": plan_id, "planned_by": p.planned_by,
                "approved_by": approver, "pack_id": r.pack_id,
            }),
        });
    }
    let mut packs: Vec<PackId> = by_pack.keys().copied().collect();
    packs.sort();
    let keys: HashMap<PackId, String> = archive.index.packs().await?.into_iter().map(|p| (p.pack_id, p.key)).collect();
    let today = chrono::Utc::now().date_naive();
    for pack_id in packs {
        let mut tombs = by_pack.remove(&pack_id).unwrap_or_default();
        // Object Lock set from an earlier horizon (e.g. before a death date was known) is not
        // shortened; those records wait for it, and a later plan takes them.
        if archive.store.lock_configured()
            && let Some(k) = keys.get(&pack_id)
            && let Some(until) = archive.store.lock_state(&ObjectKey::new(k.clone())?).await?.and_then(|s| s.retain_until)
            && until > today
        {
            for t in tombs {
                rep.kept.push((t.record_id, format!("its pack is under Object Lock until {until}")));
            }
            continue;
        }
        let at = now();
        for t in &mut tombs {
            t.disposed_at = at.clone();
            t.detail["disposed_at"] = serde_json::Value::String(at.clone());
        }
        let n = tombs.len();
        if dispose_pack(archive, pack_id, &tombs, actor).await? {
            rep.packs_compacted += 1;
        } else {
            rep.packs_deleted += 1;
        }
        rep.disposed += n;
    }
    archive.recover().await?;
    let event = NewEvent {
        event_type: ledger::DISPOSAL_EXECUTED.into(),
        actor: actor.into(),
        purpose: None,
        object: plan_id.into(),
        outcome: "success".into(),
        detail: serde_json::json!({ "disposed": rep.disposed, "packs_deleted": rep.packs_deleted, "packs_compacted": rep.packs_compacted,
            "kept": rep.kept.iter().map(|(r, w)| serde_json::json!({"record_id": r, "why": w})).collect::<Vec<_>>() }),
    };
    archive.index.finish_plan(plan_id, &now(), vec![event], &now()).await?;
    archive.flush_ledger().await?;
    Ok(rep)
}

/// Dispose of `tombs` in one pack; returns whether the pack was compacted (true) or deleted.
async fn dispose_pack(archive: &Archive, pack_id: PackId, tombs: &[Tombstone], actor: &str) -> Result<bool, DisposalError> {
    let gone: HashSet<RecordId> = tombs.iter().map(|t| t.record_id).collect();
    let members = archive.index.pack_records(pack_id).await?;
    let survivors: Vec<_> = members.iter().filter(|l| !gone.contains(&l.record_id)).cloned().collect();
    let old = archive.index.packs().await?.into_iter().find(|p| p.pack_id == pack_id);
    let Some(old) = old else { return Ok(false) };
    let old_key = ObjectKey::new(old.key.clone())?;
    let mut events: Vec<NewEvent> = tombs
        .iter()
        .map(|t| NewEvent {
            event_type: ledger::DELETION.into(),
            actor: actor.into(),
            purpose: None,
            object: t.record_id.to_string(),
            outcome: "success".into(),
            detail: t.detail.clone(),
        })
        .collect();
    let compacted = !survivors.is_empty();
    if compacted {
        // Rewrite the survivors, frame for frame, into a new pack; store and verify it first.
        let tmp = archive.config.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(|e| io(e, "create temp folder"))?;
        let new_id = PackId::generate();
        let mut w = PackWriter::create(&tmp, new_id, now()).map_err(|e| io(e, "create pack"))?;
        let mut moved = Vec::with_capacity(survivors.len());
        for l in &survivors {
            let meta = archive.store.get_range(&old_key, l.meta_offset, l.meta_len).await?;
            let data = archive.store.get_range(&old_key, l.data_offset, l.data_len).await?;
            pack::decode_meta(&meta, l)
                .map_err(|e| DisposalError::Refused(format!("survivor {} is damaged ({e}); run `arkisto verify`", l.record_id)))?;
            if crate::digest::Sha256::of(&data) != l.stored_sha256 {
                return Err(DisposalError::Refused(format!("survivor {} is damaged; run `arkisto verify`", l.record_id)));
            }
            moved.push(w.append_raw(&meta, &data, l).map_err(|e| io(e, "write pack"))?);
        }
        let finished = w.finish().map_err(|e| io(e, "finish pack"))?;
        let key = ObjectKey::new(old.key.replace(&pack_id.to_string(), &new_id.to_string()))?;
        archive
            .index
            .begin_pack(new_id, key.as_str(), old.run_id.unwrap_or_else(crate::ids::RunId::generate), &finished.table.created)
            .await?;
        // The new pack keeps the survivors' lock: the earliest of their horizons.
        let mut horizons = Vec::with_capacity(survivors.len());
        for l in &survivors {
            if let Some(r) = archive.index.retention_row(&l.record_id).await? {
                horizons.push(r.lock_horizon);
            }
        }
        let horizon = crate::ingest::pack_lock_horizon(horizons.iter().map(String::as_str));
        // Unlocked until indexed, as at ingest (an interrupted compaction must be undoable).
        let opts = crate::store::PutOptions { sha256: Some(finished.sha256), no_lock: true };
        archive.store.put_file(&key, &finished.path, &opts).await?;
        let _ = std::fs::remove_file(&finished.path);
        let info = archive.store.head(&key).await?.ok_or_else(|| DisposalError::Refused(format!("{key} missing after put")))?;
        let tail = archive.store.get_range(&key, info.size.saturating_sub(FOOTER_LEN as u64), FOOTER_LEN as u64).await?;
        let footer = pack::decode_footer(&tail, info.size).map_err(|e| DisposalError::Refused(format!("{key} did not read back: {e}")))?;
        let table = pack::decode_table(&archive.store.get_range(&key, footer.table_offset, footer.table_len).await?, &footer)
            .map_err(|e| DisposalError::Refused(format!("{key} did not read back: {e}")))?;
        if table != finished.table {
            return Err(DisposalError::Refused(format!("{key} did not read back as written")));
        }
        let row = PackRow {
            pack_id: new_id,
            key: key.to_string(),
            size: finished.size,
            sha256: finished.sha256,
            record_count: moved.len() as u64,
            created_at: finished.table.created.clone(),
            run_id: old.run_id,
        };
        events.push(NewEvent {
            event_type: ledger::COMPACTION.into(),
            actor: actor.into(),
            purpose: None,
            object: new_id.to_string(),
            outcome: "success".into(),
            detail: serde_json::json!({ "from": pack_id, "key": key.as_str(), "pack_sha256": finished.sha256, "size": finished.size,
                "records": moved.iter().map(|l| l.record_id).collect::<Vec<_>>() }),
        });
        archive
            .index
            .dispose_in_pack(PackDisposal { old_pack: pack_id, new_pack: Some((&row, &moved)), tombstones: tombs }, events, &now())
            .await?;
        let ids: Vec<_> = moved.iter().map(|l| l.record_id).collect();
        if let Err(e) = crate::lock::lock_new_pack(archive, &key, horizon, &ids).await {
            eprintln!("warning: compacted pack {key} is not yet locked ({e}); run `arkisto lock renew`");
        }
    } else {
        archive.index.dispose_in_pack(PackDisposal { old_pack: pack_id, new_pack: None, tombstones: tombs }, events, &now()).await?;
    }
    // The index no longer points at the old pack: delete the object, then forget the row.
    crate::lock::release_for_delete(archive, &old_key).await;
    archive.store.delete(&old_key).await?;
    archive.index.drop_pack(pack_id).await?;
    Ok(compacted)
}

fn io(e: std::io::Error, what: &str) -> DisposalError {
    DisposalError::Archive(crate::archive::ArchiveError::Io { what: what.into(), source: e })
}
