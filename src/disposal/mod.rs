//! Records officers' retention work: facts that arrive later (re-evaluation), legal holds,
//! what is due, and disposal (plan → approve by another person → execute). Every change is a
//! ledger event; nothing held, permanent or undetermined is ever destroyed, nothing before
//! its date.

mod execute;

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

pub use execute::{ExecuteReport, approve, execute, plan};

use crate::archive::{Archive, ArchiveError, now};
use crate::ids::{PackId, RecordId};
use crate::index::retention::{Hold, RetentionRow, RetentionUpdate};
use crate::ledger::{self, NewEvent};
use crate::retention::{self, Facts, Policies};

/// Failures of retention commands.
#[derive(Debug, thiserror::Error)]
pub enum DisposalError {
    /// Store or index failure.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The input file is not acceptable; nothing was changed.
    #[error("{file}: {problems} problem(s), nothing imported:\n{list}")]
    BadInput {
        /// File.
        file: String,
        /// Count.
        problems: usize,
        /// The first problems, one a line.
        list: String,
    },
    /// The request is not allowed (e.g. self-approval); nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Rule sets could not be loaded.
    #[error("retention policies: {0}")]
    Policies(String),
}

impl DisposalError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DisposalError::Archive(_) => "archive",
            DisposalError::BadInput { .. } => "bad-input",
            DisposalError::Refused(_) => "refused",
            DisposalError::Policies(_) => "policies",
        }
    }
}

impl From<crate::index::IndexError> for DisposalError {
    fn from(e: crate::index::IndexError) -> Self {
        DisposalError::Archive(e.into())
    }
}
impl From<crate::store::StoreError> for DisposalError {
    fn from(e: crate::store::StoreError) -> Self {
        DisposalError::Archive(e.into())
    }
}

fn policies(archive: &Archive) -> Result<Policies, DisposalError> {
    archive.config.retention.policies().map_err(|e| DisposalError::Policies(e.to_string()))
}

/// The facts the retention engine needs, as the index holds them for a record.
pub fn facts_of(archive: &Archive, r: &RetentionRow, death_date: Option<&str>) -> Facts {
    Facts {
        class: Some(archive.config.retention.default_class.clone()).filter(|c| !c.is_empty()),
        kanta_class: r.kanta_code.clone(),
        function_code: r.function_code.clone(),
        document_type: r.document_type.clone(),
        birth_date: r.subject_birth.as_deref().and_then(|d| d.parse().ok()),
        birth_from_hetu: r.birth_from_hetu,
        death_date: death_date.and_then(|d| d.parse().ok()),
        created: r.created_date.as_deref().and_then(|d| d.parse().ok()),
        matter_closed: None,
        child_birth: None,
    }
}

/// Re-evaluate rows under `policies` with the known death dates; returns the changed ones.
pub fn reevaluate(
    archive: &Archive,
    policies: &Policies,
    rows: &[RetentionRow],
    deaths: &HashMap<String, String>,
    today: NaiveDate,
) -> Vec<RetentionUpdate> {
    rows.iter()
        .filter_map(|r| {
            let f = facts_of(archive, r, r.subject.as_ref().and_then(|s| deaths.get(s)).map(String::as_str));
            let e = retention::evaluate(policies, &f, today).retention;
            let disposal = e.disposal_text();
            (disposal != r.disposal || e.rule_id != r.rule).then_some(RetentionUpdate {
                record_id: r.record_id,
                disposal,
                lock_horizon: e.lock_horizon,
                rule: e.rule_id,
            })
        })
        .collect()
}

/// What `facts import` did.
#[derive(Debug, Serialize)]
pub struct FactsReport {
    /// Rows read.
    pub rows: usize,
    /// Subjects with a new or changed death date.
    pub subjects: usize,
    /// Records whose retention changed.
    pub records_changed: usize,
}

