//! Retention rule sets as data: the TOML files in `policies/` (embedded in the binary, and
//! replaceable by a directory given in the config). Loading checks every rule so that a
//! broken policy fails at start, not at disposal time.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

/// The rule sets shipped with arkisto.
pub const BUILTIN: [(&str, &str); 4] = [
    ("fi-patient.toml", include_str!("../../policies/fi-patient.toml")),
    ("fi-birthday-sample.toml", include_str!("../../policies/fi-birthday-sample.toml")),
    ("fi-social-welfare.toml", include_str!("../../policies/fi-social-welfare.toml")),
    ("kanta-retention-classes.toml", include_str!("../../policies/kanta-retention-classes.toml")),
];

/// A policy problem, naming the file and the rule.
#[derive(Debug, thiserror::Error)]
#[error("policy {file}: {message}")]
pub struct PolicyError {
    /// File name.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// How sure the legal basis is. An uncertain rule never shortens retention.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Certainty {
    /// Confirmed from the legal source.
    Confirmed,
    /// Secondary or incomplete source.
    Uncertain,
}

/// The event a retention period counts from.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The subject's death.
    DeathOfSubject,
    /// The subject's birth.
    BirthOfSubject,
    /// The record's creation.
    Created,
    /// The matter (asia) being closed.
    MatterClosed,
    /// The birth of the child the record is about.
    BirthOfChild,
}

impl Trigger {
    /// The fact's name, as shown to users.
    pub fn fact(self) -> &'static str {
        match self {
            Trigger::DeathOfSubject => "death date of the subject",
            Trigger::BirthOfSubject => "birth date of the subject",
            Trigger::Created => "creation date",
            Trigger::MatterClosed => "date the matter was closed",
            Trigger::BirthOfChild => "birth date of the child",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    ruleset: Header,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    map: Vec<ClassMap>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    id: String,
    version: String,
    title: String,
    jurisdiction: String,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    classes: Vec<String>,
    title: String,
    source: String,
    certainty: Certainty,
    trigger: Option<Trigger>,
    years: Option<u32>,
    minor_years: Option<u32>,
    fallback: Option<Fallback>,
    #[serde(default)]
    end_of_year: bool,
    #[serde(default)]
    permanent: bool,
    #[serde(default)]
    when_birth_day_in: Vec<u32>,
    when_created_before: Option<String>,
    baseline: Option<String>,
}

/// A second trigger used when the first one's fact is unknown.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    /// Trigger.
    pub trigger: Trigger,
    /// Years after it.
    pub years: u32,
}

/// The header field a code comes from.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum CodeField {
    /// `hl7fi:localHeader/retentionPeriodClass`.
    #[default]
    RetentionPeriodClass,
    /// `hl7fi:localHeader/functionCode` (TOS task class).
    FunctionCode,
    /// `hl7fi:localHeader/documentType`.
    DocumentType,
}

/// A mapping from a source code (e.g. Kanta `retentionPeriodClass`) to a class.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClassMap {
    /// Which header field the code is in (default `retention_period_class`).
    #[serde(default)]
    pub field: CodeField,
    /// Code system OID.
    pub code_system: String,
    /// Code.
    pub code: String,
    /// arkisto class.
    pub class: String,
    /// Meaning.
    pub title: String,
    /// Legal or code-server source.
    pub source: String,
    /// How sure.
    pub certainty: Certainty,
}

/// One retention rule, checked.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Rule {
    /// Stable id (stored with every record judged by it).
    pub id: String,
    /// Rule set id.
    pub ruleset: String,
    /// Rule set version.
    pub version: String,
    /// Classes it applies to.
    pub classes: Vec<String>,
    /// What it says.
    pub title: String,
    /// Legal source.
    pub source: String,
    /// How sure.
    pub certainty: Certainty,
    /// What it counts from (None when permanent).
    pub trigger: Option<Trigger>,
    /// Years after the trigger.
    pub years: u32,
    /// Years when the subject was a minor at the trigger.
    pub minor_years: Option<u32>,
    /// Second trigger when the first fact is unknown.
    pub fallback: Option<Fallback>,
    /// Periods end at the end of the calendar year.
    pub end_of_year: bool,
    /// Kept permanently.
    pub permanent: bool,
    /// An exception that applies when the subject's birth day (of month) is one of these.
    pub when_birth_day_in: Vec<u32>,
    /// An exception that applies to records created before this date (the document's own
    /// date, on top of whatever class it has).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_iso")]
    pub when_created_before: Option<chrono::NaiveDate>,
    /// For an uncertain rule: the confirmed rule it may never shorten.
    pub baseline: Option<String>,
}

fn as_iso<S: serde::Serializer>(d: &Option<chrono::NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&d.to_string()),
        None => s.serialize_none(),
    }
}

impl Rule {
    /// Whether the rule is an exception (it applies on top of a class's main rule when its
    /// condition holds) rather than a class's main rule.
    pub fn is_exception(&self) -> bool {
        !self.when_birth_day_in.is_empty() || self.when_created_before.is_some()
    }
}

/// Every rule set, indexed.
#[derive(Debug, Default)]
pub struct Policies {
    /// Rules by id.
    pub rules: BTreeMap<String, Rule>,
    /// Class → main rule id.
    pub main: HashMap<String, String>,
    /// Class → exception rule ids (birthday sample …).
    pub exceptions: HashMap<String, Vec<String>>,
    /// (field, code) → mapping.
    pub maps: HashMap<(CodeField, String), ClassMap>,
    /// Rule set id → (version, title, source).
    pub rulesets: BTreeMap<String, (String, String, String)>,
}

