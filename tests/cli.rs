//! The product's promises, tested through the real binary on the embedded default.

mod common;

use std::process::Command;

use common::*;

fn valid_small() -> std::path::PathBuf {
    root().join("fixtures/batches/valid-small")
}

#[test]
fn re_ingest_archives_nothing_twice() {
    let env = Env::new();
    let (code, first) = env.ingest(&valid_small());
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["counts"]["archived"], 12);
    let (code, second) = env.ingest(&valid_small());
    assert_eq!(code, 0);
    assert_eq!((second["counts"]["archived"].as_u64(), second["counts"]["duplicate"].as_u64()), (Some(0), Some(12)));
    assert!(second["packs"].as_array().unwrap().is_empty());
    // Every input file is accounted for.
    assert_eq!(second["files"].as_array().unwrap().len(), 12);
}

#[test]
fn every_fixture_folder_yields_its_finding_and_nothing_else() {
    let mut seen = Vec::new();
    for e in std::fs::read_dir(root().join("fixtures/invalid")).unwrap() {
        let dir = e.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let code = &name[..4];
        let env = Env::new();
        let (_, r) = env.ingest(&dir);
        let all: Vec<String> = outcomes(&r).into_values().flat_map(|(_, c)| c).collect();
        assert!(all.iter().any(|c| c == code), "{name}: expected {code}, got {all:?}");
        assert!(all.iter().all(|c| c == code), "{name}: only {code} expected, got {all:?}");
        // Nothing else is affected: the good records beside the hostile input are archived.
        assert!(r["counts"]["archived"].as_u64().unwrap() >= 1, "{name}: the good records must still be archived: {r}");
        let severity = arkisto::validate::findings::Code::ALL.iter().find(|c| c.as_str() == code).unwrap().severity();
        let quarantined = r["counts"]["quarantined"].as_u64().unwrap();
        match severity {
            // V004–V007 follow the ingest policies (flag by default); V017 is a warning where a
            // row's subject is missing, an error where a file is referenced by nothing.
            arkisto::validate::findings::Severity::Error if !["V004", "V005", "V006", "V007", "V017"].contains(&code) => {
                assert!(quarantined > 0, "{name} must quarantine")
            }
            _ => {}
        }
        seen.push(code.to_string());
    }
    seen.sort();
    seen.dedup();
    let all: Vec<String> = arkisto::validate::findings::Code::ALL.iter().map(|c| c.as_str().to_string()).collect();
    assert_eq!(seen, all, "one fixture folder per finding code");
}

#[test]
fn strict_policies_quarantine_identifier_and_header_problems() {
    let env = Env::new();
    for (dir, var) in
        [("V005-hetu-check-character", "ARKISTO__INGEST__INVALID_HETU"), ("V004-missing-header", "ARKISTO__INGEST__INCOMPLETE_HEADER")]
    {
        let p = root().join("fixtures/invalid").join(dir);
        let o = env.run_env(&["--json", "ingest", p.to_str().unwrap()], &[(var, "quarantine")]);
        assert_eq!(o.status.code(), Some(3), "{dir}");
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["counts"]["quarantined"], 1, "{dir}");
    }
}

#[test]
fn search_show_and_get_need_a_purpose_and_are_logged() {
    let env = Env::new();
    env.ingest(&valid_small());
    let o = env.run(&["search", "--text", "potilas"]);
    assert_eq!(o.status.code(), Some(2), "missing --purpose is a usage error");
    let o = env.run(&["search", "--text", "potilas", "--purpose", "  "]);
    assert_eq!(o.status.code(), Some(2), "blank purpose is refused");

    let (_, hits) = env.json(&["search", "--text", "päänsärky", "--purpose", "client request 2026/17", "--actor", "kirjaaja"]);
    let hits = hits["hits"].clone();
    let hits = hits.as_array().unwrap().clone();
    assert!(!hits.is_empty(), "ä survives tokenising");
    let subject = hits[0]["subject"].as_str().unwrap().to_string();
    let (_, by_subject) = env.json(&["search", "--subject", &subject, "--purpose", "client request"]);
    let by_subject = by_subject["hits"].clone();
    assert!(by_subject.as_array().unwrap().iter().all(|h| h["subject"] == subject.as_str()));
    let id = hits[0]["record_id"].as_str().unwrap();
    let (code, shown) = env.json(&["show", &id[..12], "--purpose", "check"]);
    assert_eq!(code, 0);
    assert_eq!(shown["meta"]["record_id"], id);
    let out = env.path("doc.xml");
    let o = env.run(&["get", id, "-o", out.to_str().unwrap(), "--purpose", "disclosure to client", "--actor", "kirjaaja"]);
    assert!(o.status.success());
    assert_eq!(arkisto::digest::Sha256::of(&std::fs::read(&out).unwrap()).to_hex(), id);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let events = rt.block_on(async { env.archive().await.index.events().await.unwrap() });
    let access: Vec<_> = events.iter().filter(|e| e.event_type == "access" || e.event_type == "dissemination").collect();
    assert_eq!(access.len(), 4, "two searches, one show, one get");
    let get = access.iter().find(|e| e.event_type == "dissemination").unwrap();
    assert_eq!((get.actor.as_str(), get.purpose.as_deref(), get.object.as_str()), ("kirjaaja", Some("disclosure to client"), id));
    assert!(events.iter().all(|e| !e.detail.to_string().contains("Potilas kertoo")), "no content in the ledger");
    assert!(arkisto::ledger::check_chain(&events).is_none());
}

