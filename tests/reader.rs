//! The Python reference reader (tools/reader, written from FORMAT.md alone, stdlib plus
//! `zstandard`) reads an archive made from the committed fixtures and agrees with arkisto:
//! the same records, the same bytes, the same verdict on the digests and the ledger, the same
//! checkpoint under the same key; and it finds a flipped byte and a forged signature.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{Env, root};
use serde_json::Value;

fn reader(args: &[&str]) -> (i32, Vec<u8>, String) {
    let o = Command::new("python3").arg(root().join("tools/reader/arkisto_reader.py")).args(args).output().expect("python3");
    (o.status.code().unwrap_or(-1), o.stdout, String::from_utf8_lossy(&o.stderr).into_owned())
}

fn reader_json(args: &[&str]) -> (i32, Value) {
    let (code, out, err) = reader(args);
    (code, serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {}\n{err}", String::from_utf8_lossy(&out))))
}

fn have_zstandard() -> bool {
    let ok = Command::new("python3").args(["-c", "import zstandard"]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(!std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"), "python3 -m pip install zstandard (infra/test.sh does)");
        eprintln!("SKIP: the zstandard Python package is missing");
    }
    ok
}

#[test]
fn the_python_reader_agrees_with_arkisto_on_an_archive_of_the_fixtures() {
    if !have_zstandard() {
        return;
    }
    let e = Env::new();
    let key = e.key();
    for b in ["valid-small", "vendor-xml", "csv"] {
        let (code, r) = e.ingest(&root().join("fixtures/batches").join(b));
        assert!(code == 0 || code == 3, "{b}: {r}");
    }
    let store = e.data().join("store");
    let s = store.to_str().unwrap();

    // The same records.
    let (code, listed) = reader_json(&["list", s]);
    assert_eq!(code, 0);
    let theirs: BTreeSet<String> = listed.as_array().unwrap().iter().map(|r| r["record_id"].as_str().unwrap().to_string()).collect();
    let (_, hits) = e.json(&["search", "--from", "1000-01-01", "--limit", "100000", "--purpose", "reader test"]);
    let hits = hits["hits"].clone();
    let ours: BTreeSet<String> = hits.as_array().unwrap().iter().map(|h| h["record_id"].as_str().unwrap().to_string()).collect();
    assert!(!ours.is_empty() && ours.is_subset(&theirs), "arkisto finds records the reader does not list");
    let (_, stats) = e.json(&["stats"]);
    let total: u64 = stats.as_array().unwrap().iter().filter_map(|s| s["records"].as_u64()).sum();
    assert_eq!(theirs.len() as u64, total, "the reader lists every record arkisto holds: {stats}");

    // The same bytes, for a record of each source.
    let mut seen_sources = BTreeSet::new();
    for r in listed.as_array().unwrap() {
        if !seen_sources.insert(r["source"].as_str().unwrap_or_default().to_string()) {
            continue;
        }
        let id = r["record_id"].as_str().unwrap();
        let (code, bytes, err) = reader(&["extract", s, id]);
        assert_eq!(code, 0, "{err}");
        let o = e.run(&["get", id, "--purpose", "reader test"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(bytes, o.stdout, "record {id}: the reader and arkisto give other bytes");
    }
    assert!(seen_sources.len() >= 3, "{seen_sources:?}");

    // The same verdicts: digests and ledger, then the checkpoint under the same key.
    let (code, v) = reader_json(&["verify", s]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(e.json(&["verify"]).0, 0);
    let (code, c) = reader_json(&["checkpoint", s, "--key", &key]);
    assert_eq!(code, 0, "{c}");
    let (code, a) = e.audit(&key, None);
    assert_eq!(code, 0, "{a}");
    // The audit logged nothing, so both read the same newest checkpoint.
    assert_eq!(c["checkpoint"]["size"], a["checkpoint"]["size"], "{c} vs {a}");
    assert_eq!(c["checkpoint"]["root"], a["checkpoint"]["root"]);

    // And both find a flipped byte and a forged signature.
    let notes: Vec<_> = std::fs::read_dir(store.join("checkpoints"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "note"))
        .collect();
    let newest = notes.iter().max().unwrap();
    let mut t = std::fs::read(newest).unwrap();
    let at = t.len() - 12;
    t[at] = if t[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(newest, t).unwrap();
    let (code, c) = reader_json(&["checkpoint", s, "--key", &key]);
    assert_eq!(code, 3, "{c}");
    assert!(c["problems"].to_string().contains("signature"), "{c}");
    let pack = std::fs::read_dir(store.join("packs")).unwrap().next().unwrap().unwrap().path();
    let pack = std::fs::read_dir(pack).unwrap().next().unwrap().unwrap().path();
    let mut b = std::fs::read(&pack).unwrap();
    let at = b.len() / 2;
    b[at] ^= 1;
    std::fs::write(&pack, b).unwrap();
    let (code, v) = reader_json(&["verify", s]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(e.json(&["verify"]).0, 3);
}
