//! `arkisto index rebuild`: recreate the index from the store alone — pack tables and
//! metadata frames for records, re-extracted narrative for search, ledger segments for
//! events and runs.

use std::collections::HashSet;

use serde::Serialize;

use crate::archive::{Archive, ArchiveError, now};
use crate::formats::{cda, xml::Limits};
use crate::ids::RecordId;
use crate::index::{NewRecord, PackRow, RunRow, TextRow};
use crate::ledger::{self, NewEvent};
use crate::pack::{self, format::FOOTER_LEN};
use crate::record::{RecordLocation, RecordMeta};
use crate::store::ObjectKey;

/// What a rebuild found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RebuildReport {
    /// Packs indexed.
    pub packs: u64,
    /// Records indexed.
    pub records: u64,
    /// Records found in more than one pack (kept once, from the first pack by id).
    pub duplicates: u64,
    /// Ledger events restored.
    pub events: u64,
    /// Packs or segments that could not be read (run `arkisto verify`).
    pub problems: Vec<String>,
}

/// Rebuild the index of `archive` from its store.
pub async fn rebuild(archive: &Archive, actor: &str) -> Result<RebuildReport, ArchiveError> {
    let _writer = archive.lock_writer()?;
    let mut rep = RebuildReport::default();
    archive.index.clear().await?;
    let mut all_events = Vec::new();
    // The ledger first: it names the dictionaries (and their digests) that packs need.
    for o in archive.store.list("ledger/").await? {
        let bytes = crate::store::get_all(&*archive.store, &o.key).await?;
        match ledger::decode_segment(&bytes) {
            Ok(events) => {
                archive.index.restore_events(&events, o.key.as_str()).await?;
                rep.events += events.len() as u64;
                for e in &events {
                    if (e.event_type == ledger::TOKEN_CREATED || e.event_type == ledger::TOKEN_REVOKED)
                        && let Some(t) =
                            e.detail.get("token").and_then(|t| serde_json::from_value::<crate::credential::TokenRow>(t.clone()).ok())
                    {
                        archive.index.restore_token(&t).await?;
                    }
                    if e.event_type == ledger::RUN
                        && let Some(run) = e.detail.get("run").and_then(|r| serde_json::from_value::<RunRow>(r.clone()).ok())
                    {
                        archive.index.restore_run(&run).await?;
                    }
                    if e.event_type == ledger::DICTIONARY
                        && let Ok(info) = serde_json::from_value::<crate::dict::DictInfo>(e.detail.clone())
                    {
                        archive.index.add_dict(&info, vec![], &e.time).await?;
                    }
                    if e.event_type == ledger::LINK
                        && let Some(pairs) = e.detail.get("links").and_then(|l| serde_json::from_value::<Vec<[String; 2]>>(l.clone()).ok())
                    {
                        let links: Vec<(RecordId, RecordId)> =
                            pairs.iter().filter_map(|[p, c]| Some((RecordId(p.parse().ok()?), RecordId(c.parse().ok()?)))).collect();
                        archive.index.add_links(&links, None, &e.time).await?;
                    }
                    replay_retention_event(archive, e).await?;
                }
                all_events.extend(events);
            }
            Err(e) => rep.problems.push(format!("{}: {e}", o.key)),
        }
    }
    // Destroyed records stay destroyed, even if a pack that still holds them survived a crash.
    let mut seen: HashSet<RecordId> = archive.index.tombstoned().await?;
    for o in archive.store.list("packs/").await? {
        let key = o.key.clone();
        match read_pack(archive, &key, o.size, &mut seen, &mut rep).await {
            Ok(Some((row, found))) => {
                rep.records += found.len() as u64;
                rep.packs += 1;
                let first = archive.index.reserve_ids(found.len() as u64).await?;
                let mut records = Vec::with_capacity(found.len());
                let mut texts = Vec::with_capacity(found.len());
                for (i, (meta, location, body)) in found.into_iter().enumerate() {
                    let row_id = first + i as i64;
                    texts.push(TextRow::analyse(row_id, meta.title.as_deref().unwrap_or_default(), &body, meta.language.as_deref()));
                    records.push(NewRecord { row_id, meta, location });
                }
                archive.index.index_text(&texts).await?;
                archive.index.commit_pack(&row, &records, vec![], &row.created_at, false).await?;
            }
            Ok(None) => {}
            Err(why) => rep.problems.push(format!("{key}: {why}")),
        }
    }
    // Decisions re-evaluated after ingest (facts that arrived later) apply again, as the
    // ledger recorded them: the index is a projection, not a fresh judgement.
    all_events.sort_by_key(|e| e.seq);
    all_events.dedup_by_key(|e| e.seq);
    let state = crate::truth::LedgerState::replay(&all_events);
    let mut updates = Vec::new();
    for (id, d) in &state.decisions {
        if let Some(row) = archive.index.retention_row(id).await? {
            updates.push(crate::index::retention::RetentionUpdate {
                record_id: *id,
                disposal: d.disposal.clone(),
                rule: d.rule.clone(),
                lock_horizon: d.lock_horizon.clone().unwrap_or(row.lock_horizon),
            });
        }
    }
    archive.index.update_retention(&updates, vec![], &now()).await?;
    let event = NewEvent {
        event_type: ledger::INDEX_REBUILD.into(),
        actor: actor.into(),
        purpose: None,
        object: "index".into(),
        outcome: if rep.problems.is_empty() { "success" } else { "partial" }.into(),
        detail: serde_json::json!({ "packs": rep.packs, "records": rep.records, "duplicates": rep.duplicates, "events": rep.events, "problems": rep.problems.len() }),
    };
    archive.index.append_events(vec![event], &now()).await?;
    archive.flush_ledger().await?;
    Ok(rep)
}

