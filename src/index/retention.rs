//! The index's retention side: facts that arrive later, legal holds, disposal plans and
//! tombstones. Every change here is also a ledger event (written in the same transaction),
//! so `index rebuild` restores it from the store.

use std::collections::HashSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{IndexError, PackRow};
use crate::digest::Sha256;
use crate::ids::{PackId, RecordId};
use crate::ledger::NewEvent;
use crate::record::RecordLocation;
pub use crate::retention::acts::{Hold, KeptItem, Plan, PlanItem, Tombstone};

/// What re-evaluation and disposal need to know about one record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RetentionRow {
    /// Record.
    pub record_id: RecordId,
    /// Its document id.
    pub document_id: Option<String>,
    /// Subject id value.
    pub subject: Option<String>,
    /// Subject's birth date (ISO).
    pub subject_birth: Option<String>,
    /// Whether the birth date came from a henkilötunnus.
    pub birth_from_hetu: bool,
    /// Creation date (ISO).
    pub created_date: Option<String>,
    /// Kanta retentionPeriodClass code.
    pub kanta_code: Option<String>,
    /// functionCode (TOS task class).
    pub function_code: Option<String>,
    /// documentType.
    pub document_type: Option<String>,
    /// Current decision: an ISO date, `permanent` or `undetermined`.
    pub disposal: String,
    /// Current lock horizon.
    pub lock_horizon: String,
    /// Current rule.
    pub rule: String,
    /// Pack holding it.
    pub pack_id: PackId,
    /// SHA-256 of its stored frame.
    pub stored_sha256: Sha256,
}

/// A re-evaluated decision for one record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RetentionUpdate {
    /// Record.
    pub record_id: RecordId,
    /// New decision (date, `permanent`, `undetermined`).
    pub disposal: String,
    /// New lock horizon.
    pub lock_horizon: String,
    /// New rule.
    pub rule: String,
}

/// A pack change made by disposal: the old pack's disposed records are deleted from the
/// index and tombstoned, survivors (if any) move to `new_pack`, the old pack is marked for
/// deletion — all in one transaction.
pub struct PackDisposal<'a> {
    /// The pack being emptied or compacted.
    pub old_pack: PackId,
    /// The compacted pack (already stored and verified) and where each survivor now is.
    pub new_pack: Option<(&'a PackRow, &'a [RecordLocation])>,
    /// The records destroyed.
    pub tombstones: &'a [Tombstone],
}

/// The retention capability of an index.
#[async_trait]
pub trait RetentionIndex: Send + Sync {
    /// Retention facts of every record, or of one subject's records.
    async fn retention_rows(&self, subject: Option<&str>) -> Result<Vec<RetentionRow>, IndexError>;
    /// Retention facts of the records in these packs (a hold touches only its packs).
    async fn retention_rows_in_packs(&self, packs: &[crate::ids::PackId]) -> Result<Vec<RetentionRow>, IndexError>;
    /// Retention facts of one record.
    async fn retention_row(&self, id: &RecordId) -> Result<Option<RetentionRow>, IndexError>;
    /// The death date recorded for a subject, if any.
    async fn death_date(&self, subject: &str) -> Result<Option<String>, IndexError>;
    /// Record a death date for a subject.
    async fn set_fact(&self, subject: &str, death_date: &str, source: &str, now: &str) -> Result<(), IndexError>;
    /// Known death dates: (subject, date).
    async fn facts(&self) -> Result<Vec<(String, String)>, IndexError>;
    /// Store re-evaluated decisions and their events.
    async fn update_retention(&self, updates: &[RetentionUpdate], events: Vec<NewEvent>, now: &str) -> Result<(), IndexError>;

    /// Place a hold.
    async fn add_hold(&self, hold: &Hold, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError>;
    /// Remove a hold; `false` when there is no such active hold.
    async fn remove_hold(
        &self,
        hold_id: &str,
        by: &str,
        reason: &str,
        at: &str,
        events: Vec<NewEvent>,
        now: &str,
    ) -> Result<bool, IndexError>;
    /// Holds (active ones, or all).
    async fn holds(&self, include_removed: bool) -> Result<Vec<Hold>, IndexError>;
    /// Subjects and records under an active hold.
    async fn held(&self) -> Result<(HashSet<String>, HashSet<RecordId>), IndexError>;

    /// Store a plan.
    async fn add_plan(&self, plan: &Plan, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError>;
    /// One plan.
    async fn plan(&self, plan_id: &str) -> Result<Option<Plan>, IndexError>;
    /// Record an approval.
    async fn approve_plan(&self, plan_id: &str, actor: &str, at: &str, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError>;
    /// Record that a plan was carried out.
    async fn finish_plan(&self, plan_id: &str, at: &str, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError>;

    /// Apply one pack's disposal (see [`PackDisposal`]) with its events, atomically.
    async fn dispose_in_pack(&self, d: PackDisposal<'_>, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError>;
    /// Packs whose records were all disposed or moved, awaiting deletion of the object.
    async fn deleting_packs(&self) -> Result<Vec<(PackId, String)>, IndexError>;
    /// Forget a pack whose object is deleted.
    async fn drop_pack(&self, pack_id: PackId) -> Result<(), IndexError>;
    /// The tombstone of a record (by record id, 8+ character prefix, or document id).
    async fn tombstone(&self, id: &str) -> Result<Option<Tombstone>, IndexError>;
    /// Every tombstoned record id.
    async fn tombstoned(&self) -> Result<HashSet<RecordId>, IndexError>;
    /// Insert a tombstone as it is (rebuild).
    async fn restore_tombstone(&self, t: &Tombstone) -> Result<(), IndexError>;
}
