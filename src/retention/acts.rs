//! The records officers' acts on retention as the ledger records them: legal holds, disposal
//! plans (with their approval) and tombstones. Plain data, the detail of their ledger events;
//! the index stores copies, the source of truth replays them (`truth`).

use serde::{Deserialize, Serialize};

use crate::ids::{PackId, RecordId};

/// A legal hold.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Hold {
    /// Id.
    pub hold_id: String,
    /// `subject` (all the subject's records, also future ones) or `records`.
    pub kind: String,
    /// The subject, for a subject hold.
    pub subject: Option<String>,
    /// The records, for a records hold.
    pub records: Vec<RecordId>,
    /// Why.
    pub reason: String,
    /// Who placed it.
    pub actor: String,
    /// When.
    pub created_at: String,
    /// When removed, if it was.
    pub removed_at: Option<String>,
    /// Who removed it.
    pub removed_by: Option<String>,
    /// Why it was removed.
    pub removal_reason: Option<String>,
}

/// One record in a disposal plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PlanItem {
    /// Record.
    pub record_id: RecordId,
    /// Pack it was in when planned.
    pub pack_id: PackId,
    /// Its disposal date.
    pub disposal: String,
    /// Its rule.
    pub rule: String,
    /// Why it is due: the rule and the facts, as judged from its metadata frame, the ledger
    /// and the policies when the plan was made (empty in plans made before this was kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<String>,
}

/// A record the index called due but that a plan or its execution kept back.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeptItem {
    /// Record.
    pub record_id: RecordId,
    /// Why it is kept.
    pub why: String,
}

/// A disposal plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// Id.
    pub plan_id: String,
    /// Due on or before this date.
    pub as_of: String,
    /// Who planned it.
    pub planned_by: String,
    /// When.
    pub planned_at: String,
    /// Who approved it (a different actor).
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<String>,
    /// When it was carried out.
    pub executed_at: Option<String>,
    /// Records to destroy.
    pub items: Vec<PlanItem>,
    /// Records the index called due that the source of truth did not (in the plan's ledger
    /// event; the index keeps only the items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<KeptItem>,
}

/// What remains of a destroyed record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Tombstone {
    /// Record.
    pub record_id: RecordId,
    /// Its document id.
    pub document_id: Option<String>,
    /// Plan.
    pub plan_id: String,
    /// When destroyed.
    pub disposed_at: String,
    /// Digests, rule, disposal date, planner and approver.
    pub detail: serde_json::Value,
}
