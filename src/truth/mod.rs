//! The source of truth, replayed: what the ledger segments in the store say about holds,
//! facts, plans, approvals, tombstones, decisions, links and packs. Decisions that cannot be
//! undone (destroy, lift a hold) and `verify`'s projection checks are taken from here, never
//! from the index, which anyone with write access to the database can edit.
//!
//! This module reads only the store; it knows nothing of the index.

pub mod judge;
pub mod scan;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::digest::Sha256;
use crate::ids::{PackId, RecordId};
use crate::ledger::{self, Event};
use crate::retention::acts::{Hold, Plan, Tombstone};
use crate::store::{ObjectStore, StoreError};

/// What the ledger says a pack holds: the digest and records its ingestion (or compaction)
/// event committed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackCommit {
    /// The event that committed the pack.
    pub seq: i64,
    /// Object key.
    pub key: String,
    /// SHA-256 of the whole object; `None` only for a pack adopted by `repair` before repair
    /// events recorded the digest.
    pub sha256: Option<Sha256>,
    /// Its records.
    pub records: Vec<RecordId>,
}

/// A retention decision recorded by a re-evaluation event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// An ISO date, `permanent` or `undetermined`.
    pub disposal: String,
    /// Rule id.
    pub rule: String,
    /// The lock horizon the re-evaluation gave, if the event says.
    pub lock_horizon: Option<String>,
}

/// A record's handover to long-term preservation (a `transfer` event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The transfer's id.
    pub transfer_id: String,
    /// Its date (ISO): the record may be destroyed from then on.
    pub date: String,
    /// The event's sequence number.
    pub seq: i64,
}

/// The ledger's state after replaying every event.
#[derive(Clone, Debug, Default)]
pub struct LedgerState {
    /// Events replayed.
    pub events: u64,
    /// Death dates by subject (the latest fact wins).
    pub facts: BTreeMap<String, String>,
    /// Every hold ever placed, with its removal if it was removed.
    pub holds: BTreeMap<String, Hold>,
    /// Every plan, with its approval and execution as the ledger records them.
    pub plans: BTreeMap<String, Plan>,
    /// Destroyed records.
    pub tombstones: BTreeMap<RecordId, Tombstone>,
    /// Packs the ledger says exist (committed, not compacted away or emptied).
    pub packs: BTreeMap<PackId, PackCommit>,
    /// Where each live record is, per the ledger.
    pub record_pack: HashMap<RecordId, PackId>,
    /// Decisions re-evaluated after ingest (the latest wins); others are in the metadata frame.
    pub decisions: HashMap<RecordId, Decision>,
    /// Attachment links beyond a record's own parent: (parent, attachment).
    pub links: BTreeSet<(RecordId, RecordId)>,
    /// Records handed over to long-term preservation, with the latest transfer of each.
    pub transfers: HashMap<RecordId, Transfer>,
    /// Event kinds that did not decode as their type says (named by seq).
    pub undecodable: Vec<(i64, String)>,
}

