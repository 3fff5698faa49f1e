//! `arkisto policies check`: every rule in every rule set must be reachable by some record.
//! A rule that nothing can reach is dead law: a record it was written for is judged by
//! another rule (once, a pre-1999 permanence rule that no record reached let 1995 documents
//! fall due under the default rule).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::policy::CodeField;
use super::{Facts, Policies, evaluate};

/// One rule and the first example record that reaches it, if any.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reach {
    /// Rule id.
    pub rule: String,
    /// Rule set.
    pub ruleset: String,
    /// A record that reaches it, in words; `None`: unreachable.
    pub example: Option<String>,
}

/// Try a grid of records (every class and mapped code; born on the 1st or on any day an
/// exception names, from a henkilötunnus or not, an adult or a child; living or dead; created
/// the day before any date an exception names, recently, or unknown; matters closed or not)
/// and report, per rule, one record that reaches it.
pub fn check(policies: &Policies, today: NaiveDate) -> Vec<Reach> {
    let d = |s: &str| s.parse::<NaiveDate>().ok();
    let mut classes: Vec<(String, Facts)> = Vec::new();
    let mut all: Vec<&String> = policies.main.keys().chain(policies.exceptions.keys()).collect();
    all.sort();
    all.dedup();
    for c in all {
        classes.push((format!("class {c}"), Facts { class: Some(c.clone()), ..Default::default() }));
    }
    let mut maps: Vec<_> = policies.maps.keys().collect();
    maps.sort_by(|a, b| (format!("{:?}", a.0), &a.1).cmp(&(format!("{:?}", b.0), &b.1)));
    for (field, code) in maps {
        let mut f = Facts::default();
        match field {
            CodeField::RetentionPeriodClass => f.kanta_class = Some(code.clone()),
            CodeField::FunctionCode => f.function_code = Some(code.clone()),
            CodeField::DocumentType => f.document_type = Some(code.clone()),
        }
        classes.push((format!("{field:?} {code}"), f));
    }
    let mut births: Vec<String> = vec!["1950-03-01".into(), "2015-03-01".into()];
    let mut createds: Vec<Option<String>> = vec![Some("2016-05-05".into()), None];
    for r in policies.rules.values() {
        births.extend(r.when_birth_day_in.iter().map(|day| format!("1950-01-{day:02}")));
        createds.extend(r.when_created_before.and_then(|b| b.pred_opt()).map(|b| Some(b.to_string())));
    }
    births.sort();
    births.dedup();
    createds.sort();
    createds.dedup();
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for (what, base) in &classes {
        for birth in births.iter().map(String::as_str) {
            for hetu in [true, false] {
                for death in [None, Some("2001-02-03")] {
                    for created in createds.iter().map(Option::as_deref) {
                        for closed in [None, Some("2017-01-01")] {
                            let f = Facts {
                                birth_date: d(birth),
                                birth_from_hetu: hetu,
                                death_date: death.and_then(d),
                                created: created.and_then(d),
                                matter_closed: closed.and_then(d),
                                child_birth: d(birth),
                                ..base.clone()
                            };
                            let rule = evaluate(policies, &f, today).retention.rule_id;
                            found.entry(rule).or_insert_with(|| {
                                format!(
                                    "{what}, born {birth}{}, {}, created {}{}",
                                    if hetu { " (henkilötunnus)" } else { "" },
                                    death.map(|x| format!("died {x}")).unwrap_or_else(|| "living".into()),
                                    created.unwrap_or("unknown"),
                                    closed.map(|c| format!(", matter closed {c}")).unwrap_or_default()
                                )
                            });
                        }
                    }
                }
            }
        }
    }
    policies.rules.values().map(|r| Reach { rule: r.id.clone(), ruleset: r.ruleset.clone(), example: found.get(&r.id).cloned() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_rule_is_reachable() {
        let p = Policies::builtin().unwrap();
        let reach = check(&p, "2026-12-03".parse().unwrap());
        let dead: Vec<&Reach> = reach.iter().filter(|r| r.example.is_none()).collect();
        assert!(dead.is_empty(), "rules no record reaches: {dead:#?}");
        assert!(reach.len() >= 10);
    }

    #[test]
    fn an_unreachable_rule_is_found() {
        let extra = r#"
[ruleset]
id = "test-dead"
version = "1"
title = "t"
jurisdiction = "FI"
source = "test"

[[rule]]
id = "test-shadowed"
classes = ["fi:patient"]
title = "an exception the birthday sample always takes first"
source = "test"
certainty = "confirmed"
permanent = true
when_birth_day_in = [18]
"#;
        let mut texts: Vec<(String, String)> = super::super::policy::BUILTIN.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        texts.push(("test-dead.toml".into(), extra.into()));
        let p = Policies::from_texts(texts).unwrap();
        let reach = check(&p, "2026-12-03".parse().unwrap());
        assert_eq!(reach.iter().filter(|r| r.example.is_none()).map(|r| r.rule.as_str()).collect::<Vec<_>>(), ["test-shadowed"]);
    }
}
