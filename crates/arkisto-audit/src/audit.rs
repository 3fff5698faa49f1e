//! The audit: every check the tool makes, in order, each finding named by a stable code.
//!
//! | code | check |
//! |------|-------|
//! | AU01 | checkpoint signatures (by the trusted key, or a key it announced) |
//! | AU02 | the auditor's saved checkpoint: not rolled back, not rewritten |
//! | AU03 | every ledger segment: decodes, chains, and hashes to every checkpoint's root |
//! | AU04 | every pack and frame against the digests the ledger committed to |
//! | AU05 | every record ever ingested is present, or destroyed under an approved plan |
//! | AU06 | nothing in the store lacks an ingestion event |
//! | AU07 | dictionaries against their creation events |

use std::collections::{BTreeSet, HashMap};

use arkisto_format::checkpoint::Checkpoint;
use arkisto_format::digest::Sha256;
use arkisto_format::ledger;
use arkisto_format::merkle;
use arkisto_format::note::{Note, Verifier};
use arkisto_format::scan;
use serde::Serialize;

use crate::replay::State;
use crate::source::Source;

/// One thing found wrong.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Stable code (AU01…AU07).
    pub code: &'static str,
    /// The object concerned (a key, an event number, a record id).
    pub object: String,
    /// What is wrong.
    pub message: String,
}

/// The checkpoint the audit verified against.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    /// Origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash (base64, as in the checkpoint).
    pub root: String,
    /// The key that signed it.
    pub key: String,
    /// The note, as stored (save it for the next audit).
    pub note: String,
    /// The root hash itself.
    #[serde(skip)]
    pub root_hash: Sha256,
}

/// The audit's report.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The store audited.
    pub store: String,
    /// The newest checkpoint whose signature verified.
    pub checkpoint: Option<Verified>,
    /// Events in the store's ledger.
    pub events: u64,
    /// Events after the newest verified checkpoint (not yet covered by a signature).
    pub uncovered_events: u64,
    /// Checkpoints read.
    pub checkpoints: u64,
    /// Packs read in full.
    pub packs: u64,
    /// Bytes of packs read.
    pub pack_bytes: u64,
    /// Records whose every frame checked out.
    pub records: u64,
    /// Records destroyed under an approved plan.
    pub destroyed: u64,
    /// Dictionaries checked.
    pub dicts: u64,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Remarks that are not findings (unsigned heads from before the key, for instance).
    pub notes: Vec<String>,
}

impl Report {
    fn find(&mut self, code: &'static str, object: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding { code, object: object.into(), message: message.into() });
    }
}

fn b64(h: &Sha256) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h.0)
}

/// Run every check on the store in `dir`, trusting `key`, against `saved` if given.
pub fn run(dir: &dyn Source, store_name: &str, key: &Verifier, saved: Option<&str>) -> std::io::Result<Report> {
    let mut r = Report { store: store_name.to_string(), ..Default::default() };

    // The ledger (AU03 for what does not decode or chain), replayed as it streams past.
    let mut state = State::default();
    let leaves = read_ledger(dir, &mut r, &mut state, key)?;
    state.finish(key);
    for (seq, why) in &state.problems {
        r.find("AU03", format!("event {seq}"), why.clone());
    }

    check_checkpoints(dir, &mut r, &leaves, &state)?;
    if let Some(text) = saved {
        check_saved(&mut r, text, &leaves, &state);
    }
    let dicts = check_dicts(dir, &mut r, &state)?;
    check_packs(dir, &mut r, &state, &dicts)?;
    Ok(r)
}

