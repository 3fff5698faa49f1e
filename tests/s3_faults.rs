//! arkisto on Garage clusters of its own, with nodes killed mid-run:
//! - a 3-node cluster (replication factor 3) keeps taking packs with one node down;
//! - a single node stopped mid-run: arkisto retries and reports, never indexes a pack that
//!   is not stored, and a re-run completes with every record archived exactly once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::s3::{Cluster, Target};
use common::{Env, embedded_bodies, stored};

fn base_port() -> u16 {
    // Spread concurrent test processes over distinct port ranges, all below the kernel's
    // ephemeral range (32768+), where the other tests' connections and API listeners
    // (port 0) could take a port a restarted Garage node needs.
    10000 + (std::process::id() % 600) as u16 * 10
}

fn vars(t: &Target, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = t.env(&format!("t{}/", ulid::Ulid::new().to_string().to_lowercase()));
    // Small packs: many puts, so faults land mid-run.
    v.push(("ARKISTO__PACK__TARGET_SIZE_MIB".into(), "1".into()));
    v.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    v
}

fn arkisto(env: &Env, vars: &[(String, String)], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_arkisto"));
    c.arg("--data-dir").arg(env.data()).arg("--json").args(args).env("USER", "tester");
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn generate(env: &Env, n: u64) -> std::path::PathBuf {
    let dir = env.path("batch");
    let o = env.run(&["fixtures", "generate", "--records", &n.to_string(), "--out", dir.to_str().unwrap(), "--seed", "7"]);
    assert!(o.status.success());
    dir
}

/// Start an ingest in the background; wait until it has stored `min_packs` packs.
fn ingest_until_packs(env: &Env, vars: &[(String, String)], batch: &std::path::Path, t: &Target, min_packs: usize) -> Child {
    let child = arkisto(env, vars, &["ingest", batch.to_str().unwrap()]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let prefix = vars.iter().find(|(k, _)| k == "ARKISTO__STORE__PREFIX").map(|(_, v)| v.clone()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let start = Instant::now();
    while rt.block_on(t.keys(&format!("{prefix}packs/"))).len() < min_packs {
        assert!(start.elapsed() < Duration::from_secs(120), "no packs appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn records_indexed(env: &Env, vars: &[(String, String)]) -> u64 {
    let o = arkisto(env, vars, &["stats"]).output().unwrap();
    json_of(&o).as_array().unwrap().iter().map(|s| s["records"].as_u64().unwrap()).sum()
}

fn verify_clean(env: &Env, vars: &[(String, String)]) {
    let o = arkisto(env, vars, &["verify"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "verify: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_three_node_cluster_keeps_archiving_with_a_node_down() {
    let Some(cluster) = Cluster::start(3, base_port()) else { return };
    let t = cluster.target.clone();
    let env = Env::new();
    let batch = generate(&env, 1500);
    let v = vars(&t, &[]);
    let child = ingest_until_packs(&env, &v, &batch, &t, 2);
    cluster.kill(2);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let prefix = v.iter().find(|(k, _)| k == "ARKISTO__STORE__PREFIX").unwrap().1.clone();
    let at_kill = rt.block_on(t.keys(&format!("{prefix}packs/"))).len();
    let out = child.wait_with_output().unwrap();
    let rep = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", rep["counts"], String::from_utf8_lossy(&out.stderr));
    assert_eq!(rep["counts"]["archived"].as_u64(), Some(1500), "{}", rep["counts"]);
    let total = rt.block_on(t.keys(&format!("{prefix}packs/"))).len();
    assert!(total > at_kill, "packs were written after the node died ({at_kill} → {total})");
    // Reads work with the node still down, and after it comes back.
    verify_clean(&env, &v);
    cluster.restart(2);
    std::thread::sleep(Duration::from_secs(2));
    verify_clean(&env, &v);
    assert_eq!(records_indexed(&env, &v), 1500 + embedded_bodies(&batch));
}

#[test]
fn garage_stopped_mid_run_then_a_rerun_archives_every_record_once() {
    let Some(cluster) = Cluster::start(1, base_port() + 5000) else { return };
    let t = cluster.target.clone();
    let env = Env::new();
    let batch = generate(&env, 1500);
    // Few attempts: the run gives up quickly while the server is down.
    let v = vars(&t, &[("ARKISTO__STORE__MAX_ATTEMPTS", "3"), ("ARKISTO__STORE__TIMEOUT_SECS", "5")]);
    let child = ingest_until_packs(&env, &v, &batch, &t, 2);
    cluster.kill(0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "the run must fail while the store is down\n{stderr}");
    assert!(stderr.contains("retry"), "retries are reported: {stderr}");
    let err = json_of(&out)["error"].as_str().unwrap_or("").to_string();
    assert!(err.contains("re-run") && err.contains("127.0.0.1"), "the error names the store and what to do next: {err}");
    cluster.restart(0);
    std::thread::sleep(Duration::from_secs(1));
    // What was indexed is really stored.
    verify_clean(&env, &v);
    let first = records_indexed(&env, &v);
    assert!(first < 1500, "the run stopped part-way ({first})");
    // (an embedded body is a record of its own, not a duplicate line of the re-run)

    // Re-run: finishes, nothing twice.
    let out = arkisto(&env, &v, &["ingest", batch.to_str().unwrap()]).output().unwrap();
    let rep = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", rep["counts"], String::from_utf8_lossy(&out.stderr));
    let (dup, arch) = (rep["counts"]["duplicate"].as_u64().unwrap(), rep["counts"]["archived"].as_u64().unwrap());
    assert_eq!(dup + arch, 1500, "{}", rep["counts"]);
    assert_eq!(
        first + stored(&rep),
        1500 + embedded_bodies(&batch),
        "what the first run stored plus what the re-run stored is everything once"
    );
    assert_eq!(records_indexed(&env, &v), 1500 + embedded_bodies(&batch));
    verify_clean(&env, &v);
}

#[test]
fn a_short_outage_is_ridden_out_by_retries() {
    let Some(cluster) = Cluster::start(1, base_port() + 7000) else { return };
    let t = cluster.target.clone();
    let env = Env::new();
    let batch = generate(&env, 1500);
    let v = vars(&t, &[("ARKISTO__STORE__MAX_ATTEMPTS", "10")]);
    let child = ingest_until_packs(&env, &v, &batch, &t, 2);
    cluster.kill(0);
    std::thread::sleep(Duration::from_millis(1500));
    cluster.restart(0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let rep = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{stderr}", rep["counts"]);
    assert_eq!(rep["counts"]["archived"].as_u64(), Some(1500));
    assert!(stderr.contains("retry"), "the outage was noticed and reported: {stderr}");
    assert!(rep["store_retries"].as_u64().unwrap_or(0) > 0, "the run report counts the retries");
    verify_clean(&env, &v);
}

#[test]
fn kill_9_mid_run_on_a_locked_bucket_leaves_nothing_undeletable_behind() {
    let Some(m) = common::s3::moto() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(m.fresh_bucket(true));
    let env = Env::new();
    let batch = generate(&env, 1500);
    let v = vars(&t, &[("ARKISTO__STORE__LOCK_MODE", "compliance")]);
    let prefix = v.iter().find(|(k, _)| k == "ARKISTO__STORE__PREFIX").unwrap().1.clone();
    let mut child = ingest_until_packs(&env, &v, &batch, &t, 2);
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    // The re-run removes what the killed run stored but never indexed — possible only
    // because packs are locked after they are indexed, not when they are written.
    let out = arkisto(&env, &v, &["ingest", batch.to_str().unwrap()]).output().unwrap();
    let rep = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", rep["counts"], String::from_utf8_lossy(&out.stderr));
    assert_eq!(records_indexed(&env, &v), 1500 + embedded_bodies(&batch));
    verify_clean(&env, &v); // also: no pack in the bucket that the index does not know (A008)
    let packs = rt.block_on(t.keys(&format!("{prefix}packs/")));
    for k in &packs {
        let h = rt.block_on(t.client().head_object().bucket(&t.bucket).key(k).send()).unwrap();
        assert!(h.object_lock_retain_until_date().is_some(), "{k} is archived but not locked");
    }
    // The killed run is closed as interrupted (its committed packs locked by the recovery).
    let runs = json_of(&arkisto(&env, &v, &["runs"]).output().unwrap());
    let statuses: Vec<_> = runs.as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap_or("").to_string()).collect();
    assert!(statuses.contains(&"interrupted".to_string()), "{statuses:?}");
    assert!(!statuses.contains(&"running".to_string()), "{statuses:?}");
}
