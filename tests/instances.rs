//! Several `arkisto serve` instances share one PostgreSQL index and one store: each batch is
//! claimed by one instance with an expiring lease; when an instance is killed mid-run, another
//! takes its batch over after the lease runs out, and every record is archived exactly once.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::http::{Daemon, get, serve};
use common::pg::{DropDb, fresh_pg};
use common::{Env, stored};

const BATCHES: usize = 20;

#[test]
fn three_instances_twenty_batches_one_killed_every_record_once() {
    let shared = Env::new();
    let store = shared.path("store");
    three_instances(shared, vec![("ARKISTO__STORE__PATH".into(), store.display().to_string())]);
}

/// The same on a Garage bucket (S3), as counties deploy it.
#[test]
fn three_instances_on_one_garage_bucket() {
    let Some(t) = common::s3::garage() else { return };
    let prefix = format!("i{}/", ulid::Ulid::new().to_string().to_lowercase());
    three_instances(Env::new(), t.env(&prefix));
}

fn three_instances(shared: Env, store_vars: Vec<(String, String)>) {
    let Some(url) = fresh_pg() else { return };
    let _drop = DropDb(url.clone());
    let inbox = shared.path("inbox");
    for b in 0..BATCHES {
        let dir = inbox.join(format!("batch-{b:02}"));
        let o = shared.run(&["fixtures", "generate", "--records", "150", "--out", dir.to_str().unwrap(), "--seed", &(100 + b).to_string()]);
        assert!(o.status.success());
    }
    // What exactly-once means: the distinct records of all batches, archived on their own.
    let mut want = 0;
    for b in 0..BATCHES {
        let (code, rep) = shared.ingest(&inbox.join(format!("batch-{b:02}")));
        assert_eq!(code, 0);
        want += stored(&rep);
    }
    let ib = format!("[\"{}\"]", inbox.display());
    let mut vars: Vec<(&str, &str)> = vec![
        ("ARKISTO__INDEX__KIND", "postgres"),
        ("ARKISTO__INDEX__URL", url.as_str()),
        ("ARKISTO__SERVE__INBOX", ib.as_str()),
        ("ARKISTO__SERVE__INGEST_SCHEDULE", "* * * * * *"),
        ("ARKISTO__SERVE__HEARTBEAT_SECS", "1"),
        ("ARKISTO__PACK__TARGET_SIZE_MIB", "1"),
        ("ARKISTO__INGEST__WORKERS", "1"),
    ];
    vars.extend(store_vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let envs: Vec<Env> = (0..3).map(|_| Env::new()).collect();
    let token = {
        let o = envs[0].run_env(&["--json", "token", "create", "--role", "operator", "--name", "test"], &vars);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("token");
        v["token"].as_str().unwrap().to_string()
    };
    let start = |i: usize| -> Daemon {
        let mut v = vars.clone();
        let name = format!("node{i}");
        v.push(("ARKISTO__SERVE__INSTANCE", &name));
        serve(&envs[i].data(), envs[i].path(&format!("serve-{}.log", Instant::now().elapsed().as_nanos())), &v)
    };
    let mut nodes: Vec<Option<Daemon>> = (0..3).map(|i| Some(start(i))).collect();
    for b in 0..BATCHES {
        std::fs::write(inbox.join(format!("batch-{b:02}/READY")), "").unwrap();
    }
    let archived = || (0..BATCHES).filter(|b| inbox.join(format!("batch-{b:02}/ARCHIVED")).exists()).count();
    // Kill -9, at a pseudo-random moment, an instance that holds a batch.
    let mut rng = (std::process::id() as u64) | 1;
    rng ^= rng << 13;
    std::thread::sleep(Duration::from_millis(300 + rng % 1500));
    let t = Instant::now();
    // The victim: node1 or node2 while it is early in a run (its last heartbeat, at most a
    // second old, shows few files done), so that the kill lands mid-run.
    let (victim, victim_run) = loop {
        let addr = nodes[0].as_ref().unwrap().addr.clone();
        let s = get(&addr, "/api/v1/status", Some(&token)).json();
        let pick = s["running"].as_array().and_then(|runs| {
            runs.iter().find_map(|r| {
                let n = r["progress"]["instance"].as_str()?.strip_prefix("node")?.parse::<usize>().ok()?;
                let early = r["progress"]["files_done"].as_u64()? < 30;
                (n != 0 && early).then(|| (n, r["run"]["run_id"].as_str().unwrap_or_default().to_string()))
            })
        });
        if let Some(p) = pick {
            break p;
        }
        assert!(t.elapsed() < Duration::from_secs(60) && archived() < BATCHES, "never saw node1 or node2 early in a run");
        std::thread::sleep(Duration::from_millis(20));
    };
    {
        let d = nodes[victim].as_mut().unwrap();
        Command::new("kill").args(["-KILL", &d.child.id().to_string()]).status().unwrap();
        let _ = d.child.wait();
    }
    nodes[victim] = None;
    // The others finish everything, including the dead instance's batch once its lease ends.
    let t = Instant::now();
    while archived() < BATCHES {
        assert!(t.elapsed() < Duration::from_secs(300), "only {} of {BATCHES} batches archived", archived());
        std::thread::sleep(Duration::from_millis(200));
    }
    for n in nodes.iter().flatten() {
        Command::new("kill").args(["-TERM", &n.child.id().to_string()]).status().unwrap();
    }
    let logs: String = nodes.iter().flatten().map(|n| std::fs::read_to_string(&n.log).unwrap_or_default()).collect();
    drop(nodes);
    let check = Env::new();
    let run = |args: &[&str]| -> (i32, serde_json::Value) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = check.run_env(&a, &vars);
        (o.status.code().unwrap_or(-1), serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null))
    };
    let (_, stats) = run(&["stats"]);
    let records: u64 = stats.as_array().unwrap().iter().map(|s| s["records"].as_u64().unwrap()).sum();
    assert_eq!(records, want, "every record archived exactly once\n{logs}");
    // Every batch was archived by exactly one completed run; the killed run is closed.
    let (_, runs) = run(&["runs", "--limit", "1000"]);
    let runs = runs.as_array().unwrap();
    assert!(runs.iter().all(|r| r["status"] != "running"), "no run left running");
    for b in 0..BATCHES {
        let done = runs
            .iter()
            .filter(|r| r["input"].as_str().unwrap_or("").ends_with(&format!("batch-{b:02}")) && r["status"] == "completed")
            .count();
        assert_eq!(done, 1, "batch-{b:02}: {done} completed runs");
    }
    // The killed run is closed as interrupted, and its batch was finished by another instance
    // (each batch has exactly one completed run, checked above).
    let killed = runs.iter().find(|r| r["run_id"] == victim_run.as_str()).unwrap_or_else(|| panic!("run {victim_run} is recorded\n{logs}"));
    assert_eq!(killed["status"], "interrupted", "{killed}\n{logs}");
    let (code, v) = run(&["verify"]);
    assert_eq!(code, 0, "verify: {v}");
    let (code, r) = run(&["repair"]);
    assert_eq!(code, 0, "{r}");
    assert!(r["adopted"].as_array().unwrap().is_empty() && r["removed"].as_array().unwrap().is_empty(), "no orphan pack: {r}");
}

