//! The records a package holds, as the store and the ledger have them. The index only
//! proposes candidates: the ledger places each in its pack, the pack's own table locates it,
//! its metadata frame (checked against its digest) describes it, and the ledger gives its
//! retention, holds and the events that committed it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::csip::PremisEvent;
use super::{Excluded, ExportError};
use crate::archive::Archive;
use crate::digest::Sha256;
use crate::ids::{PackId, RecordId};
use crate::ledger::{self, Event};
use crate::record::{RecordLocation, RecordMeta};
use crate::store::ObjectKey;
use crate::truth::LedgerState;

/// One record going into a package.
pub(crate) struct Item {
    pub meta: RecordMeta,
    pub loc: RecordLocation,
    pub key: ObjectKey,
    /// Recorded retention rule and disposal (a date, `permanent`, `undetermined`).
    pub rule: String,
    pub disposal: String,
    /// A hold in force on it: id and reason.
    pub hold: Option<(String, String)>,
    /// Ledger events that committed it (sequence numbers).
    pub events: Vec<i64>,
}

type Tables = HashMap<PackId, Result<Arc<(ObjectKey, HashMap<RecordId, RecordLocation>)>, String>>;

/// Checks candidates one by one and keeps what it excluded, and why.
pub(crate) struct Gatherer<'a> {
    archive: &'a Archive,
    state: &'a LedgerState,
    tables: Tables,
    skip_damaged: bool,
    seen: HashSet<RecordId>,
    /// Candidates not included, and why.
    pub excluded: Vec<Excluded>,
}

impl<'a> Gatherer<'a> {
    pub fn new(archive: &'a Archive, state: &'a LedgerState, skip_damaged: bool) -> Self {
        Gatherer { archive, state, tables: Tables::new(), skip_damaged, seen: HashSet::new(), excluded: Vec::new() }
    }

    /// Whether `rid` was already looked at (and marks it).
    pub fn seen(&mut self, rid: RecordId) -> bool {
        !self.seen.insert(rid)
    }

    /// A damaged or contradicted record: listed with `--skip-damaged`, else the export stops.
    pub fn refuse(&mut self, x: Excluded) -> Result<(), ExportError> {
        if self.skip_damaged {
            self.excluded.push(x);
            return Ok(());
        }
        let (record, why) = match x {
            Excluded::Damaged { record, detail } | Excluded::Mismatch { record, detail } => (record, detail),
            other => (other.record(), "excluded".into()),
        };
        Err(ExportError::Damaged { record, why })
    }

    /// Check one candidate: `Some` to include it; `None` when it was seen already, is
    /// destroyed, or is refused (listed in `excluded`). With `subject`, its metadata must
    /// name that person.
    pub async fn check(&mut self, rid: RecordId, subject: Option<&str>) -> Result<Option<Item>, ExportError> {
        if self.seen(rid) {
            return Ok(None);
        }
        if let Some(t) = self.state.tombstones.get(&rid) {
            self.excluded.push(destroyed(t));
            return Ok(None);
        }
        let (key, loc) = match self.locate(rid).await? {
            Ok(at) => at,
            Err(x) => {
                self.refuse(x)?;
                return Ok(None);
            }
        };
        let frame = self.archive.store.get_range(&key, loc.meta_offset, loc.meta_len).await?;
        let meta = match crate::pack::decode_meta(&frame, &loc) {
            Ok(m) => m,
            Err(e) => {
                self.refuse(Excluded::Damaged { record: rid, detail: format!("metadata frame: {e}") })?;
                return Ok(None);
            }
        };
        let own = meta.subject.as_ref().map(|s| s.value.clone());
        if subject.is_some() && own.as_deref() != subject {
            self.refuse(Excluded::Mismatch {
                record: rid,
                detail: "the index lists it for this person, but its archived metadata names another".into(),
            })?;
            return Ok(None);
        }
        let decision = crate::truth::judge::recorded(&meta, self.state);
        let hold = self.state.held(&rid, own.as_deref()).map(|h| (h.hold_id.clone(), h.reason.clone()));
        Ok(Some(Item { meta, loc, key, rule: decision.rule, disposal: decision.disposal, hold, events: Vec::new() }))
    }