/// Read the segments in key order (which is sequence order), checking each and the chain,
/// replaying each event into `state` and keeping only its Merkle leaf: the audit holds 32
/// bytes per event, not the events. Overlapping segments (a retried flush) must agree.
fn read_ledger(dir: &dyn Source, r: &mut Report, state: &mut State, key: &Verifier) -> std::io::Result<Vec<Sha256>> {
    let mut leaves: Vec<Sha256> = Vec::new();
    let mut prev = Sha256([0; 32]);
    let mut chain: Option<(i64, String)> = None;
    for o in dir.list("ledger/")? {
        let range = ledger::parse_segment_key(&o.key);
        let mut expect = range.map(|(first, _)| first);
        let mut in_order = true;
        // One line at a time: a segment may hold a whole run's events.
        let lines = dir.open_read(&o.key).and_then(|f| zstd::stream::read::Decoder::new(f)).map(std::io::BufReader::new);
        let mut lines = match lines {
            Ok(l) => l,
            Err(e) => {
                r.find("AU03", o.key.clone(), format!("ledger segment cannot be read: {e}"));
                continue;
            }
        };
        let mut line = String::new();
        let mut n = 0usize;
        loop {
            line.clear();
            match std::io::BufRead::read_line(&mut lines, &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    r.find("AU03", o.key.clone(), format!("ledger segment does not decode: {e}"));
                    break;
                }
            }
            n += 1;
            let text = line.strip_suffix('\n').unwrap_or(&line);
            if text.is_empty() {
                continue;
            }
            let e = match ledger::Event::from_line(text) {
                Ok(e) => e,
                Err(why) => {
                    r.find("AU03", o.key.clone(), format!("ledger segment line {n}: {why}"));
                    in_order = false;
                    continue;
                }
            };
            if expect.is_some_and(|x| x != e.seq) {
                in_order = false;
            }
            expect = Some(e.seq + 1);
            let leaf = merkle::leaf_hash(text.as_bytes());
            let next = leaves.len() as i64 + 1;
            if e.seq < next {
                if e.seq < 1 || leaves[(e.seq - 1) as usize] != leaf {
                    r.find("AU03", o.key.clone(), format!("ledger segment holds another event {} than an earlier segment", e.seq));
                }
                continue;
            }
            if chain.is_none() {
                if e.seq != next {
                    chain = Some((e.seq, format!("expected event {next}, found {} (events missing)", e.seq)));
                } else if e.prev_hash != prev {
                    chain = Some((e.seq, "previous-hash link broken".into()));
                } else if e.compute_hash() != e.hash {
                    chain = Some((e.seq, "event content does not match its hash (edited?)".into()));
                }
            }
            prev = e.hash;
            leaves.push(leaf);
            state.apply(&e, key);
        }
        if let Some((first, last)) = range
            && (!in_order || expect != Some(last + 1))
        {
            r.find(
                "AU03",
                o.key.clone(),
                format!("ledger segment does not hold events {first} to {last} in order (reordered, truncated or edited)"),
            );
        }
    }
    if let Some((seq, why)) = chain {
        r.find("AU03", format!("event {seq}"), format!("ledger chain broken: {why}"));
    }
    r.events = leaves.len() as u64;
    Ok(leaves)
}

