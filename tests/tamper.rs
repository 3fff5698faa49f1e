//! The attacker's side: someone with write access to the index database (SQLite file or
//! PostgreSQL) edits it behind arkisto's back. Each edit must be found by `verify` (exit 3,
//! naming the record, hold or plan and the field), and disposal must destroy nothing the
//! packs and the ledger in the store do not make due. Every scenario runs on both backends.
//! The auditor's `arkisto-audit`, which reads no index, confirms after each index edit that
//! the store itself was not harmed, and finds each change to the store.

mod common;

use std::collections::BTreeSet;

use common::pg::{DropDb, fresh_pg};
use common::{Env, root};
use serde_json::Value;

const SMALL_PACKS: (&str, &str) = ("ARKISTO__PACK__TARGET_SIZE_MIB", "1");

struct Arch {
    name: &'static str,
    env: Env,
    key: String,
    vars: Vec<(String, String)>,
    _drop: Option<DropDb>,
}

impl Arch {
    fn new(pg: bool) -> Option<Self> {
        if !pg {
            return Some(Arch { name: "sqlite", env: Env::new(), key: String::new(), vars: vec![], _drop: None }.signed());
        }
        let url = fresh_pg()?;
        Some(
            Arch {
                name: "postgres",
                env: Env::new(),
                key: String::new(),
                vars: vec![("ARKISTO__INDEX__KIND".into(), "postgres".into()), ("ARKISTO__INDEX__URL".into(), url.clone())],
                _drop: Some(DropDb(url)),
            }
            .signed(),
        )
    }

    /// With a checkpoint signing key.
    fn signed(mut self) -> Self {
        let (code, v) = self.json(&["key", "generate", "--name", "tamper.example/arkisto"]);
        assert_eq!(code, 0, "{v}");
        self.key = v["verifier_key"].as_str().unwrap().to_string();
        self
    }

    /// The auditor's report on the store alone, and its exit code.
    fn audit(&self) -> (i32, Value) {
        self.env.audit(&self.key, None)
    }

    /// The store is unharmed, whatever the index says.
    fn audit_clean(&self) {
        let (code, r) = self.audit();
        assert_eq!(code, 0, "{}: the store itself is unharmed: {r:#}", self.name);
    }

    fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut v: Vec<(&str, &str)> = self.vars.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        v.push(SMALL_PACKS);
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.env.run_env(&a, &v);
        let j = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: {args:?}: not JSON ({e}): {}\n{}",
                self.name,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        });
        (o.status.code().unwrap_or(-1), j)
    }

    /// Edit the index directly, as an attacker with database access would.
    fn sql(&self, sql: &str) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            if self.vars.is_empty() {
                let db = self.env.data().join("index.sqlite");
                let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            } else {
                let mut c = sqlx::PgConnection::connect(&self.vars[1].1).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
        });
    }

    /// Every record the index can find, by id.
    fn records(&self) -> Vec<Value> {
        let (_, hits) = self.json(&["search", "--from", "1800-01-01", "--limit", "100000", "--purpose", "tamper test"]);
        let hits = hits["hits"].clone();
        hits.as_array().unwrap().clone()
    }

    fn verify(&self) -> Vec<Value> {
        let (code, v) = self.json(&["verify"]);
        assert_eq!(code, 3, "{}: verify must find the tampering: {v}", self.name);
        v["findings"].as_array().unwrap().clone()
    }

    /// Plan everything due today, approve as another person, execute; the ids destroyed.
    fn dispose(&self) -> (Value, Value) {
        let (code, plan) = self.json(&["dispose", "plan", "--actor", "kirjaaja"]);
        assert_eq!(code, 0, "{}: {plan}", self.name);
        let id = plan["plan_id"].as_str().unwrap().to_string();
        let (code, r) = self.json(&["dispose", "approve", &id, "--actor", "arkistonhoitaja"]);
        assert_eq!(code, 0, "{}: {r}", self.name);
        let (code, r) = self.json(&["dispose", "execute", &id, "--actor", "kirjaaja"]);
        assert_eq!(code, 0, "{}: {r}", self.name);
        (plan, r)
    }

    /// Ask the ledger in the store (the source of truth), through the library.
    fn with_state<T>(&self, f: impl FnOnce(&arkisto::truth::LedgerState) -> T) -> T {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let env = self.vars.clone();
        let dir = self.env.data();
        let state = rt.block_on(async move {
            let cfg = arkisto::config::Config::load(None, env, &arkisto::config::Flags { data_dir: Some(dir) }).unwrap();
            let a = arkisto::archive::Archive::open(cfg).await.unwrap();
            a.ledger_state().await.unwrap().0
        });
        f(&state)
    }

    /// Records the ledger says were destroyed.
    fn destroyed(&self) -> BTreeSet<String> {
        self.with_state(|s| s.tombstones.keys().map(|k| k.to_string()).collect())
    }
}

