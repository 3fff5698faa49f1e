//! What the ledger says the store must hold, replayed by the auditor's own code from the
//! events (not arkisto's): packs committed and their digests, records destroyed and under
//! which plan, plans and who approved them, dictionaries and their digests, and the chain of
//! checkpoint keys.

use std::collections::{BTreeMap, BTreeSet};

use arkisto_format::digest::Sha256;
use arkisto_format::ids::RecordId;
use arkisto_format::ledger::{self, Event};
use arkisto_format::note::{Note, Verifier};

/// A pack the ledger committed to.
#[derive(Clone, Debug)]
pub struct Commit {
    /// Event that committed it.
    pub seq: i64,
    /// Object key.
    pub key: String,
    /// SHA-256 of the whole object (absent only for packs adopted by old repair events).
    pub sha256: Option<Sha256>,
    /// Records it holds, sorted.
    pub records: Vec<RecordId>,
}

impl Commit {
    /// Whether the pack event lists `id`.
    pub fn has(&self, id: &RecordId) -> bool {
        self.records.binary_search(id).is_ok()
    }
}

/// A disposal plan as the ledger records it.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Who made it.
    pub planned_by: String,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// Records it names.
    pub records: BTreeSet<RecordId>,
}

fn record_id(v: &serde_json::Value) -> Option<RecordId> {
    v.as_str().and_then(|s| s.parse::<Sha256>().ok()).map(RecordId)
}

/// A key in force from an event on.
#[derive(Clone, Debug)]
pub struct KeyPeriod {
    /// First tree size whose checkpoint this key signs.
    pub from_size: u64,
    /// The key.
    pub key: Verifier,
}

/// The replayed ledger.
#[derive(Debug, Default)]
pub struct State {
    /// Live packs by pack id.
    pub packs: BTreeMap<String, Commit>,
    /// Every record any pack event ever named, sorted once the replay is finished (32 bytes
    /// each: the audit holds one entry per record, never its bytes).
    pub ever: Vec<RecordId>,
    /// Destroyed records: record → plan id.
    pub tombstones: BTreeMap<RecordId, String>,
    /// Plans by id.
    pub plans: BTreeMap<String, Plan>,
    /// Dictionaries created: id → digest.
    pub dicts: BTreeMap<u32, Option<Sha256>>,
    /// Keys, oldest first, from the trusted one on.
    pub keys: Vec<KeyPeriod>,
    /// What does not add up: (seq, what).
    pub problems: Vec<(i64, String)>,
}

impl State {
    /// After the last event: a trusted key the ledger never announced is taken to be in force
    /// from the start (a ledger made before key events, or a key handed over out of band);
    /// a pack whose every record was destroyed is gone (disposal deletes it whole).
    pub fn finish(&mut self, trusted: &Verifier) {
        if self.keys.is_empty() {
            self.keys.push(KeyPeriod { from_size: 0, key: trusted.clone() });
        }
        self.ever.sort_unstable();
        self.ever.dedup();
        let tomb = &self.tombstones;
        self.packs.retain(|_, p| !p.records.iter().all(|r| tomb.contains_key(r)));
    }