/// AU01 and AU03: each checkpoint's signature, and its root against the segments.
fn check_checkpoints(dir: &dyn Source, r: &mut Report, leaves: &[Sha256], state: &State) -> std::io::Result<()> {
    let mut newest: Option<Verified> = None;
    let mut unsigned_before_key = 0;
    let mut notes = Vec::new();
    for o in dir.list("checkpoints/")?.into_iter().filter(|o| o.key.ends_with(".note")) {
        let text = String::from_utf8(dir.read_all(&o.key)?).unwrap_or_default();
        let parsed = Note::parse(&text)
            .map_err(|e| e.to_string())
            .and_then(|n| Checkpoint::parse(&n.text).map(|c| (n, c)).map_err(|e| e.to_string()));
        notes.push((o, text, parsed));
    }
    // Every checkpoint's root from one pass over the leaves.
    let roots = merkle::prefix_roots(leaves, notes.iter().filter_map(|(_, _, p)| p.as_ref().ok().map(|(_, c)| c.size)));
    let root_check = |c: &Checkpoint| c.matches_root(roots.get(&c.size), leaves.len() as u64);
    for (o, text, parsed) in notes {
        r.checkpoints += 1;
        let (n, c) = match parsed {
            Ok(x) => x,
            Err(why) => {
                r.find("AU01", o.key.clone(), format!("not a checkpoint: {why}"));
                continue;
            }
        };
        match state.key_for(c.size) {
            None if n.signatures.is_empty() => unsigned_before_key += 1,
            None => r.notes.push(format!("{} is signed before the trusted key was in force; not checked", o.key)),
            Some(k) => match n.verify(k) {
                // Verified against: signed by the key in force, and the segments lead to it.
                Ok(()) => {
                    if root_check(&c).is_ok() && newest.as_ref().is_none_or(|v| v.size < c.size) {
                        newest = Some(Verified {
                            origin: c.origin.clone(),
                            size: c.size,
                            root: b64(&c.root),
                            root_hash: c.root,
                            key: k.to_string(),
                            note: text.clone(),
                        });
                    }
                }
                Err(e) => r.find("AU01", o.key.clone(), format!("signature does not hold: {e}")),
            },
        }
        if let Err(why) = root_check(&c) {
            r.find("AU03", o.key.clone(), why);
        }
    }
    if unsigned_before_key > 0 {
        r.notes.push(format!("{unsigned_before_key} unsigned tree head(s) from before the trusted key"));
    }
    match &newest {
        Some(v) => r.uncovered_events = r.events.saturating_sub(v.size),
        None => r.find("AU01", "checkpoints/", "no checkpoint in the store is signed by the trusted key (or a key it announced)"),
    }
    r.checkpoint = newest;
    Ok(())
}

/// AU02: the checkpoint the auditor kept from last time.
fn check_saved(r: &mut Report, text: &str, leaves: &[Sha256], state: &State) {
    let parsed =
        Note::parse(text).map_err(|e| e.to_string()).and_then(|n| Checkpoint::parse(&n.text).map(|c| (n, c)).map_err(|e| e.to_string()));
    let (n, c) = match parsed {
        Ok(x) => x,
        Err(why) => return r.find("AU02", "saved checkpoint", format!("not a checkpoint: {why}")),
    };
    if state.key_for(c.size).is_none_or(|k| n.verify(k).is_err()) {
        r.find("AU02", "saved checkpoint", "the saved checkpoint is not signed by the trusted key");
    }
    if let Err(why) = c.matches(leaves) {
        return r.find(
            "AU02",
            "saved checkpoint",
            format!("the store no longer holds the history of the saved checkpoint of {} events: {why}", c.size),
        );
    }
    // The same, as a proof anyone can check: the newest checkpoint extends the saved one.
    if let Some(v) = &r.checkpoint
        && v.size >= c.size
    {
        let proof = merkle::consistency_proof(&leaves[..v.size as usize], c.size).unwrap_or_default();
        if merkle::verify_consistency(c.size, v.size, &c.root, &v.root_hash, &proof).is_err() {
            r.find("AU02", "saved checkpoint", "the newest checkpoint does not extend the saved one");
        }
    } else if let Some(v) = &r.checkpoint {
        r.find(
            "AU02",
            "saved checkpoint",
            format!("the store's newest checkpoint ({} events) is older than the saved one ({}): rolled back", v.size, c.size),
        );
    }
}

/// AU07: each dictionary object against its creation event. Returns the intact ones.
fn check_dicts(dir: &dyn Source, r: &mut Report, state: &State) -> std::io::Result<HashMap<u32, scan::Dict>> {
    let mut good = HashMap::new();
    let mut seen = BTreeSet::new();
    for o in dir.list("dicts/")? {
        let id = o.key.trim_start_matches("dicts/").parse::<u32>().ok();
        let Some(id) = id else {
            r.find("AU06", o.key.clone(), "object under dicts/ that is not a dictionary");
            continue;
        };
        seen.insert(id);
        let bytes = dir.read_all(&o.key)?;
        match state.dicts.get(&id) {
            None => r.find("AU06", o.key.clone(), "dictionary with no creation event in the ledger"),
            Some(Some(sha)) if Sha256::of(&bytes) != *sha => {
                r.find("AU07", o.key.clone(), "dictionary does not match the digest its creation event recorded")
            }
            Some(_) => {
                r.dicts += 1;
                good.insert(id, scan::prepare(&bytes));
            }
        }
    }
    for id in state.dicts.keys().filter(|id| !seen.contains(id)) {
        r.find("AU07", format!("dicts/{id}"), "dictionary the ledger created is missing from the store");
    }
    Ok(good)
}

