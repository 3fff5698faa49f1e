//! Table-driven retention cases drawn from DOMAIN.md. Each row: class or Kanta code, facts,
//! expected outcome and rule. "today" is fixed so that lock horizons are exact.

use chrono::NaiveDate;

use super::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap_or_else(|_| panic!("bad date {s}"))
}

const TODAY: &str = "2026-11-25";

struct Case {
    name: &'static str,
    class: Option<&'static str>,
    kanta: Option<&'static str>,
    birth: Option<&'static str>,
    from_hetu: bool,
    death: Option<&'static str>,
    created: Option<&'static str>,
    closed: Option<&'static str>,
    child: Option<&'static str>,
    want: &'static str,
    rule: &'static str,
}

const BASE: Case = Case {
    name: "",
    class: None,
    kanta: None,
    birth: None,
    from_hetu: true,
    death: None,
    // Documents carry their creation date; the cases that test its absence say so.
    created: Some("2015-01-01"),
    closed: None,
    child: None,
    want: "",
    rule: "",
};

fn cases() -> Vec<Case> {
    vec![
        // Patient documents (decree 94/2022): 12 years after death, else 120 years after birth.
        Case {
            name: "patient, dead",
            class: Some("fi:patient"),
            birth: Some("1950-03-01"),
            death: Some("2020-06-15"),
            want: "2032-06-15",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "patient, alive: 120-year fallback",
            class: Some("fi:patient"),
            birth: Some("1950-03-01"),
            want: "2070-03-01",
            rule: "fi-patient-default",
            ..BASE
        },
        Case { name: "patient, no facts", class: Some("fi:patient"), want: "undetermined", rule: "fi-patient-default", ..BASE },
        Case {
            name: "patient, death known, birth unknown: birthday sample cannot be ruled out",
            class: Some("fi:patient"),
            death: Some("2020-01-01"),
            want: "undetermined",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "patient born on a leap day, 120 years on",
            class: Some("fi:patient"),
            birth: Some("1904-02-29"),
            want: "2024-02-29",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "leap day to a non-leap year moves later, not earlier",
            class: Some("fi:patient"),
            birth: Some("1996-02-29"),
            want: "2116-02-29",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "death on a leap day + 12 years",
            class: Some("fi:patient"),
            birth: Some("1940-01-02"),
            death: Some("2024-02-29"),
            want: "2036-02-29",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "death on a leap day + 12 lands on a leap day again",
            class: Some("fi:patient"),
            birth: Some("1940-01-02"),
            death: Some("2012-02-29"),
            want: "2024-02-29",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "new century sign A: born 2016",
            class: Some("fi:patient"),
            birth: Some("2016-05-02"),
            want: "2136-05-02",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "1800s (+): fallback already past",
            class: Some("fi:patient"),
            birth: Some("1899-12-31"),
            want: "2019-12-31",
            rule: "fi-patient-default",
            ..BASE
        },
        // Birthday sample: born on the 18th or 28th → permanent.
        Case {
            name: "born on the 18th",
            class: Some("fi:patient"),
            birth: Some("1950-03-18"),
            want: "permanent",
            rule: "fi-patient-birthday-sample",
            ..BASE
        },
        Case {
            name: "born on the 28th, dead",
            class: Some("fi:patient"),
            birth: Some("1931-02-28"),
            death: Some("2001-01-01"),
            want: "permanent",
            rule: "fi-patient-birthday-sample",
            ..BASE
        },
        Case {
            name: "born on the 8th is not in the sample",
            class: Some("fi:patient"),
            birth: Some("1950-03-08"),
            want: "2070-03-08",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "birth date only from the header: sample cannot be ruled out",
            class: Some("fi:patient"),
            birth: Some("1950-03-01"),
            from_hetu: false,
            want: "undetermined",
            rule: "fi-patient-default",
            ..BASE
        },
        // Kanta retentionPeriodClass codes.
        Case {
            name: "Kanta code 2 means the default patient rule",
            kanta: Some("2"),
            birth: Some("1975-07-05"),
            want: "2095-07-05",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "Kanta code 2, born on the 28th",
            kanta: Some("2"),
            birth: Some("1975-07-28"),
            want: "permanent",
            rule: "fi-patient-birthday-sample",
            ..BASE
        },
        Case {
            name: "unknown Kanta code: undetermined",
            kanta: Some("99"),
            birth: Some("1975-07-05"),
            want: "undetermined",
            rule: "undetermined",
            ..BASE
        },
        Case {
            name: "unknown Kanta code beats a configured class (never guess)",
            kanta: Some("7"),
            class: Some("fi:patient"),
            birth: Some("1975-07-05"),
            want: "undetermined",
            rule: "undetermined",
            ..BASE
        },
        Case { name: "no class at all", birth: Some("1975-07-05"), want: "undetermined", rule: "undetermined", ..BASE },
        Case { name: "a class no rule covers", class: Some("fi:unheard-of"), want: "undetermined", rule: "undetermined", ..BASE },
        // Permanent classes.
        Case {
            name: "genetic medicine: permanent",
            class: Some("fi:patient:genetic"),
            birth: Some("1950-03-01"),
            want: "permanent",
            rule: "fi-patient-genetic",
            ..BASE
        },
        Case {
            name: "pre-Kanta electronic archive: permanent",
            class: Some("fi:patient:pre-kanta"),
            birth: Some("1950-03-01"),
            want: "permanent",
            rule: "fi-patient-pre-kanta-electronic",
            ..BASE
        },
        Case {
            name: "created before 1.5.1999 (uncertain): permanent until confirmed, whatever the class says",
            class: Some("fi:patient"),
            birth: Some("1950-03-01"),
            death: Some("2000-03-01"),
            created: Some("1995-01-10"),
            want: "permanent",
            rule: "fi-patient-before-1999-05-01",
            ..BASE
        },
        Case {
            name: "Kanta class 2, created 1995, patient died 2000: the pre-1999 exception applies on top of the class",
            kanta: Some("2"),
            birth: Some("1950-03-01"),
            death: Some("2000-03-01"),
            created: Some("1995-01-10"),
            want: "permanent",
            rule: "fi-patient-before-1999-05-01",
            ..BASE
        },
        Case {
            name: "created on 1.5.1999: the default rule",
            class: Some("fi:patient"),
            birth: Some("1950-03-01"),
            death: Some("2000-03-01"),
            created: Some("1999-05-01"),
            want: "2012-03-01",
            rule: "fi-patient-default",
            ..BASE
        },
        Case {
            name: "patient document without a creation date: the pre-1999 exception cannot be ruled out",
            class: Some("fi:patient"),
            birth: Some("1950-03-01"),
            death: Some("2000-03-01"),
            created: None,
            want: "undetermined",
            rule: "fi-patient-default",
            ..BASE
        },
        // Research material: 12 years from creation.
        Case {
            name: "research material",
            class: Some("fi:patient:research"),
            birth: Some("1950-03-01"),
            created: Some("2010-04-01"),
            want: "2022-04-01",
            rule: "fi-patient-research",
            ..BASE
        },
        Case {
            name: "research material, creation unknown",
            class: Some("fi:patient:research"),
            birth: Some("1950-03-01"),
            created: None,
            want: "undetermined",
            rule: "fi-patient-research",
            ..BASE
        },
        // Uncertain imaging rule never shortens the default patient rule.
        Case {
            name: "imaging (uncertain) cannot shorten the patient rule",
            class: Some("fi:patient:imaging"),
            birth: Some("1950-03-01"),
            death: Some("2000-01-01"),
            created: Some("1999-06-01"),
            want: "2012-01-01",
            rule: "fi-patient-imaging",
            ..BASE
        },
        Case {
            name: "imaging of a living patient: the 120-year baseline wins",
            class: Some("fi:patient:imaging"),
            birth: Some("1950-03-01"),
            created: Some("2020-01-01"),
            want: "2070-03-01",
            rule: "fi-patient-imaging",
            ..BASE
        },
        Case {
            name: "imaging of a minor: 20 years, still not shorter than the baseline",
            class: Some("fi:patient:imaging"),
            birth: Some("2010-03-01"),
            death: Some("2011-01-01"),
            created: Some("2010-06-01"),
            want: "2030-06-01",
            rule: "fi-patient-imaging",
            ..BASE
        },
        // Social welfare (Act 703/2023), counted to the end of the calendar year.
        Case {
            name: "client basic data: 2 years after death, end of year",
            class: Some("fi:social:client-basic"),
            birth: Some("1950-03-01"),
            death: Some("2024-03-10"),
            want: "2027-01-01",
            rule: "fi-social-client-basic",
            ..BASE
        },
        Case {
            name: "client basic data, death unknown: undetermined (no fallback)",
            class: Some("fi:social:client-basic"),
            birth: Some("1950-03-01"),
            want: "undetermined",
            rule: "fi-social-client-basic",
            ..BASE
        },
        Case {
            name: "families with children: 30 years after closing",
            class: Some("fi:social:families-with-children"),
            birth: Some("1950-03-01"),
            closed: Some("2001-12-31"),
            want: "2032-01-01",
            rule: "fi-social-families-with-children",
            ..BASE
        },
        Case {
            name: "older people: 10 years after closing",
            class: Some("fi:social:older-people"),
            birth: Some("1930-03-01"),
            closed: Some("2015-06-30"),
            want: "2026-01-01",
            rule: "fi-social-adults",
            ..BASE
        },
        Case {
            name: "substance abuse, matter still open",
            class: Some("fi:social:substance-abuse"),
            birth: Some("1970-03-01"),
            want: "undetermined",
            rule: "fi-social-adults",
            ..BASE
        },
        Case {
            name: "disability services",
            class: Some("fi:social:disability"),
            birth: Some("1970-03-01"),
            closed: Some("2020-01-01"),
            want: "2031-01-01",
            rule: "fi-social-disability",
            ..BASE
        },
        Case {
            name: "child welfare: 2 years after death",
            class: Some("fi:social:child-welfare"),
            birth: Some("2001-03-01"),
            death: Some("2019-07-01"),
            want: "2022-01-01",
            rule: "fi-social-child-welfare",
            ..BASE
        },
        Case {
            name: "family law about a child: 120 years from the child's birth",
            class: Some("fi:social:family-law-child"),
            birth: Some("1975-03-01"),
            child: Some("2005-09-14"),
            want: "2126-01-01",
            rule: "fi-social-family-law-child",
            ..BASE
        },
        Case {
            name: "family law about a child, child's birth unknown",
            class: Some("fi:social:family-law-child"),
            birth: Some("1975-03-01"),
            want: "undetermined",
            rule: "fi-social-family-law-child",
            ..BASE
        },
        Case {
            name: "family law, other matters: 10 years after closing",
            class: Some("fi:social:family-law-other"),
            birth: Some("1975-03-01"),
            closed: Some("2010-05-05"),
            want: "2021-01-01",
            rule: "fi-social-family-law-other",
            ..BASE
        },
        Case {
            name: "vouchers: 3 years",
            class: Some("fi:social:vouchers"),
            birth: Some("1975-03-01"),
            created: Some("2020-02-02"),
            want: "2024-01-01",
            rule: "fi-social-vouchers",
            ..BASE
        },
        Case {
            name: "fee decisions (uncertain) never shorter than client basic data",
            class: Some("fi:social:fee-decisions"),
            birth: Some("1950-03-01"),
            death: Some("2030-01-01"),
            closed: Some("2010-01-01"),
            want: "2033-01-01",
            rule: "fi-social-fee-decisions",
            ..BASE
        },
        Case {
            name: "fee decisions, death unknown: undetermined, never the shorter date",
            class: Some("fi:social:fee-decisions"),
            birth: Some("1950-03-01"),
            closed: Some("2010-01-01"),
            want: "undetermined",
            rule: "fi-social-fee-decisions",
            ..BASE
        },
    ]
}

