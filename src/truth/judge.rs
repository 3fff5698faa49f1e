//! Re-judging a record from the source of truth: its metadata frame, the facts and holds
//! replayed from the ledger, and the policies. A record is disposable only when all of them
//! agree; anything else keeps it, with the reason.

use chrono::NaiveDate;
use serde::Serialize;

use super::{Decision, LedgerState};
use crate::record::RecordMeta;
use crate::retention::{self, Facts, Policies};

/// The facts the retention engine needs, as a record's metadata frame and the ledger give them.
pub fn facts_of(meta: &RecordMeta, death_date: Option<&str>) -> Facts {
    let local = meta.local_header.as_ref();
    Facts {
        // The class the record was classed by at ingest (configuration or source profile);
        // a Kanta code or a mapped header code in the frame takes precedence, as at ingest.
        class: meta.retention.class.clone(),
        kanta_class: local.and_then(|l| l.retention_period_class.clone()),
        function_code: local.and_then(|l| l.function_code.clone()),
        document_type: local.and_then(|l| l.document_type.clone()),
        birth_date: meta.subject_birth_date.as_deref().and_then(|d| d.get(..10)).and_then(|d| d.parse().ok()),
        birth_from_hetu: meta.birth_from_hetu(),
        death_date: death_date.and_then(|d| d.parse().ok()),
        created: meta.created.as_deref().and_then(|c| c.get(..10)).and_then(|d| d.parse().ok()),
        matter_closed: None,
        child_birth: None,
    }
}

/// The decision the archive has recorded for a record: a later re-evaluation event, or the
/// one in its metadata frame.
pub fn recorded(meta: &RecordMeta, state: &LedgerState) -> Decision {
    state.decisions.get(&meta.record_id).cloned().unwrap_or_else(|| Decision {
        disposal: meta.retention.disposal_text(),
        rule: meta.retention.rule_id.clone(),
        lock_horizon: None,
    })
}

/// Why a record may be destroyed: the rule and the facts, as the approver sees them.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Due {
    /// Destroyable from.
    pub disposal: String,
    /// Rule.
    pub rule: String,
    /// The engine's reasoning, step by step (facts and rule).
    pub why: Vec<String>,
}

/// Judge whether `meta`'s record may be destroyed on `on` (never later than today): not
/// destroyed already, not held, and both the recorded decision and a fresh evaluation under
/// `policies` give a date on or before `on`. `Err` says why it must be kept.
pub fn disposable(meta: &RecordMeta, state: &LedgerState, policies: &Policies, on: NaiveDate) -> Result<Due, String> {
    let id = meta.record_id;
    if state.tombstones.contains_key(&id) {
        return Err("the ledger records it as destroyed already".into());
    }
    let subject = meta.subject.as_ref().map(|s| s.value.as_str());
    if let Some(h) = state.held(&id, subject) {
        return Err(format!("under legal hold {} ({})", h.hold_id, h.reason));
    }
    // Handed over to long-term preservation: the county's copy may go from the transfer date
    // on, whatever the policies said before (a permanent record included). Only the ledger's
    // transfer event counts, never an index row.
    if let Some(t) = state.transfers.get(&id) {
        let date = t.date.parse::<NaiveDate>().map_err(|_| format!("transfer {} has no valid date ({})", t.transfer_id, t.date))?;
        if date > on {
            return Err(format!("transferred to preservation on {} ({}): disposable from then on", t.date, t.transfer_id));
        }
        return Ok(Due {
            disposal: t.date.clone(),
            rule: format!("{}; transferred to preservation on {} ({})", meta.retention.rule_id, t.date, t.transfer_id),
            why: vec![format!(
                "the ledger records its transfer to long-term preservation on {} (transfer {}, event {})",
                t.date, t.transfer_id, t.seq
            )],
        });
    }
    let rec = recorded(meta, state);
    let rec_date = rec.disposal.parse::<NaiveDate>().ok();
    if rec_date.is_none_or(|d| d > on) {
        return Err(format!("its recorded decision is {} under {}", rec.disposal, rec.rule));
    }
    let death = subject.and_then(|s| state.facts.get(s)).map(String::as_str);
    let e = retention::evaluate(policies, &facts_of(meta, death), on);
    let fresh = e.retention.disposal_text();
    match fresh.parse::<NaiveDate>() {
        Ok(d) if d <= on => Ok(Due { disposal: rec.disposal.max(fresh), rule: e.retention.rule_id, why: e.why }),
        _ => Err(format!("the policies now give {fresh} under {} (recorded: {} under {})", e.retention.rule_id, rec.disposal, rec.rule)),
    }
}
