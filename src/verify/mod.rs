//! Verification (fixity): re-read every pack and check every frame and digest, cross-check the
//! index against the store, and check the ledger chain and its segments. Problems are
//! findings with stable `A###` codes naming the records affected; `Err` means the check
//! itself could not run.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::archive::{Archive, ArchiveError, now};
pub use crate::truth::scan::{self, scan_pack};

use crate::dict::DictId;
use crate::digest::Sha256;
use crate::ids::RecordId;
use crate::index::PackRow;
use crate::ledger::{self, NewEvent};
use crate::pack::{self, format::FOOTER_LEN};
use crate::store::{ObjectKey, StoreError};
use crate::truth::LedgerState;

mod projection;

/// Stable audit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ACode {
    /// A pack the index names is missing from the store.
    A001,
    /// A pack is truncated or its footer is damaged.
    A002,
    /// A pack's table is damaged.
    A003,
    /// A record's data frame is damaged (stored digest, zstd checksum or original digest).
    A004,
    /// A record's metadata frame is damaged.
    A005,
    /// The index places a record in a pack that does not hold it there.
    A006,
    /// A pack's bytes differ from the digest the index recorded.
    A007,
    /// A pack in the store is not in the index (orphan).
    A008,
    /// The ledger's hash chain is broken.
    A009,
    /// A ledger segment in the store is missing, damaged or disagrees with the index.
    A010,
    /// A compression dictionary is missing or damaged: the records that need it are unreadable.
    A011,
    /// A record's index row differs from its metadata frame (or is missing).
    A012,
    /// A record's retention decision in the index differs from the one its metadata frame and
    /// the ledger record.
    A013,
    /// A legal hold in the index differs from the ledger.
    A014,
    /// A retention fact (death date) in the index differs from the ledger.
    A015,
    /// A tombstone in the index differs from the ledger, or a destroyed record is still live.
    A016,
    /// A disposal plan or approval in the index differs from the ledger.
    A017,
    /// A pack differs from what its ingestion event committed, or the ledger and the index
    /// disagree about which packs exist.
    A018,
    /// An attachment link in the index differs from the ledger.
    A019,
    /// A checkpoint does not match the store's ledger, or its signature does not verify
    /// under this archive's key.
    A020,
}

impl ACode {
    /// What the code means.
    pub fn title(self) -> &'static str {
        match self {
            ACode::A001 => "pack missing",
            ACode::A002 => "pack truncated or footer damaged",
            ACode::A003 => "pack table damaged",
            ACode::A004 => "record data damaged",
            ACode::A005 => "record metadata damaged",
            ACode::A006 => "index points at a record the pack does not hold",
            ACode::A007 => "pack digest mismatch",
            ACode::A008 => "orphan pack",
            ACode::A009 => "ledger chain broken",
            ACode::A010 => "ledger segment problem",
            ACode::A011 => "dictionary missing or damaged",
            ACode::A012 => "index row differs from the metadata frame",
            ACode::A013 => "index retention decision differs from the recorded one",
            ACode::A014 => "legal hold differs from the ledger",
            ACode::A015 => "retention fact differs from the ledger",
            ACode::A016 => "tombstone differs from the ledger",
            ACode::A017 => "disposal plan differs from the ledger",
            ACode::A018 => "pack differs from its ingestion event",
            ACode::A019 => "attachment link differs from the ledger",
            ACode::A020 => "checkpoint differs from the ledger or is badly signed",
        }
    }
}

/// One audit finding.
#[derive(Clone, Debug, Serialize)]
pub struct AuditFinding {
    /// Code.
    pub code: ACode,
    /// What is wrong.
    pub message: String,
    /// Object concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Records affected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordId>,
}

/// The result of `arkisto verify`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Packs checked.
    pub packs: u64,
    /// Records checked.
    pub records: u64,
    /// Bytes read from the store.
    pub bytes_read: u64,
    /// Ledger events checked.
    pub ledger_events: u64,
    /// Problems.
    pub findings: Vec<AuditFinding>,
}

impl VerifyReport {
    fn add(&mut self, code: ACode, object: Option<String>, records: Vec<RecordId>, message: impl Into<String>) {
        self.findings.push(AuditFinding { code, message: message.into(), object, records });
    }
}

/// Verify the whole archive and log a `fixity check` event.
pub async fn verify(archive: &Archive, actor: &str) -> Result<VerifyReport, ArchiveError> {
    verify_slice(archive, actor, 0, 1).await
}