#[test]
fn the_retention_table() {
    let p = Policies::builtin().unwrap();
    let today = d(TODAY);
    let cases = cases();
    assert!(cases.len() >= 30);
    for c in &cases {
        let f = Facts {
            class: c.class.map(String::from),
            kanta_class: c.kanta.map(String::from),
            function_code: None,
            document_type: None,
            birth_date: c.birth.map(d),
            birth_from_hetu: c.from_hetu,
            death_date: c.death.map(d),
            created: c.created.map(d),
            matter_closed: c.closed.map(d),
            child_birth: c.child.map(d),
        };
        let e = evaluate(&p, &f, today);
        assert_eq!(e.retention.disposal_text(), c.want, "{}: {:#?}", c.name, e.why);
        assert_eq!(e.retention.rule_id, c.rule, "{}", c.name);
        let horizon = d(&e.retention.lock_horizon);
        assert!(horizon >= today, "{}: the lock never ends in the past", c.name);
        if let Disposal::Date { date } = &e.retention.disposal {
            assert!(horizon <= d(date).max(today), "{}: the lock never outlasts the lawful date", c.name);
        }
        assert!(!e.why.is_empty());
        if c.rule != "undetermined" {
            assert!(!e.retention.ruleset_version.is_empty() && e.retention.ruleset != "none", "{}", c.name);
        }
    }
}

