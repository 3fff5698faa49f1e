//! The command line of `arkisto-audit` (its checks run in the workspace's tests/audit.rs,
//! against real archives). Having an integration test here also makes cargo build the binary
//! for a workspace test run, so the other tests find it fresh.

use std::process::Command;

fn audit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_arkisto-audit")).args(args).output().expect("run arkisto-audit")
}

const KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

#[test]
fn help_usage_and_unreadable_stores_have_their_exit_codes() {
    let h = audit(&["--help"]);
    assert!(h.status.success());
    assert!(String::from_utf8_lossy(&h.stdout).contains("AU01"));
    let u = audit(&["--store", "x"]);
    assert_eq!(u.status.code(), Some(2), "no key is a usage error");
    let k = audit(&["--store", "x", "--key", "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"]);
    assert_eq!(k.status.code(), Some(2), "a key whose id does not match is refused");
    let missing = audit(&["--store", "/nonexistent/store", "--key", KEY]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/store"));
}

#[test]
fn an_empty_store_has_nothing_signed_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let o = audit(&["--json", "--store", d.path().to_str().unwrap(), "--key", KEY]);
    assert_eq!(o.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["findings"][0]["code"], "AU01", "{r}");
}
