//! One story, two index backends: the embedded SQLite index and PostgreSQL (a fresh database
//! per run on 127.0.0.1:5432, or ARKISTO_TEST_PG_URL). Every answer must be the same — except
//! free text, where PostgreSQL's Finnish and Swedish stemming may find more (never less).

mod common;

use common::pg::{DropDb, fresh_pg};
use common::{Env, root, shared};

struct Backend {
    name: &'static str,
    env: Env,
    vars: Vec<(String, String)>,
}

impl Backend {
    fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let v: Vec<(&str, &str)> = self.vars.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
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
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> =
        v.as_array().map(|a| a.iter().filter_map(|h| h["record_id"].as_str().map(String::from)).collect()).unwrap_or_default();
    out.sort();
    out
}

/// The story: what a county's IT staff and records officer do in a week.
fn story(b: &Backend) -> Vec<(String, serde_json::Value)> {
    let mut seen = Vec::new();
    let mut note = |what: &str, v: serde_json::Value| seen.push((what.to_string(), v));
    let (code, r) = b.json(&["ingest", root().join("fixtures/batches/valid-small").to_str().unwrap()]);
    assert_eq!(code, 0, "{}: {}", b.name, r["counts"]);
    note("ingest valid-small", r["counts"].clone());
    let (code, r) = b.json(&["ingest", shared().join("cda/kanta-examples").to_str().unwrap()]);
    assert_eq!(code, 3, "{}: {}", b.name, r["counts"]);
    note("ingest kanta", r["counts"].clone());
    // Re-ingest: nothing twice.
    let (_, r) = b.json(&["ingest", shared().join("cda/kanta-examples").to_str().unwrap()]);
    note("re-ingest kanta", r["counts"].clone());

    let ask = |q: &[&str]| {
        let mut a = vec!["search"];
        a.extend_from_slice(q);
        a.extend(["--purpose", "story", "--limit", "500"]);
        b.json(&a).1
    };
    for q in [
        vec!["--subject", "050775-0251"],
        vec!["--from", "1900-01-01"],
        vec!["--source", "kanta-examples"],
        vec!["--from", "2015-01-01", "--to", "2016-12-31"],
    ] {
        let hits = ids(&ask(&q));
        assert!(!hits.is_empty(), "{}: {q:?} finds nothing", b.name);
        note(&format!("search {q:?}"), serde_json::json!(hits));
    }
    // A version chain comes back in version order (not sorted).
    let all = ask(&["--from", "1900-01-01"]);
    if let Some(set) = all.as_array().and_then(|a| a.iter().find_map(|h| h["set_id"].as_str().map(String::from))) {
        let chain: Vec<String> =
            ask(&["--set-id", &set]).as_array().unwrap().iter().map(|h| h["record_id"].as_str().unwrap_or("").to_string()).collect();
        assert!(!chain.is_empty());
        note("set chain", serde_json::json!(chain));
    }
    let (code, v) = b.json(&["verify"]);
    assert_eq!(code, 0, "{}: {v}", b.name);
    note("verify", serde_json::json!({"records": v["records"], "packs": v["packs"]}));
    let (_, runs) = b.json(&["runs"]);
    note("runs", serde_json::json!(runs.as_array().map(|a| a.len())));
    let (_, st) = b.json(&["stats"]);
    note("stats", st);
    // Holds and disposal.
    let (code, h) = b.json(&["hold", "add", "--subject", "050775-0251", "--reason", "complaint 7/2026"]);
    assert_eq!(code, 0, "{}: {h}", b.name);
    let (_, holds) = b.json(&["hold", "list"]);
    note("holds", serde_json::json!(holds.as_array().map(|a| a.len())));
    let facts = b.env.path("deaths.csv");
    std::fs::write(&facts, "subject_id,death_date\n050775-0251,1990-01-01\n").unwrap();
    let (code, f) = b.json(&["facts", "import", facts.to_str().unwrap()]);
    assert_eq!(code, 0, "{}: {f}", b.name);
    note("facts", f);
    let (_, due) = b.json(&["retention", "due"]);
    note("due", due);
    // Access log: every search above was recorded.
    let (_, log) = b.json(&["access-log", "--subject", "050775-0251", "--purpose", "client asked"]);
    note("access log entries", serde_json::json!(log.as_array().map(|a| a.len()).unwrap_or(0) > 0));
    // The index is derived: rebuild from the store, same answers.
    let before = ids(&ask(&["--from", "1900-01-01"]));
    let (code, r) = b.json(&["index", "rebuild"]);
    assert_eq!(code, 0, "{}: {r}", b.name);
    assert_eq!(ids(&ask(&["--from", "1900-01-01"])), before, "{}: rebuild changed the answers", b.name);
    let (_, holds) = b.json(&["hold", "list"]);
    note("holds after rebuild", serde_json::json!(holds.as_array().map(|a| a.len())));
    let (code, v) = b.json(&["verify"]);
    assert_eq!(code, 0, "{}: {v}", b.name);
    seen
}

#[test]
fn the_same_story_gives_the_same_answers_on_sqlite_and_postgres() {
    let Some(url) = fresh_pg() else { return };
    let sqlite = Backend { name: "sqlite", env: Env::new(), vars: vec![] };
    let pg = Backend {
        name: "postgres",
        env: Env::new(),
        vars: vec![("ARKISTO__INDEX__KIND".into(), "postgres".into()), ("ARKISTO__INDEX__URL".into(), url)],
    };
    let _drop = DropDb(pg.vars[1].1.clone());
    let a = story(&sqlite);
    let b = story(&pg);
    assert_eq!(a.len(), b.len());
    for ((what, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(x, y, "{what}: sqlite and postgres differ");
    }
    // Free text: ä, ö and å survive; stemming may find more, never less.
    for word in ["päänsärky", "lääkitys", "undersökning", "åtgärd", "apuväline"] {
        let q = ["search", "--text", word, "--purpose", "story", "--limit", "500"];
        let s = ids(&sqlite.json(&q).1);
        let p = ids(&pg.json(&q).1);
        assert!(!s.is_empty(), "sqlite finds {word}");
        assert!(s.iter().all(|i| p.contains(i)), "{word}: postgres lost hits ({} vs {})", p.len(), s.len());
    }
    // Prefix search (SQLite expands a prefix into the indexed words it stands for): every
    // hit holds a word with the prefix, and each such word's hits are among the prefix's.
    let q = |t: &str| ["search", "--text", t, "--purpose", "story", "--limit", "1000"].map(String::from);
    let run = |b: &Backend, t: &str| ids(&b.json(&q(t).iter().map(String::as_str).collect::<Vec<_>>()).1);
    let p = run(&pg, "lääki*");
    assert!(!p.is_empty(), "prefix search on postgres");
    let s = run(&sqlite, "lääki*");
    assert!(!s.is_empty(), "prefix search on sqlite");
    for word in ["lääkitys", "lääkityksen", "lääkitystä"] {
        let w = run(&sqlite, word);
        assert!(w.iter().all(|i| s.contains(i)), "{word}'s hits are among lääki*'s");
    }
    assert_eq!(run(&sqlite, "lääki* päänsärky").len(), run(&sqlite, "päänsärky lääki*").len());
    assert!(run(&sqlite, "qqxqzz*").is_empty(), "a prefix of no indexed word matches nothing");
    assert!(run(&sqlite, "lääki* qqxqzz*").is_empty());
}