/// Verify slice `slice` of `slices` of the packs (packs in id order, every `slices`-th from
/// `slice`), plus dictionaries and the ledger: a fixity sweep that covers the whole archive
/// in `slices` runs. With one slice, also finds packs the index does not know (A008).
pub async fn verify_slice(archive: &Archive, actor: &str, slice: u32, slices: u32) -> Result<VerifyReport, ArchiveError> {
    let slices = slices.max(1);
    let mut r = VerifyReport::default();
    // The source of truth: the ledger as the store holds it (not the index's copy). Events a
    // crash left unflushed (the store was down) are written first, as every command does.
    archive.flush_ledger().await?;
    let stored = crate::truth::read_ledger(&*archive.store).await?;
    let state = LedgerState::replay(&stored.events);
    let bad_dicts = verify_dicts(archive, &mut r).await?;
    let packs = archive.index.packs().await?;
    let mut known: HashMap<String, ()> = HashMap::new();
    for (i, p) in packs.iter().enumerate() {
        known.insert(p.key.clone(), ());
        if i as u32 % slices == slice % slices {
            verify_pack(archive, p, &bad_dicts, &state, &mut r).await?;
        }
    }
    if slices == 1 {
        projection::verify_packs_listed(&packs, &state, &mut r);
    }
    projection::verify_retention(archive, &state, &mut r).await?;
    for (seq, why) in &state.undecodable {
        r.add(ACode::A009, Some(format!("ledger event {seq}")), vec![], format!("{why} (the ledger contradicts itself)"));
    }
    let orphans = if slices == 1 { archive.store.list("packs/").await? } else { Vec::new() };
    for o in orphans {
        if !known.contains_key(o.key.as_str()) && !archive.index.pending_packs().await?.iter().any(|p| p.key == o.key.as_str()) {
            r.add(
                ACode::A008,
                Some(o.key.to_string()),
                vec![],
                "pack in the store is not in the index (interrupted write, or index out of date: `arkisto index rebuild`)",
            );
        }
    }
    verify_ledger(archive, &stored, &mut r).await?;
    verify_checkpoints(archive, &stored, &mut r).await?;
    let failed = !r.findings.is_empty();
    let event = NewEvent {
        event_type: ledger::FIXITY_CHECK.into(),
        actor: actor.into(),
        purpose: None,
        object: if slices == 1 { "archive".into() } else { format!("archive slice {}/{slices}", slice % slices + 1) },
        outcome: if failed { "failure" } else { "success" }.into(),
        detail: serde_json::json!({ "packs": r.packs, "records": r.records, "bytes_read": r.bytes_read,
            "findings": r.findings.iter().map(|f| serde_json::json!({"code": f.code, "object": f.object, "records": f.records})).collect::<Vec<_>>() }),
    };
    archive.index.append_events(vec![event], &now()).await?;
    archive.flush_ledger().await?;
    Ok(r)
}

/// Check every dictionary the index knows or the records need; report each bad one once,
/// naming every record that depends on it. Returns the bad ids.
async fn verify_dicts(archive: &Archive, r: &mut VerifyReport) -> Result<Vec<u32>, ArchiveError> {
    let mut bad = Vec::new();
    let mut checks: Vec<(DictId, Option<Sha256>)> = archive.index.dicts().await?.into_iter().map(|d| (d.dict_id, Some(d.sha256))).collect();
    checks.extend(archive.index.unknown_dict_ids().await?.into_iter().map(|id| (id, None)));
    for (id, sha) in checks {
        let why = match crate::store::get_all(&*archive.store, &crate::store::ObjectKey::trusted(id.key())).await {
            Ok(bytes) => match (sha, crate::dict::check(id, &bytes, sha.as_ref())) {
                (None, _) => Some("no ledger event records this dictionary".to_string()),
                (_, Err(e)) => Some(e.to_string()),
                (Some(_), Ok(())) => None,
            },
            Err(StoreError::NotFound(_)) => Some(format!("dictionary {id} is missing from the store")),
            Err(e) => return Err(e.into()),
        };
        if let Some(why) = why {
            let records = archive.index.records_using_dict(id).await?;
            r.add(ACode::A011, Some(format!("dicts/{id}")), records, why);
            bad.push(id.0);
        }
    }
    Ok(bad)
}

/// A dictionary's bytes, loaded once per pack.
type LoadedDict = std::sync::Arc<Vec<u8>>;