#[test]
fn set_id_search_returns_the_version_chain_in_order() {
    let env = Env::new();
    let batch = env.path("batch");
    let o = env.run(&["fixtures", "generate", "--records", "120", "--seed", "5", "--out", batch.to_str().unwrap()]);
    assert!(o.status.success());
    env.ingest(&batch);
    // Find a chain with more than one version.
    let (_, all) = env.json(&["search", "--from", "1900-01-01", "--limit", "1000", "--purpose", "test"]);
    let all = all["hits"].clone();
    let chained = all.as_array().unwrap().iter().find(|h| h["version"].as_i64() > Some(1)).expect("generator makes version chains");
    let set = chained["set_id"].as_str().unwrap();
    let (_, chain) = env.json(&["search", "--set-id", set, "--purpose", "test"]);
    let chain = chain["hits"].clone();
    let versions: Vec<i64> = chain.as_array().unwrap().iter().map(|h| h["version"].as_i64().unwrap()).collect();
    assert!(versions.len() >= 2);
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    // Date range is inclusive and filters.
    let created = chained["created"].as_str().unwrap()[..10].to_string();
    let (_, day) = env.json(&["search", "--from", &created, "--to", &created, "--purpose", "test"]);
    let day = day["hits"].clone();
    assert!(day.as_array().unwrap().iter().any(|h| h["record_id"] == chained["record_id"]));
    assert!(day.as_array().unwrap().iter().all(|h| h["created"].as_str().unwrap().starts_with(&created)));
}

#[test]
fn a_pack_decodes_with_plain_zstd_to_the_records_bytes() {
    let env = Env::new();
    let (_, r) = env.ingest(&valid_small());
    let packs = walk_packs(&env);
    assert!(!packs.is_empty());
    let mut decoded = Vec::new();
    for p in &packs {
        let o =
            Command::new("zstd").args(["-d", "-c", "-q"]).arg(p).output().expect("zstd(1) must be installed (infra/test.sh installs it)");
        assert!(o.status.success(), "zstd -d failed: {}", String::from_utf8_lossy(&o.stderr));
        decoded.extend(o.stdout);
    }
    let mut originals = Vec::new();
    for f in r["files"].as_array().unwrap().iter().filter(|f| !f["path"].as_str().unwrap().ends_with("#nonXMLBody")) {
        originals.push(std::fs::read(valid_small().join(f["path"].as_str().unwrap())).unwrap());
    }
    // The inputs' bytes, and the embedded PDF decoded as a record of its own.
    assert_eq!(decoded.len(), originals.iter().map(Vec::len).sum::<usize>() + embedded_len(&env, &r));
    for o in &originals {
        assert!(decoded.windows(o.len()).any(|w| w == o.as_slice()), "a record's bytes are missing from zstd -d output");
    }
}

fn walk_packs(env: &Env) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let root = env.data().join("store/packs");
    for y in std::fs::read_dir(root).unwrap() {
        for p in std::fs::read_dir(y.unwrap().path()).unwrap() {
            out.push(p.unwrap().path());
        }
    }
    out.sort();
    out
}