impl LedgerState {
    /// Replay `events` in order.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut s = LedgerState::default();
        for e in events {
            s.apply(e);
        }
        // A pack whose every record was destroyed is gone (disposal deletes it whole).
        let emptied: Vec<PackId> =
            s.packs.iter().filter(|(_, p)| p.records.iter().all(|r| s.tombstones.contains_key(r))).map(|(id, _)| *id).collect();
        for id in emptied {
            s.packs.remove(&id);
        }
        s
    }

    fn apply(&mut self, e: &Event) {
        self.events += 1;
        let d = &e.detail;
        let s = |k: &str| d.get(k).and_then(|v| v.as_str()).map(String::from);
        let bad = |why: &str| self_bad(e, why);
        match e.event_type.as_str() {
            // A pack adopted by `repair` (written, never indexed) commits like an ingestion.
            t if t == ledger::INGESTION || t == ledger::COMPACTION || (t == ledger::REPAIR && e.outcome == "adopted") => {
                let sha = s("pack_sha256").and_then(|h| h.parse::<Sha256>().ok());
                let (Ok(pack), Some(records)) =
                    (e.object.parse::<PackId>(), d.get("records").and_then(|r| serde_json::from_value::<Vec<RecordId>>(r.clone()).ok()))
                else {
                    self.undecodable.push(bad("pack event without a pack id or records"));
                    return;
                };
                if sha.is_none() && e.event_type != ledger::REPAIR {
                    self.undecodable.push(bad("pack event without pack_sha256"));
                    return;
                }
                if e.event_type == ledger::COMPACTION
                    && let Some(from) = s("from").and_then(|f| f.parse::<PackId>().ok())
                {
                    self.packs.remove(&from);
                }
                for r in &records {
                    self.record_pack.insert(*r, pack);
                }
                self.packs.insert(pack, PackCommit { seq: e.seq, key: s("key").unwrap_or_default(), sha256: sha, records });
            }
            ledger::FACT => match (s("subject"), s("death_date")) {
                (Some(subject), Some(date)) => {
                    self.facts.insert(subject, date);
                }
                _ => self.undecodable.push(bad("fact without subject or death_date")),
            },
            ledger::HOLD_PLACED => match serde_json::from_value::<Hold>(d.clone()) {
                Ok(h) => {
                    self.holds.insert(h.hold_id.clone(), h);
                }
                Err(_) => self.undecodable.push(bad("hold event does not describe a hold")),
            },
            ledger::HOLD_REMOVED => match self.holds.get_mut(&s("hold_id").unwrap_or_default()) {
                Some(h) if h.removed_at.is_none() => {
                    h.removed_at = s("removed_at");
                    h.removed_by = s("removed_by");
                    h.removal_reason = s("reason");
                }
                _ => self.undecodable.push(bad("removal of a hold the ledger has not placed, or removed already")),
            },
            ledger::DISPOSAL_PLAN => match serde_json::from_value::<Plan>(d.clone()) {
                Ok(p) => {
                    self.plans.insert(p.plan_id.clone(), p);
                }
                Err(_) => self.undecodable.push(bad("plan event does not describe a plan")),
            },
            ledger::DISPOSAL_APPROVAL => match self.plans.get_mut(&s("plan_id").unwrap_or_default()) {
                Some(p) if p.approved_by.is_none() => {
                    p.approved_by = s("approved_by");
                    p.approved_at = s("approved_at");
                }
                _ => self.undecodable.push(bad("approval of a plan the ledger does not hold, or approved already")),
            },
            ledger::DISPOSAL_EXECUTED => {
                if let Some(p) = self.plans.get_mut(&e.object) {
                    p.executed_at = Some(e.time.clone());
                }
            }
            ledger::DELETION => match e.object.parse() {
                Ok(id) => {
                    let id = RecordId(id);
                    self.record_pack.remove(&id);
                    self.decisions.remove(&id);
                    self.tombstones.insert(
                        id,
                        Tombstone {
                            record_id: id,
                            document_id: s("document_id"),
                            plan_id: s("plan_id").unwrap_or_default(),
                            disposed_at: s("disposed_at").unwrap_or_default(),
                            detail: d.clone(),
                        },
                    );
                }
                Err(_) => self.undecodable.push(bad("deletion of something that is not a record id")),
            },
            ledger::REEVALUATION => self.apply_changes(e),
            ledger::TRANSFER => {
                self.apply_changes(e);
                match (s("transfer"), s("date"), d.get("records").and_then(|r| serde_json::from_value::<Vec<RecordId>>(r.clone()).ok())) {
                    (Some(id), Some(date), Some(records)) => {
                        for r in records {
                            self.transfers.insert(r, Transfer { transfer_id: id.clone(), date: date.clone(), seq: e.seq });
                        }
                    }
                    _ => self.undecodable.push(bad("transfer event without transfer id, date or records")),
                }
            }
            ledger::LINK => {
                for pair in d.get("links").and_then(|l| serde_json::from_value::<Vec<[RecordId; 2]>>(l.clone()).ok()).into_iter().flatten()
                {
                    self.links.insert((pair[0], pair[1]));
                }
            }
            _ => {}
        }
    }

    /// The decisions a re-evaluation (or a transfer) records, one per changed record.
    fn apply_changes(&mut self, e: &Event) {
        let d = &e.detail;
        let bad = |why: &str| self_bad(e, why);
        {
            {
                for c in d.get("changes").and_then(|c| c.as_array()).into_iter().flatten() {
                    let id = c.get("record_id").and_then(|v| v.as_str()).and_then(|v| v.parse().ok()).map(RecordId);
                    // Structured since encoding 2; earlier events say "DATE (RULE)".
                    let decision = match (c.get("disposal").and_then(|v| v.as_str()), c.get("rule").and_then(|v| v.as_str())) {
                        (Some(d), Some(r)) => Some(Decision { disposal: d.into(), rule: r.into(), lock_horizon: None }),
                        _ => c.get("to").and_then(|v| v.as_str()).and_then(parse_to),
                    }
                    .map(|d| Decision { lock_horizon: c.get("lock_horizon").and_then(|v| v.as_str()).map(String::from), ..d });
                    match (id, decision) {
                        (Some(id), Some(dec)) => {
                            self.decisions.insert(id, dec);
                        }
                        _ => self.undecodable.push(bad("re-evaluation change without record id or decision")),
                    }
                }
            }
        }
    }

    /// Whether a record (of `subject`) is under a hold the ledger says is in force.
    pub fn held(&self, record: &RecordId, subject: Option<&str>) -> Option<&Hold> {
        self.holds
            .values()
            .filter(|h| h.removed_at.is_none())
            .find(|h| h.records.contains(record) || (h.kind == "subject" && h.subject.is_some() && h.subject.as_deref() == subject))
    }
}

