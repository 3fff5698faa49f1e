//! Evaluation: a record's class and facts → disposal date, *permanent* or *undetermined*,
//! plus the lock horizon, with the reasoning spelled out for `retention explain`.
//!
//! Invariants: a missing fact never yields an earlier date (it yields *undetermined* or a
//! fallback that the law itself gives); an uncertain rule never shortens its baseline; an
//! exception that could apply (the birthday sample) but cannot be ruled out makes the
//! outcome undetermined, never disposable.

use chrono::{Datelike, NaiveDate};

use super::policy::{Certainty, CodeField, Policies, Rule, Trigger};
use super::{Disposal, Retention, add_years};

/// Years an Object Lock is kept ahead for records with no lawful destruction date yet.
pub const LOCK_RENEWAL_YEARS: i32 = 12;

/// What is known about a record when it is judged.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Class given by the source profile or configuration (used when no code maps).
    pub class: Option<String>,
    /// Kanta `retentionPeriodClass` code from the header.
    pub kanta_class: Option<String>,
    /// `functionCode` (TOS task class) from the header.
    pub function_code: Option<String>,
    /// `documentType` from the header.
    pub document_type: Option<String>,
    /// Subject's birth date.
    pub birth_date: Option<NaiveDate>,
    /// Whether the birth date is from a henkilötunnus (the birthday sample needs the day).
    pub birth_from_hetu: bool,
    /// Subject's death date.
    pub death_date: Option<NaiveDate>,
    /// Record creation date.
    pub created: Option<NaiveDate>,
    /// Date the matter was closed.
    pub matter_closed: Option<NaiveDate>,
    /// Birth date of the child the record concerns.
    pub child_birth: Option<NaiveDate>,
}

impl Facts {
    fn get(&self, t: Trigger) -> Option<NaiveDate> {
        match t {
            Trigger::DeathOfSubject => self.death_date,
            Trigger::BirthOfSubject => self.birth_date,
            Trigger::Created => self.created,
            Trigger::MatterClosed => self.matter_closed,
            Trigger::BirthOfChild => self.child_birth,
        }
    }
}

/// A decision and how it was reached.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The decision stored with the record.
    pub retention: Retention,
    /// The class used, if one could be determined.
    pub class: Option<String>,
    /// Why, step by step, in plain words.
    pub why: Vec<String>,
    /// Whether the class came from an unknown Kanta code (a V011 finding).
    pub unknown_code: Option<String>,
}

/// First lawful destruction day for a period counted from `t`.
fn period_end(t: NaiveDate, years: u32, end_of_year: bool) -> NaiveDate {
    if end_of_year {
        NaiveDate::from_ymd_opt(t.year() + years as i32 + 1, 1, 1).unwrap_or(NaiveDate::MAX)
    } else {
        add_years(t, years as i32)
    }
}

enum Out {
    Date(NaiveDate),
    Permanent,
    Undetermined(String),
}

