//! Helpers shared by the integration tests: run the real binary against a temp data dir.
#![allow(dead_code)]

pub mod http;
pub mod pg;
pub mod s3;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data`; the tests fail (never skip) without it.
pub fn shared() -> PathBuf {
    let p = root().join("../shared/data");
    assert!(p.join("cda").is_dir(), "../shared/data is missing: the public test documents must be beside the project");
    p
}

/// A scratch archive.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("tempdir") }
    }
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    /// Run arkisto with `--data-dir` set, return the output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_arkisto"));
        c.arg("--data-dir").arg(self.data()).args(args).env("USER", "tester");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run arkisto")
    }
    /// Run and parse stdout as JSON (adds `--json`).
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.run(&a);
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!("{args:?}: not JSON ({e}): {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
        });
        (o.status.code().unwrap_or(-1), v)
    }
    pub fn ingest(&self, path: &Path) -> (i32, serde_json::Value) {
        self.json(&["ingest", path.to_str().expect("utf-8 path")])
    }
    /// Change the SQLite index behind arkisto's back (tamper tests).
    pub fn tamper_index(&self, sql: &str) {
        let db = self.data().join("index.sqlite");
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        });
    }

    /// Open the archive through the library (for assertions on the ledger and index).
    pub async fn archive(&self) -> arkisto::archive::Archive {
        let cfg = arkisto::config::Config::load(None, vec![], &arkisto::config::Flags { data_dir: Some(self.data()) }).expect("config");
        arkisto::archive::Archive::open(cfg).await.expect("open archive")
    }
}

/// Outcome of each file in a run report: path → (outcome, codes).
pub fn outcomes(report: &serde_json::Value) -> std::collections::BTreeMap<String, (String, Vec<String>)> {
    report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let codes = f["findings"]
                .as_array()
                .map(|a| a.iter().map(|x| x["code"].as_str().unwrap_or("").to_string()).collect())
                .unwrap_or_default();
            (f["path"].as_str().unwrap_or("").to_string(), (f["outcome"].as_str().unwrap_or("").to_string(), codes))
        })
        .collect()
}

/// Copy a directory tree (files only).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &dst.join(e.file_name()));
        } else {
            std::fs::copy(&p, dst.join(e.file_name())).unwrap();
        }
    }
}

/// Records a run stored: its archived inputs plus the embedded bodies (CDA `nonXMLBody`)
/// archived beside them as records of their own.
pub fn stored(report: &serde_json::Value) -> u64 {
    report["counts"]["archived"].as_u64().unwrap_or(0) + report["counts"]["embedded"].as_u64().unwrap_or(0)
}

/// Documents of a CDA folder that embed a base64 body (each yields one more record).
pub fn embedded_bodies(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| std::fs::read_to_string(e.as_ref().unwrap().path()).is_ok_and(|t| t.contains("representation=\"B64\"")))
        .count() as u64
}

/// The auditor's binary (`crates/arkisto-audit`), beside arkisto's. A workspace test run
/// builds it (its own integration test needs it); a run of only some of arkisto's tests may
/// find it missing or older than its sources, and then it is built here, once.
pub fn audit_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let p = Path::new(env!("CARGO_BIN_EXE_arkisto")).with_file_name("arkisto-audit");
            let built = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
            let newest_source =
                ["crates/arkisto-audit/src", "crates/arkisto-format/src"].iter().filter_map(|d| newest(&root().join(d))).max();
            if built.is_none() || newest_source.is_some_and(|s| Some(s) > built) {
                let mut c = Command::new(env!("CARGO"));
                c.args(["build", "--quiet", "-p", "arkisto-audit"]).current_dir(root());
                if p.parent().and_then(|d| d.file_name()).is_some_and(|n| n == "release") {
                    c.arg("--release");
                }
                assert!(c.status().is_ok_and(|s| s.success()), "cannot build arkisto-audit");
            }
            assert!(p.exists(), "arkisto-audit is not at {}", p.display());
            p
        })
        .clone()
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut out = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let t = if p.is_dir() { newest(&p) } else { e.metadata().and_then(|m| m.modified()).ok() };
        out = out.max(t);
    }
    out
}

impl Env {
    /// Make the checkpoint signing key; returns the verifier key.
    pub fn key(&self) -> String {
        let (code, v) = self.json(&["key", "generate", "--name", "test.example/arkisto"]);
        assert_eq!(code, 0, "{v}");
        v["verifier_key"].as_str().unwrap().to_string()
    }
    /// Run `arkisto-audit --json` on this archive's store with `key` (and a saved checkpoint).
    pub fn audit(&self, key: &str, saved: Option<&Path>) -> (i32, serde_json::Value) {
        let mut c = Command::new(audit_bin());
        c.arg("--json").arg("--store").arg(self.data().join("store")).arg("--key").arg(key);
        if let Some(s) = saved {
            c.arg("--checkpoint").arg(s);
        }
        let o = c.output().expect("run arkisto-audit");
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!("audit: not JSON ({e}): {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
        });
        (o.status.code().unwrap_or(-1), v)
    }
}

/// Whether an audit report has a finding `code` whose object contains `object`.
pub fn audit_found(report: &serde_json::Value, code: &str, object: &str) -> bool {
    report["findings"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x["code"] == code && x["object"].as_str().is_some_and(|o| o.contains(object))))
}

/// Damage three packs the way accidents and attackers do: a byte of the first flipped, the
/// second truncated by 10 bytes, the third deleted.
pub fn damage_packs(packs: &[PathBuf]) {
    let mut b = std::fs::read(&packs[0]).unwrap();
    let at = b.len() / 2;
    b[at] ^= 1;
    std::fs::write(&packs[0], &b).unwrap();
    let t = std::fs::read(&packs[1]).unwrap();
    std::fs::write(&packs[1], &t[..t.len() - 10]).unwrap();
    std::fs::remove_file(&packs[2]).unwrap();
}