#[test]
fn a_living_patients_lock_horizon_is_today_plus_12_years() {
    let p = Policies::builtin().unwrap();
    let f = Facts { class: Some("fi:patient".into()), birth_date: Some(d("1950-03-01")), birth_from_hetu: true, ..Default::default() };
    let e = evaluate(&p, &f, d(TODAY));
    assert_eq!(e.retention.lock_horizon, "2038-11-25", "if the patient died today: 12 years from today");
    let young = Facts { birth_date: Some(d("2000-03-01")), ..f };
    assert_eq!(evaluate(&p, &young, d(TODAY)).retention.lock_horizon, "2038-11-25");
}

#[test]
fn unknown_kanta_codes_are_reported() {
    let p = Policies::builtin().unwrap();
    let e = evaluate(&p, &Facts { kanta_class: Some("99".into()), ..Default::default() }, d(TODAY));
    assert_eq!(e.unknown_code.as_deref(), Some("99"));
}

#[test]
fn function_code_and_document_type_maps_class_records() {
    let extra = r#"[ruleset]
id = "test-maps"
version = "1"
title = "t"
jurisdiction = "FI"
source = "test"
[[map]]
field = "function_code"
code_system = "tos"
code = "05.01"
class = "fi:patient:genetic"
title = "genetics"
source = "test"
certainty = "confirmed"
"#;
    let mut texts: Vec<(String, String)> = policy::BUILTIN.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    texts.push(("maps.toml".into(), extra.into()));
    let p = Policies::from_texts(texts).unwrap();
    let f = Facts {
        function_code: Some("05.01".into()),
        class: Some("fi:patient".into()),
        birth_date: Some(d("1950-03-01")),
        birth_from_hetu: true,
        ..Default::default()
    };
    assert_eq!(evaluate(&p, &f, d(TODAY)).retention.disposal, Disposal::Permanent);
    let other = Facts { function_code: Some("99".into()), ..f };
    assert_eq!(evaluate(&p, &other, d(TODAY)).retention.rule_id, "fi-patient-default", "unmapped codes fall back to the configured class");
}