/// An archive of generated records in small packs, with death dates for half the subjects
/// (so that some records are really due); returns it and (dead, living) subjects.
fn archive(pg: bool, seed: u32) -> Option<(Arch, Vec<String>, Vec<String>)> {
    let a = Arch::new(pg)?;
    let b = a.env.path("batch");
    let (code, r) = a.json(&["fixtures", "generate", "--records", "120", "--seed", &seed.to_string(), "--out", b.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    let (code, r) = a.json(&["ingest", b.to_str().unwrap()]);
    assert_eq!(code, 0, "{}: {r}", a.name);
    let mut subjects: Vec<String> = a.records().iter().filter_map(|h| h["subject"].as_str().map(String::from)).collect();
    subjects.sort();
    subjects.dedup();
    let (dead, living) = subjects.split_at(subjects.len() / 2);
    let f = a.env.path("deaths.csv");
    std::fs::write(&f, format!("subject_id,death_date\n{}", dead.iter().map(|s| format!("{s},2000-01-01\n")).collect::<String>())).unwrap();
    let (code, r) = a.json(&["facts", "import", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{}: {r}", a.name);
    let (code, v) = a.json(&["verify"]);
    assert_eq!(code, 0, "{}: a fresh archive verifies clean: {v}", a.name);
    Some((a, dead.to_vec(), living.to_vec()))
}

fn on_both(test: impl Fn(bool)) {
    test(false);
    test(true);
}

fn finding<'a>(findings: &'a [Value], code: &str, record: &str) -> Option<&'a Value> {
    findings.iter().find(|f| f["code"] == code && f["records"].as_array().is_some_and(|r| r.iter().any(|x| x == record)))
}

fn ids_of(records: &[Value], pick: impl Fn(&Value) -> bool) -> Vec<String> {
    records.iter().filter(|r| pick(r)).map(|r| r["record_id"].as_str().unwrap().to_string()).collect()
}

fn quoted(ids: &[String]) -> String {
    ids.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(",")
}

#[test]
fn an_edited_disposal_date_is_found_and_disposal_destroys_none_of_those_records() {
    on_both(|pg| {
        let Some((a, _, living)) = archive(pg, 41) else { return };
        let recs = a.records();
        let victims: Vec<String> =
            ids_of(&recs, |r| r["subject"].as_str().is_some_and(|s| living.contains(&s.to_string()))).into_iter().take(5).collect();
        assert_eq!(victims.len(), 5);
        a.sql(&format!("UPDATE records SET disposal = '2000-12-31' WHERE record_id IN ({})", quoted(&victims)));
        let f = a.verify();
        for v in &victims {
            let hit = finding(&f, "A013", v).unwrap_or_else(|| panic!("{}: no A013 for {v}: {f:?}", a.name));
            assert!(hit["message"].as_str().unwrap().contains("disposal"), "{hit}");
        }
        let (plan, exec) = a.dispose();
        let planned: Vec<&str> = plan["items"].as_array().unwrap().iter().map(|i| i["record_id"].as_str().unwrap()).collect();
        let kept: Vec<&str> = plan["kept"].as_array().unwrap().iter().map(|i| i["record_id"].as_str().unwrap()).collect();
        for v in &victims {
            assert!(!planned.contains(&v.as_str()), "{}: {v} must not be planned", a.name);
            assert!(kept.contains(&v.as_str()), "{}: {v} is kept back with a reason: {plan}", a.name);
        }
        let gone = a.destroyed();
        assert!(victims.iter().all(|v| !gone.contains(v)), "{}: a record kept by its frame was destroyed", a.name);
        assert!(exec["disposed"].as_u64().unwrap() > 0, "{}: the really due records still go: {exec}", a.name);
        // Every plan item shows the rule and the facts that make it due.
        assert!(plan["items"].as_array().unwrap().iter().all(|i| i["why"].as_array().is_some_and(|w| !w.is_empty())), "{plan}");
        a.audit_clean();
    });
}

#[test]
fn a_deleted_hold_is_found_and_its_records_stay() {
    on_both(|pg| {
        let Some((a, dead, _)) = archive(pg, 42) else { return };
        let (_, due) = a.json(&["retention", "due"]);
        let due_ids: BTreeSet<String> = due
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["due"].as_array().unwrap().iter().map(|d| d["record_id"].as_str().unwrap().to_string()))
            .collect();
        let recs = a.records();
        // A dead subject with a due record: the hold is what keeps it.
        let subject = dead
            .iter()
            .find(|s| ids_of(&recs, |r| r["subject"] == s.as_str()).iter().any(|id| due_ids.contains(id)))
            .expect("a dead subject with a due record")
            .clone();
        let theirs = ids_of(&recs, |r| r["subject"] == subject.as_str());
        let (code, h) = a.json(&["hold", "add", "--subject", &subject, "--reason", "valitus 2026/7", "--actor", "lakimies"]);
        assert_eq!(code, 0, "{h}");
        let hold_id = h["hold_id"].as_str().unwrap().to_string();
        a.sql("DELETE FROM hold_records");
        a.sql("DELETE FROM holds");
        let f = a.verify();
        assert!(f.iter().any(|x| x["code"] == "A014" && x["object"] == hold_id.as_str()), "{}: {f:?}", a.name);
        let (_, due) = a.json(&["retention", "due"]);
        assert!(
            !due.to_string().contains(&theirs[0]) || theirs.iter().all(|t| !due.to_string().contains(t)),
            "{}: held records listed due",
            a.name
        );
        a.dispose();
        let gone = a.destroyed();
        assert!(theirs.iter().all(|t| !gone.contains(t)), "{}: a held record was destroyed", a.name);
        // Removing the hold is decided by the ledger too: the index no longer has it, so it
        // cannot be removed by id there, and nothing was lifted.
        let (code, _) = a.json(&["hold", "remove", &hold_id, "--reason", "x", "--actor", "lakimies"]);
        assert_ne!(code, 0);
        a.audit_clean();
    });
}

#[test]
fn edited_record_fields_and_locations_are_found_by_name() {
    on_both(|pg| {
        let Some((a, _, _)) = archive(pg, 43) else { return };
        let recs = a.records();
        let (r1, r2, r3) = (
            recs[0]["record_id"].as_str().unwrap().to_string(),
            recs[1]["record_id"].as_str().unwrap().to_string(),
            recs[2]["record_id"].as_str().unwrap().to_string(),
        );
        a.sql(&format!("UPDATE records SET subject_value = '010181-900C' WHERE record_id = '{r1}'"));
        a.sql(&format!("UPDATE records SET created = '1901-01-01T00:00:00' WHERE record_id = '{r2}'"));
        a.sql(&format!("UPDATE records SET data_offset = data_offset + 1 WHERE record_id = '{r3}'"));
        let f = a.verify();
        let s = finding(&f, "A012", &r1).unwrap_or_else(|| panic!("{}: {f:?}", a.name));
        assert!(s["message"].as_str().unwrap().contains("subject_value"), "{s}");
        assert!(!serde_json::to_string(&f).unwrap().contains("010181-900C"), "a henkilötunnus in a finding");
        let c = finding(&f, "A012", &r2).unwrap_or_else(|| panic!("{}: {f:?}", a.name));
        assert!(c["message"].as_str().unwrap().contains("created"), "{c}");
        assert!(finding(&f, "A006", &r3).is_some(), "{}: {f:?}", a.name);
        a.audit_clean();
    });
}

#[test]
fn a_deleted_record_row_or_pack_row_is_found() {
    on_both(|pg| {
        let Some((a, _, _)) = archive(pg, 44) else { return };
        let recs = a.records();
        let r1 = recs[0]["record_id"].as_str().unwrap().to_string();
        a.sql(&format!("DELETE FROM records WHERE record_id = '{r1}'"));
        let f = a.verify();
        assert!(finding(&f, "A012", &r1).is_some_and(|x| x["message"].as_str().unwrap().contains("no row")), "{}: {f:?}", a.name);
        a.audit_clean();
    });
}

#[test]
fn a_deleted_tombstone_and_an_edited_fact_are_found() {
    on_both(|pg| {
        let Some((a, _, living)) = archive(pg, 45) else { return };
        let (_, exec) = a.dispose();
        assert!(exec["disposed"].as_u64().unwrap() > 0, "{exec}");
        let (code, v) = a.json(&["verify"]);
        assert_eq!(code, 0, "{}: clean after a disposal: {v}", a.name);
        let gone: Vec<String> = a.destroyed().into_iter().collect();
        a.sql(&format!("DELETE FROM tombstones WHERE record_id = '{}'", gone[0]));
        // A death date for a living subject, with the index's retention rows made to match.
        a.sql(&format!(
            "INSERT INTO facts (subject_value, death_date, source, recorded_at) VALUES ('{}', '1990-01-01', 'forged', '2026-01-01T00:00:00Z')",
            living[0]
        ));
        a.sql(&format!("UPDATE records SET disposal = '2002-01-01' WHERE subject_value = '{}'", living[0]));
        let f = a.verify();
        assert!(finding(&f, "A016", &gone[0]).is_some(), "{}: {f:?}", a.name);
        assert!(f.iter().any(|x| x["code"] == "A015"), "{}: {f:?}", a.name);
        assert!(!serde_json::to_string(&f).unwrap().contains(&living[0]), "a henkilötunnus in a finding");
        let theirs = ids_of(&a.records(), |r| r["subject"] == living[0].as_str());
        a.dispose();
        let gone = a.destroyed();
        assert!(theirs.iter().all(|t| !gone.contains(t)), "{}: a living subject's record was destroyed on a forged fact", a.name);
        a.audit_clean();
    });
}

#[test]
fn a_pack_replaced_with_a_consistent_index_is_caught_by_the_ledger() {
    on_both(|pg| {
        let Some((a, _, _)) = archive(pg, 46) else { return };
        let packs = a.env.data().join("store/packs");
        let year = std::fs::read_dir(&packs).unwrap().next().unwrap().unwrap().path();
        let pack = std::fs::read_dir(&year).unwrap().next().unwrap().unwrap().path();
        let id = pack.file_stem().unwrap().to_str().unwrap().to_string();
        let mut bytes = std::fs::read(&pack).unwrap();
        let at = bytes.len() / 3;
        bytes[at] ^= 0x55;
        std::fs::write(&pack, &bytes).unwrap();
        // The attacker makes the index agree with the new bytes.
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes))
        };
        a.sql(&format!("UPDATE packs SET sha256 = '{sha}' WHERE pack_id = '{id}'"));
        let f = a.verify();
        assert!(f.iter().any(|x| x["code"] == "A018" && x["object"].as_str().is_some_and(|o| o.contains(&id))), "{}: {f:?}", a.name);
        // Disposal reads the pack against its ingestion event and keeps its records.
        let members = a.with_state(|s| {
            let pack: arkisto::ids::PackId = id.parse().unwrap();
            s.packs[&pack].records.iter().map(|r| r.to_string()).collect::<Vec<_>>()
        });
        let (_, exec) = a.dispose();
        let gone = a.destroyed();
        assert!(members.iter().all(|m| !gone.contains(m)), "{}: a record of the replaced pack was destroyed", a.name);
        for (rec, why) in exec["kept"].as_array().unwrap().iter().map(|k| (k[0].as_str().unwrap(), k[1].as_str().unwrap())) {
            if members.iter().any(|m| m == rec) {
                assert!(why.contains("ingestion event"), "{why}");
            }
        }
        let (code, r) = a.audit();
        assert_eq!(code, 3, "{r:#}");
        assert!(common::audit_found(&r, "AU04", &id), "{}: {r:#}", a.name);
    });
}

