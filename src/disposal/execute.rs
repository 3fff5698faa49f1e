//! Disposal: plan → approve (by someone else) → execute. Execute deletes packs whose records
//! are all due and compacts mixed ones (survivors' frames copied byte for byte into a new
//! pack, stored and verified, then the index switched in one transaction, then the old
//! object deleted). A crash at any point and a re-run end in the same state.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::{DisposalError, due};
use crate::archive::{Archive, now};
use crate::ids::{PackId, RecordId};
use crate::index::PackRow;
use crate::index::retention::{KeptItem, PackDisposal, Plan, PlanItem, Tombstone};
use crate::ledger::{self, NewEvent};
use crate::pack::{self, PackWriter, format::FOOTER_LEN};
use crate::record::RecordMeta;
use crate::store::ObjectKey;
use crate::truth::{LedgerState, StoredPack, judge};

/// Make a plan of everything due on `as_of`. The index proposes; each candidate is then
/// re-judged from its metadata frame, the ledger's facts and holds, and the policies, and only
/// those all agree on go into the plan, each with the rule and the facts that make it due.
/// The rest are listed as kept back, with the reason.
pub async fn plan(archive: &Archive, as_of: NaiveDate, actor: &str) -> Result<Plan, DisposalError> {
    let packs = due(archive, as_of).await?;
    let (state, stored) = sound_ledger(archive).await?;
    let policies = super::policies(archive)?;
    let mut items = Vec::new();
    let mut kept = Vec::new();
    for (p, d) in packs.iter().flat_map(|p| p.due.iter().map(move |d| (p, d))) {
        let judged = match frame_meta(archive, &d.record_id).await? {
            Ok(meta) => judge::disposable(&meta, &state, &policies, as_of),
            Err(why) => Err(why),
        };
        match judged {
            Ok(due) => {
                items.push(PlanItem { record_id: d.record_id, pack_id: p.pack_id, disposal: due.disposal, rule: due.rule, why: due.why })
            }
            Err(why) => kept.push(KeptItem { record_id: d.record_id, why: format!("the index calls it due, but {why}") }),
        }
    }
    drop(stored);
    let plan = Plan {
        plan_id: format!("plan-{}", ulid::Ulid::new().to_string().to_lowercase()),
        as_of: as_of.to_string(),
        planned_by: actor.into(),
        planned_at: now(),
        approved_by: None,
        approved_at: None,
        executed_at: None,
        items,
        kept,
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

/// The ledger from the store, replayed; refused when a segment is damaged or the chain is
/// broken (a destructive decision is never taken on a ledger that cannot be trusted).
async fn sound_ledger(archive: &Archive) -> Result<(LedgerState, crate::truth::StoredLedger), DisposalError> {
    let (state, stored) = archive.ledger_state().await?;
    if let Some((seq, why)) = &stored.chain {
        return Err(DisposalError::Refused(format!("the ledger in the store is broken at event {seq} ({why}); run `arkisto verify`")));
    }
    if let Some((key, why)) = stored.problems.first() {
        return Err(DisposalError::Refused(format!("ledger segment {key} {why}; run `arkisto verify`")));
    }
    Ok((state, stored))
}

/// A record's metadata frame, read from its pack (where the index says it is; the frame
/// names the record and matches its digest, or it is not used). `Ok(Err)` says why not.
async fn frame_meta(archive: &Archive, id: &RecordId) -> Result<Result<RecordMeta, String>, DisposalError> {
    let Some(loc) = archive.index.locate(id).await? else { return Ok(Err("the index does not locate it".into())) };
    let key = ObjectKey::new(loc.pack_key.clone())?;
    match archive.store.get_range(&key, loc.location.meta_offset, loc.location.meta_len).await {
        Ok(frame) => Ok(pack::decode_meta(&frame, &loc.location).map_err(|e| format!("its metadata frame does not read ({e})"))),
        Err(crate::store::StoreError::NotFound(_)) => Ok(Err(format!("its pack {key} is missing"))),
        Err(e) => Err(e.into()),
    }
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

/// Carry out an approved plan. The plan and its approval are taken from the ledger in the
/// store, not the index; each pack is read whole and must match the digest its ingestion
/// event committed; each record is re-judged from its metadata frame, the ledger's facts and
/// holds and the policies, on the plan's date or today, whichever is earlier. A record that
/// fails any of this is kept back, with the reason; it is never destroyed.
pub async fn execute(archive: &Archive, plan_id: &str, actor: &str) -> Result<ExecuteReport, DisposalError> {
    let _writer = archive.lock_writer()?;
    crate::maintain::recover::recover(archive).await?;
    let (state, _stored) = sound_ledger(archive).await?;
    let Some(p) = state.plans.get(plan_id).cloned() else {
        let why = if archive.index.plan(plan_id).await?.is_some() {
            "the index holds it, but the ledger does not (the index was edited?); run `arkisto verify`"
        } else {
            "`arkisto dispose plan` makes one"
        };
        return Err(DisposalError::Refused(format!("no plan {plan_id} in the ledger: {why}")));
    };
    let approver = match &p.approved_by {
        Some(a) if *a != p.planned_by => a.clone(),
        Some(_) => {
            return Err(DisposalError::Refused(format!("plan {plan_id} was approved by its own planner; another person must approve it")));
        }
        None => {
            return Err(DisposalError::Refused(format!(
                "plan {plan_id} is not approved in the ledger; another person must run `arkisto dispose approve {plan_id}`"
            )));
        }
    };
    let mut rep = ExecuteReport { plan_id: plan_id.into(), ..Default::default() };
    let as_of: NaiveDate = p.as_of.parse().map_err(|_| DisposalError::Refused(format!("plan {plan_id} has a bad date")))?;
    let today = chrono::Utc::now().date_naive();
    let on = as_of.min(today);
    let policies = super::policies(archive)?;
    let (held_subjects, held_records) = archive.index.held().await?;
    // Group the plan's records by the pack the ledger places them in.
    let mut by_pack: BTreeMap<PackId, Vec<RecordId>> = BTreeMap::new();
    for item in &p.items {
        if state.tombstones.contains_key(&item.record_id) {
            continue; // destroyed already (a re-run)
        }
        match state.record_pack.get(&item.record_id) {
            Some(pack) => by_pack.entry(*pack).or_default().push(item.record_id),
            None => rep.kept.push((item.record_id, "the ledger places it in no pack; run `arkisto verify`".into())),
        }
    }
    let index_packs = archive.index.packs().await?;
    let run_ids: HashMap<PackId, Option<crate::ids::RunId>> = index_packs.iter().map(|p| (p.pack_id, p.run_id)).collect();
    let index_sha: HashMap<PackId, crate::digest::Sha256> = index_packs.iter().map(|p| (p.pack_id, p.sha256)).collect();
    for (pack_id, planned) in by_pack {
        let Some(commit) = state.packs.get(&pack_id) else { continue };
        let key = ObjectKey::new(commit.key.clone())?;
        let keep_all = |rep: &mut ExecuteReport, why: String| rep.kept.extend(planned.iter().map(|r| (*r, why.clone())));
        // Object Lock set from an earlier horizon (e.g. before a death date was known) is not
        // shortened; those records wait for it, and a later plan takes them.
        if archive.store.lock_configured()
            && let Some(until) = archive.store.lock_state(&key).await?.and_then(|s| s.retain_until)
            && until > today
        {
            keep_all(&mut rep, format!("its pack is under Object Lock until {until}"));
            continue;
        }
        let stored = match crate::truth::read_pack(&*archive.store, &key).await? {
            Ok(s) => s,
            Err(why) => {
                keep_all(&mut rep, format!("its pack does not read ({why}); run `arkisto verify`"));
                continue;
            }
        };
        // (a pack adopted by an older `repair` has no committed digest: the index's stands in)
        let committed = commit.sha256.or_else(|| index_sha.get(&pack_id).copied());
        if committed != Some(stored.sha256) {
            keep_all(&mut rep, format!("its pack {key} differs from the digest its ingestion event committed; run `arkisto verify`"));
            continue;
        }
        let at = now();
        let mut tombs = Vec::new();
        for id in &planned {
            let Some((loc, meta)) = stored.metas.iter().find(|(l, _)| l.record_id == *id) else {
                rep.kept.push((*id, format!("its pack {key} does not hold it")));
                continue;
            };
            let meta = match meta {
                Ok(m) => m,
                Err(why) => {
                    rep.kept.push((*id, format!("its metadata frame does not read ({why})")));
                    continue;
                }
            };
            let subject = meta.subject.as_ref().map(|s| s.value.clone());
            if held_records.contains(id) || subject.as_ref().is_some_and(|s| held_subjects.contains(s)) {
                rep.kept.push((*id, "the index shows it under a legal hold (the ledger does not: run `arkisto verify`)".into()));
                continue;
            }
            match judge::disposable(meta, &state, &policies, on) {
                Ok(due) => tombs.push(Tombstone {
                    record_id: *id,
                    document_id: meta.document_id.as_ref().map(|d| d.0.clone()),
                    plan_id: plan_id.into(),
                    disposed_at: at.clone(),
                    detail: serde_json::json!({
                        "record_id": id, "document_id": meta.document_id.as_ref().map(|d| d.0.clone()), "stored_sha256": loc.stored_sha256,
                        // Whose record it was: a client's request must be answered with
                        // what was destroyed and when (FORMAT.md section 5).
                        "subject": meta.subject.as_ref().map(|s| s.value.clone()),
                        "meta_sha256": loc.meta_sha256, "rule": due.rule, "disposal": due.disposal, "plan_id": plan_id,
                        "planned_by": p.planned_by, "approved_by": approver, "pack_id": pack_id, "disposed_at": at,
                        "transfer": state.transfers.get(id).map(|t| t.transfer_id.clone()),
                    }),
                }),
                Err(why) => rep.kept.push((*id, why)),
            }
        }
        if tombs.is_empty() {
            continue;
        }
        let n = tombs.len();
        let run_id = run_ids.get(&pack_id).copied().flatten();
        if dispose_pack(archive, pack_id, &key, run_id, &stored, &state, &policies, &tombs, actor).await? {
            rep.packs_compacted += 1;
        } else {
            rep.packs_deleted += 1;
        }
        rep.disposed += n;
    }
    crate::maintain::recover::recover(archive).await?;
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

/// Dispose of `tombs` in one pack, read and checked as `stored`; returns whether the pack
/// was compacted (true) or deleted. The survivors are the pack's own table minus the
/// destroyed, never the index's idea of its members.
#[allow(clippy::too_many_arguments)]
async fn dispose_pack(
    archive: &Archive,
    pack_id: PackId,
    old_key: &ObjectKey,
    run_id: Option<crate::ids::RunId>,
    stored: &StoredPack,
    state: &LedgerState,
    policies: &crate::retention::Policies,
    tombs: &[Tombstone],
    actor: &str,
) -> Result<bool, DisposalError> {
    let gone: HashSet<RecordId> = tombs.iter().map(|t| t.record_id).collect();
    let survivors: Vec<_> = stored.metas.iter().filter(|(l, _)| !gone.contains(&l.record_id)).collect();
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
        let today = chrono::Utc::now().date_naive();
        let mut horizons = Vec::with_capacity(survivors.len());
        for (l, meta) in &survivors {
            let meta = meta
                .as_ref()
                .map_err(|e| DisposalError::Refused(format!("survivor {} is damaged ({e}); run `arkisto verify`", l.record_id)))?;
            let meta_frame = archive.store.get_range(old_key, l.meta_offset, l.meta_len).await?;
            let data = archive.store.get_range(old_key, l.data_offset, l.data_len).await?;
            if crate::digest::Sha256::of(&data) != l.stored_sha256 || crate::digest::Sha256::of(&meta_frame) != l.meta_sha256 {
                return Err(DisposalError::Refused(format!("survivor {} is damaged; run `arkisto verify`", l.record_id)));
            }
            // The new pack keeps the survivors' lock: the earliest of their horizons, judged now.
            let death = meta.subject.as_ref().and_then(|s| state.facts.get(&s.value)).map(String::as_str);
            horizons.push(crate::retention::evaluate(policies, &judge::facts_of(meta, death), today).retention.lock_horizon);
            moved.push(w.append_raw(&meta_frame, &data, l).map_err(|e| io(e, "write pack"))?);
        }
        let finished = w.finish().map_err(|e| io(e, "finish pack"))?;
        let key = ObjectKey::new(old_key.as_str().replace(&pack_id.to_string(), &new_id.to_string()))?;
        archive.index.begin_pack(new_id, key.as_str(), run_id.unwrap_or_else(crate::ids::RunId::generate), &finished.table.created).await?;
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
            run_id,
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
    crate::lock::release_for_delete(archive, old_key).await;
    archive.store.delete(old_key).await?;
    archive.index.drop_pack(pack_id).await?;
    Ok(compacted)
}

fn io(e: std::io::Error, what: &str) -> DisposalError {
    DisposalError::Archive(crate::archive::ArchiveError::Io { what: what.into(), source: e })
}