/// Import death dates (CSV with a header `subject_id,death_date`, dates `YYYY-MM-DD`) and
/// re-evaluate the subjects' records. Any bad row refuses the whole file.
pub async fn import_facts(archive: &Archive, file: &Path, actor: &str) -> Result<FactsReport, DisposalError> {
    let name = file.display().to_string();
    let text = std::fs::read(file).map_err(|e| DisposalError::BadInput { file: name.clone(), problems: 1, list: e.to_string() })?;
    let text =
        String::from_utf8(text).map_err(|_| DisposalError::BadInput { file: name.clone(), problems: 1, list: "not UTF-8".into() })?;
    let mut lines = text.lines().enumerate();
    let header: Vec<String> = lines
        .next()
        .map(|(_, h)| h.split(',').map(|c| c.trim().trim_start_matches('\u{feff}').to_ascii_lowercase()).collect())
        .unwrap_or_default();
    let (si, di) = match (header.iter().position(|h| h == "subject_id"), header.iter().position(|h| h == "death_date")) {
        (Some(s), Some(d)) => (s, d),
        _ => {
            return Err(DisposalError::BadInput {
                file: name,
                problems: 1,
                list: "line 1: the header must name subject_id and death_date".into(),
            });
        }
    };
    let today = chrono::Utc::now().date_naive();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() != header.len() {
            problems.push(format!("line {}: {} fields, the header has {}", i + 1, cols.len(), header.len()));
            continue;
        }
        let (subject, date) = (cols[si], cols[di]);
        match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            Ok(d) if d <= today && !subject.is_empty() => rows.push((subject.to_string(), d)),
            Ok(_) if subject.is_empty() => problems.push(format!("line {}: empty subject_id", i + 1)),
            Ok(_) => problems.push(format!("line {}: death date in the future", i + 1)),
            Err(_) => problems.push(format!("line {}: death_date is not YYYY-MM-DD", i + 1)),
        }
    }
    if !problems.is_empty() {
        let n = problems.len();
        problems.truncate(20);
        return Err(DisposalError::BadInput { file: name, problems: n, list: problems.join("\n") });
    }
    let policies = policies(archive)?;
    let known: HashMap<String, String> = archive.index.facts().await?.into_iter().collect();
    let mut deaths = known.clone();
    let mut subjects = 0;
    let mut changed = 0;
    let source = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for (subject, d) in &rows {
        if known.get(subject).map(String::as_str) == Some(&d.to_string()) {
            continue;
        }
        subjects += 1;
        deaths.insert(subject.clone(), d.to_string());
        let t = now();
        archive.index.set_fact(subject, &d.to_string(), &source, &t).await?;
        let recs = archive.index.retention_rows(Some(subject)).await?;
        let updates = reevaluate(archive, &policies, &recs, &deaths, today);
        changed += updates.len();
        let mut events = vec![NewEvent {
            event_type: ledger::FACT.into(),
            actor: actor.into(),
            purpose: Some("retention facts".into()),
            object: subject.clone(),
            outcome: "success".into(),
            detail: serde_json::json!({ "subject": subject, "death_date": d.to_string(), "source": source }),
        }];
        if !updates.is_empty() {
            let old: HashMap<RecordId, &RetentionRow> = recs.iter().map(|r| (r.record_id, r)).collect();
            events.push(NewEvent {
                event_type: ledger::REEVALUATION.into(),
                actor: actor.into(),
                purpose: None,
                object: subject.clone(),
                outcome: "changed".into(),
                detail: serde_json::json!({ "changes": updates.iter().map(|u| serde_json::json!({
                    "record_id": u.record_id, "from": old.get(&u.record_id).map(|r| format!("{} ({})", r.disposal, r.rule)),
                    "to": format!("{} ({})", u.disposal, u.rule), "disposal": u.disposal, "rule": u.rule,
                    "lock_horizon": u.lock_horizon })).collect::<Vec<_>>() }),
            });
        }
        archive.index.update_retention(&updates, events, &now()).await?;
    }
    archive.flush_ledger().await?;
    Ok(FactsReport { rows: rows.len(), subjects, records_changed: changed })
}

/// Place a hold on a subject or on records.
pub async fn add_hold(
    archive: &Archive,
    subject: Option<String>,
    records: Vec<RecordId>,
    reason: &str,
    actor: &str,
) -> Result<Hold, DisposalError> {
    if reason.trim().is_empty() {
        return Err(DisposalError::Refused("a hold needs a reason".into()));
    }
    if subject.is_none() && records.is_empty() {
        return Err(DisposalError::Refused("a hold needs a subject, records, or a search that finds records".into()));
    }
    let hold = Hold {
        hold_id: format!("hold-{}", ulid::Ulid::new().to_string().to_lowercase()),
        kind: if subject.is_some() { "subject" } else { "records" }.into(),
        subject,
        records,
        reason: reason.trim().into(),
        actor: actor.into(),
        created_at: now(),
        removed_at: None,
        removed_by: None,
        removal_reason: None,
    };
    let event = NewEvent {
        event_type: ledger::HOLD_PLACED.into(),
        actor: actor.into(),
        purpose: Some(hold.reason.clone()),
        object: hold.hold_id.clone(),
        outcome: "success".into(),
        detail: serde_json::to_value(&hold).unwrap_or_default(),
    };
    archive.index.add_hold(&hold, vec![event], &now()).await?;
    archive.flush_ledger().await?;
    sync_locks(archive, &hold).await?;
    Ok(hold)
}