#[test]
fn the_fixture_corpus_verifies_clean_on_both_backends() {
    // Zero false alarms: fresh archives of the real documents and generated fixtures of
    // every format verify clean (the 50-archive run is in tests/false_alarms.rs).
    on_both(|pg| {
        let Some(a) = Arch::new(pg) else { return };
        let (code, r) = a.json(&["ingest", root().join("fixtures/batches/valid-small").to_str().unwrap()]);
        assert_eq!(code, 0, "{r}");
        let (code, v) = a.json(&["verify"]);
        assert_eq!(code, 0, "{}: {v}", a.name);
    });
}

#[test]
fn a_forged_plan_and_approval_in_the_index_destroy_nothing() {
    on_both(|pg| {
        let Some((a, _, living)) = archive(pg, 47) else { return };
        let recs = a.records();
        let victims = ids_of(&recs, |r| r["subject"] == living[0].as_str());
        assert!(!victims.is_empty());
        let pack = |id: &str| a.with_state(|s| s.record_pack[&arkisto::ids::RecordId(id.parse().unwrap())].to_string());
        let items: Vec<Value> = victims
            .iter()
            .map(|v| serde_json::json!({"record_id": v, "pack_id": pack(v), "disposal": "2000-01-01", "rule": "fi-patient-default"}))
            .collect();
        let items = serde_json::to_string(&items).unwrap().replace('\'', "''");
        a.sql(&format!(
            "INSERT INTO disposal_plans (plan_id, as_of, planned_by, planned_at, approved_by, approved_at, executed_at, items_json) \
             VALUES ('plan-forged', '2026-01-01', 'mallory', '2026-01-01T00:00:00Z', 'mallory2', '2026-01-01T00:00:00Z', NULL, '{items}')"
        ));
        a.sql(&format!("UPDATE records SET disposal = '2000-01-01' WHERE subject_value = '{}'", living[0]));
        let f = a.verify();
        assert!(f.iter().any(|x| x["code"] == "A017" && x["object"] == "plan-forged"), "{}: {f:?}", a.name);
        let (code, r) = a.json(&["dispose", "execute", "plan-forged", "--actor", "mallory"]);
        assert_ne!(code, 0, "{}: a plan only the index holds is refused: {r}", a.name);
        assert!(a.destroyed().is_empty(), "{}: nothing destroyed", a.name);
        a.audit_clean();
    });
}

