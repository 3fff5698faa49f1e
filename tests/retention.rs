//! Retention and disposal, end to end: facts arriving later, holds, plan → approve → execute,
//! tombstones, and crash safety of execute.

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const SMALL_PACKS: [(&str, &str); 1] = [("ARKISTO__PACK__TARGET_SIZE_MIB", "1")];

/// An archive of `n` generated records, and the distinct subjects in it.
fn archive_with(n: u32, seed: u32) -> (Env, std::path::PathBuf, Vec<String>) {
    let env = Env::new();
    let b = env.path("batch");
    assert!(
        env.run(&["fixtures", "generate", "--records", &n.to_string(), "--seed", &seed.to_string(), "--out", b.to_str().unwrap()])
            .status
            .success()
    );
    let o = env.run_env(&["ingest", b.to_str().unwrap()], &SMALL_PACKS);
    assert!(o.status.success());
    let (_, hits) = env.json(&["search", "--from", "1800-01-01", "--limit", "100000", "--purpose", "test setup"]);
    let hits = hits["hits"].clone();
    let mut subjects: Vec<String> = hits.as_array().unwrap().iter().filter_map(|h| h["subject"].as_str().map(String::from)).collect();
    subjects.sort();
    subjects.dedup();
    (env, b, subjects)
}

fn deaths(env: &Env, name: &str, subjects: &[String], date: &str) -> std::path::PathBuf {
    let p = env.path(name);
    let mut s = "subject_id,death_date\n".to_string();
    for x in subjects {
        s += &format!("{x},{date}\n");
    }
    std::fs::write(&p, s).unwrap();
    p
}

fn indexed(env: &Env) -> HashSet<String> {
    let (_, hits) = env.json(&["search", "--from", "1800-01-01", "--limit", "100000", "--purpose", "test check"]);
    let hits = hits["hits"].clone();
    hits.as_array().unwrap().iter().map(|h| h["record_id"].as_str().unwrap().to_string()).collect()
}

fn tombstoned(env: &Env) -> Vec<serde_json::Value> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = env.archive().await;
        a.index.events().await.unwrap().into_iter().filter(|e| e.event_type == "deletion").map(|e| e.detail).collect()
    })
}