    /// Apply one event (in sequence order).
    pub fn apply(&mut self, e: &Event, trusted: &Verifier) {
        let d = &e.detail;
        let st = |k: &str| d.get(k).and_then(|v| v.as_str()).map(String::from);
        match e.event_type.as_str() {
            t if t == ledger::INGESTION || t == ledger::COMPACTION || (t == ledger::REPAIR && e.outcome == "adopted") => {
                let records: Option<Vec<RecordId>> =
                    d.get("records").and_then(|r| r.as_array()).and_then(|a| a.iter().map(record_id).collect());
                let (Some(records), Some(key)) = (records, st("key")) else {
                    self.problems.push((e.seq, format!("{t} event names no pack key or records")));
                    return;
                };
                let sha = st("pack_sha256").and_then(|h| h.parse().ok());
                if sha.is_none() && t != ledger::REPAIR {
                    self.problems.push((e.seq, format!("{t} event commits to no pack digest")));
                }
                if t == ledger::COMPACTION
                    && let Some(from) = st("from")
                {
                    self.packs.remove(&from);
                }
                let mut records = records;
                records.sort_unstable();
                records.dedup();
                self.ever.extend(records.iter().copied());
                self.packs.insert(e.object.clone(), Commit { seq: e.seq, key, sha256: sha, records });
            }
            ledger::DELETION => match e.object.parse::<Sha256>() {
                Ok(id) => {
                    self.tombstones.insert(RecordId(id), st("plan_id").unwrap_or_default());
                }
                Err(_) => self.problems.push((e.seq, "deletion of something that is not a record id".into())),
            },
            ledger::DISPOSAL_PLAN => {
                let records = d
                    .get("items")
                    .and_then(|i| i.as_array())
                    .map(|a| a.iter().filter_map(|i| i.get("record_id").and_then(record_id)).collect())
                    .unwrap_or_default();
                let id = st("plan_id").unwrap_or_else(|| e.object.clone());
                self.plans.insert(id, Plan { planned_by: st("planned_by").unwrap_or_else(|| e.actor.clone()), approved_by: None, records });
            }
            ledger::DISPOSAL_APPROVAL => match self.plans.get_mut(&st("plan_id").unwrap_or_else(|| e.object.clone())) {
                Some(p) if p.approved_by.is_none() => p.approved_by = st("approved_by").or_else(|| Some(e.actor.clone())),
                _ => self.problems.push((e.seq, "approval of a plan the ledger does not hold, or approved twice".into())),
            },
            ledger::DICTIONARY => {
                if let Some(id) = d.get("dict_id").and_then(|v| v.as_u64()).and_then(|v| u32::try_from(v).ok()) {
                    self.dicts.insert(id, st("sha256").and_then(|h| h.parse().ok()));
                }
            }
            ledger::KEY_ANNOUNCED => self.key_event(e, trusted),
            _ => {}
        }
    }

    /// Follow the key chain: the trusted key's own announcement starts it; each rotation is
    /// accepted only when the key in force signed it.
    fn key_event(&mut self, e: &Event, trusted: &Verifier) {
        let d = &e.detail;
        let Some(new) = d.get("verifier_key").and_then(|v| v.as_str()).and_then(|k| Verifier::parse(k).ok()) else {
            self.problems.push((e.seq, "key announcement without a valid verifier key".into()));
            return;
        };
        let from_size = e.seq as u64;
        let Some(current) = self.keys.last().map(|k| k.key.clone()) else {
            if new == *trusted {
                self.keys.push(KeyPeriod { from_size, key: new });
            } else if d.get("previous_key").and_then(|v| v.as_str()) == Some(trusted.to_string().as_str()) {
                // A rotation away from a trusted key the ledger never announced: that key was
                // in force from the start.
                self.keys.push(KeyPeriod { from_size: 0, key: trusted.clone() });
                self.key_event(e, trusted);
            }
            return;
        };
        if new == current {
            return;
        }
        let text = d.get("announcement").and_then(|v| v.as_str()).unwrap_or_default();
        let ok = Note::parse(text)
            .is_ok_and(|n| n.verify(&current).is_ok() && n.text == format!("arkisto checkpoint key rotation\n{current}\n{new}\n"));
        if ok {
            self.keys.push(KeyPeriod { from_size, key: new });
        } else {
            self.problems
                .push((e.seq, format!("key {} is announced without a valid signature by the key in force ({})", new.name(), current)));
        }
    }

    /// The key that must sign the checkpoint of `size` events, if the trusted chain covers it.
    pub fn key_for(&self, size: u64) -> Option<&Verifier> {
        self.keys.iter().rev().find(|k| k.from_size <= size).map(|k| &k.key)
    }
}