/// Evaluate `facts` under `policies` on `today`.
pub fn evaluate(policies: &Policies, facts: &Facts, today: NaiveDate) -> Evaluation {
    let renewal = add_years(today, LOCK_RENEWAL_YEARS);
    let mut why = Vec::new();
    let mut unknown_code = None;
    // 1. Class: a Kanta code if the header has one, else the configured class.
    let class = match facts.kanta_class.as_deref() {
        Some(code) => match policies.kanta_class(code) {
            Some(m) => {
                why.push(format!("Kanta retentionPeriodClass {code} ({}) means class {}", m.title, m.class));
                Some(m.class.clone())
            }
            None => {
                why.push(format!("Kanta retentionPeriodClass {code} has no mapping in the rule sets"));
                unknown_code = Some(code.to_string());
                None
            }
        },
        None => {
            let mapped = [(CodeField::FunctionCode, &facts.function_code), (CodeField::DocumentType, &facts.document_type)]
                .into_iter()
                .find_map(|(field, code)| code.as_deref().and_then(|c| policies.class_for(field, c)).map(|m| (field, m)));
            match mapped {
                Some((field, m)) => {
                    why.push(format!("{field:?} {} ({}) means class {}", m.code, m.title, m.class));
                    Some(m.class.clone())
                }
                None => {
                    if let Some(c) = &facts.class {
                        why.push(format!("class {c} from the source's configuration"));
                    }
                    facts.class.clone()
                }
            }
        }
    };
    let undetermined = |why: Vec<String>, missing: String, class: Option<String>, unknown_code| Evaluation {
        retention: Retention {
            rule_id: "undetermined".into(),
            ruleset: "none".into(),
            ruleset_version: "-".into(),
            class: class.clone(),
            disposal: Disposal::Undetermined { missing },
            lock_horizon: renewal.to_string(),
        },
        class,
        why,
        unknown_code,
    };
    let Some(class) = class else {
        why.push("no class: retention is undetermined and the record is never disposable".into());
        return undetermined(why, "a retention class".into(), None, unknown_code);
    };
    let Some(rule) = policies.main.get(&class).and_then(|id| policies.rules.get(id)) else {
        why.push(format!("no rule covers class {class}"));
        return undetermined(why, format!("a rule for class {class}"), Some(class), unknown_code);
    };
    // 2. Exceptions that make a record permanent (the birthday sample).
    for ex in policies.exceptions.get(&class).into_iter().flatten().filter_map(|id| policies.rules.get(id)) {
        // Each condition an exception has must hold; one that cannot be ruled out (its fact
        // is unknown) makes the outcome undetermined, never disposable.
        let mut unknown = None;
        let mut applies = true;
        if !ex.when_birth_day_in.is_empty() {
            match facts.birth_date.filter(|_| facts.birth_from_hetu) {
                Some(b) if ex.when_birth_day_in.contains(&b.day()) => why.push(format!("born on day {} of the month", b.day())),
                Some(b) => {
                    why.push(format!("born on day {}: exception {} does not apply", b.day(), ex.id));
                    applies = false;
                }
                None => unknown = Some(("the birth day is not known from a henkilötunnus", "the subject's birth date (birthday sample)")),
            }
        }
        if let Some(before) = ex.when_created_before
            && applies
        {
            match facts.created {
                Some(c) if c < before => why.push(format!("created {c}, before {before}")),
                Some(c) => {
                    why.push(format!("created {c}, not before {before}: exception {} does not apply", ex.id));
                    applies = false;
                }
                None => unknown = Some(("the creation date is not known", "the record's creation date")),
            }
        }
        if !applies {
            continue;
        }
        if let Some((what, missing)) = unknown {
            why.push(format!("{what}, so exception {} ({}) cannot be ruled out", ex.id, ex.title));
            let mut e = finish(rule, Out::Undetermined(missing.into()), renewal, class, why, unknown_code);
            e.retention.lock_horizon = lock_for(rule, facts, today, renewal).to_string();
            return e;
        }
        why.push(format!("exception {}: {} ({})", ex.id, ex.title, ex.source));
        return finish(ex, Out::Permanent, renewal, class, why, unknown_code);
    }
    // 3. The main rule; an uncertain one never shortens its baseline.
    let (out, mut steps) = apply(rule, facts);
    why.append(&mut steps);
    let out = match (&rule.baseline, rule.certainty) {
        (Some(b), Certainty::Uncertain) => match policies.rules.get(b) {
            Some(base) => {
                let (bout, mut bsteps) = apply(base, facts);
                why.push(format!("{} is marked uncertain: it may lengthen but never shorten {}", rule.id, base.id));
                why.append(&mut bsteps);
                match (out, bout) {
                    (Out::Permanent, _) | (_, Out::Permanent) => Out::Permanent,
                    (Out::Undetermined(m), _) | (_, Out::Undetermined(m)) => Out::Undetermined(m),
                    (Out::Date(a), Out::Date(b)) => Out::Date(a.max(b)),
                }
            }
            None => Out::Undetermined(format!("baseline rule {b}")),
        },
        _ => out,
    };
    let horizon = match &out {
        Out::Date(d) => (*d).min(lock_for(rule, facts, today, renewal)).max(today),
        _ => lock_for(rule, facts, today, renewal),
    };
    let mut e = finish(rule, out, renewal, class, why, unknown_code);
    e.retention.lock_horizon = horizon.to_string();
    e
}

