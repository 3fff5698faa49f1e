//! The auditor's side: `arkisto-audit` reads only the store, trusts only the verifier key and
//! the checkpoint the auditor saved, and must find every change to the store: packs, frames,
//! dictionaries, ledger segments, a store rolled back, a history rewritten and re-signed.
//! `verify` must find what it can see too. A fresh archive, disposal included, is clean.

mod common;

use std::path::Path;

use common::{Env, audit_found};
use serde_json::Value;

const SMALL_PACKS: (&str, &str) = ("ARKISTO__PACK__TARGET_SIZE_MIB", "1");

fn j(e: &Env, args: &[&str]) -> (i32, Value) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = e.run_env(&a, &[SMALL_PACKS]);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|err| {
        panic!("{args:?}: not JSON ({err}): {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    });
    (o.status.code().unwrap_or(-1), v)
}

/// A signed archive of generated records in small packs; returns it and the verifier key.
fn archive(seed: u32, records: u32) -> (Env, String) {
    let e = Env::new();
    let key = e.key();
    ingest(&e, seed, records);
    (e, key)
}

fn ingest(e: &Env, seed: u32, records: u32) {
    let b = e.path(&format!("batch-{seed}"));
    let (code, r) =
        j(e, &["fixtures", "generate", "--records", &records.to_string(), "--seed", &seed.to_string(), "--out", b.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    let (code, r) = j(e, &["ingest", b.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
}

fn clean(e: &Env, key: &str, saved: Option<&Path>) -> Value {
    let (code, r) = e.audit(key, saved);
    assert_eq!(code, 0, "a clean audit: {r:#}");
    r
}

fn found(e: &Env, key: &str, saved: Option<&Path>) -> Value {
    let (code, r) = e.audit(key, saved);
    assert_eq!(code, 3, "the audit must find the change: {r:#}");
    r
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

fn export(e: &Env, name: &str) -> std::path::PathBuf {
    let p = e.path(name);
    let o = e.run(&["checkpoint", "export", "-o", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    p
}

#[test]
fn a_fresh_archive_with_a_disposal_audits_clean() {
    let (e, key) = archive(61, 120);
    let r = clean(&e, &key, None);
    assert!(r["records"].as_u64().unwrap() >= 120, "{r}");
    assert_eq!(r["uncovered_events"], 0, "every flush is checkpointed: {r}");
    // Deaths for every subject, then a disposal approved by another person.
    let (_, hits) = j(&e, &["search", "--from", "1800-01-01", "--limit", "100000", "--purpose", "audit test"]);
    let hits = hits["hits"].clone();
    let mut subjects: Vec<&str> = hits.as_array().unwrap().iter().filter_map(|h| h["subject"].as_str()).collect();
    subjects.sort();
    subjects.dedup();
    let f = e.path("deaths.csv");
    std::fs::write(&f, format!("subject_id,death_date\n{}", subjects.iter().map(|s| format!("{s},2000-01-01\n")).collect::<String>()))
        .unwrap();
    assert_eq!(j(&e, &["facts", "import", f.to_str().unwrap()]).0, 0);
    let (code, plan) = j(&e, &["dispose", "plan", "--actor", "kirjaaja"]);
    assert_eq!(code, 0, "{plan}");
    let id = plan["plan_id"].as_str().unwrap();
    assert_eq!(j(&e, &["dispose", "approve", id, "--actor", "arkistonhoitaja"]).0, 0);
    let (code, x) = j(&e, &["dispose", "execute", id, "--actor", "kirjaaja"]);
    assert_eq!(code, 0, "{x}");
    assert!(x["disposed"].as_u64().unwrap() > 0, "{x}");
    let r = clean(&e, &key, None);
    assert_eq!(r["destroyed"], x["disposed"], "every destroyed record is accounted for by an approved plan: {r}");
    assert_eq!(j(&e, &["verify"]).0, 0);
    // A destroyed record's history is still provable: its ingestion and its deletion.
    let gone = plan["items"][0]["record_id"].as_str().unwrap();
    let (code, p) = j(&e, &["prove", gone]);
    assert_eq!(code, 0, "{p}");
    let roles: Vec<&str> = p["events"].as_array().unwrap().iter().map(|ev| ev["role"].as_str().unwrap()).collect();
    assert!(roles.first() == Some(&"ingestion") && roles.contains(&"deletion"), "{p}");
    assert_eq!(p["verified"], true);
}

#[test]
fn damaged_missing_and_stray_packs_are_found() {
    let (e, key) = archive(62, 200);
    let packs = files(&e.data().join("store/packs"));
    assert!(packs.len() >= 4, "small packs: {}", packs.len());
    let name = |p: &Path| p.file_stem().unwrap().to_str().unwrap().to_string();
    common::damage_packs(&packs);
    let stray = packs[3].with_file_name("01jstray000000000000000000.pack");
    std::fs::copy(&packs[3], &stray).unwrap();
    let r = found(&e, &key, None);
    assert!(audit_found(&r, "AU04", &name(&packs[0])), "flipped byte: {r:#}");
    assert!(audit_found(&r, "AU04", &name(&packs[1])), "truncated: {r:#}");
    assert!(audit_found(&r, "AU04", &name(&packs[2])), "missing: {r:#}");
    assert!(audit_found(&r, "AU06", "01jstray"), "stray: {r:#}");
    assert_eq!(j(&e, &["verify"]).0, 3);
}

#[test]
fn a_pack_replaced_whole_is_found_against_its_ingestion_event() {
    let (e, key) = archive(63, 60);
    let pack = files(&e.data().join("store/packs")).remove(0);
    // A pack rebuilt from the same records but other bytes: its own table is consistent,
    // only the digest committed in the ledger tells.
    let mut b = std::fs::read(&pack).unwrap();
    let at = b.len() / 3;
    b[at] ^= 0x55;
    std::fs::write(&pack, &b).unwrap();
    let r = found(&e, &key, None);
    assert!(
        r["findings"].as_array().unwrap().iter().any(|f| f["code"] == "AU04" && f["message"].as_str().unwrap().contains("ledger event")),
        "{r:#}"
    );
}

#[test]
fn a_damaged_dictionary_is_found() {
    let (e, key) = archive(64, 200);
    let dicts = files(&e.data().join("store/dicts"));
    assert!(!dicts.is_empty(), "generated records train a dictionary");
    let mut b = std::fs::read(&dicts[0]).unwrap();
    let at = b.len() / 2;
    b[at] ^= 1;
    std::fs::write(&dicts[0], &b).unwrap();
    let r = found(&e, &key, None);
    assert!(audit_found(&r, "AU07", "dicts/"), "{r:#}");
}

/// Decode a segment, let `edit` change its lines, write it back compressed.
fn edit_segment(path: &Path, edit: impl FnOnce(&mut Vec<String>)) {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8(zstd::decode_all(&bytes[..]).unwrap()).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let before = lines.clone();
    edit(&mut lines);
    assert_ne!(lines, before, "the tampering changed nothing");
    let out = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    std::fs::write(path, zstd::encode_all(out.as_bytes(), 3).unwrap()).unwrap();
}

#[test]
fn edited_truncated_reordered_and_deleted_ledger_segments_are_found() {
    type Tamper = fn(&Path);
    // files(dir)[0] is the key's own segment; [1] the first ingest's.
    let cases: [(&str, Tamper); 4] = [
        ("edited", |dir| {
            edit_segment(&files(dir)[1], |l| {
                let mut v: Value = serde_json::from_str(&l[1]).unwrap();
                v["actor"] = "mallory".into();
                l[1] = v.to_string();
            })
        }),
        ("truncated", |dir| edit_segment(&files(dir)[1], |l| l.truncate(l.len() - 1))),
        ("reordered", |dir| edit_segment(&files(dir)[1], |l| l.swap(0, 1))),
        ("deleted", |dir| std::fs::remove_file(&files(dir)[1]).unwrap()),
    ];
    for (what, tamper) in cases {
        let (e, key) = archive(65, 30);
        ingest(&e, 66, 10);
        let seg_dir = e.data().join("store/ledger");
        assert!(files(&seg_dir).len() >= 2);
        tamper(&seg_dir);
        eprintln!("case {what}");
        let r = found(&e, &key, None);
        assert!(audit_found(&r, "AU03", ""), "{what}: {r:#}");
        let (code, v) = j(&e, &["verify"]);
        assert_eq!(code, 3, "{what}: verify sees a damaged ledger too: {v}");
    }
}

#[test]
fn a_store_rolled_back_to_an_earlier_copy_is_caught_against_the_saved_checkpoint() {
    let (e, key) = archive(67, 30);
    let store = e.data().join("store");
    let snapshot = e.path("snapshot");
    common::copy_dir(&store, &snapshot);
    ingest(&e, 68, 30);
    let saved = export(&e, "saved.note");
    clean(&e, &key, Some(&saved));
    // The operator restores last week's copy of the whole store: signatures, segments and
    // packs all consistent with each other.
    std::fs::remove_dir_all(&store).unwrap();
    common::copy_dir(&snapshot, &store);
    let alone = clean(&e, &key, None);
    let saved_size: u64 = std::fs::read_to_string(&saved).unwrap().lines().nth(1).unwrap().parse().unwrap();
    assert!(alone["checkpoint"]["size"].as_u64().unwrap() < saved_size, "alone, the old copy looks fine: {alone}");
    let r = found(&e, &key, Some(&saved));
    assert!(audit_found(&r, "AU02", "saved checkpoint"), "{r:#}");
    // verify sees it too, as long as the index was not rolled back with the store.
    let (code, v) = j(&e, &["verify"]);
    assert_eq!(code, 3, "{v}");
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["code"] == "A010"), "{v}");
}

#[test]
fn a_history_rewritten_and_re_signed_with_the_key_is_caught_against_the_saved_checkpoint() {
    let (e, key) = archive(69, 30);
    let saved = export(&e, "saved.note");
    // Someone with the store and the signing key drops an event, re-chains the rest and
    // signs new checkpoints over the forged history.
    let seg_dir = e.data().join("store/ledger");
    let mut events = Vec::new();
    for p in files(&seg_dir) {
        events.extend(arkisto::ledger::decode_segment(&std::fs::read(&p).unwrap()).unwrap());
        std::fs::remove_file(p).unwrap();
    }
    let victim = events.iter().position(|ev| ev.event_type == arkisto::ledger::RUN).expect("a run event");
    events.remove(victim);
    let mut prev = arkisto::digest::Sha256([0; 32]);
    let mut forged = Vec::new();
    for (i, ev) in events.into_iter().enumerate() {
        let n = arkisto::ledger::NewEvent {
            event_type: ev.event_type,
            actor: ev.actor,
            purpose: ev.purpose,
            object: ev.object,
            outcome: ev.outcome,
            detail: ev.detail,
        };
        let f = arkisto::ledger::Event::chain(n, i as i64 + 1, ev.time, prev).unwrap();
        prev = f.hash;
        forged.push(f);
    }
    let last = forged.len() as i64;
    std::fs::write(
        seg_dir.join(arkisto::ledger::segment_key(1, last).trim_start_matches("ledger/")),
        arkisto::ledger::encode_segment(&forged).unwrap(),
    )
    .unwrap();
    std::fs::remove_dir_all(e.data().join("store/checkpoints")).unwrap();
    let re = export(&e, "forged.note");
    assert_ne!(std::fs::read(&re).unwrap(), std::fs::read(&saved).unwrap());
    // Alone, the forged store is self-consistent and signed ...
    let (_, alone) = e.audit(&key, None);
    assert!(!audit_found(&alone, "AU01", "") && !audit_found(&alone, "AU03", ""), "{alone:#}");
    // ... and the auditor's saved checkpoint exposes it.
    let r = found(&e, &key, Some(&saved));
    assert!(audit_found(&r, "AU02", "saved checkpoint"), "{r:#}");
}

#[test]
fn the_audit_follows_a_key_rotation_from_the_key_it_trusts() {
    let (e, key) = archive(70, 20);
    let saved = export(&e, "saved.note");
    let (code, v) = e.json(&["key", "rotate"]);
    assert_eq!(code, 0, "{v}");
    // The secret is never printed, and its file is its owner's alone.
    let o = e.run(&["key", "show"]);
    for out in [v.to_string(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned()] {
        assert!(!out.contains("PRIVATE+KEY"), "{out}");
    }
    let keyfile = e.data().join("checkpoint.key");
    assert!(std::fs::read_to_string(&keyfile).unwrap().starts_with("PRIVATE+KEY+"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&keyfile).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (code, again) = e.json(&["key", "generate"]);
    assert_ne!(code, 0, "a second key never replaces the first: {again}");
    let new_key = v["verifier_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    ingest(&e, 71, 20);
    let r = clean(&e, &key, Some(&saved));
    assert_eq!(r["checkpoint"]["key"], new_key.as_str(), "the newest checkpoint is signed by the announced key: {r}");
    // A key the ledger never announced from the trusted one is not trusted.
    let other = Env::new();
    let stranger = other.key();
    let r = found(&e, &stranger, None);
    assert!(audit_found(&r, "AU01", "checkpoints/"), "{r:#}");
    // A checkpoint whose signature was tampered with is not trusted either.
    let ckpts = files(&e.data().join("store/checkpoints"));
    let newest = ckpts.iter().rfind(|p| p.extension().is_some_and(|x| x == "note")).unwrap();
    let mut t = std::fs::read(newest).unwrap();
    let at = t.len() - 20;
    t[at] = if t[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(newest, t).unwrap();
    let r = found(&e, &key, None);
    assert!(audit_found(&r, "AU01", &newest.file_name().unwrap().to_string_lossy()), "{r:#}");
}

#[test]
fn the_audit_reads_no_index_and_says_so_when_given_nothing_it_can_trust() {
    let (e, key) = archive(72, 20);
    std::fs::remove_file(e.data().join("index.sqlite")).unwrap();
    clean(&e, &key, None);
    let o = std::process::Command::new(common::audit_bin()).args(["--store", "/nonexistent", "--key", &key]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let o = std::process::Command::new(common::audit_bin()).args(["--store", "x", "--key", "not-a-key"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--key"));
}

#[test]
fn every_checkpoint_reaches_the_witness_and_a_rewritten_history_is_refused_there() {
    let e = Env::new();
    let witness = e.path("witness");
    let cfg = e.path("arkisto.toml");
    std::fs::write(&cfg, format!("[ledger.witness]\nkind = \"local\"\npath = {:?}\n", witness.display().to_string())).unwrap();
    let c = cfg.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut a = vec!["--config", c];
        a.extend_from_slice(args);
        e.run(&a)
    };
    assert!(run(&["key", "generate", "--name", "test.example/arkisto"]).status.success());
    let b = e.path("batch");
    assert!(run(&["fixtures", "generate", "--records", "20", "--seed", "73", "--out", b.to_str().unwrap()]).status.success());
    assert!(run(&["ingest", b.to_str().unwrap()]).status.success());
    // The daemon's checkpoint job, once.
    let o = run(&["serve", "--once"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let notes = |d: &Path| -> Vec<String> {
        files(&d.join("checkpoints"))
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "note"))
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let in_store = notes(&e.data().join("store"));
    assert!(!in_store.is_empty());
    assert_eq!(notes(&witness), in_store, "every checkpoint is copied to the witness");

    // The store's newest checkpoints are replaced by others of the same sizes (a history
    // rewritten and re-signed): the next flush says so, and copies nothing over the witness's.
    let key = {
        let o = run(&["key", "show"]);
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let newest = witness.join("checkpoints").join(in_store.last().unwrap());
    let before = std::fs::read(&newest).unwrap();
    let store_note = e.data().join("store/checkpoints").join(in_store.last().unwrap());
    let other = String::from_utf8(before.clone()).unwrap().replacen('\n', "-forged\n", 1);
    std::fs::remove_file(&store_note).unwrap();
    std::fs::write(&store_note, other).unwrap();
    let o = run(&["checkpoint", "list"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("witness"),
        "the flush reports the divergence: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(&newest).unwrap(), before, "the witness's copy is never replaced");
    // The auditor, given the witness's checkpoint, finds the store's forged one.
    let (code, r) = e.audit(&key, Some(&newest));
    assert_eq!(code, 3, "{r:#}");
    assert!(audit_found(&r, "AU01", in_store.last().unwrap()) || audit_found(&r, "AU03", in_store.last().unwrap()), "{r:#}");
}

#[test]
fn a_rotation_that_stopped_half_way_is_settled_by_the_next_command_that_signs() {
    use arkisto::checkpoints;
    let (e, key) = archive(74, 20);
    let path = e.data().join("checkpoint.key");
    let next = checkpoints::next_path(&path);
    // Stopped before its announcement: a new key beside the old, never announced, is dropped.
    let stranger = Env::new();
    stranger.key();
    std::fs::copy(stranger.data().join("checkpoint.key"), &next).unwrap();
    ingest(&e, 75, 10);
    assert!(!next.exists(), "an unannounced key is discarded");
    let r = clean(&e, &key, None);
    assert_eq!(r["checkpoint"]["key"], key.as_str(), "{r}");
    // Stopped after its announcement, before the key files moved: the new key takes over.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let new = rt.block_on(async {
        let cfg = arkisto::config::Config::load(None, Vec::new(), &arkisto::config::Flags { data_dir: Some(e.data()) }).unwrap();
        let a = arkisto::archive::Archive::open(cfg).await.unwrap();
        let old = a.signer().await.unwrap().unwrap();
        let new = checkpoints::generate_key(&next, old.name()).unwrap();
        let ev = checkpoints::announcement(&new, Some(&old), "tester").unwrap();
        a.index.append_events(vec![ev], &arkisto::archive::now()).await.unwrap();
        new.verifier().to_string()
    });
    ingest(&e, 76, 10);
    assert!(!next.exists());
    let r = clean(&e, &key, None);
    assert_eq!(r["checkpoint"]["key"], new.as_str(), "the announced key signs from then on: {r}");
    assert!(std::fs::read_dir(e.data()).unwrap().flatten().any(|f| f.file_name().to_string_lossy().starts_with("checkpoint.retired-")));
}