/// AU04–AU06: packs against their commitments, records against the ledger.
fn check_packs(dir: &dyn Source, r: &mut Report, state: &State, dicts: &HashMap<u32, scan::Dict>) -> std::io::Result<()> {
    let by_key: HashMap<&str, &crate::replay::Commit> = state.packs.values().map(|c| (c.key.as_str(), c)).collect();
    // One flag per record ever ingested (state.ever is sorted): found intact in the store.
    let mut present = vec![false; state.ever.len()];
    let objects = dir.list("packs/")?;
    let listed: BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    for o in &objects {
        let Some(commit) = by_key.get(o.key.as_str()) else {
            r.find("AU06", o.key.clone(), "pack in the store that no ingestion event commits to");
            continue;
        };
        let table = match scan::table_of(o.size, |off, len| dir.read_range(&o.key, off, len)) {
            Ok(t) => t,
            Err(why) => {
                r.find("AU04", o.key.clone(), format!("pack cannot be read: {why}"));
                continue;
            }
        };
        let s = scan::scan(dir.open_read(&o.key)?, &table, dicts)?;
        r.packs += 1;
        r.pack_bytes += s.size;
        if let Some(sha) = commit.sha256
            && sha != s.sha256
        {
            r.find("AU04", o.key.clone(), format!("pack does not match the digest committed in ledger event {}", commit.seq));
        }
        for (id, why) in &s.bad {
            r.find("AU04", format!("{} in {}", id, o.key), why.clone());
        }
        for id in &s.good {
            if !commit.has(id) {
                r.find("AU06", format!("{id} in {}", o.key), "record in a pack that its ingestion event does not list");
            } else if state.tombstones.contains_key(id) {
                r.find("AU05", format!("{id} in {}", o.key), "record the ledger says was destroyed is still in the store");
            } else {
                r.records += 1;
                if let Ok(i) = state.ever.binary_search(id) {
                    present[i] = true;
                }
            }
        }
    }
    for c in state.packs.values().filter(|c| !listed.contains(c.key.as_str())) {
        r.find("AU04", c.key.clone(), format!("pack committed in ledger event {} is missing from the store", c.seq));
    }
    for (id, _) in state.ever.iter().zip(&present).filter(|(_, here)| !**here) {
        match state.tombstones.get(id) {
            None => {
                if state.packs.values().any(|c| c.has(id) && listed.contains(c.key.as_str())) {
                    // Present in its pack but a frame failed: reported under AU04 already.
                    continue;
                }
                r.find("AU05", id.to_string(), "record ingested, not in the store, and without a tombstone")
            }
            Some(plan_id) => match state.plans.get(plan_id) {
                Some(p) if p.approved_by.as_deref().is_some_and(|a| a != p.planned_by) && p.records.contains(id) => r.destroyed += 1,
                Some(p) if p.approved_by.is_none() => {
                    r.find("AU05", id.to_string(), format!("destroyed under plan {plan_id}, which nobody approved"))
                }
                Some(p) if !p.records.contains(id) => {
                    r.find("AU05", id.to_string(), format!("destroyed under plan {plan_id}, which does not name it"))
                }
                Some(_) => r.find("AU05", id.to_string(), format!("destroyed under plan {plan_id}, approved by its own planner")),
                None => r.find("AU05", id.to_string(), format!("destroyed under plan {plan_id}, which the ledger does not hold")),
            },
        }
    }
    Ok(())
}
