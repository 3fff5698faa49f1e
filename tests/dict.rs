//! Per-source zstd dictionaries: trained, stored, used, readable without arkisto, verified.

mod common;

use std::process::Command;

use common::*;

const SMALL_TRAINING: [(&str, &str); 2] = [("ARKISTO__DICT__TRAIN_SAMPLES", "40"), ("ARKISTO__DICT__MIN_SAMPLES", "10")];

fn ingest_with(env: &Env, batch: &std::path::Path, vars: &[(&str, &str)]) -> serde_json::Value {
    let o = env.run_env(&["--json", "ingest", batch.to_str().unwrap(), "--source", "potilastiedot"], vars);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn batch(env: &Env, n: u32, seed: u32) -> std::path::PathBuf {
    let b = env.path(&format!("batch-{seed}"));
    let o = env.run(&["fixtures", "generate", "--records", &n.to_string(), "--seed", &seed.to_string(), "--out", b.to_str().unwrap()]);
    assert!(o.status.success());
    b
}

#[test]
fn a_source_gets_a_dictionary_and_its_records_come_back_byte_identical() {
    let env = Env::new();
    let b = batch(&env, 150, 21);
    let r = ingest_with(&env, &b, &SMALL_TRAINING);
    let dicts = r["dicts"].as_array().expect("a dictionary was trained");
    assert_eq!(dicts.len(), 1);
    let id = dicts[0]["dict_id"].as_u64().unwrap();
    assert!(env.data().join(format!("store/dicts/{id}")).is_file(), "stored as an object of its own");
    let (_, stats) = env.json(&["stats"]);
    let s = &stats[0];
    // Every record but the embedded PDFs (already compressed) uses it, including the sampled ones.
    assert!(s["records_with_dict"].as_u64().unwrap() >= 145, "{s}");
    assert_eq!(s["dicts"][0].as_u64(), Some(id));
    for f in r["files"].as_array().unwrap().iter().step_by(10) {
        let rid = f["record_id"].as_str().unwrap();
        let out = env.path("out.xml");
        assert!(env.run(&["get", rid, "-o", out.to_str().unwrap(), "--purpose", "t"]).status.success());
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(b.join(f["path"].as_str().unwrap())).unwrap());
    }
    // A second run of the same source uses the dictionary it has; no new one.
    let r2 = ingest_with(&env, &batch(&env, 30, 22), &SMALL_TRAINING);
    assert!(r2.get("dicts").is_none(), "{r2}");
    let (_, stats) = env.json(&["stats"]);
    assert_eq!(stats[0]["records_with_dict"].as_u64().unwrap(), s["records_with_dict"].as_u64().unwrap() + 30);
}