fn self_bad(e: &Event, why: &str) -> (i64, String) {
    (e.seq, format!("{} event: {why}", e.event_type))
}

/// "2040-01-01 (fi-patient-default)" → the decision.
fn parse_to(s: &str) -> Option<Decision> {
    let (disposal, rest) = s.split_once(" (")?;
    Some(Decision { disposal: disposal.into(), rule: rest.strip_suffix(')')?.into(), lock_horizon: None })
}

/// The ledger as the store holds it: every segment decoded, events merged by sequence
/// number (segments written twice by a retried flush may overlap).
#[derive(Debug, Default)]
pub struct StoredLedger {
    /// Events in sequence order.
    pub events: Vec<Event>,
    /// Each event's Merkle leaf hash (of its stored line), aligned with `events`.
    pub leaves: Vec<Sha256>,
    /// Segment problems: (key, what is wrong). Their events are missing from `events`.
    pub problems: Vec<(String, String)>,
    /// The first break in the chain, if any: (seq, what).
    pub chain: Option<(i64, String)>,
}

/// Read every ledger segment from `store`.
pub async fn read_ledger(store: &dyn ObjectStore) -> Result<StoredLedger, StoreError> {
    let mut a = ledger::Assembler::default();
    for o in store.list("ledger/").await? {
        let bytes = crate::store::get_all(store, &o.key).await?;
        a.add(o.key.as_str(), &bytes);
    }
    let ledger::Assembled { events, leaves, problems, chain } = a.finish();
    Ok(StoredLedger { events, leaves, problems, chain })
}

/// A pack as the store holds it: its own table, the digest of every byte, and each record's
/// metadata frame decoded (or why it would not decode).
pub struct StoredPack {
    /// The pack's table.
    pub table: crate::pack::format::PackTable,
    /// SHA-256 of the whole object.
    pub sha256: Sha256,
    /// Size of the object.
    pub size: u64,
    /// Each record's metadata, in table order.
    pub metas: Vec<(crate::record::RecordLocation, Result<crate::record::RecordMeta, String>)>,
}