async fn verify_pack(
    archive: &Archive,
    p: &PackRow,
    bad_dicts: &[u32],
    state: &LedgerState,
    r: &mut VerifyReport,
) -> Result<(), ArchiveError> {
    r.packs += 1;
    let indexed = archive.index.pack_records(p.pack_id).await?;
    r.records += indexed.len() as u64;
    let all: Vec<RecordId> = indexed.iter().map(|l| l.record_id).collect();
    let key = ObjectKey::new(p.key.clone())?;
    let Some(info) = archive.store.head(&key).await? else {
        r.add(ACode::A001, Some(p.key.clone()), all, "pack is missing from the store");
        return Ok(());
    };
    let size_differs = info.size != p.size;
    if size_differs {
        r.add(ACode::A002, Some(p.key.clone()), all.clone(), format!("pack is {} bytes, the index recorded {}", info.size, p.size));
    }
    // Footer and table first (two small reads), then one pass over the whole object.
    let footer = if info.size >= FOOTER_LEN as u64 {
        let tail = archive.store.get_range(&key, info.size - FOOTER_LEN as u64, FOOTER_LEN as u64).await?;
        pack::decode_footer(&tail, info.size).ok()
    } else {
        None
    };
    let table = match footer {
        None => {
            if !size_differs {
                r.add(ACode::A002, Some(p.key.clone()), all.clone(), "pack footer is missing or damaged (truncated?)");
            }
            None
        }
        Some(footer) => match pack::decode_table(&archive.store.get_range(&key, footer.table_offset, footer.table_len).await?, &footer) {
            Ok(t) => Some(t),
            Err(e) => {
                r.add(ACode::A003, Some(p.key.clone()), all.clone(), e.to_string());
                None
            }
        },
    };
    let records = table.map(|t| t.records).unwrap_or_default();
    let by_id: BTreeMap<RecordId, &crate::record::RecordLocation> = records.iter().map(|l| (l.record_id, l)).collect();
    for l in &indexed {
        match by_id.get(&l.record_id) {
            Some(t) if *t == l => {}
            _ if records.is_empty() => {} // already reported: the table could not be read
            _ => r.add(
                ACode::A006,
                Some(p.key.clone()),
                vec![l.record_id],
                "the index places this record in the pack, but the pack table does not hold it there",
            ),
        }
    }
    // The dictionaries the records need, loaded (and checked) once.
    let mut dicts: HashMap<u32, Result<Option<LoadedDict>, String>> = HashMap::new();
    for l in &records {
        if !bad_dicts.contains(&l.dict_id) && !dicts.contains_key(&l.dict_id) {
            dicts.insert(l.dict_id, archive.dict_for(l).await.map_err(|e| e.to_string()));
        }
    }
    let key_name = p.key.clone();
    let mut found = Vec::new();
    let mut metas = Vec::with_capacity(records.len());
    let scanned = scan_pack(&*archive.store, &key, info.size, &records, |l, frames| {
        let mut bad = |code: ACode, why: String| {
            let object = if code == ACode::A011 { format!("dicts/{}", l.dict_id) } else { key_name.clone() };
            found.push((code, object, l.record_id, why))
        };
        let (meta, data) = match frames {
            None => {
                bad(ACode::A004, "the record's frames are not where the pack table says".into());
                return;
            }
            Some(scan::Frames::Whole { meta, data }) => (meta, data),
            Some(scan::Frames::Streamed { meta, data }) => {
                match pack::decode_meta(meta, l) {
                    Ok(m) => metas.push(m),
                    Err(e) => bad(ACode::A005, e.to_string()),
                }
                if let Err(why) = data {
                    bad(ACode::A004, why);
                }
                return;
            }
        };
        match pack::decode_meta(meta, l) {
            Ok(m) => metas.push(m),
            Err(e) => bad(ACode::A005, e.to_string()),
        }
        if bad_dicts.contains(&l.dict_id) {
            return; // reported once, as A011, with every record that needs the dictionary
        }
        match dicts.get(&l.dict_id) {
            Some(Err(e)) => bad(ACode::A011, e.clone()),
            Some(Ok(dict)) => {
                if let Err(e) = pack::decompress_frame_to(data, l, dict.as_deref().map(|d| d.as_slice()), &mut std::io::sink()) {
                    bad(ACode::A004, e.to_string());
                }
            }
            None => bad(ACode::A011, format!("dictionary {} could not be loaded", l.dict_id)),
        }
    })
    .await;
    let sha = match scanned {
        Ok(sha) => sha,
        Err(StoreError::NotFound(_)) => {
            r.add(ACode::A001, Some(key_name), all, "pack vanished while being read");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    r.bytes_read += info.size;
    if !size_differs && sha != p.sha256 {
        r.add(ACode::A007, Some(key_name.clone()), vec![], "pack bytes differ from the digest recorded at ingest (records checked below)");
    }
    for (code, object, record, why) in found {
        r.add(code, Some(object), vec![record], why);
    }
    match state.packs.get(&p.pack_id) {
        // A pack adopted by an older `repair` has no committed digest: its table and frames
        // are still checked above.
        Some(c) if size_differs || c.sha256.is_none_or(|c| c == sha) => {}
        Some(_) => r.add(
            ACode::A018,
            Some(p.key.clone()),
            all.clone(),
            "pack bytes differ from the digest its ingestion event committed in the ledger (replaced?)",
        ),
        None => r.add(ACode::A018, Some(p.key.clone()), all.clone(), "no ingestion event in the ledger commits this pack"),
    }
    projection::verify_records(archive, p, &metas, state, r).await
}

/// Every checkpoint in the store against the store's ledger and, when this archive has a
/// signing key, its signature (the auditor's `arkisto-audit` does the same from a key it trusts).
async fn verify_checkpoints(archive: &Archive, stored: &crate::truth::StoredLedger, r: &mut VerifyReport) -> Result<(), ArchiveError> {
    use crate::checkpoints;
    // This archive's keys: the one it signs with now and every one its ledger announced
    // (a rotation keeps the name; older checkpoints carry the older key's signature).
    let mut keys: Vec<arkisto_format::note::Verifier> = archive.signer().await.ok().flatten().map(|s| s.verifier()).into_iter().collect();
    for e in stored.events.iter().filter(|e| e.event_type == ledger::KEY_ANNOUNCED) {
        if let Some(v) = e.detail.get("verifier_key").and_then(|k| k.as_str()).and_then(|k| arkisto_format::note::Verifier::parse(k).ok()) {
            keys.push(v);
        }
    }
    let sizes = checkpoints::sizes(&*archive.store).await.map_err(checkpoint_err)?;
    let roots = arkisto_format::merkle::prefix_roots(&stored.leaves, sizes.iter().copied());
    for size in sizes {
        let key = checkpoints::note_key(size).to_string();
        let c = match checkpoints::read(&*archive.store, size).await {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                r.add(ACode::A020, Some(key), vec![], format!("checkpoint does not parse: {e}"));
                continue;
            }
        };
        if let Err(why) = c.checkpoint.matches_root(roots.get(&size), stored.leaves.len() as u64) {
            r.add(ACode::A020, Some(key.clone()), vec![], why);
        }
        let Ok(note) = arkisto_format::note::Note::parse(&c.note) else { continue };
        let ours: Vec<_> = keys.iter().filter(|k| note.signatures.iter().any(|s| s.name == k.name() && s.id == k.id())).collect();
        if !ours.is_empty() && !ours.iter().any(|k| note.verify(k).is_ok()) {
            r.add(
                ACode::A020,
                Some(key),
                vec![],
                "the signature by this archive's key does not verify: the checkpoint was changed or forged",
            );
        }
    }
    Ok(())
}

fn checkpoint_err(e: crate::checkpoints::CheckpointError) -> ArchiveError {
    match e {
        crate::checkpoints::CheckpointError::Store(s) => ArchiveError::Store(s),
        other => ArchiveError::Io { what: "read checkpoints".into(), source: std::io::Error::other(other.to_string()) },
    }
}

async fn verify_ledger(archive: &Archive, stored: &crate::truth::StoredLedger, r: &mut VerifyReport) -> Result<(), ArchiveError> {
    let events = archive.index.events().await?;
    r.ledger_events = events.len() as u64;
    if let Some((seq, why)) = &stored.chain {
        r.add(ACode::A009, Some(format!("ledger event {seq} (store)")), vec![], why.clone());
    }
    if let Some((seq, why)) = ledger::check_chain(&events)
        && stored.chain.as_ref().is_none_or(|(s, _)| *s != seq)
    {
        r.add(ACode::A009, Some(format!("ledger event {seq} (index)")), vec![], why);
    }
    for (key, why) in &stored.problems {
        r.add(ACode::A010, Some(key.clone()), vec![], format!("segment {why}"));
    }
    let keys: std::collections::HashSet<String> = archive.store.list("ledger/").await?.into_iter().map(|o| o.key.to_string()).collect();
    for key in archive.index.segments().await? {
        if !keys.contains(&key) {
            r.add(ACode::A010, Some(key), vec![], "ledger segment is missing from the store (the events it held are only in the index)");
        }
    }
    let by_seq: HashMap<i64, &ledger::Event> = events.iter().map(|e| (e.seq, e)).collect();
    if let Some(bad) = stored.events.iter().find(|e| by_seq.get(&e.seq).is_none_or(|i| *i != *e)) {
        r.add(
            ACode::A010,
            Some(format!("ledger event {}", bad.seq)),
            vec![],
            "the event in the store's segments differs from the index's ledger",
        );
    }
    Ok(())
}