#[test]
fn facts_import_reevaluates_the_subjects_records_and_logs_the_change() {
    let (env, _, subjects) = archive_with(80, 31);
    let file = deaths(&env, "deaths.csv", &subjects[..5], "2003-02-03");
    let (code, r) = env.json(&["facts", "import", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["subjects"], 5);
    assert!(r["records_changed"].as_u64().unwrap() > 0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let events = rt.block_on(async { env.archive().await.index.events().await.unwrap() });
    assert_eq!(events.iter().filter(|e| e.event_type == "fact recorded").count(), 5);
    assert!(events.iter().any(|e| e.event_type == "retention re-evaluation"));
    // Importing the same facts again changes nothing.
    let (_, again) = env.json(&["facts", "import", file.to_str().unwrap()]);
    assert_eq!(again["subjects"], 0);
    // explain shows the death date at work.
    let (_, hits) = env.json(&["search", "--subject", &subjects[0], "--purpose", "t"]);
    let hits = hits["hits"].clone();
    let id = hits[0]["record_id"].as_str().unwrap();
    let (_, e) = env.json(&["retention", "explain", id, "--purpose", "t"]);
    let why = e["why"].to_string();
    assert!(
        why.contains("2003-02-03") || why.contains("born on day 18") || why.contains("born on day 28") || why.contains("before 1999-05-01"),
        "{e}"
    );
    assert_eq!(e["changed"], false, "the stored decision is the re-evaluated one: {e}");
}

#[test]
fn a_bad_facts_file_is_refused_whole_with_line_numbers() {
    let (env, _, subjects) = archive_with(20, 32);
    let p = env.path("bad.csv");
    std::fs::write(
        &p,
        format!("subject_id,death_date\n{},2001-01-01\n{},01.02.2003\n{},2999-01-01\n", subjects[0], subjects[1], subjects[2]),
    )
    .unwrap();
    let o = env.run(&["facts", "import", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 3") && err.contains("line 4"), "{err}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(rt.block_on(async { env.archive().await.index.facts().await.unwrap() }).is_empty(), "nothing imported");
}

#[test]
fn disposal_destroys_only_what_is_due_unheld_and_dated_after_approval_by_another_person() {
    let (env, _, subjects) = archive_with(300, 33);
    let file = deaths(&env, "deaths.csv", &subjects[..30], "2001-06-30");
    env.json(&["facts", "import", file.to_str().unwrap()]);
    let held_subject = subjects[1].clone();
    let (code, _) = env.json(&["hold", "add", "--subject", &held_subject, "--reason", "complaint 2026/7", "--actor", "lawyer"]);
    assert_eq!(code, 0);
    let before = indexed(&env);
    let (_, due) = env.json(&["retention", "due"]);
    let due_ids: HashSet<String> = due
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["due"].as_array().unwrap().iter().map(|d| d["record_id"].as_str().unwrap().to_string()))
        .collect();
    assert!(!due_ids.is_empty());

    let (_, plan) = env.json(&["dispose", "plan", "--actor", "alice"]);
    let plan_id = plan["plan_id"].as_str().unwrap().to_string();
    assert_eq!(env.run(&["dispose", "execute", &plan_id, "--actor", "alice"]).status.code(), Some(1), "not approved yet");
    assert_eq!(env.run(&["dispose", "approve", &plan_id, "--actor", "alice"]).status.code(), Some(1), "the planner cannot approve");
    assert!(env.run(&["dispose", "approve", &plan_id, "--actor", "bob"]).status.success());
    // A hold placed after approval still protects.
    let late_held = plan["items"][0]["record_id"].as_str().unwrap().to_string();
    env.json(&["hold", "add", "--record", &late_held, "--reason", "records request", "--actor", "lawyer"]);
    let (code, r) = env.json(&["dispose", "execute", &plan_id, "--actor", "carol"]);
    assert_eq!(code, 0, "{r}");
    assert!(r["disposed"].as_u64().unwrap() > 0);

    let after = indexed(&env);
    let tombs = tombstoned(&env);
    let today = chrono::Utc::now().date_naive();
    for t in &tombs {
        let id = t["record_id"].as_str().unwrap();
        assert!(!after.contains(id), "a destroyed record is not indexed");
        let date: chrono::NaiveDate = t["disposal"].as_str().unwrap().parse().expect("only dated records are destroyed");
        assert!(date <= today, "nothing before its date");
        assert_ne!(id, late_held, "held records are never destroyed");
        assert!(due_ids.contains(id));
        assert_eq!((t["planned_by"].as_str(), t["approved_by"].as_str()), (Some("alice"), Some("bob")));
        assert!(t["stored_sha256"].as_str().is_some() && t["rule"].as_str().is_some());
    }
    assert!(after.contains(&late_held));
    // No record of the held subject was destroyed, and every survivor is still there.
    let (_, held_hits) = env.json(&["search", "--subject", &held_subject, "--purpose", "t"]);
    let held_hits = held_hits["hits"].clone();
    let held_before: usize = before.len() - after.len();
    assert_eq!(held_before, tombs.len());
    assert!(!held_hits.as_array().unwrap().is_empty());
    assert_eq!(after.len() + tombs.len(), before.len(), "no survivor lost");
    // Survivors come back byte-identical, also those rewritten by compaction.
    for id in after.iter().take(40) {
        assert!(env.run(&["get", id, "-o", env.path("o").to_str().unwrap(), "--purpose", "t"]).status.success(), "{id}");
    }
    assert_eq!(env.json(&["verify"]).0, 0, "verify is clean after execute");
    // A destroyed record is explained, not "not found".
    let gone = tombs[0]["record_id"].as_str().unwrap();
    let o = env.run(&["get", gone, "--purpose", "t"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("disposed of on") && err.contains(&plan_id) && err.contains("approved by bob") && err.contains("fi-patient"),
        "{err}"
    );
    // The index rebuilt from the store agrees.
    for f in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        let _ = std::fs::remove_file(env.data().join(f));
    }
    assert_eq!(env.json(&["index", "rebuild"]).0, 0);
    assert_eq!(indexed(&env), after);
    assert!(String::from_utf8_lossy(&env.run(&["get", gone, "--purpose", "t"]).stderr).contains("disposed of on"));
    let (_, holds) = env.json(&["hold", "list"]);
    assert_eq!(holds.as_array().unwrap().len(), 2, "holds are restored from the ledger");
}

#[test]
fn nothing_permanent_or_undetermined_is_ever_destroyed() {
    let (env, _, subjects) = archive_with(200, 34);
    // Everyone died long ago: only the birthday sample and documents created before 1.5.1999
    // (both permanent) should survive.
    let file = deaths(&env, "deaths.csv", &subjects, "1990-01-01");
    env.json(&["facts", "import", file.to_str().unwrap()]);
    let (_, plan) = env.json(&["dispose", "plan", "--actor", "alice"]);
    let id = plan["plan_id"].as_str().unwrap();
    env.json(&["dispose", "approve", id, "--actor", "bob"]);
    env.json(&["dispose", "execute", id, "--actor", "alice"]);
    let (_, left) = env.json(&["search", "--from", "1800-01-01", "--limit", "100000", "--purpose", "t"]);
    let left = left["hits"].clone();
    let left = left.as_array().unwrap();
    assert!(!left.is_empty(), "the birthday sample is kept");
    for h in left {
        let s = h["subject"].as_str().unwrap();
        let created = h["created"].as_str().unwrap_or("");
        assert!(
            matches!(&s[..2], "18" | "28") || created < "1999-05-01",
            "only permanent records remain, found subject born on day {}, created {created}",
            &s[..2]
        );
    }
    assert_eq!(env.json(&["verify"]).0, 0);
}

fn spawn_execute_and_kill(env: &Env, plan: &str, delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arkisto"))
        .arg("--data-dir")
        .arg(env.data())
        .args(["dispose", "execute", plan, "--actor", "carol"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    child.kill().ok();
    child.wait().unwrap();
    running
}

#[test]
fn kill_9_during_execute_then_rerun_destroys_each_planned_record_once_and_loses_no_survivor() {
    let (env, _, subjects) = archive_with(900, 35);
    let total = indexed(&env).len();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut rng = arkisto::fixtures::Rng::new(seed);
    let mut window = 0.4f64;
    let mut interrupted = 0;
    let mut round = 0;
    let chunk = (subjects.len() / 30).max(1);
    while interrupted < 12 && round < 30 {
        let batch = &subjects[round * chunk..((round + 1) * chunk).min(subjects.len())];
        round += 1;
        let f = deaths(&env, &format!("d{round}.csv"), batch, "1999-09-09");
        env.json(&["facts", "import", f.to_str().unwrap()]);
        let (_, plan) = env.json(&["dispose", "plan", "--actor", "alice"]);
        let id = plan["plan_id"].as_str().unwrap().to_string();
        env.json(&["dispose", "approve", &id, "--actor", "bob"]);
        if spawn_execute_and_kill(&env, &id, Duration::from_secs_f64(window * rng.unit())) {
            interrupted += 1;
        } else {
            window *= 0.7;
        }
        let (code, r) = env.json(&["dispose", "execute", &id, "--actor", "carol"]);
        assert_eq!(code, 0, "re-run completes (seed {seed}): {r}");
        let now = indexed(&env);
        let tombs: HashSet<String> = tombstoned(&env).iter().map(|t| t["record_id"].as_str().unwrap().to_string()).collect();
        assert!(now.is_disjoint(&tombs), "no record both destroyed and indexed (seed {seed}, round {round})");
        assert_eq!(now.len() + tombs.len(), total, "no survivor lost, nothing destroyed twice (seed {seed}, round {round})");
    }
    eprintln!("seed {seed}: {interrupted} of {round} kills interrupted an execute");
    assert!(interrupted >= 10, "at least 10 kills must land mid-execute (seed {seed})");
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 0, "verify clean (seed {seed}): {v}");
    for id in indexed(&env).iter().take(50) {
        assert!(env.run(&["get", id, "-o", env.path("o").to_str().unwrap(), "--purpose", "t"]).status.success());
    }
}