/// Remove a hold.
pub async fn remove_hold(archive: &Archive, hold_id: &str, reason: &str, actor: &str) -> Result<(), DisposalError> {
    if reason.trim().is_empty() {
        return Err(DisposalError::Refused("removing a hold needs a reason".into()));
    }
    let at = now();
    let event = NewEvent {
        event_type: ledger::HOLD_REMOVED.into(),
        actor: actor.into(),
        purpose: Some(reason.trim().into()),
        object: hold_id.into(),
        outcome: "success".into(),
        detail: serde_json::json!({ "hold_id": hold_id, "removed_by": actor, "removed_at": at, "reason": reason.trim() }),
    };
    let hold = archive.index.holds(false).await?.into_iter().find(|h| h.hold_id == hold_id);
    // Lifting a hold is decided by the ledger: a hold the index shows but the ledger never
    // placed (or already removed) is not lifted, since the index may have been edited.
    let (state, stored) = archive.ledger_state().await?;
    if stored.chain.is_some() || !stored.problems.is_empty() {
        return Err(DisposalError::Refused("the ledger in the store is damaged; run `arkisto verify` before removing a hold".into()));
    }
    if state.holds.get(hold_id).is_none_or(|h| h.removed_at.is_some()) {
        return Err(DisposalError::Refused(format!(
            "the ledger holds no active hold {hold_id}; `arkisto hold list` shows them (and `arkisto verify` checks the index against the ledger)"
        )));
    }
    if !archive.index.remove_hold(hold_id, actor, reason.trim(), &at, vec![event], &now()).await? {
        return Err(DisposalError::Refused(format!("no active hold {hold_id}; `arkisto hold list` shows them")));
    }
    archive.flush_ledger().await?;
    if let Some(h) = hold {
        sync_locks(archive, &h).await?;
    }
    Ok(())
}

/// Make S3 legal holds on the packs a hold concerns match the holds now in force. A failure
/// here leaves the arkisto hold in force (it is what disposal obeys) and says how to retry.
async fn sync_locks(archive: &Archive, hold: &Hold) -> Result<(), DisposalError> {
    crate::lock::sync_legal_holds(archive, hold.subject.as_deref(), &hold.records).await.map(|_| ()).map_err(|e| {
        DisposalError::Refused(format!(
            "the hold is recorded, but the store's legal holds were not updated ({e}); run `arkisto lock renew`"
        ))
    })
}

/// One pack's share of what is due.
#[derive(Debug, Serialize)]
pub struct DuePack {
    /// Pack.
    pub pack_id: PackId,
    /// Records in it.
    pub records: usize,
    /// Records due.
    pub due: Vec<DueRecord>,
    /// Whether every record is due (the pack can go whole) or it needs compaction.
    pub whole: bool,
}

/// A record that could be destroyed.
#[derive(Debug, Serialize, Clone)]
pub struct DueRecord {
    /// Record.
    pub record_id: RecordId,
    /// Destroyable from.
    pub disposal: String,
    /// Under rule.
    pub rule: String,
}

/// What could be destroyed on `as_of`, grouped by pack: dated, on or before `as_of`, not held.
pub async fn due(archive: &Archive, as_of: NaiveDate) -> Result<Vec<DuePack>, DisposalError> {
    let rows = archive.index.retention_rows(None).await?;
    let (held_subjects, held_records) = archive.held().await?;
    let mut by_pack: Vec<DuePack> = Vec::new();
    let mut idx: HashMap<PackId, usize> = HashMap::new();
    for r in rows {
        let i = *idx.entry(r.pack_id).or_insert_with(|| {
            by_pack.push(DuePack { pack_id: r.pack_id, records: 0, due: Vec::new(), whole: false });
            by_pack.len() - 1
        });
        let p = &mut by_pack[i];
        p.records += 1;
        let held = held_records.contains(&r.record_id) || r.subject.as_ref().is_some_and(|s| held_subjects.contains(s));
        let dated = r.disposal.parse::<NaiveDate>().ok().filter(|d| *d <= as_of);
        if dated.is_some() && !held {
            p.due.push(DueRecord { record_id: r.record_id, disposal: r.disposal, rule: r.rule });
        }
    }
    by_pack.retain(|p| !p.due.is_empty());
    for p in &mut by_pack {
        p.whole = p.due.len() == p.records;
    }
    Ok(by_pack)
}