/// policies/README.md's table of DOMAIN.md rows: what arkisto decides is what it says there,
/// and never earlier than DOMAIN.md.
#[test]
fn the_domain_table_in_policies_readme() {
    let p = Policies::builtin().unwrap();
    let text = include_str!("../../policies/README.md");
    let start = text.find("<!-- domain-table").expect("table marker");
    let end = text.find("<!-- /domain-table -->").expect("table end");
    let rows: Vec<Vec<&str>> = text[start..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| case"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert!(rows.len() >= 20, "{} rows", rows.len());
    let opt = |s: &str| (!s.is_empty()).then(|| d(s));
    for r in rows {
        let [case, class, born, died, created, closed, child, domain, says, rule] = r[..] else { panic!("bad row {r:?}") };
        let (class, kanta) = match class.strip_prefix("kanta:") {
            Some(code) => (None, Some(code.to_string())),
            None => (Some(class.to_string()), None),
        };
        let f = Facts {
            class,
            kanta_class: kanta,
            birth_date: opt(born),
            birth_from_hetu: true,
            death_date: opt(died),
            created: opt(created),
            matter_closed: opt(closed),
            child_birth: opt(child),
            ..Default::default()
        };
        let e = evaluate(&p, &f, d(TODAY));
        assert_eq!(e.retention.disposal_text(), says, "{case}: {:#?}", e.why);
        assert_eq!(e.retention.rule_id, rule, "{case}");
        // Never earlier than the law as DOMAIN.md states it.
        match (domain.parse::<NaiveDate>(), says.parse::<NaiveDate>()) {
            (Ok(law), Ok(ours)) => assert!(ours >= law, "{case}: {ours} is before {law}"),
            (Ok(_), Err(_)) => {} // permanent or undetermined: never disposable, so never early
            (Err(_), Ok(_)) => panic!("{case}: DOMAIN.md says {domain}, arkisto gives a date"),
            (Err(_), Err(_)) => assert_eq!(domain, says, "{case}"),
        }
    }
}