/// A pack's own table (two ranged reads of its tail) and the object's size. `Ok(Err(why))`
/// when the pack is missing, too small or its footer or table is damaged.
pub async fn read_table(
    store: &dyn ObjectStore,
    key: &crate::store::ObjectKey,
) -> Result<Result<(u64, crate::pack::format::PackTable), String>, StoreError> {
    use crate::pack::{self, format::FOOTER_LEN};
    let Some(info) = store.head(key).await? else { return Ok(Err(format!("{key} is missing from the store"))) };
    if info.size < FOOTER_LEN as u64 {
        return Ok(Err(format!("{key} is too small to be a pack")));
    }
    let tail = store.get_range(key, info.size - FOOTER_LEN as u64, FOOTER_LEN as u64).await?;
    let footer = match pack::decode_footer(&tail, info.size) {
        Ok(f) => f,
        Err(e) => return Ok(Err(format!("{key}: {e}"))),
    };
    Ok(match pack::decode_table(&store.get_range(key, footer.table_offset, footer.table_len).await?, &footer) {
        Ok(t) => Ok((info.size, t)),
        Err(e) => Err(format!("{key}: {e}")),
    })
}

/// Read a pack whole (one pass): table, digest, metadata frames. `Ok(Err(why))` when the pack
/// is missing, truncated or its table is damaged.
pub async fn read_pack(store: &dyn ObjectStore, key: &crate::store::ObjectKey) -> Result<Result<StoredPack, String>, StoreError> {
    use crate::pack;
    let (size, table) = match read_table(store, key).await? {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let mut metas = Vec::with_capacity(table.records.len());
    let sha256 = scan::scan_pack(store, key, size, &table.records, |l, frames| {
        let meta = match frames {
            None => Err("frames are not where the pack table says".to_string()),
            Some(scan::Frames::Whole { meta, .. } | scan::Frames::Streamed { meta, .. }) => {
                pack::decode_meta(meta, l).map_err(|e| e.to_string())
            }
        };
        metas.push((l.clone(), meta));
    })
    .await?;
    Ok(Ok(StoredPack { table, sha256, size, metas }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contradictions_in_the_ledger_are_collected() {
        let mut prev = Sha256([0; 32]);
        let mut evs = Vec::new();
        for (i, (t, obj, detail)) in [
            (ledger::HOLD_REMOVED, "hold-x", serde_json::json!({"hold_id": "hold-x", "removed_by": "m", "removed_at": "t", "reason": "r"})),
            (ledger::DISPOSAL_APPROVAL, "plan-x", serde_json::json!({"plan_id": "plan-x", "approved_by": "m"})),
        ]
        .into_iter()
        .enumerate()
        {
            let e = ledger::NewEvent {
                event_type: t.into(),
                actor: "m".into(),
                purpose: None,
                object: obj.into(),
                outcome: "success".into(),
                detail,
            };
            let ev = Event::chain(e, i as i64 + 1, "t".into(), prev).unwrap();
            prev = ev.hash;
            evs.push(ev);
        }
        let s = LedgerState::replay(&evs);
        assert_eq!(s.undecodable.iter().map(|u| u.0).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn legacy_reevaluation_text_parses() {
        assert_eq!(
            parse_to("2040-01-01 (fi-patient-default)"),
            Some(Decision { disposal: "2040-01-01".into(), rule: "fi-patient-default".into(), lock_horizon: None })
        );
        assert_eq!(
            parse_to("permanent (a (b))"),
            Some(Decision { disposal: "permanent".into(), rule: "a (b)".into(), lock_horizon: None })
        );
        assert_eq!(parse_to("garbage"), None);
    }
}