#[test]
fn damaged_truncated_and_missing_packs_are_found_on_both_backends() {
    on_both(|pg| {
        let Some((a, _, _)) = archive(pg, 48) else { return };
        let year = std::fs::read_dir(a.env.data().join("store/packs")).unwrap().next().unwrap().unwrap().path();
        let mut packs: Vec<_> = std::fs::read_dir(&year).unwrap().map(|e| e.unwrap().path()).collect();
        packs.sort();
        assert!(packs.len() >= 3, "small packs: {}", packs.len());
        common::damage_packs(&packs);
        let f = a.verify();
        let has = |code: &str, p: &std::path::Path| {
            let id = p.file_stem().unwrap().to_str().unwrap();
            f.iter().any(|x| x["code"] == code && x["object"].as_str().is_some_and(|o| o.contains(id)))
        };
        assert!(has("A001", &packs[2]), "{}: missing pack: {f:?}", a.name);
        assert!(has("A002", &packs[1]), "{}: truncated pack: {f:?}", a.name);
        assert!(has("A007", &packs[0]) || has("A004", &packs[0]) || has("A005", &packs[0]), "{}: flipped byte: {f:?}", a.name);
        assert!(has("A018", &packs[0]), "{}: the flipped pack no longer matches its ingestion event: {f:?}", a.name);
        let (code, r) = a.audit();
        assert_eq!(code, 3, "{r:#}");
        for p in &packs[..3] {
            let id = p.file_stem().unwrap().to_str().unwrap();
            assert!(common::audit_found(&r, "AU04", id), "{}: {id}: {r:#}", a.name);
        }
    });
}
