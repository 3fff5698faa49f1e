//! Crash safety: `kill -9` of `arkisto ingest` at random moments, then a re-run, many times.
//! Every document must end archived exactly once, `verify` clean, nothing half-written.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn spawn_and_kill(env: &Env, batch: &std::path::Path, delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arkisto"))
        .arg("--data-dir")
        .arg(env.data())
        .args(["ingest", batch.to_str().unwrap()])
        .env("ARKISTO__PACK__TARGET_SIZE_MIB", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let interrupted = child.try_wait().unwrap().is_none();
    child.kill().ok(); // SIGKILL
    child.wait().unwrap();
    interrupted
}

#[test]
fn kill_9_during_ingest_then_rerun_archives_everything_exactly_once() {
    const WANT_INTERRUPTED: usize = 12;
    const MAX_ROUNDS: usize = 40;
    const PER_BATCH: u64 = 150;
    let env = Env::new();
    let make_batch = |i: usize| {
        let b = env.path(&format!("batch-{i}"));
        let o = env.run(&[
            "fixtures",
            "generate",
            "--records",
            &PER_BATCH.to_string(),
            "--seed",
            &(100 + i).to_string(),
            "--out",
            b.to_str().unwrap(),
        ]);
        assert!(o.status.success());
        b
    };

    // Time one full run in a scratch archive, to spread the kills over a run's length.
    let probe = Env::new();
    let probe_batch = make_batch(999);
    let t = Instant::now();
    assert!(probe.run_env(&["ingest", probe_batch.to_str().unwrap()], &[("ARKISTO__PACK__TARGET_SIZE_MIB", "1")]).status.success());
    let mut full = t.elapsed();

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut rng = arkisto::fixtures::Rng::new(seed);
    let mut batches = Vec::new();
    let mut interrupted = 0;
    // Each round kills a run over fresh documents, then a re-run of the previous batch. A kill
    // that came too late (the run had finished) does not count; the machine may be loaded, so
    // the window shrinks when that happens.
    while interrupted < WANT_INTERRUPTED && batches.len() < MAX_ROUNDS {
        let i = batches.len();
        batches.push(make_batch(i));
        let d = Duration::from_secs_f64(full.as_secs_f64() * (0.02 + 0.8 * rng.unit()));
        if spawn_and_kill(&env, &batches[i], d) {
            interrupted += 1;
        } else {
            full = full.mul_f64(0.7);
        }
        if i > 0 {
            let d = Duration::from_secs_f64(full.as_secs_f64() * 0.5 * rng.unit());
            spawn_and_kill(&env, &batches[i - 1], d);
        }
    }
    eprintln!("seed {seed}: {interrupted} kills interrupted a run over fresh documents, in {} rounds", batches.len());
    assert!(interrupted >= 10, "at least 10 kills must interrupt a run (seed {seed})");

    for b in &batches {
        let (code, r) = env.json(&["ingest", b.to_str().unwrap()]);
        assert_eq!(code, 0, "{r}");
        let c = &r["counts"];
        assert_eq!(c["archived"].as_u64().unwrap() + c["duplicate"].as_u64().unwrap(), PER_BATCH, "{c}");
    }
    let total = PER_BATCH * batches.len() as u64 + batches.iter().map(|b| embedded_bodies(b)).sum::<u64>();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = env.archive().await;
        assert_eq!(a.index.record_count().await.unwrap(), total, "each document exactly once");
        assert!(a.index.pending_packs().await.unwrap().is_empty(), "nothing half-written");
        let indexed: u64 = a.index.packs().await.unwrap().iter().map(|p| p.record_count).sum();
        assert_eq!(indexed, total);
    });
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 0, "verify must be clean after crashes (seed {seed}): {v}");
    // Text indexed for records a kill kept from committing is not counted: the total (FTS
    // alone when nothing is pending) is the number of records listed (joined with records).
    let (_, s) = env.json(&["search", "--text", "potilas", "--limit", "100000", "--purpose", "crash test"]);
    let listed = s["hits"].as_array().unwrap().len() as u64;
    assert!(listed > 0 && s["total"].as_u64() == Some(listed), "total {} vs {listed} listed (seed {seed})", s["total"]);
    for b in &batches {
        let (_, again) = env.json(&["ingest", b.to_str().unwrap()]);
        assert_eq!(again["counts"]["duplicate"], PER_BATCH, "a re-run finds nothing to do");
    }
}
