//! The index checked as a projection: every indexed field of every record against its
//! metadata frame, retention decisions against the frame and the ledger, and holds, facts,
//! plans, tombstones, links and the list of packs against the ledger in the store. Each
//! difference is a finding that names the record, hold or plan and the field.

use std::collections::{BTreeMap, BTreeSet};

use super::{ACode, VerifyReport};
use crate::archive::{Archive, ArchiveError};
use crate::ids::RecordId;
use crate::index::PackRow;
use crate::index::projection::expected_columns;
use crate::record::RecordMeta;
use crate::truth::{LedgerState, judge};

/// A value for a message: shown as it is, `NULL` for none. Subject values are personal data
/// and never printed; the field name says what differs.
fn shown(field: &str, v: &Option<String>) -> String {
    match (field, v) {
        ("subject_value", Some(_)) => "(a value)".into(),
        (_, Some(v)) => format!("{v:?}"),
        (_, None) => "NULL".into(),
    }
}

/// Compare the index's rows for the records of pack `p` with their metadata frames.
pub(super) async fn verify_records(
    archive: &Archive,
    p: &PackRow,
    metas: &[RecordMeta],
    state: &LedgerState,
    r: &mut VerifyReport,
) -> Result<(), ArchiveError> {
    let mut indexed = archive.index.indexed_columns(p.pack_id).await?;
    for meta in metas {
        let id = meta.record_id;
        let Some(mut cols) = indexed.remove(&id) else {
            if state.tombstones.contains_key(&id) {
                continue; // destroyed; the pack awaits compaction or deletion
            }
            // Kept once, from another pack (a duplicate after a crash), is no loss.
            if archive.index.locate(&id).await?.is_none_or(|l| l.pack_id == p.pack_id) {
                r.add(ACode::A012, Some(p.key.clone()), vec![id], "the pack holds this record, but the index has no row for it (deleted?)");
            }
            continue;
        };
        if state.tombstones.contains_key(&id) {
            r.add(ACode::A016, Some(p.key.clone()), vec![id], "the ledger records this record as destroyed, but the index still lists it");
        }
        for (field, want) in expected_columns(meta) {
            let got = cols.remove(field).flatten();
            if got != want {
                r.add(
                    ACode::A012,
                    Some(p.key.clone()),
                    vec![id],
                    format!("index field {field} is {}, the metadata frame says {}", shown(field, &got), shown(field, &want)),
                );
            }
        }
        let rec = judge::recorded(meta, state);
        for (field, want) in [("disposal", rec.disposal), ("retention_rule", rec.rule)] {
            let got = cols.remove(field).flatten();
            if got.as_deref() != Some(want.as_str()) {
                r.add(
                    ACode::A013,
                    Some(p.key.clone()),
                    vec![id],
                    format!("index field {field} is {}, the metadata frame and the ledger say {want:?}", shown(field, &got)),
                );
            }
        }
    }
    // What is left: rows whose frames could not be read (A005) or that the pack's table does
    // not hold (A006), both reported already.
    Ok(())
}

/// Packs the ledger says hold live records must be in the index (a deleted pack row hides
/// every record in it).
pub(super) fn verify_packs_listed(packs: &[PackRow], state: &LedgerState, r: &mut VerifyReport) {
    let listed: BTreeSet<_> = packs.iter().map(|p| p.pack_id).collect();
    for (id, c) in &state.packs {
        if !listed.contains(id) {
            let live: Vec<RecordId> = c.records.iter().filter(|r| !state.tombstones.contains_key(r)).copied().collect();
            r.add(ACode::A018, Some(c.key.clone()), live, format!("the ledger commits pack {id}, but the index does not list it"));
        }
    }
}

