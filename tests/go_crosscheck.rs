//! A second, independent implementation checks arkisto's checkpoints and proofs: Go's
//! `golang.org/x/mod/sumdb/note` and `sumdb/tlog` (Debian's golang-golang-x-mod-dev, built in
//! GOPATH mode, offline) verify the signature of a checkpoint `arkisto checkpoint export`
//! wrote, an inclusion proof from `arkisto prove`, and a consistency proof from
//! `arkisto prove --consistency`; and refuse each once it is changed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Env;

const GOPATH_SYSTEM: &str = "/usr/share/gocode";

/// Build the Go verifier (tests/go/verifier) into `dir`; `None` (outside CI) when Go or
/// the x/mod sources are missing.
fn build_verifier(dir: &Path) -> Option<PathBuf> {
    let have = Command::new("go").arg("version").output().is_ok_and(|o| o.status.success())
        && Path::new(GOPATH_SYSTEM).join("src/golang.org/x/mod/sumdb/tlog/tlog.go").exists();
    if !have {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "go and golang-golang-x-mod-dev are missing; under CI=true this test must not skip (infra/test.sh installs them)");
        eprintln!("SKIP: go or golang-golang-x-mod-dev missing");
        return None;
    }
    let src = dir.join("gopath/src/arkistoverifier");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(common::root().join("tests/go/verifier/main.go"), src.join("main.go")).unwrap();
    let out = dir.join("verifier");
    let o = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg("arkistoverifier")
        .env("GO111MODULE", "off")
        .env("GOPATH", format!("{}:{GOPATH_SYSTEM}", dir.join("gopath").display()))
        .env("GOCACHE", dir.join("gocache"))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .output()
        .expect("run go build");
    assert!(o.status.success(), "go build: {}", String::from_utf8_lossy(&o.stderr));
    Some(out)
}

fn run(v: &Path, args: &[&Path], key: &str) -> (bool, String) {
    let o = Command::new(v).arg(key).args(args).output().unwrap();
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

fn stdout(e: &Env, args: &[&str]) -> String {
    let o = e.run(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn go_sumdb_verifies_arkistos_checkpoints_and_proofs() {
    let e = Env::new();
    let Some(verifier) = build_verifier(e.dir.path()) else { return };
    let key = e.key();
    let ingest = |seed: &str| {
        let b = e.path(&format!("b{seed}"));
        stdout(&e, &["fixtures", "generate", "--records", "25", "--seed", seed, "--out", b.to_str().unwrap()]);
        stdout(&e, &["ingest", b.to_str().unwrap()]);
    };
    ingest("81");
    let old = e.path("old.note");
    stdout(&e, &["checkpoint", "export", "-o", old.to_str().unwrap()]);
    ingest("82");
    let new = e.path("new.note");
    stdout(&e, &["checkpoint", "export", "-o", new.to_str().unwrap()]);

    let hits: serde_json::Value =
        serde_json::from_str(&stdout(&e, &["--json", "search", "--from", "1800-01-01", "--purpose", "go cross-check"])).unwrap();
    let record = hits["hits"][0]["record_id"].as_str().unwrap().to_string();
    let prove = e.path("prove.json");
    std::fs::write(&prove, stdout(&e, &["--json", "prove", &record, "--checkpoint", new.to_str().unwrap()])).unwrap();
    let cons = e.path("cons.json");
    std::fs::write(&cons, stdout(&e, &["--json", "prove", "--consistency", old.to_str().unwrap(), new.to_str().unwrap()])).unwrap();

    let (ok, out) = run(&verifier, &[&new, &prove, &cons], &key);
    assert!(ok, "Go rejects what arkisto proved: {out}");
    assert_eq!(out.trim(), "ok");

    // Each changed input is refused.
    let changed = |from: &Path, name: &str, edit: &dyn Fn(String) -> String| {
        let p = e.path(name);
        std::fs::write(&p, edit(std::fs::read_to_string(from).unwrap())).unwrap();
        p
    };
    let forged_note = changed(&new, "forged.note", &|t| {
        let mut lines: Vec<String> = t.lines().map(String::from).collect();
        lines[1] = (lines[1].parse::<u64>().unwrap() + 1).to_string();
        lines.join("\n") + "\n"
    });
    let (ok, out) = run(&verifier, &[&forged_note, &prove, &cons], &key);
    assert!(!ok && out.contains("signature"), "{out}");
    let flip = |t: String| {
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        let mut s = v.to_string();
        // Replace the first proof hash with another valid hash.
        let first = v.pointer("/events/0/proof/0").or_else(|| v.pointer("/proof/0")).and_then(|h| h.as_str()).unwrap().to_string();
        s = s.replacen(&first, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1);
        s
    };
    let bad_prove = changed(&prove, "bad-prove.json", &flip);
    let (ok, out) = run(&verifier, &[&new, &bad_prove, &cons], &key);
    assert!(!ok && out.contains("inclusion"), "{out}");
    let bad_cons = changed(&cons, "bad-cons.json", &flip);
    let (ok, out) = run(&verifier, &[&new, &prove, &bad_cons], &key);
    assert!(!ok && out.contains("consistency"), "{out}");
    let other_key = Env::new().key();
    let (ok, out) = run(&verifier, &[&new, &prove, &cons], &other_key);
    assert!(!ok, "another key must not verify: {out}");
}
