//! Object Lock upkeep (DESIGN "WORM where the storage really enforces it").
//!
//! A pack's retain-until date is the earliest date any of its records could lawfully be
//! destroyed given what is known *now* (for a living patient: today + 12 years), so it has to
//! be pushed forward as time passes: [`renew`] re-judges every record's lock horizon and
//! extends packs whose lock would end earlier. It never shortens one (S3 would refuse a
//! COMPLIANCE shortening anyway). Legal holds follow arkisto's holds: a pack with any held
//! record is under S3 legal hold, and loses it when the last hold on it is removed.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::archive::{Archive, ArchiveError, now};
use crate::ids::{PackId, RecordId};
use crate::index::IndexError;
use crate::index::retention::RetentionRow;
use crate::ledger::{self, NewEvent};
use crate::store::{ObjectKey, StoreError};

/// Failures of lock upkeep.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Store or index failure.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The store has no Object Lock configured.
    #[error("Object Lock is not configured for {0}: set store.lock_mode (and use a bucket created with Object Lock)")]
    NotConfigured(String),
    /// Rule sets could not be loaded.
    #[error("retention policies: {0}")]
    Policies(String),
}

impl LockError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            LockError::Archive(_) => "archive",
            LockError::NotConfigured(_) => "lock-not-configured",
            LockError::Policies(_) => "policies",
        }
    }
}
impl From<IndexError> for LockError {
    fn from(e: IndexError) -> Self {
        LockError::Archive(e.into())
    }
}
impl From<StoreError> for LockError {
    fn from(e: StoreError) -> Self {
        LockError::Archive(e.into())
    }
}

/// What one pack's lock should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackLock {
    /// Pack.
    pub pack_id: PackId,
    /// Its object key.
    pub key: String,
    /// Earliest lawful destruction of any member (none: the store's default period).
    pub retain_until: Option<NaiveDate>,
    /// Whether any member is under an arkisto hold.
    pub legal_hold: bool,
}

fn is_held(r: &RetentionRow, subjects: &HashSet<String>, records: &HashSet<RecordId>) -> bool {
    records.contains(&r.record_id) || r.subject.as_ref().is_some_and(|s| subjects.contains(s))
}