#[test]
fn plain_zstd_with_the_dictionary_reads_a_frame_outside_arkisto() {
    let env = Env::new();
    let b = batch(&env, 60, 23);
    ingest_with(&env, &b, &SMALL_TRAINING);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (loc, key, meta) = rt.block_on(async {
        let a = env.archive().await;
        let p = a.index.packs().await.unwrap().into_iter().find(|p| p.record_count > 0).unwrap();
        let loc = a.index.pack_records(p.pack_id).await.unwrap().into_iter().find(|l| l.dict_id != 0).expect("a record with a dictionary");
        let rec = arkisto::retrieve::load(&a, loc.record_id).await.unwrap();
        (loc, p.key, rec.meta)
    });
    let pack = std::fs::read(env.data().join("store").join(&key)).unwrap();
    let frame = env.path("frame.zst");
    std::fs::write(&frame, &pack[loc.data_offset as usize..(loc.data_offset + loc.data_len) as usize]).unwrap();
    let dict = env.data().join(format!("store/dicts/{}", loc.dict_id));
    let o = Command::new("zstd").args(["-d", "-q", "-c", "-D"]).arg(&dict).arg(&frame).output().expect("zstd(1)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout, std::fs::read(b.join(&meta.input_path)).unwrap());
    // Without the dictionary, zstd refuses rather than producing wrong bytes.
    let o = Command::new("zstd").args(["-d", "-q", "-c"]).arg(&frame).output().unwrap();
    assert!(!o.status.success());
    // A whole pack (frames with and without the dictionary) decodes with -D.
    let o = Command::new("zstd").args(["-d", "-q", "-c", "-D"]).arg(&dict).arg(env.data().join("store").join(&key)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let originals: usize = std::fs::read_dir(&b).unwrap().map(|e| e.unwrap().metadata().unwrap().len() as usize).sum();
    assert!(o.stdout.len() <= originals && !o.stdout.is_empty());
}

#[test]
fn rebuild_into_an_empty_index_keeps_dictionaries_and_every_record() {
    let env = Env::new();
    let b = batch(&env, 80, 24);
    ingest_with(&env, &b, &SMALL_TRAINING);
    let (_, before) = env.json(&["stats"]);
    for f in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        let _ = std::fs::remove_file(env.data().join(f));
    }
    let (code, rep) = env.json(&["index", "rebuild"]);
    assert_eq!(code, 0, "{rep}");
    let (_, after) = env.json(&["stats"]);
    assert_eq!(before, after);
    let (_, hits) = env.json(&["search", "--text", "potilas", "--limit", "1000", "--purpose", "t"]);
    let hits = hits["hits"].clone();
    for h in hits.as_array().unwrap().iter().take(20) {
        assert!(
            env.run(&["get", h["record_id"].as_str().unwrap(), "-o", env.path("o").to_str().unwrap(), "--purpose", "t"]).status.success()
        );
    }
    assert_eq!(env.json(&["verify"]).0, 0);
}

#[test]
fn a_lost_or_damaged_dictionary_is_a011_naming_every_record_that_needs_it() {
    for damage in ["delete", "flip"] {
        let env = Env::new();
        let b = batch(&env, 60, 25);
        let r = ingest_with(&env, &b, &SMALL_TRAINING);
        let id = r["dicts"][0]["dict_id"].as_u64().unwrap();
        let (_, stats) = env.json(&["stats"]);
        let users = stats[0]["records_with_dict"].as_u64().unwrap();
        let path = env.data().join(format!("store/dicts/{id}"));
        if damage == "delete" {
            std::fs::remove_file(&path).unwrap();
        } else {
            let mut d = std::fs::read(&path).unwrap();
            let n = d.len();
            d[n / 2] ^= 0x40;
            std::fs::write(&path, d).unwrap();
        }
        let (code, v) = env.json(&["verify"]);
        assert_eq!(code, 3, "{damage}");
        let f: Vec<_> = v["findings"].as_array().unwrap().iter().filter(|f| f["code"] == "A011").collect();
        assert_eq!(f.len(), 1, "{damage}: one finding per dictionary: {v}");
        assert_eq!(f[0]["records"].as_array().unwrap().len() as u64, users, "{damage}: names every record that needs it");
        assert!(v["findings"].as_array().unwrap().iter().all(|f| f["code"] == "A011"), "{damage}: no noise: {v}");
        // Such a record is not handed out.
        let rid = f[0]["records"][0].as_str().unwrap();
        assert_eq!(env.run(&["get", rid, "--purpose", "t"]).status.code(), Some(1));
    }
}

#[test]
fn dictionaries_can_be_turned_off_per_source() {
    let env = Env::new();
    let b = batch(&env, 60, 26);
    let mut vars = SMALL_TRAINING.to_vec();
    vars.push(("ARKISTO__DICT__DISABLED_SOURCES", "[\"potilastiedot\"]"));
    let r = ingest_with(&env, &b, &vars);
    assert!(r.get("dicts").is_none());
    let (_, stats) = env.json(&["stats"]);
    assert_eq!(stats[0]["records_with_dict"], 0);
    assert!(!env.data().join("store/dicts").exists());
}

#[test]
fn a_new_dictionary_is_trained_when_the_source_changes_character() {
    let env = Env::new();
    ingest_with(&env, &batch(&env, 100, 27), &SMALL_TRAINING);
    // The same source now exports documents of another kind (narratives of hex codes).
    let other = env.path("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut rng = arkisto::fixtures::Rng::new(5);
    for i in 0..200 {
        let text: String = (0..600).map(|_| format!("{:016x} ", rng.next_u64())).collect();
        let doc = format!(
            "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><id root=\"1.2.246.10.1.77.{i}\"/><effectiveTime value=\"20200101\"/>\
             <recordTarget><patientRole><id root=\"1.2.246.21\" extension=\"010181-900C\"/></patientRole></recordTarget>\
             <component><structuredBody><component><section><text>{text}</text></section></component></structuredBody></component></ClinicalDocument>"
        );
        std::fs::write(other.join(format!("x{i:03}.xml")), doc).unwrap();
    }
    let r = ingest_with(&env, &other, &SMALL_TRAINING);
    assert_eq!(r["dicts"].as_array().map(|d| d.len()), Some(1), "a second dictionary: {}", r["dicts"]);
    let (_, stats) = env.json(&["stats"]);
    assert_eq!(stats[0]["dicts"].as_array().unwrap().len(), 2, "both stay in use: {stats}");
    assert_eq!(env.json(&["verify"]).0, 0);
}