    /// Where the ledger and the pack's own table place a record, or why they do not: the
    /// ledger knows no pack holding it (the index disagrees with the ledger), or the pack
    /// cannot be read (the store is damaged).
    async fn locate(&mut self, rid: RecordId) -> Result<Result<(ObjectKey, RecordLocation), Excluded>, ExportError> {
        let mismatch = |detail: String| Excluded::Mismatch { record: rid, detail };
        let Some(pack) = self.state.record_pack.get(&rid) else {
            return Ok(Err(mismatch("the index lists it, but the ledger records no pack holding it".into())));
        };
        let Some(commit) = self.state.packs.get(pack) else {
            return Ok(Err(mismatch(format!("the ledger records no pack {pack}"))));
        };
        if !self.tables.contains_key(pack) {
            let t = match ObjectKey::new(commit.key.clone()) {
                Err(e) => Err(e.to_string()),
                Ok(key) => match crate::truth::read_table(&*self.archive.store, &key).await? {
                    Err(why) => Err(why),
                    Ok((_, table)) => Ok(Arc::new((key, table.records.into_iter().map(|l| (l.record_id, l)).collect()))),
                },
            };
            self.tables.insert(*pack, t);
        }
        let damaged = |detail: String| Excluded::Damaged { record: rid, detail };
        Ok(match self.tables.get(pack) {
            Some(Ok(t)) => match t.1.get(&rid) {
                Some(loc) => Ok((t.0.clone(), loc.clone())),
                None => Err(damaged(format!("pack {pack}'s table does not hold it"))),
            },
            Some(Err(why)) => Err(damaged(why.clone())),
            None => Err(damaged("pack not read".into())),
        })
    }
}

/// A destroyed record, as its tombstone says.
pub(crate) fn destroyed(t: &crate::retention::acts::Tombstone) -> Excluded {
    let f = |k: &str| t.detail.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
    Excluded::Destroyed {
        record: t.record_id,
        date: t.disposed_at.get(..10).unwrap_or(&t.disposed_at).to_string(),
        rule: f("rule"),
        plan: t.plan_id.clone(),
    }
}

/// The ledger events that committed `items` (ingestion, compaction, adoption), as PREMIS
/// events grouped by `group` (the representation each item goes to); each item learns the
/// sequence numbers of its events.
pub(crate) fn commit_events(events: &[Event], items: &mut [Item], group: impl Fn(&Item) -> String) -> BTreeMap<String, Vec<PremisEvent>> {
    let wanted: HashMap<RecordId, usize> = items.iter().enumerate().map(|(i, it)| (it.meta.record_id, i)).collect();
    let mut out: BTreeMap<String, Vec<PremisEvent>> = BTreeMap::new();
    for e in events {
        let commits = e.event_type == ledger::INGESTION
            || e.event_type == ledger::COMPACTION
            || (e.event_type == ledger::REPAIR && e.outcome == "adopted");
        if !commits {
            continue;
        }
        let Some(recs) = e.detail.get("records").and_then(|v| v.as_array()) else { continue };
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in recs.iter().filter_map(|v| v.as_str()) {
            if let Some(&i) = r.parse::<Sha256>().ok().and_then(|d| wanted.get(&RecordId(d))) {
                items[i].events.push(e.seq);
                by_group.entry(group(&items[i])).or_default().push(r.to_string());
            }
        }
        for (g, objects) in by_group {
            let pack_sha = e.detail.get("pack_sha256").and_then(|v| v.as_str()).unwrap_or("?");
            out.entry(g).or_default().push(PremisEvent {
                seq: e.seq,
                event_type: e.event_type.clone(),
                time: e.time.clone(),
                actor: e.actor.clone(),
                detail: format!("pack {} (SHA-256 {pack_sha}); ledger event SHA-256 {}", e.object, e.hash),
                outcome: e.outcome.clone(),
                objects,
            });
        }
    }
    out
}
