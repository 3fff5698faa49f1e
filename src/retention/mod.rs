//! Retention: from a record's class and facts to a disposal date, *permanent* or
//! *undetermined*, and the lock horizon (earliest lawful destruction given what is known now).
//!
//! The rules are data (`policies/*.toml`, see [`policy`]); [`engine`] applies them. Missing
//! facts never lead to an early date: they make the outcome undetermined.

pub mod acts;
pub mod engine;
pub mod policy;
pub mod reach;

pub use engine::{Evaluation, Facts, evaluate};
pub use policy::Policies;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// When a record may be destroyed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Disposal {
    /// On or after this date (ISO).
    Date {
        /// The date (ISO).
        date: String,
    },
    /// Never.
    Permanent,
    /// Not decidable until a fact arrives; never disposable meanwhile.
    Undetermined {
        /// The fact that is missing.
        missing: String,
    },
}

/// The retention decision stored with a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Rule applied.
    pub rule_id: String,
    /// Rule set and version judged under.
    pub ruleset: String,
    /// Version of the rule set.
    pub ruleset_version: String,
    /// The class code the record was classed by, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Outcome.
    pub disposal: Disposal,
    /// Earliest lawful destruction date given what is known now (ISO); drives Object Lock.
    pub lock_horizon: String,
}

impl Retention {
    /// Short text for listings: a date, `permanent` or `undetermined`.
    pub fn disposal_text(&self) -> String {
        match &self.disposal {
            Disposal::Date { date } => date.clone(),
            Disposal::Permanent => "permanent".into(),
            Disposal::Undetermined { .. } => "undetermined".into(),
        }
    }
    /// Key grouping records that will be disposed of together (packs are grouped by it).
    pub fn group_key(&self) -> String {
        match &self.disposal {
            Disposal::Date { date } => date.get(..4).unwrap_or("date").to_string(),
            Disposal::Permanent => "permanent".into(),
            Disposal::Undetermined { .. } => "undetermined".into(),
        }
    }
}

/// Add whole years; 29 February moves forward to 1 March, never back (never early).
pub fn add_years(d: NaiveDate, years: i32) -> NaiveDate {
    let y = d.year() + years;
    NaiveDate::from_ymd_opt(y, d.month(), d.day()).or_else(|| NaiveDate::from_ymd_opt(y, 3, 1)).unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests;
