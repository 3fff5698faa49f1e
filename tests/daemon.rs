//! `arkisto serve`: inbox batches are taken only when complete, SIGTERM stops a run cleanly,
//! and the next start archives the rest — every record exactly once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, copy_dir, embedded_bodies, root, stored};

fn serve(env: &Env, inbox: &std::path::Path, extra: &[(&str, &str)]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_arkisto"));
    c.arg("--data-dir").arg(env.data()).arg("serve").env("USER", "daemon");
    c.env("ARKISTO__SERVE__INBOX", format!("[\"{}\"]", inbox.display()));
    c.env("ARKISTO__SERVE__INGEST_SCHEDULE", "* * * * * *");
    c.env("ARKISTO__SERVE__FIXITY_SCHEDULE", "off");
    for (k, v) in extra {
        c.env(k, v);
    }
    c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start serve")
}

fn sigterm(child: &Child) {
    let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stats_records(env: &Env) -> u64 {
    let (_, v) = env.json(&["stats"]);
    v.as_array().map(|a| a.iter().map(|s| s["records"].as_u64().unwrap_or(0)).sum()).unwrap_or(0)
}

#[test]
fn only_complete_batches_are_taken_and_sigterm_stops_the_daemon() {
    let env = Env::new();
    let inbox = env.path("inbox");
    copy_dir(&root().join("fixtures/batches/valid-small"), &inbox.join("a"));
    copy_dir(&root().join("fixtures/batches/valid-small"), &inbox.join("b"));
    std::fs::write(inbox.join("a/READY"), "").unwrap();
    let mut child = serve(&env, &inbox, &[]);
    wait_for("batch a archived", 60, || inbox.join("a/ARCHIVED").exists());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!inbox.join("b/ARCHIVED").exists(), "b has no READY marker and is not a bag: it must wait");
    std::fs::write(inbox.join("b/READY"), "").unwrap();
    wait_for("batch b archived", 60, || inbox.join("b/ARCHIVED").exists());
    let marker: serde_json::Value = serde_json::from_slice(&std::fs::read(inbox.join("b/ARCHIVED")).unwrap()).unwrap();
    assert_eq!(marker["status"], "completed");
    sigterm(&child);
    let t = Instant::now();
    let st = child.wait().unwrap();
    assert!(st.success(), "serve exits 0 on SIGTERM");
    assert!(t.elapsed() < Duration::from_secs(10));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("stopped"), "{err}");
    // b held the same documents: nothing twice.
    assert_eq!(stats_records(&env), 12 + embedded_bodies(&root().join("fixtures/batches/valid-small")));
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn sigterm_mid_run_then_restart_archives_every_record_once() {
    let env = Env::new();
    let inbox = env.path("inbox");
    let batch = inbox.join("big");
    let o = env.run(&["fixtures", "generate", "--records", "3000", "--out", batch.to_str().unwrap(), "--seed", "3"]);
    assert!(o.status.success());
    std::fs::write(batch.join("READY"), "").unwrap();
    let small = [("ARKISTO__PACK__TARGET_SIZE_MIB", "1")];
    let mut stopped_mid_run = 0;
    for round in 0..5 {
        let mut child = serve(&env, &inbox, &small);
        // Let it get some way into the batch, then stop it.
        std::thread::sleep(Duration::from_millis(1500 + 300 * round));
        sigterm(&child);
        let st = child.wait().unwrap();
        assert!(st.success());
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        if err.contains("stopped after") {
            stopped_mid_run += 1;
        }
        if batch.join("ARCHIVED").exists() {
            break;
        }
    }
    // Finish it.
    if !batch.join("ARCHIVED").exists() {
        let mut child = serve(&env, &inbox, &small);
        wait_for("the batch finished", 300, || batch.join("ARCHIVED").exists());
        sigterm(&child);
        assert!(child.wait().unwrap().success());
    }
    assert!(stopped_mid_run > 0, "no run was stopped mid-way; the test proved nothing");
    let (_, runs) = env.json(&["runs", "--limit", "100"]);
    assert!(runs.as_array().unwrap().len() >= 2);
    let (_, stats) = env.json(&["stats"]);
    let records = stats_records(&env);
    // Generated batches hold some exact duplicates; the run report of a single run says how
    // many distinct records there are.
    let fresh = Env::new();
    let (_, once) = fresh.ingest(&batch);
    assert_eq!(records, stored(&once), "{stats}");
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn fixity_sweeps_cover_the_whole_archive_in_one_over_share_runs() {
    let env = Env::new();
    let batch = env.path("batch");
    let o = env.run(&["fixtures", "generate", "--records", "300", "--out", batch.to_str().unwrap()]);
    assert!(o.status.success());
    let o = env.run_env(&["ingest", batch.to_str().unwrap()], &[("ARKISTO__PACK__TARGET_SIZE_MIB", "1")]);
    assert!(o.status.success());
    let (_, v) = env.json(&["verify"]);
    let total = v["packs"].as_u64().unwrap();
    assert!(total >= 2, "{v}");
    let mut seen = 0;
    for sweep in 1..=2 {
        let o = env.run_env(&["serve", "--once"], &[("ARKISTO__SERVE__FIXITY_SHARE", "0.5"), ("ARKISTO__SERVE__INGEST_SCHEDULE", "off")]);
        assert!(o.status.success());
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        let line = err.lines().find(|l| l.contains(&format!("fixity sweep {sweep}/2"))).unwrap_or_else(|| panic!("{err}"));
        seen += line.split("2: ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<u64>().ok()).unwrap();
        assert!(line.contains("0 problem(s)"), "{line}");
    }
    assert_eq!(seen, total, "two sweeps at share 0.5 checked every pack once");
}

#[test]
fn kill_9_of_the_daemon_twenty_times_loses_and_duplicates_nothing() {
    let env = Env::new();
    let inbox = env.path("inbox");
    for (name, seed) in [("one", "11"), ("two", "12")] {
        let batch = inbox.join(name);
        let o = env.run(&["fixtures", "generate", "--records", "1500", "--out", batch.to_str().unwrap(), "--seed", seed]);
        assert!(o.status.success());
        std::fs::write(batch.join("READY"), "").unwrap();
    }
    let small = [("ARKISTO__PACK__TARGET_SIZE_MIB", "1")];
    let mut rng = 0x2545f4914f6cdd1du64;
    let mut kills = 0;
    while kills < 20 {
        let mut child = serve(&env, &inbox, &small);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(300 + rng % 1200));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        kills += 1;
    }
    // Let it finish both batches.
    let mut child = serve(&env, &inbox, &small);
    wait_for("both batches archived", 600, || inbox.join("one/ARCHIVED").exists() && inbox.join("two/ARCHIVED").exists());
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let (_, runs) = env.json(&["runs", "--limit", "1000"]);
    let cut = runs.as_array().unwrap().iter().filter(|r| r["status"] == "interrupted").count();
    assert!(runs.as_array().unwrap().iter().all(|r| r["status"] != "running"), "every killed run was closed by recovery");
    assert!(cut >= 5, "at least a few kills landed mid-run ({cut}); the test proved little otherwise");
    // Exactly the distinct records of both batches, each once.
    let fresh = Env::new();
    let want: u64 = ["one", "two"].iter().map(|b| stored(&fresh.ingest(&inbox.join(b)).1)).sum();
    assert_eq!(stats_records(&env), want);
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 0, "{v}");
    let (code, r) = env.json(&["repair"]);
    assert_eq!(code, 0, "{r}");
    assert!(r["adopted"].as_array().unwrap().is_empty() && r["removed"].as_array().unwrap().is_empty(), "no orphan pack: {r}");
}

/// A legacy export dropped into the inbox carries its profile in a PROFILE file: the daemon
/// reads it through that profile (records and linked attachments), like `ingest` does.
#[test]
fn an_inbox_batch_with_a_profile_file_is_read_through_its_profile() {
    let env = Env::new();
    let inbox = env.path("inbox");
    let src = root().join("fixtures/batches/vendor-xml");
    copy_dir(&src, &inbox.join("vx"));
    std::fs::write(inbox.join("vx/READY"), "").unwrap();
    let mut child = serve(&env, &inbox, &[]);
    wait_for("the export archived", 60, || inbox.join("vx/ARCHIVED").exists());
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let marker: serde_json::Value = serde_json::from_slice(&std::fs::read(inbox.join("vx/ARCHIVED")).unwrap()).unwrap();
    assert_eq!(marker["status"], "completed", "{marker}");
    let attachments = std::fs::read_dir(src.join("liitteet")).unwrap().count() as u64;
    assert_eq!(stats_records(&env), 12 + attachments, "12 records and their attachments");
    let _ = child.stderr.take();
}