#[test]
fn index_rebuild_from_the_store_gives_the_same_answers() {
    let env = Env::new();
    env.ingest(&valid_small());
    env.ingest(&shared().join("cda/kanta-examples"));
    let queries: Vec<Vec<&str>> = vec![
        vec!["--text", "päänsärky"],
        vec!["--text", "lääkemääräyksen"],
        vec!["--subject", "050775-0251"],
        vec!["--from", "1900-01-01", "--limit", "500"],
        vec!["--source", "kanta-examples"],
    ];
    let ask = |q: &Vec<&str>| {
        let mut a = vec!["search"];
        a.extend(q);
        a.extend(["--purpose", "rebuild test"]);
        env.json(&a).1
    };
    let before: Vec<_> = queries.iter().map(ask).collect();
    let (_, runs_before) = env.json(&["runs"]);
    std::fs::remove_file(env.data().join("index.sqlite")).unwrap();
    let _ = std::fs::remove_file(env.data().join("index.sqlite-wal"));
    let _ = std::fs::remove_file(env.data().join("index.sqlite-shm"));
    let (code, rep) = env.json(&["index", "rebuild"]);
    assert_eq!(code, 0, "{rep}");
    // 42 documents and the PDF one of them embeds.
    assert_eq!(rep["records"], 43);
    let after: Vec<_> = queries.iter().map(ask).collect();
    assert_eq!(before, after);
    let (_, runs_after) = env.json(&["runs"]);
    assert_eq!(runs_before, runs_after, "runs are replayed from the ledger");
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn verify_finds_flipped_truncated_and_missing_packs_and_names_the_records() {
    for damage in ["flip", "truncate", "delete"] {
        let env = Env::new();
        env.ingest(&valid_small());
        let (code, _) = env.json(&["verify"]);
        assert_eq!(code, 0);
        let pack = walk_packs(&env).into_iter().next().unwrap();
        let mut bytes = std::fs::read(&pack).unwrap();
        let expect = match damage {
            "flip" => {
                let mid = bytes.len() / 3;
                bytes[mid] ^= 0x01;
                std::fs::write(&pack, &bytes).unwrap();
                vec!["A007", "A004", "A005"]
            }
            "truncate" => {
                std::fs::write(&pack, &bytes[..bytes.len() - 100]).unwrap();
                vec!["A002"]
            }
            _ => {
                std::fs::remove_file(&pack).unwrap();
                vec!["A001"]
            }
        };
        let (code, v) = env.json(&["verify"]);
        assert_eq!(code, 3, "{damage}: {v}");
        let codes: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
        assert!(codes.iter().any(|c| expect.contains(c)), "{damage}: {codes:?}");
        let named: usize = v["findings"].as_array().unwrap().iter().map(|f| f["records"].as_array().map_or(0, |r| r.len())).sum();
        assert!(named > 0, "{damage}: findings must name the affected records: {v}");
        if damage == "flip" {
            // A damaged record is never handed out.
            let rec =
                v["findings"].as_array().unwrap().iter().find_map(|f| f["records"].as_array().and_then(|r| r.first()).cloned()).unwrap();
            let o = env.run(&["get", rec.as_str().unwrap(), "--purpose", "test"]);
            assert_eq!(o.status.code(), Some(1));
            assert!(String::from_utf8_lossy(&o.stderr).contains("failed verification"));
            assert!(o.stdout.is_empty(), "nothing unverified reaches stdout");
            let out = env.path("damaged.out");
            let o = env.run(&["get", rec.as_str().unwrap(), "-o", out.to_str().unwrap(), "--purpose", "test"]);
            assert_eq!(o.status.code(), Some(1));
            assert!(!out.exists(), "no file is written for a damaged record");
            let left: Vec<_> = std::fs::read_dir(env.path(""))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains("arkisto-tmp"))
                .collect();
            assert!(left.is_empty(), "the temp file is removed");
        }
    }
}

#[test]
fn verify_finds_an_index_row_pointing_at_a_record_the_pack_does_not_hold() {
    let env = Env::new();
    env.ingest(&valid_small());
    env.tamper_index("UPDATE records SET data_offset = data_offset + 1 WHERE id = (SELECT min(id) FROM records)");
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 3);
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["code"] == "A006" && f["records"].as_array().unwrap().len() == 1), "{v}");
}