pub(crate) async fn read_pack(
    archive: &Archive,
    key: &ObjectKey,
    size: u64,
    seen: &mut HashSet<RecordId>,
    rep: &mut RebuildReport,
) -> Result<Option<(PackRow, Vec<(RecordMeta, RecordLocation, String)>)>, String> {
    let store = &archive.store;
    if size < FOOTER_LEN as u64 {
        return Err("too small to be a pack".into());
    }
    let tail = store.get_range(key, size - FOOTER_LEN as u64, FOOTER_LEN as u64).await.map_err(|e| e.to_string())?;
    let footer = pack::decode_footer(&tail, size).map_err(|e| e.to_string())?;
    let tframe = store.get_range(key, footer.table_offset, footer.table_len).await.map_err(|e| e.to_string())?;
    let table = pack::decode_table(&tframe, &footer).map_err(|e| e.to_string())?;
    // The dictionaries the records need, loaded (and checked) once; then one pass over the pack.
    let mut dicts = std::collections::HashMap::new();
    for l in &table.records {
        if let std::collections::hash_map::Entry::Vacant(slot) = dicts.entry(l.dict_id) {
            slot.insert(archive.dict_for(l).await.map_err(|e| e.to_string())?);
        }
    }
    let mut records = Vec::with_capacity(table.records.len());
    let mut failed: Option<String> = None;
    let mut dups = 0;
    let sha = crate::verify::scan_pack(&*archive.store, key, size, &table.records, |l, frames| {
        if failed.is_some() {
            return;
        }
        if seen.contains(&l.record_id) {
            dups += 1;
            return;
        }
        let one = || -> Result<_, String> {
            let (m, d) = match frames.ok_or("frames are not where the pack table says")? {
                crate::verify::scan::Frames::Whole { meta, data } => (meta, data),
                crate::verify::scan::Frames::Streamed { meta, data } => {
                    // A large record (an attachment): checked as it streamed past; no text.
                    data?;
                    return Ok((pack::decode_meta(meta, l).map_err(|e| e.to_string())?, l.clone(), String::new()));
                }
            };
            let meta = pack::decode_meta(m, l).map_err(|e| e.to_string())?;
            let dict = dicts.get(&l.dict_id).cloned().flatten();
            let bytes = pack::decompress_frame(d, l, dict.as_deref().map(|d| d.as_slice())).map_err(|e| e.to_string())?;
            let narrative = match meta.format.as_str() {
                "cda-r2" => cda::read(&bytes, Limits::default()).map(|d| d.narrative).unwrap_or_default(),
                f => crate::sources::extract_text(f, &meta.media_type, &bytes),
            };
            Ok((meta, l.clone(), narrative))
        };
        match one() {
            Ok(r) => records.push(r),
            Err(e) => failed = Some(format!("record {}: {e}", l.record_id)),
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(e);
    }
    rep.duplicates += dups;
    seen.extend(records.iter().map(|r| r.1.record_id));
    let run_id = records.first().map(|r| r.0.run_id);
    let row = PackRow {
        pack_id: table.pack_id,
        key: key.to_string(),
        size,
        sha256: sha,
        record_count: records.len() as u64,
        created_at: table.created.clone(),
        run_id,
    };
    Ok(Some((row, records)))
}

/// Restore what a retention event recorded (facts, holds, plans, approvals, tombstones).
async fn replay_retention_event(archive: &Archive, e: &crate::ledger::Event) -> Result<(), ArchiveError> {
    use crate::index::retention::{Hold, Plan, Tombstone};
    let d = &e.detail;
    let s = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    match e.event_type.as_str() {
        ledger::FACT => archive.index.set_fact(&s("subject"), &s("death_date"), &s("source"), &e.time).await?,
        ledger::HOLD_PLACED => {
            if let Ok(h) = serde_json::from_value::<Hold>(d.clone()) {
                archive.index.add_hold(&h, vec![], &e.time).await?;
            }
        }
        ledger::HOLD_REMOVED => {
            archive.index.remove_hold(&s("hold_id"), &s("removed_by"), &s("reason"), &s("removed_at"), vec![], &e.time).await?;
        }
        ledger::DISPOSAL_PLAN => {
            if let Ok(p) = serde_json::from_value::<Plan>(d.clone()) {
                archive.index.add_plan(&p, vec![], &e.time).await?;
            }
        }
        ledger::DISPOSAL_APPROVAL => {
            archive.index.approve_plan(&s("plan_id"), &s("approved_by"), &s("approved_at"), vec![], &e.time).await?
        }
        ledger::DISPOSAL_EXECUTED => archive.index.finish_plan(&e.object, &e.time, vec![], &e.time).await?,
        ledger::DELETION => {
            if let Ok(id) = e.object.parse() {
                let t = Tombstone {
                    record_id: RecordId(id),
                    document_id: d.get("document_id").and_then(|v| v.as_str()).map(String::from),
                    plan_id: s("plan_id"),
                    disposed_at: s("disposed_at"),
                    detail: d.clone(),
                };
                archive.index.restore_tombstone(&t).await?;
            }
        }
        _ => {}
    }
    Ok(())
}