/// An instance that stalls (SIGSTOP: a long GC-like pause, a frozen VM) past its heartbeat is
/// taken for dead; another instance archives the batch and removes the stalled run's pending
/// packs. When the stalled one wakes up, it must not index anything whose object may be gone.
#[test]
fn a_stalled_instance_taken_for_dead_cannot_index_after_waking() {
    let Some(url) = fresh_pg() else { return };
    let _drop = DropDb(url.clone());
    let shared = Env::new();
    let batch = shared.path("batch");
    let o = shared.run(&["fixtures", "generate", "--records", "3000", "--out", batch.to_str().unwrap(), "--seed", "7"]);
    assert!(o.status.success());
    let store = shared.path("store");
    let vars: Vec<(&str, &str)> = vec![
        ("ARKISTO__INDEX__KIND", "postgres"),
        ("ARKISTO__INDEX__URL", url.as_str()),
        ("ARKISTO__STORE__PATH", store.to_str().unwrap()),
        ("ARKISTO__SERVE__HEARTBEAT_SECS", "1"),
        ("ARKISTO__PACK__TARGET_SIZE_MIB", "1"),
        ("ARKISTO__INGEST__WORKERS", "1"),
    ];
    let (a, b) = (Env::new(), Env::new());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkisto"));
    cmd.arg("--data-dir").arg(a.data()).args(["--json", "ingest", batch.to_str().unwrap()]).env("USER", "a");
    for (k, v) in &vars {
        cmd.env(k, v);
    }
    let stalled = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Freeze it while it holds a pack stored (or being stored) but not yet indexed.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pending = || -> Vec<String> {
        let keys: Vec<String> = rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT object_key FROM packs WHERE state = 'pending'").fetch_all(&mut c).await.unwrap_or_default()
        });
        // Stored already (the local store renames into place when the write is complete).
        keys.into_iter().filter(|k| store.join(k).exists()).collect::<Vec<_>>()
    };
    let pid = stalled.id().to_string();
    let t = Instant::now();
    let held = loop {
        Command::new("kill").args(["-STOP", &pid]).status().unwrap();
        let held = pending();
        if !held.is_empty() {
            break held;
        }
        Command::new("kill").args(["-CONT", &pid]).status().unwrap();
        assert!(t.elapsed() < Duration::from_secs(60), "never caught the run holding a pending pack");
        std::thread::sleep(Duration::from_millis(3));
    };
    std::thread::sleep(Duration::from_secs(6)); // > 4 heartbeats
    // The other instance starts (its recovery removes the stalled run's pending packs), and
    // the stalled one wakes while it is still archiving.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkisto"));
    cmd.arg("--data-dir").arg(b.data()).args(["--json", "ingest", batch.to_str().unwrap()]).env("USER", "b");
    for (k, v) in &vars {
        cmd.env(k, v);
    }
    let other = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Wake it once the other instance's recovery has removed the stalled run's pending packs
    // (or after 20 s: frozen inside a transaction, it holds a lock the other one waits for).
    let t = Instant::now();
    while held.iter().any(|k| store.join(k).exists()) && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let cleaned = held.iter().all(|k| !store.join(k).exists());
    Command::new("kill").args(["-CONT", &stalled.id().to_string()]).status().unwrap();
    let woke = stalled.wait_with_output().unwrap();
    let other = other.wait_with_output().unwrap();
    let woke_err = String::from_utf8_lossy(&woke.stderr).to_string();
    let other_err = format!(
        "{}{}",
        String::from_utf8_lossy(&other.stderr),
        String::from_utf8_lossy(&other.stdout).chars().take(600).collect::<String>()
    );
    // A run that failed is simply run again, as IT staff would.
    let o = b.run_env(&["--json", "ingest", batch.to_str().unwrap()], &vars);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = (woke.status, format!("cleaned before waking: {cleaned}\n{woke_err}\nother: {:?} {other_err}", other.status));
    let run = |args: &[&str]| -> (i32, serde_json::Value) {
        let mut v = vec!["--json"];
        v.extend_from_slice(args);
        let o = b.run_env(&v, &vars);
        (o.status.code().unwrap_or(-1), serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null))
    };
    // Whatever the stalled run did after waking, the archive holds each record once and
    // every indexed record's bytes.
    let (code, r) = run(&["repair"]);
    assert_eq!(code, 0, "{r}");
    let (code, v) = run(&["verify"]);
    assert_eq!(code, 0, "verify after the stalled run woke ({:?}: {}): {v}", out.0, out.1);
    let (_, stats) = run(&["stats"]);
    let records: u64 = stats.as_array().unwrap().iter().map(|s| s["records"].as_u64().unwrap()).sum();
    let fresh = Env::new();
    let want = stored(&fresh.ingest(&batch).1);
    assert_eq!(records, want);
}