#[test]
fn verify_detects_a_deleted_ledger_segment() {
    let env = Env::new();
    env.ingest(&valid_small());
    let dir = env.data().join("store/ledger");
    let first = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    std::fs::remove_file(&first).unwrap();
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 3);
    assert!(
        v["findings"].as_array().unwrap().iter().any(|f| f["code"] == "A010" && f["message"].as_str().unwrap().contains("missing")),
        "{v}"
    );
}

#[test]
fn verify_detects_an_edited_ledger() {
    let env = Env::new();
    env.ingest(&valid_small());
    env.tamper_index("UPDATE ledger SET actor = 'mallory' WHERE seq = 1");
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 3);
    let codes: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"A009") && codes.contains(&"A010"), "{codes:?}");
}

#[test]
fn a_bag_is_ingested_and_a_tampered_file_is_quarantined_alone() {
    let env = Env::new();
    let bag = env.path("bag");
    copy_dir(&valid_small(), &bag.join("data"));
    let mut manifest = String::new();
    let mut total = 0;
    let mut names: Vec<_> =
        std::fs::read_dir(bag.join("data")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for n in &names {
        let b = std::fs::read(bag.join("data").join(n)).unwrap();
        total += b.len();
        manifest += &format!("{}  data/{n}\n", arkisto::digest::Sha256::of(&b));
    }
    std::fs::write(bag.join("bagit.txt"), "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n").unwrap();
    std::fs::write(bag.join("manifest-sha256.txt"), &manifest).unwrap();
    std::fs::write(bag.join("bag-info.txt"), format!("Payload-Oxum: {total}.{}\n", names.len())).unwrap();
    let (code, r) = env.ingest(&bag);
    // 12 documents, and the PDF embedded in one of them as a record of its own.
    assert_eq!((code, r["counts"]["archived"].as_u64(), r["counts"]["embedded"].as_u64()), (0, Some(12), Some(1)), "{r}");
    assert!(r["files"][0]["path"].as_str().unwrap().starts_with("data/"));

    // A file changed after the bag was made: that file (and the Payload-Oxum that no longer
    // adds up) gets V020 and stays in quarantine; the files the manifest proves intact are
    // archived.
    let env2 = Env::new();
    std::fs::write(bag.join("data").join(&names[0]), b"<tampered/>").unwrap();
    let (code, r) = env2.ingest(&bag);
    assert_eq!((code, r["status"].as_str()), (3, Some("completed-with-findings")), "{r}");
    let out = outcomes(&r);
    assert_eq!(out[&format!("data/{}", names[0])], ("quarantined".to_string(), vec!["V020".to_string()]));
    assert_eq!(out["bag-info.txt"], ("quarantined".to_string(), vec!["V020".to_string()]));
    assert_eq!((r["counts"]["archived"].as_u64(), r["counts"]["embedded"].as_u64()), (Some(11), Some(1)), "{r}");
    let kept = env2.data().join("quarantine").join(r["run_id"].as_str().unwrap()).join("files/data").join(&names[0]);
    assert_eq!(std::fs::read(kept).unwrap(), b"<tampered/>", "the file as it arrived is kept");

    // A bag whose structure is wrong is still refused whole.
    let env3 = Env::new();
    std::fs::write(bag.join("bagit.txt"), "BagIt-Version: 9.9\nTag-File-Character-Encoding: UTF-8\n").unwrap();
    let (code, r) = env3.ingest(&bag);
    assert_eq!((code, r["status"].as_str()), (1, Some("refused")), "{r}");
    let (_, hits) = env3.json(&["search", "--from", "1900-01-01", "--purpose", "t"]);
    let hits = hits["hits"].clone();
    assert!(hits.as_array().unwrap().is_empty(), "nothing from a refused bag is archived");
}

#[test]
fn config_errors_exit_2_and_name_the_key() {
    let env = Env::new();
    let o = env.run_env(&["config", "show"], &[("ARKISTO__PACK__NO_SUCH_KEY", "1")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no_such_key"));
    let o = env.run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn two_ingests_at_once_on_one_archive_both_complete() {
    let env = Env::new();
    let (a, b) = (env.path("a"), env.path("b"));
    for (dir, seed) in [(&a, "61"), (&b, "62")] {
        assert!(env.run(&["fixtures", "generate", "--records", "200", "--seed", seed, "--out", dir.to_str().unwrap()]).status.success());
    }
    let spawn = |dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_arkisto"))
            .arg("--data-dir")
            .arg(env.data())
            .args(["--json", "ingest", dir.to_str().unwrap()])
            .env("ARKISTO__PACK__TARGET_SIZE_MIB", "1")
            .output()
            .unwrap()
    };
    // B starts while A is mid-run (A's temp packs exist): B must not take them for leftovers.
    let tmp = env.data().join("tmp");
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| spawn(&a));
        let t0 = std::time::Instant::now();
        while !std::fs::read_dir(&tmp).is_ok_and(|mut d| d.next().is_some()) && t0.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let hb = s.spawn(|| spawn(&b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let mut want = 0;
    for r in [&ra, &rb] {
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        assert_eq!(v["counts"]["archived"], 200);
        want += stored(&v);
    }
    assert!(want > 400, "generated batches embed PDFs");
    let (code, v) = env.json(&["verify"]);
    assert_eq!((code, v["records"].as_u64()), (0, Some(want)), "{v}");
}

#[test]
fn access_log_tells_a_client_who_used_their_data_and_why() {
    let env = Env::new();
    env.ingest(&valid_small());
    let (_, hits) =
        env.json(&["search", "--text", "potilas", "--sort", "date", "--limit", "1", "--purpose", "selvitys", "--actor", "hoitaja"]);
    let hits = hits["hits"].clone();
    let subject = hits[0]["subject"].as_str().unwrap().to_string();
    let id = hits[0]["record_id"].as_str().unwrap().to_string();
    env.json(&["get", &id, "-o", env.path("x").to_str().unwrap(), "--purpose", "luovutus", "--actor", "kirjaaja"]);
    env.json(&["search", "--subject", &subject, "--purpose", "tietopyyntö", "--actor", "kirjaaja"]);
    let (code, log) = env.json(&["access-log", "--subject", &subject, "--purpose", "asiakkaan tarkastuspyyntö", "--actor", "tietosuoja"]);
    assert_eq!(code, 0);
    let log = log.as_array().unwrap();
    let who: Vec<(&str, &str)> = log.iter().map(|e| (e["actor"].as_str().unwrap(), e["purpose"].as_str().unwrap())).collect();
    assert!(
        who.contains(&("hoitaja", "selvitys")) && who.contains(&("kirjaaja", "luovutus")) && who.contains(&("kirjaaja", "tietopyyntö")),
        "{who:?}"
    );
    assert!(log.iter().any(|e| e["kind"] == "dissemination" && e["records"][0] == id.as_str()));
    // Reading the log is itself logged, and another subject's log does not show these.
    let (_, again) = env.json(&["access-log", "--subject", "010181-900C", "--purpose", "t"]);
    assert!(again.as_array().unwrap().is_empty());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let events = rt.block_on(async { env.archive().await.index.events().await.unwrap() });
    assert!(events.iter().any(|e| e.actor == "tietosuoja" && e.detail["action"] == "access log"));
}

#[test]
fn a_single_file_is_a_batch_of_one() {
    let env = Env::new();
    let file = valid_small().join("doc-000003.xml");
    let (code, r) = env.ingest(&file);
    assert_eq!(code, 0, "{r}");
    assert_eq!((r["counts"]["files"].as_u64(), r["counts"]["archived"].as_u64()), (Some(1), Some(1)));
    assert_eq!(r["files"][0]["path"], "doc-000003.xml");
    assert_eq!(r["source"], "valid-small", "the source defaults to the file's folder");
    let id = r["files"][0]["record_id"].as_str().unwrap();
    let out = env.path("back.xml");
    assert!(env.run(&["get", id, "-o", out.to_str().unwrap(), "--purpose", "t"]).status.success());
    assert_eq!(std::fs::read(out).unwrap(), std::fs::read(&file).unwrap());
}

#[test]
fn a_bag_that_asks_to_fetch_remote_files_is_refused() {
    let env = Env::new();
    let bag = env.path("bag");
    copy_dir(&shared().join("bagit-v1.0/valid/basicBag"), &bag);
    std::fs::write(bag.join("fetch.txt"), "http://127.0.0.1:9/x 5 data/x.txt\n").unwrap();
    let (code, r) = env.ingest(&bag);
    assert_eq!((code, r["status"].as_str()), (1, Some("refused")));
    assert!(r["refused"].as_str().unwrap().contains("fetch.txt"), "{r}");
}

#[test]
fn every_shipped_config_parses_and_secrets_are_never_printed() {
    for f in std::fs::read_dir(root().join("fixtures/configs")).unwrap().flatten() {
        let p = f.path();
        let r = arkisto::config::Config::load(Some(&p), vec![], &Default::default());
        assert!(r.is_ok(), "{}: {:?}", p.display(), r.err());
    }
    let env = Env::new();
    let cfg = root().join("fixtures/configs/s3.toml");
    let secret = "s3cr3t-value-that-must-not-leak";
    for args in [vec!["config", "show"], vec!["--json", "config", "show"]] {
        let mut a = vec!["--config", cfg.to_str().unwrap()];
        a.extend(args);
        let o = env.run_env(&a, &[("ARKISTO__STORE__ACCESS_KEY_ID", "GKtest"), ("ARKISTO__STORE__SECRET_ACCESS_KEY", secret)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!all.contains(secret), "the secret was printed: {all}");
        assert!(all.contains("redacted"), "{all}");
    }
    // A half-given key pair is a config error naming both keys, not a silent fallback.
    let o = env.run_env(&["--config", cfg.to_str().unwrap(), "config", "show"], &[("ARKISTO__STORE__ACCESS_KEY_ID", "GKtest")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("secret_access_key"));
}

#[test]
fn repair_adopts_an_orphan_with_records_and_removes_a_redundant_copy() {
    let env = Env::new();
    env.ingest(&valid_small());
    let packs = walk_packs(&env);
    assert!(!packs.is_empty());
    // A redundant copy: a pack whose records are all indexed already.
    let copy = packs[0].with_file_name("01zzzzzzzzzzzzzzzzzzzzzzzz.pack");
    std::fs::copy(&packs[0], &copy).unwrap();
    // An orphan the index forgot (as after a crash between store and index on another host).
    let forgotten = packs.last().unwrap().file_stem().unwrap().to_string_lossy().to_string();
    let (_, before) = env.json(&["stats"]);
    env.tamper_index(&format!("DELETE FROM records_fts WHERE rowid IN (SELECT id FROM records WHERE pack_id = '{forgotten}')"));
    env.tamper_index(&format!("DELETE FROM records WHERE pack_id = '{forgotten}'"));
    env.tamper_index(&format!("DELETE FROM packs WHERE pack_id = '{forgotten}'"));
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 3, "verify sees the orphans: {v}");
    let (code, r) = env.json(&["repair"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["adopted"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["removed"].as_array().unwrap().len(), 1, "{r}");
    assert!(!copy.exists(), "the redundant copy is gone");
    let (_, after) = env.json(&["stats"]);
    assert_eq!(before, after, "every record is indexed again");
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 0, "{v}");
    let events = tokio::runtime::Runtime::new().unwrap().block_on(async { env.archive().await.index.events().await.unwrap() });
    assert_eq!(events.iter().filter(|e| e.event_type == "repair").count(), 2, "both actions are in the ledger");
}

fn embedded_len(env: &Env, r: &serde_json::Value) -> usize {
    r["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().ends_with("#nonXMLBody"))
        .map(|f| {
            let o = env.run(&["get", f["record_id"].as_str().unwrap(), "--purpose", "t"]);
            o.stdout.len()
        })
        .sum()
}

#[test]
fn a_text_index_built_by_another_analyzer_is_refused_until_rebuilt() {
    let env = Env::new();
    // Filled without libvoikko (Snowball alone), searched with it: text search would miss
    // inflected forms silently, so it refuses and says what to do.
    let o = env.run_env(&["ingest", valid_small().to_str().unwrap()], &[("ARKISTO_NO_VOIKKO", "1")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let args = ["search", "--text", "päänsärky", "--purpose", "t"];
    let o = env.run_env(&args, &[("ARKISTO_NO_VOIKKO", "1")]);
    assert!(o.status.success(), "the same analyzer searches: {}", String::from_utf8_lossy(&o.stderr));
    if !arkisto::text::analyzer().has_voikko() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "libvoikko is missing");
        return;
    }
    let o = env.run(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("arkisto index rebuild"), "{err}");
    // Metadata searches are not affected.
    assert!(env.run(&["search", "--from", "1900-01-01", "--purpose", "t"]).status.success());
    let (code, r) = env.json(&["index", "rebuild"]);
    assert_eq!(code, 0, "{r}");
    let (code, v) = env.json(&args);
    assert!(code == 0 && v["total"].as_u64() > Some(0), "{v}");
}
