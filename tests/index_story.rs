//! One story, two index backends: the embedded SQLite index and PostgreSQL (a fresh database
//! per run on 127.0.0.1:5432, or ARKISTO_TEST_PG_URL). Every answer must be the same, free
//! text included: both index the terms of arkisto's own Finnish/Swedish analyzer.

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
        v["hits"].as_array().map(|a| a.iter().filter_map(|h| h["record_id"].as_str().map(String::from)).collect()).unwrap_or_default();
    out.sort();
    out
}

/// Every kind of text query, by relevance (total and records) and by date (the order). Both
/// backends index the same analysed terms, so the totals and the records are the same (the
/// order by relevance is each backend's own: bm25 or ts_rank_cd; by date it is the same).
fn text_answers(ask: &dyn Fn(&[&str]) -> serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for t in [
        "päänsärky",
        "lääkemääräys",
        "lääkemääräyksen",
        "lääkitys",
        "undersökning",
        "åtgärd",
        "apuväline",
        "\"ihon alle\"",
        "\"alle ihon\"",
        "\"iho alle\"",
        "ihon alle",
        "lääki*",
        "lääki* päänsärky",
        "lääkemääräys lääkitys",
        "qqxqzz*",
    ] {
        let r = ask(&["--text", t]);
        out.push((format!("text {t}: total"), r["total"].clone()));
        out.push((format!("text {t}: records"), serde_json::json!(ids(&r))));
        let d = ask(&["--text", t, "--sort", "date"]);
        let order: Vec<&str> = d["hits"].as_array().unwrap().iter().map(|h| h["record_id"].as_str().unwrap()).collect();
        out.push((format!("text {t}: by date"), serde_json::json!(order)));
    }
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
    if let Some(set) = all["hits"].as_array().and_then(|a| a.iter().find_map(|h| h["set_id"].as_str().map(String::from))) {
        let chain: Vec<String> = ask(&["--set-id", &set])["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["record_id"].as_str().unwrap_or("").to_string())
            .collect();
        assert!(!chain.is_empty());
        note("set chain", serde_json::json!(chain));
    }
    // Every kind of text query, by relevance and by date (the same on both backends, and
    // the same after the rebuild below).
    let texts = text_answers(&ask);
    for (what, v) in &texts {
        note(what, v.clone());
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
    assert_eq!(text_answers(&ask), texts, "{}: rebuild changed the text answers", b.name);
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
    // What the answers say (the same on both backends, compared above).
    let total = |t: &str| {
        let v = sqlite.json(&["search", "--text", t, "--purpose", "story", "--limit", "1"]).1;
        v["total"].as_u64().unwrap_or_else(|| panic!("{v}"))
    };
    let run = |t: &str| ids(&sqlite.json(&["search", "--text", t, "--purpose", "story", "--limit", "1000"]).1);
    for word in ["päänsärky", "lääkitys", "undersökning", "åtgärd", "apuväline"] {
        assert!(total(word) > 0, "ä, ö and å survive: {word}");
    }
    // An inflected form and the base form a person types find the same records.
    assert!(total("lääkemääräys") > 0);
    assert_eq!(run("lääkemääräys"), run("lääkemääräyksen"), "consonant gradation (libvoikko)");
    // A phrase matches the words in order only, in any of their forms ("ihon alle": under
    // the skin, in the Klexane prescription).
    let phrase = total("\"ihon alle\"");
    assert!(phrase > 0 && phrase <= total("ihon alle"));
    assert_eq!(total("\"alle ihon\""), 0, "a phrase in the wrong order");
    assert_eq!(total("\"iho alle\""), phrase, "a phrase typed in base forms");
    // A prefix finds every word it starts; two clauses in either order find the same.
    let s = run("lääki*");
    assert!(run("lääkitys").iter().all(|i| s.contains(i)), "lääkitys's hits are among lääki*'s");
    assert_eq!(run("lääki* päänsärky"), run("päänsärky lääki*"));
    assert!(run("qqxqzz*").is_empty(), "a prefix of no indexed word matches nothing");
    assert!(run("lääki* qqxqzz*").is_empty());
}

/// Every page of a query, walked with `next` (and the first page's JSON).
fn pages(b: &Backend, q: &[&str]) -> (serde_json::Value, Vec<Vec<String>>) {
    let mut all = Vec::new();
    let mut page = 1u64;
    let mut first = serde_json::Value::Null;
    loop {
        let p = page.to_string();
        let mut a = vec!["search"];
        a.extend_from_slice(q);
        a.extend(["--limit", "50", "--page", &p, "--purpose", "paging test"]);
        let (code, v) = b.json(&a);
        assert_eq!(code, 0, "{}: {v}", b.name);
        assert_eq!(v["page"].as_u64(), Some(page), "{v}");
        let ids: Vec<String> = v["hits"].as_array().unwrap().iter().map(|h| h["record_id"].as_str().unwrap().to_string()).collect();
        all.push(ids);
        if page == 1 {
            first = v.clone();
        }
        match v["next"].as_u64() {
            Some(n) => {
                assert_eq!(n, page + 1);
                page = n;
            }
            None => return (first, all),
        }
    }
}

#[test]
fn every_hit_is_counted_and_paged_in_a_stable_order_on_both_backends() {
    let Some(url) = fresh_pg() else { return };
    let sqlite = Backend { name: "sqlite", env: Env::new(), vars: vec![] };
    let pg = Backend {
        name: "postgres",
        env: Env::new(),
        vars: vec![("ARKISTO__INDEX__KIND".into(), "postgres".into()), ("ARKISTO__INDEX__URL".into(), url)],
    };
    let _drop = DropDb(pg.vars[1].1.clone());
    let batch = sqlite.env.path("batch");
    let o = sqlite.env.run(&["fixtures", "generate", "--records", "130", "--seed", "5", "--out", batch.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let queries: Vec<Vec<&str>> = vec![
        vec!["--from", "1900-01-01"],
        vec!["--text", "kuume"],
        vec!["--text", "kuume", "--sort", "date"],
        vec!["--text", "\"verenpaine mitattu\""],
        vec!["--text", "lääk*"],
    ];
    let mut answers = Vec::new();
    for b in [&sqlite, &pg] {
        let (code, r) = b.json(&["ingest", batch.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {}", b.name, r["counts"]);
        let mut before = Vec::new();
        for q in &queries {
            let (first, walked) = pages(b, q);
            let total = first["total"].as_u64().unwrap();
            let flat: Vec<&String> = walked.iter().flatten().collect();
            assert!(total > if q.contains(&"--from") || q.contains(&"kuume") { 50 } else { 0 }, "{}: {q:?}: {total}", b.name);
            assert_eq!(flat.len() as u64, total, "{}: {q:?}: the pages hold every hit, once", b.name);
            let unique: std::collections::BTreeSet<_> = flat.iter().collect();
            assert_eq!(unique.len(), flat.len(), "{}: {q:?}: no hit on two pages", b.name);
            assert!(walked[..walked.len() - 1].iter().all(|p| p.len() == 50));
            before.push(walked);
        }
        // A metadata search is in created order, then record id.
        let (_, all) = b.json(&["search", "--from", "1900-01-01", "--limit", "1000", "--purpose", "paging test"]);
        let keys: Vec<(String, String)> = all["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["created"].as_str().unwrap().to_string(), h["record_id"].as_str().unwrap().to_string()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{}: created, then record id", b.name);
        assert_eq!(all["sort"], "date");
        // The text output says how many there are and what comes next.
        let v: Vec<(&str, &str)> = b.vars.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let o = b.env.run_env(&["search", "--text", "kuume", "--purpose", "paging test"], &v);
        let text = String::from_utf8_lossy(&o.stdout);
        let total = before[1].iter().flatten().count();
        assert!(text.contains(&format!("50 of {total} records (next: --page 2)")), "{}: {text}", b.name);
        let o = b.env.run_env(&["search", "--text", "kuume", "--page", "2", "--purpose", "paging test"], &v);
        assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("records 51–100 of {total}")));
        // A person's records are all listed by default.
        let subject = all["hits"][0]["subject"].as_str().unwrap().to_string();
        let (_, person) = b.json(&["search", "--subject", &subject, "--purpose", "paging test"]);
        assert_eq!(person["hits"].as_array().unwrap().len() as u64, person["total"].as_u64().unwrap());
        assert_eq!(person["next"], serde_json::Value::Null);
        // Rebuild: row ids change, the pages do not.
        let (code, r) = b.json(&["index", "rebuild"]);
        assert_eq!(code, 0, "{}: {r}", b.name);
        for (q, was) in queries.iter().zip(&before) {
            assert_eq!(&pages(b, q).1, was, "{}: {q:?}: the same pages after rebuild", b.name);
        }
        answers.push(before);
    }
    // Both backends: the same pages by date; the same records by relevance.
    for (i, q) in queries.iter().enumerate() {
        let (s, p) = (&answers[0][i], &answers[1][i]);
        if q.contains(&"--text") && !q.contains(&"date") {
            let set = |x: &Vec<Vec<String>>| x.iter().flatten().cloned().collect::<std::collections::BTreeSet<_>>();
            assert_eq!(set(s), set(p), "{q:?}: the same records on both backends");
        } else {
            assert_eq!(s, p, "{q:?}: the same pages on both backends");
        }
    }
}