/// Whether any of `ids` is held (a compacted pack inherits the hold of its survivors). Asks
/// the index only: it runs for every new pack, and switching a legal hold *on* is never the
/// dangerous direction; `lock renew` and hold changes compare with the ledger too.
pub async fn any_held(archive: &Archive, ids: &[RecordId]) -> Result<bool, LockError> {
    let (subjects, records) = archive.index.held().await?;
    if ids.iter().any(|id| records.contains(id)) {
        return Ok(true);
    }
    if subjects.is_empty() {
        return Ok(false);
    }
    for id in ids {
        if let Some(r) = archive.index.retention_row(id).await?
            && is_held(&r, &subjects, &records)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The lock every live pack should have today, from the records' facts re-judged as of
/// `today` (a horizon computed at ingest ages: "today + 12 years" moves with today).
pub async fn desired(archive: &Archive, today: NaiveDate) -> Result<Vec<PackLock>, LockError> {
    let policies = archive.config.retention.policies().map_err(|e| LockError::Policies(e.to_string()))?;
    let rows = archive.index.retention_rows(None).await?;
    let deaths: HashMap<String, String> = archive.index.facts().await?.into_iter().collect();
    let (subjects, records) = archive.held().await?;
    let mut by_pack: BTreeMap<PackId, (Option<NaiveDate>, bool)> = BTreeMap::new();
    for r in &rows {
        let facts = crate::disposal::facts_of(archive, r, r.subject.as_ref().and_then(|s| deaths.get(s)).map(String::as_str));
        let horizon = crate::retention::evaluate(&policies, &facts, today).retention.lock_horizon.parse::<NaiveDate>().ok();
        let e = by_pack.entry(r.pack_id).or_insert((None, false));
        e.0 = match (e.0, horizon) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        e.1 |= is_held(r, &subjects, &records);
    }
    let keys: HashMap<PackId, String> = archive.index.packs().await?.into_iter().map(|p| (p.pack_id, p.key)).collect();
    Ok(by_pack
        .into_iter()
        .filter_map(|(pack_id, (retain_until, legal_hold))| {
            keys.get(&pack_id).map(|k| PackLock { pack_id, key: k.clone(), retain_until, legal_hold })
        })
        .collect())
}

/// What `lock renew` did (or, with `dry_run`, would do).
#[derive(Debug, Default, Serialize)]
pub struct RenewReport {
    /// Packs looked at.
    pub packs: usize,
    /// Packs whose retain-until was extended.
    pub extended: usize,
    /// Packs already locked long enough.
    pub unchanged: usize,
    /// Packs with a record already due for disposal (their lock is left to run out).
    pub due: usize,
    /// Legal holds switched on.
    pub holds_on: usize,
    /// Legal holds switched off.
    pub holds_off: usize,
    /// Packs the server reported no lock for (bucket without Object Lock?).
    pub unlocked: Vec<String>,
    /// Packs that could not be updated, with the reason.
    pub failures: Vec<String>,
    /// Nothing was changed.
    pub dry_run: bool,
}

/// Bring every pack's Object Lock up to date: extend retain-until to today's horizon (never
/// shorten), and make S3 legal holds match arkisto's holds. Logged as one ledger event.
pub async fn renew(archive: &Archive, actor: &str, dry_run: bool, today: NaiveDate) -> Result<RenewReport, LockError> {
    let store = &archive.store;
    if !store.lock_configured() {
        return Err(LockError::NotConfigured(store.describe()));
    }
    let default_until = today + chrono::Days::new(archive.config.store.lock_default_days.into());
    let mut rep = RenewReport { dry_run, ..Default::default() };
    for p in desired(archive, today).await? {
        rep.packs += 1;
        let key = ObjectKey::new(p.key.clone())?;
        let Some(state) = store.lock_state(&key).await? else {
            rep.failures.push(format!("{}: object missing from the store (run `arkisto verify`)", p.key));
            continue;
        };
        let target = p.retain_until.unwrap_or(default_until);
        if state.mode.is_none() && state.retain_until.is_none() {
            rep.unlocked.push(p.key.clone());
        }
        if target <= today {
            // A member is due: let the lock run out so that disposal can act.
            rep.due += 1;
        } else if state.retain_until.is_none_or(|u| u < target) {
            rep.extended += 1;
            if !dry_run && let Err(e) = store.set_retention(&key, target).await {
                rep.failures.push(format!("{}: extend to {target}: {e}", p.key));
            }
        } else {
            rep.unchanged += 1;
        }
        if state.legal_hold != p.legal_hold {
            if p.legal_hold {
                rep.holds_on += 1
            } else {
                rep.holds_off += 1
            }
            if !dry_run && let Err(e) = store.set_legal_hold(&key, p.legal_hold).await {
                rep.failures.push(format!("{}: legal hold {}: {e}", p.key, if p.legal_hold { "on" } else { "off" }));
            }
        }
    }
    if !dry_run {
        let event = NewEvent {
            event_type: ledger::LOCK_RENEWAL.into(),
            actor: actor.into(),
            purpose: None,
            object: store.describe(),
            outcome: if rep.failures.is_empty() { "success" } else { "failure" }.into(),
            detail: serde_json::json!({
                "packs": rep.packs, "extended": rep.extended, "holds_on": rep.holds_on, "holds_off": rep.holds_off,
                "unlocked": rep.unlocked.len(), "failures": rep.failures,
            }),
        };
        archive.index.append_events(vec![event], &now()).await?;
        archive.flush_ledger().await?;
    }
    Ok(rep)
}

/// After a hold was placed or removed: switch S3 legal holds on the packs concerned to match
/// the holds now in force. Does nothing on a store without Object Lock. Returns packs changed.
pub async fn sync_legal_holds(archive: &Archive, subject: Option<&str>, records: &[RecordId]) -> Result<usize, LockError> {
    if !archive.store.lock_configured() {
        return Ok(0);
    }
    let (subjects, held) = archive.held().await?;
    // Only the packs that hold the hold's records, and only their rows: a hold on a store of
    // millions of records reads what it concerns.
    let mut touched: HashSet<PackId> = HashSet::new();
    if let Some(s) = subject {
        touched.extend(archive.index.retention_rows(Some(s)).await?.into_iter().map(|r| r.pack_id));
    }
    for id in records {
        if let Some(r) = archive.index.retention_row(id).await? {
            touched.insert(r.pack_id);
        }
    }
    let packs: Vec<PackId> = touched.iter().copied().collect();
    let rows = archive.index.retention_rows_in_packs(&packs).await?;
    let mut on: HashMap<PackId, bool> = touched.iter().map(|p| (*p, false)).collect();
    for r in &rows {
        if is_held(r, &subjects, &held) {
            on.insert(r.pack_id, true);
        }
    }
    let keys: HashMap<PackId, String> = archive.index.packs().await?.into_iter().map(|p| (p.pack_id, p.key)).collect();
    let mut changed = 0;
    for (pack, hold) in on {
        let Some(k) = keys.get(&pack) else { continue };
        let key = ObjectKey::new(k.clone())?;
        let current = archive.store.lock_state(&key).await?.map(|s| s.legal_hold);
        if current != Some(hold) {
            archive.store.set_legal_hold(&key, hold).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Lock a pack that has just been indexed: retain-until = its records' earliest horizon (or
/// the default period when none has one; nothing when one is already due), and S3 legal hold
/// when any record is held. Does nothing on a store without Object Lock.
pub async fn lock_new_pack(archive: &Archive, key: &ObjectKey, horizon: Option<NaiveDate>, ids: &[RecordId]) -> Result<(), LockError> {
    if !archive.store.lock_configured() {
        return Ok(());
    }
    let today = chrono::Utc::now().date_naive();
    let until = horizon.unwrap_or(today + chrono::Days::new(archive.config.store.lock_default_days.into()));
    if until > today {
        archive.store.set_retention(key, until).await?;
    }
    if any_held(archive, ids).await? {
        archive.store.set_legal_hold(key, true).await?;
    }
    Ok(())
}

/// Lock a committed pack that a crashed run indexed but did not get to lock (the lock follows
/// the index commit). Returns whether a lock was applied; a pack already locked is left alone.
pub async fn lock_if_unlocked(archive: &Archive, pack: &crate::index::PackRow) -> Result<bool, LockError> {
    if !archive.store.lock_configured() {
        return Ok(false);
    }
    let key = ObjectKey::new(pack.key.clone())?;
    match archive.store.lock_state(&key).await? {
        Some(s) if s.mode.is_some() || s.retain_until.is_some() => return Ok(false),
        None => return Ok(false), // missing: verify reports it
        Some(_) => {}
    }
    let mut horizons = Vec::new();
    let mut ids = Vec::new();
    for loc in archive.index.pack_records(pack.pack_id).await? {
        if let Some(r) = archive.index.retention_row(&loc.record_id).await? {
            horizons.push(r.lock_horizon);
        }
        ids.push(loc.record_id);
    }
    let horizon = crate::ingest::pack_lock_horizon(horizons.iter().map(String::as_str));
    lock_new_pack(archive, &key, horizon, &ids).await?;
    Ok(true)
}

/// Before deleting a pack whose records have moved or been destroyed: release its S3 legal
/// hold (a compacted pack's held survivors carry the hold in their new pack).
pub async fn release_for_delete(archive: &Archive, key: &ObjectKey) {
    if archive.store.lock_configured() && archive.store.lock_state(key).await.ok().flatten().is_some_and(|s| s.legal_hold) {
        let _ = archive.store.set_legal_hold(key, false).await;
    }
}