/// Apply one rule's own counting.
fn apply(rule: &Rule, facts: &Facts) -> (Out, Vec<String>) {
    let mut why = vec![format!(
        "rule {}: {} ({}; {})",
        rule.id,
        rule.title,
        rule.source,
        if rule.certainty == Certainty::Confirmed { "confirmed" } else { "uncertain" }
    )];
    if rule.permanent {
        return (Out::Permanent, why);
    }
    let Some(trigger) = rule.trigger else { return (Out::Undetermined("a trigger".into()), why) };
    let years = match (rule.minor_years, facts.birth_date, facts.get(trigger)) {
        (Some(minor), Some(b), Some(t)) if add_years(b, 18) > t => {
            why.push(format!("the subject was a minor at the {}: {minor} years", trigger.fact()));
            minor
        }
        (Some(minor), None, _) => {
            why.push(format!("whether the subject was a minor is unknown: the longer {minor} years apply"));
            minor
        }
        _ => rule.years,
    };
    match facts.get(trigger) {
        Some(t) => {
            let d = period_end(t, years, rule.end_of_year);
            why.push(format!(
                "{} {t} + {years} years{} → destroyable from {d}",
                trigger.fact(),
                if rule.end_of_year { ", counted to the end of that year" } else { "" }
            ));
            (Out::Date(d), why)
        }
        None => match rule.fallback.and_then(|f| facts.get(f.trigger).map(|t| (f, t))) {
            Some((f, t)) => {
                let d = period_end(t, f.years, rule.end_of_year);
                why.push(format!(
                    "the {} is not known; fallback: {} {t} + {} years → destroyable from {d}",
                    trigger.fact(),
                    f.trigger.fact(),
                    f.years
                ));
                (Out::Date(d), why)
            }
            None => {
                why.push(format!("the {} is not known: undetermined until it arrives", trigger.fact()));
                (Out::Undetermined(trigger.fact().into()), why)
            }
        },
    }
}

/// The earliest lawful destruction date given what is known now: unknown trigger facts are
/// assumed to happen today (the earliest they could), known ones are used as they are.
fn lock_for(rule: &Rule, facts: &Facts, today: NaiveDate, renewal: NaiveDate) -> NaiveDate {
    if rule.permanent {
        return renewal;
    }
    let Some(trigger) = rule.trigger else { return renewal };
    let years = rule.minor_years.unwrap_or(rule.years).max(rule.years);
    let t = facts.get(trigger).unwrap_or(today).max(NaiveDate::MIN);
    let mut h = period_end(t, years, rule.end_of_year);
    if facts.get(trigger).is_none()
        && let Some(f) = rule.fallback
        && let Some(ft) = facts.get(f.trigger)
    {
        h = h.min(period_end(ft, f.years, rule.end_of_year));
    }
    h.max(today)
}

fn finish(rule: &Rule, out: Out, renewal: NaiveDate, class: String, mut why: Vec<String>, unknown_code: Option<String>) -> Evaluation {
    let disposal = match out {
        Out::Date(d) => Disposal::Date { date: d.to_string() },
        Out::Permanent => {
            why.push("kept permanently".into());
            Disposal::Permanent
        }
        Out::Undetermined(m) => {
            why.push(format!("undetermined: needs the {m}; never disposable until then"));
            Disposal::Undetermined { missing: m }
        }
    };
    Evaluation {
        retention: Retention {
            rule_id: rule.id.clone(),
            ruleset: rule.ruleset.clone(),
            ruleset_version: rule.version.clone(),
            class: Some(class.clone()),
            disposal,
            lock_horizon: renewal.to_string(),
        },
        class: Some(class),
        why,
        unknown_code,
    }
}