/// Holds, facts, plans, tombstones and links: index against ledger.
pub(super) async fn verify_retention(archive: &Archive, state: &LedgerState, r: &mut VerifyReport) -> Result<(), ArchiveError> {
    // Holds.
    let holds: BTreeMap<String, crate::index::retention::Hold> =
        archive.index.holds(true).await?.into_iter().map(|h| (h.hold_id.clone(), h)).collect();
    for (id, want) in &state.holds {
        let what = match holds.get(id) {
            None => Some("the ledger places this hold, but the index does not have it (deleted?)".to_string()),
            Some(got) if got.removed_at.is_some() != want.removed_at.is_some() => Some(format!(
                "the index says the hold is {}, the ledger says it is {}",
                if got.removed_at.is_some() { "removed" } else { "in force" },
                if want.removed_at.is_some() { "removed" } else { "in force" }
            )),
            Some(got) if got.subject != want.subject || got.kind != want.kind => {
                Some("the index's hold names another subject than the ledger's".to_string())
            }
            Some(got) if got.records.iter().collect::<BTreeSet<_>>() != want.records.iter().collect::<BTreeSet<_>>() => {
                Some("the index's hold covers other records than the ledger's".to_string())
            }
            Some(_) => None,
        };
        if let Some(what) = what {
            r.add(ACode::A014, Some(id.clone()), want.records.clone(), what);
        }
    }
    for (id, got) in &holds {
        if !state.holds.contains_key(id) {
            r.add(ACode::A014, Some(id.clone()), got.records.clone(), "the index has this hold, but the ledger never placed it");
        }
    }
    // Facts (named by field, never by the subject's identifier).
    let facts: BTreeMap<String, String> = archive.index.facts().await?.into_iter().collect();
    let subjects: BTreeSet<&String> = facts.keys().chain(state.facts.keys()).collect();
    let mut n = 0;
    for s in subjects {
        let (got, want) = (facts.get(s), state.facts.get(s));
        if got != want {
            n += 1;
            let what = match (got, want) {
                (None, Some(_)) => "a death date the ledger records is missing from the index".to_string(),
                (Some(_), None) => "the index holds a death date the ledger never recorded".to_string(),
                (Some(g), Some(w)) => format!("the index's death date {g} differs from the ledger's {w}"),
                (None, None) => continue,
            };
            let records: Vec<RecordId> = archive.index.retention_rows(Some(s)).await?.into_iter().map(|r| r.record_id).collect();
            r.add(ACode::A015, Some(format!("fact {n}: death_date")), records, what);
        }
    }
    // Tombstones.
    let tombstoned = archive.index.tombstoned().await?;
    for id in state.tombstones.keys() {
        if !tombstoned.contains(id) {
            r.add(
                ACode::A016,
                Some(format!("tombstone of {id}")),
                vec![*id],
                "the ledger records this record's destruction, but the index has no tombstone (deleted?)",
            );
        }
    }
    for id in &tombstoned {
        if !state.tombstones.contains_key(id) {
            r.add(ACode::A016, Some(format!("tombstone of {id}")), vec![*id], "the index has a tombstone the ledger never recorded");
        }
    }
    // Plans.
    let plans: BTreeMap<String, crate::index::retention::Plan> =
        archive.index.plans().await?.into_iter().map(|p| (p.plan_id.clone(), p)).collect();
    for (id, want) in &state.plans {
        let what = match plans.get(id) {
            None => Some("the ledger holds this plan, but the index does not".to_string()),
            Some(got) if got.approved_by != want.approved_by => Some(format!(
                "the index says it was approved by {}, the ledger by {}",
                got.approved_by.as_deref().unwrap_or("nobody"),
                want.approved_by.as_deref().unwrap_or("nobody")
            )),
            Some(got) if got.planned_by != want.planned_by => Some("the index names another planner than the ledger".to_string()),
            Some(got) if got.items != want.items => Some("the index's plan lists other records than the ledger's".to_string()),
            Some(_) => None,
        };
        if let Some(what) = what {
            r.add(ACode::A017, Some(id.clone()), vec![], what);
        }
    }
    for id in plans.keys() {
        if !state.plans.contains_key(id) {
            r.add(ACode::A017, Some(id.clone()), vec![], "the index has this plan, but the ledger never recorded it");
        }
    }
    // Extra attachment links.
    let links: BTreeSet<(RecordId, RecordId)> = archive.index.extra_links().await?.into_iter().collect();
    for (p, c) in state.links.symmetric_difference(&links) {
        let what = if links.contains(&(*p, *c)) {
            "the index links these records; the ledger does not"
        } else {
            "the ledger links these records; the index does not"
        };
        r.add(ACode::A019, Some(format!("link {p} → {c}")), vec![*p, *c], what);
    }
    Ok(())
}