impl Policies {
    /// The rule sets built into this binary.
    pub fn builtin() -> Result<Self, PolicyError> {
        Self::from_texts(BUILTIN.iter().map(|(n, t)| (n.to_string(), t.to_string())))
    }

    /// Every `*.toml` in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, PolicyError> {
        let err = |m: String| PolicyError { file: dir.display().to_string(), message: m };
        let mut texts = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(|e| err(e.to_string()))?.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml") {
                texts.push((p.display().to_string(), std::fs::read_to_string(&p).map_err(|e| err(e.to_string()))?));
            }
        }
        Self::from_texts(texts)
    }

    /// Parse and check rule set texts (file name, TOML).
    pub fn from_texts(texts: impl IntoIterator<Item = (String, String)>) -> Result<Self, PolicyError> {
        let mut p = Policies::default();
        for (name, text) in texts {
            let err = |m: String| PolicyError { file: name.clone(), message: m };
            let f: File = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
            let h = f.ruleset;
            if h.id.is_empty() || h.version.is_empty() || h.source.is_empty() || h.jurisdiction.is_empty() {
                return Err(err("ruleset needs id, version, jurisdiction and source".into()));
            }
            p.rulesets.insert(h.id.clone(), (h.version.clone(), h.title.clone(), h.source.clone()));
            for r in f.rule {
                let rerr = |m: &str| err(format!("rule {}: {m}", r.id));
                if r.source.trim().is_empty() {
                    return Err(rerr("every rule needs its legal source"));
                }
                if r.classes.is_empty() {
                    return Err(rerr("applies to no class"));
                }
                if !r.permanent && (r.trigger.is_none() || r.years.is_none()) {
                    return Err(rerr("needs `permanent = true` or a trigger and years"));
                }
                if r.certainty == Certainty::Uncertain && !r.permanent && r.baseline.is_none() {
                    return Err(rerr("an uncertain rule that is not permanent needs a `baseline` it may never shorten"));
                }
                if r.when_birth_day_in.iter().any(|d| !(1..=31).contains(d)) {
                    return Err(rerr("when_birth_day_in holds days of the month (1–31)"));
                }
                let when_created_before = match r.when_created_before.as_deref().map(|d| d.parse::<chrono::NaiveDate>()) {
                    None => None,
                    Some(Ok(d)) => Some(d),
                    Some(Err(_)) => return Err(rerr("when_created_before is a date, \"YYYY-MM-DD\"")),
                };
                let rule = Rule {
                    id: r.id.clone(),
                    ruleset: h.id.clone(),
                    version: h.version.clone(),
                    classes: r.classes.clone(),
                    title: r.title,
                    source: r.source,
                    certainty: r.certainty,
                    trigger: r.trigger,
                    years: r.years.unwrap_or(0),
                    minor_years: r.minor_years,
                    fallback: r.fallback,
                    end_of_year: r.end_of_year,
                    permanent: r.permanent,
                    when_birth_day_in: r.when_birth_day_in,
                    when_created_before,
                    baseline: r.baseline,
                };
                for c in &rule.classes {
                    if !rule.is_exception() {
                        if let Some(other) = p.main.insert(c.clone(), rule.id.clone()) {
                            return Err(err(format!("class {c} has two main rules: {other} and {}", rule.id)));
                        }
                    } else {
                        p.exceptions.entry(c.clone()).or_default().push(rule.id.clone());
                    }
                }
                if p.rules.insert(rule.id.clone(), rule).is_some() {
                    return Err(err(format!("rule id {} is used twice", r.id)));
                }
            }
            for m in f.map {
                p.maps.insert((m.field, m.code.clone()), m);
            }
        }
        for r in p.rules.values() {
            if let Some(b) = &r.baseline
                && !p.rules.contains_key(b)
            {
                return Err(PolicyError { file: r.ruleset.clone(), message: format!("rule {}: baseline {b} does not exist", r.id) });
            }
        }
        for m in p.maps.values() {
            if !p.main.contains_key(&m.class) {
                return Err(PolicyError {
                    file: "maps".into(),
                    message: format!("code {} maps to class {} which no rule covers", m.code, m.class),
                });
            }
        }
        Ok(p)
    }

    /// The class a Kanta `retentionPeriodClass` code maps to.
    pub fn kanta_class(&self, code: &str) -> Option<&ClassMap> {
        self.maps.get(&(CodeField::RetentionPeriodClass, code.to_string()))
    }

    /// The class a header code in `field` maps to.
    pub fn class_for(&self, field: CodeField, code: &str) -> Option<&ClassMap> {
        self.maps.get(&(field, code.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_policy_parses_and_checks() {
        let p = Policies::builtin().unwrap();
        assert!(p.rules.len() >= 15);
        let from_dir = Policies::from_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"))).unwrap();
        assert_eq!(from_dir.rules.len(), p.rules.len(), "the embedded copies are the files in policies/");
        for r in p.rules.values() {
            assert!(!r.source.is_empty() && !r.version.is_empty(), "{}", r.id);
        }
    }

    #[test]
    fn broken_policies_are_refused_with_the_rule_named() {
        let bad = r#"[ruleset]
id = "x"
version = "1"
title = "t"
jurisdiction = "FI"
source = "s"
[[rule]]
id = "r1"
classes = ["c"]
title = "t"
source = "s"
certainty = "uncertain"
trigger = "created"
years = 1
"#;
        let e = Policies::from_texts([("x.toml".to_string(), bad.to_string())]).unwrap_err();
        assert!(e.to_string().contains("r1") && e.to_string().contains("baseline"), "{e}");
        let e =
            Policies::from_texts([("x.toml".to_string(), bad.replace("certainty = \"uncertain\"", "certainty = \"maybe\""))]).unwrap_err();
        assert!(e.to_string().contains("x.toml"), "{e}");
    }
}
