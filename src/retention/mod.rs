//! Retention: from a record's class and facts to a disposal date, *permanent* or
//! *undetermined*, and the lock horizon (earliest lawful destruction given what is known now).
//!
//! This is the built-in starter rule set (Finnish patient documents, STM decree 94/2022, and
//! the Kanta `retentionPeriodClass` code 2). Missing facts never lead to an early date: they
//! make the outcome undetermined.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Identifier and version of the built-in rule set.
pub const RULESET: &str = "fi-builtin";
/// Version of the built-in rule set; stored with every record judged under it.
pub const RULESET_VERSION: &str = "2026.1";

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

/// Facts known about a record at evaluation time.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Kanta retentionPeriodClass code, if given.
    pub kanta_class: Option<String>,
    /// Subject's birth date.
    pub birth_date: Option<NaiveDate>,
    /// Whether the birth date came from a henkilötunnus (the birthday sample needs one).
    pub birth_from_hetu: bool,
    /// Subject's death date.
    pub death_date: Option<NaiveDate>,
}

/// Add whole years; 29 February moves forward to 1 March, never back (never early).
pub fn add_years(d: NaiveDate, years: i32) -> NaiveDate {
    let y = d.year() + years;
    NaiveDate::from_ymd_opt(y, d.month(), d.day()).or_else(|| NaiveDate::from_ymd_opt(y, 3, 1)).unwrap_or(NaiveDate::MAX)
}

/// Evaluate the built-in rules.
pub fn evaluate(f: &Facts, today: NaiveDate) -> Retention {
    let renewal = add_years(today, 12);
    let mk = |rule: &str, disposal: Disposal, horizon: NaiveDate| Retention {
        rule_id: rule.to_string(),
        ruleset: RULESET.into(),
        ruleset_version: RULESET_VERSION.into(),
        class: f.kanta_class.clone(),
        disposal,
        lock_horizon: horizon.to_string(),
    };
    if let Some(c) = f.kanta_class.as_deref()
        && c != "2"
    {
        return mk(
            "kanta-class-unknown",
            Disposal::Undetermined { missing: format!("a rule for retentionPeriodClass code {c:?}") },
            renewal,
        );
    }
    if f.birth_from_hetu
        && let Some(b) = f.birth_date
        && (b.day() == 18 || b.day() == 28)
    {
        return mk("fi-patient-birthday-sample", Disposal::Permanent, renewal);
    }
    match (f.death_date, f.birth_date) {
        (Some(death), _) => {
            let d = add_years(death, 12);
            mk("fi-patient-default", Disposal::Date { date: d.to_string() }, d)
        }
        (None, Some(birth)) => {
            let d = add_years(birth, 120);
            mk("fi-patient-default", Disposal::Date { date: d.to_string() }, d.min(renewal))
        }
        (None, None) => mk("fi-patient-default", Disposal::Undetermined { missing: "birth or death date".into() }, renewal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn starter_rules() {
        let today = d("2026-11-25");
        let living = evaluate(&Facts { birth_date: Some(d("1950-03-01")), birth_from_hetu: true, ..Default::default() }, today);
        assert_eq!(living.disposal, Disposal::Date { date: "2070-03-01".into() });
        assert_eq!(living.lock_horizon, "2038-11-25", "a living patient could die today");
        let sample = evaluate(&Facts { birth_date: Some(d("1950-03-18")), birth_from_hetu: true, ..Default::default() }, today);
        assert_eq!(sample.disposal, Disposal::Permanent);
        let unknown = evaluate(&Facts { kanta_class: Some("99".into()), birth_date: Some(d("1950-03-01")), ..Default::default() }, today);
        assert!(matches!(unknown.disposal, Disposal::Undetermined { .. }));
        let none = evaluate(&Facts::default(), today);
        assert!(matches!(none.disposal, Disposal::Undetermined { .. }));
        assert_eq!(add_years(d("2024-02-29"), 1), d("2025-03-01"), "never early");
    }
}
