//! The HTTP API of `arkisto serve`: every endpoint's role check (each denied case), the
//! access log of API reads, metrics, run progress, and tokens kept only as hashes.

mod common;

use common::http::{Daemon, get, post, serve};
use common::{Env, root};

struct Tokens {
    operator: String,
    officer: String,
    auditor: String,
    revoked: String,
}

fn token(env: &Env, role: &str, name: &str) -> String {
    let (code, v) = env.json(&["token", "create", "--role", role, "--name", name]);
    assert_eq!(code, 0, "{v}");
    v["token"].as_str().unwrap().to_string()
}

fn setup() -> (Env, Tokens, Daemon) {
    let env = Env::new();
    let (code, _) = env.ingest(&root().join("fixtures/batches/valid-small"));
    assert_eq!(code, 0);
    let t = Tokens {
        operator: token(&env, "operator", "ops"),
        officer: token(&env, "records-officer", "Liisa Records"),
        auditor: token(&env, "auditor", "audit office"),
        revoked: token(&env, "operator", "old laptop"),
    };
    let (_, list) = env.json(&["token", "list"]);
    let id = list.as_array().unwrap().iter().find(|t| t["name"] == "old laptop").unwrap()["token_id"].as_str().unwrap().to_string();
    assert_eq!(env.json(&["token", "revoke", &id]).0, 0);
    std::fs::create_dir_all(env.path("inbox")).unwrap();
    let inbox = format!("[\"{}\"]", env.path("inbox").display());
    let d = serve(&env.data(), env.path("serve.log"), &[("ARKISTO__SERVE__INBOX", &inbox), ("ARKISTO__SERVE__INGEST_SCHEDULE", "off")]);
    (env, t, d)
}

#[test]
fn every_endpoint_checks_the_role_and_every_denied_case_is_refused() {
    let (env, t, d) = setup();
    let (_, hits) = env.json(&["search", "--source", "valid-small", "--purpose", "find an id", "--limit", "1"]);
    let hits = hits["hits"].clone();
    let record = hits.as_array().unwrap()[0]["record_id"].as_str().unwrap().to_string();
    let (_, runs) = env.json(&["runs"]);
    let run = runs[0]["run_id"].as_str().unwrap().to_string();
    let endpoints: Vec<(String, &[&str])> = vec![
        ("/metrics".into(), &["operator", "auditor"]),
        ("/api/v1/status".into(), &["operator", "auditor"]),
        ("/api/v1/runs".into(), &["operator", "auditor"]),
        (format!("/api/v1/runs/{run}"), &["operator", "auditor"]),
        ("/api/v1/records?source=valid-small&purpose=api%20test".into(), &["records-officer"]),
        (format!("/api/v1/records/{record}?purpose=api%20test"), &["records-officer"]),
        ("/api/v1/ledger".into(), &["auditor"]),
    ];
    let roles = [("operator", &t.operator), ("records-officer", &t.officer), ("auditor", &t.auditor)];
    let mut checked = 0;
    for (path, allowed) in &endpoints {
        // No token, a malformed one, a well-formed unknown one, a revoked one: 401.
        for (why, tok) in
            [("none", None), ("garbage", Some("x")), ("unknown", Some("ark_0000_ffff")), ("revoked", Some(t.revoked.as_str()))]
        {
            let r = get(&d.addr, path, tok);
            assert_eq!(r.status, 401, "{path} with {why} token: {}", r.text());
            assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{path}: {:?}", r.headers);
            checked += 1;
        }
        for (role, tok) in &roles {
            let r = get(&d.addr, path, Some(tok));
            if allowed.contains(role) {
                assert_eq!(r.status, 200, "{path} as {role}: {}", r.text());
            } else {
                assert_eq!(r.status, 403, "{path} as {role} must be denied: {}", r.text());
                assert_eq!(r.json()["code"], "forbidden");
                // A denial reveals nothing of the archive.
                assert!(!r.text().contains("valid-small") && !r.text().contains(&record), "{}", r.text());
                checked += 1;
            }
        }
    }
    // 7 endpoints × 4 kinds of bad token, plus each role an endpoint does not allow (10).
    assert_eq!(checked, 7 * 4 + 10, "{checked} denied cases");
    // Open by design: liveness and the API description, which say nothing about the archive.
    let h = get(&d.addr, "/health", None);
    assert_eq!((h.status, h.json()), (200, serde_json::json!({ "status": "ok" })));
    let o = get(&d.addr, "/openapi.json", None);
    assert_eq!(o.status, 200);
    let spec = o.json();
    assert_eq!(spec["openapi"], "3.1.0");
    for (path, _) in &endpoints {
        let p = path.split('?').next().unwrap().replace(&run, "{id}").replace(&record, "{id}");
        assert!(spec["paths"][&p]["get"].is_object(), "{p} is described in the OpenAPI document");
    }
    // Unknown runs and records are 404 to the roles that may ask.
    assert_eq!(get(&d.addr, "/api/v1/runs/01m8aeeypyywe136n5227zbkz7", Some(&t.operator)).status, 404);
    assert_eq!(get(&d.addr, "/api/v1/runs/nonsense", Some(&t.operator)).status, 400);
    assert_eq!(get(&d.addr, "/api/v1/records/nope?purpose=x", Some(&t.officer)).status, 404);
}

#[test]
fn records_officer_reads_are_logged_with_actor_and_purpose_and_need_a_purpose() {
    let (env, t, d) = setup();
    let r = get(&d.addr, "/api/v1/records?source=valid-small", Some(&t.officer));
    assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("no-purpose")));
    let hits = get(&d.addr, "/api/v1/records?source=valid-small&purpose=client%20request%2042", Some(&t.officer)).json();
    let first = &hits["hits"].as_array().unwrap()[0];
    let id = first["record_id"].as_str().unwrap();
    let doc = get(&d.addr, &format!("/api/v1/records/{id}?purpose=client%20request%2042"), Some(&t.officer));
    assert_eq!(doc.status, 200);
    // Byte-identical with the CLI's `get`.
    let out = env.path("cli.xml");
    let o = env.run(&["get", id, "-o", out.to_str().unwrap(), "--purpose", "compare"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(doc.body, std::fs::read(&out).unwrap());
    assert_eq!(doc.header("x-arkisto-record-id"), Some(id));
    // The ledger (auditor) shows both reads, by the token's holder, with the purpose.
    let events = get(&d.addr, "/api/v1/ledger?limit=1000", Some(&t.auditor)).json();
    let api_reads: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            (e["event_type"] == "access" || e["event_type"] == "dissemination")
                && e["actor"].as_str().unwrap_or("").starts_with("api:Liisa Records")
        })
        .collect();
    assert_eq!(api_reads.len(), 2, "search and get: {api_reads:?}");
    assert!(api_reads.iter().all(|e| e["purpose"] == "client request 42"));
    // Paging: events after the last seen seq.
    let last = events.as_array().unwrap().last().unwrap()["seq"].as_i64().unwrap();
    let more = get(&d.addr, &format!("/api/v1/ledger?after={last}"), Some(&t.auditor)).json();
    assert!(more.as_array().unwrap().iter().all(|e| e["seq"].as_i64().unwrap() > last));
    // No criterion: every record, page by page (and logged like any search).
    let r = get(&d.addr, "/api/v1/records?purpose=x&limit=2", Some(&t.officer));
    assert_eq!((r.status, r.json()["page"].as_u64(), r.json()["next"].as_u64()), (200, Some(1), Some(2)), "{}", r.text());
}

#[test]
fn metrics_report_records_bytes_findings_and_durations_per_run_and_source() {
    let (env, t, d) = setup();
    let m = get(&d.addr, "/metrics", Some(&t.operator));
    assert!(m.header("content-type").is_some_and(|c| c.starts_with("text/plain")));
    let text = m.text();
    let (_, stats) = env.json(&["stats"]);
    let s = &stats[0];
    let (_, runs) = env.json(&["runs"]);
    let run = runs[0]["run_id"].as_str().unwrap();
    for line in [
        format!("arkisto_records{{source=\"valid-small\"}} {}", s["records"]),
        format!("arkisto_original_bytes{{source=\"valid-small\"}} {}", s["original_bytes"]),
        "arkisto_source_runs_total{source=\"valid-small\"} 1".to_string(),
        // Input files archived: the records less the PDF one document embeds.
        format!(
            "arkisto_run_files{{run=\"{run}\",source=\"valid-small\",status=\"completed\",outcome=\"archived\"}} {}",
            s["records"].as_u64().unwrap() - 1
        ),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    for family in
        ["arkisto_run_findings", "arkisto_run_bytes", "arkisto_run_duration_seconds", "arkisto_source_files_total", "arkisto_runs_running"]
    {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
    }
}

#[test]
fn run_progress_is_visible_while_a_run_goes_on() {
    let env = Env::new();
    let inbox = env.path("inbox");
    let o = env.run(&["fixtures", "generate", "--records", "8000", "--out", inbox.join("big").to_str().unwrap()]);
    assert!(o.status.success());
    let tok = token(&env, "operator", "ops");
    let ib = format!("[\"{}\"]", inbox.display());
    let d = serve(
        &env.data(),
        env.path("serve.log"),
        &[
            ("ARKISTO__SERVE__INBOX", &ib),
            ("ARKISTO__SERVE__INGEST_SCHEDULE", "* * * * * *"),
            ("ARKISTO__SERVE__HEARTBEAT_SECS", "1"),
            ("ARKISTO__INGEST__WORKERS", "1"),
        ],
    );
    std::fs::write(inbox.join("big/READY"), "").unwrap();
    let t = std::time::Instant::now();
    let mut seen = None;
    while t.elapsed() < std::time::Duration::from_secs(120) && !inbox.join("big/ARCHIVED").exists() {
        let s = get(&d.addr, "/api/v1/status", Some(&tok)).json();
        if let Some(p) = s["running"].as_array().and_then(|r| r.first()).map(|r| r["progress"].clone())
            && p["files_done"].as_u64().unwrap_or(0) > 0
        {
            seen = Some((p, s["claimed_batches"].clone()));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (p, claims) = seen.unwrap_or_else(|| panic!("no progress seen: {}", std::fs::read_to_string(&d.log).unwrap_or_default()));
    assert_eq!(p["files_total"], 8000);
    assert!(p["files_done"].as_u64().unwrap() < 8000);
    assert_eq!(claims.as_array().unwrap().len(), 1, "the batch is claimed: {claims}");
    let m = get(&d.addr, "/metrics", Some(&tok)).text();
    assert!(m.contains("arkisto_run_progress_files{"), "{m}");
}

#[test]
fn tokens_are_stored_only_as_hashes_and_survive_an_index_rebuild() {
    let env = Env::new();
    assert_eq!(env.ingest(&root().join("fixtures/batches/valid-small")).0, 0);
    let secret = token(&env, "auditor", "auditor");
    let secret_part = secret.rsplit('_').next().unwrap().to_string();
    let (_, list) = env.json(&["token", "list"]);
    assert!(!list.to_string().contains(&secret_part), "token list never shows the secret");
    let mut everything = Vec::new();
    for e in walk(&env.data()) {
        everything.extend(std::fs::read(e).unwrap_or_default());
    }
    assert!(!everything.windows(secret_part.len()).any(|w| w == secret_part.as_bytes()), "the secret is nowhere on disk");
    // The index is derived: a rebuild restores the token from the ledger.
    std::fs::remove_file(env.data().join("index.sqlite")).unwrap();
    let o = env.run(&["index", "rebuild"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::create_dir_all(env.path("inbox")).unwrap();
    let ib = format!("[\"{}\"]", env.path("inbox").display());
    let d = serve(&env.data(), env.path("serve.log"), &[("ARKISTO__SERVE__INBOX", &ib), ("ARKISTO__SERVE__INGEST_SCHEDULE", "off")]);
    assert_eq!(get(&d.addr, "/api/v1/ledger", Some(&secret)).status, 200);
    // Names and roles are checked at creation.
    assert_ne!(env.run(&["token", "create", "--role", "admin", "--name", "x"]).status.code(), Some(0));
    assert_ne!(env.run(&["token", "create", "--role", "auditor", "--name", " "]).status.code(), Some(0));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

#[test]
fn a_search_that_names_a_person_or_carries_text_goes_by_post_and_says_how_many() {
    let (env, t, d) = setup();
    let (_, cli) = env.json(&["search", "--from", "1900-01-01", "--limit", "3", "--purpose", "compare"]);
    let subject = cli["hits"][0]["subject"].as_str().unwrap().to_string();
    // Personal data and free text are refused in a URL, with the way to go.
    for q in [format!("subject={subject}"), "text=potilas".into()] {
        let r = get(&d.addr, &format!("/api/v1/records?{q}&purpose=x"), Some(&t.officer));
        assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("personal-data-in-url")), "{q}");
        assert!(r.text().contains("/api/v1/records/search") && !r.text().contains(&subject), "{}", r.text());
    }
    // POST: the same answer as the CLI, with the total and the next page.
    let search = "/api/v1/records/search";
    let body = serde_json::json!({ "from": "1900-01-01", "limit": 3, "purpose": "client request 7" });
    let r = post(&d.addr, search, Some(&t.officer), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["total"].clone(), v["next"].clone(), v["page"].clone()),
        (cli["total"].clone(), serde_json::json!(2), serde_json::json!(1))
    );
    assert_eq!(v["hits"], cli["hits"]);
    let page2 =
        post(&d.addr, search, Some(&t.officer), &serde_json::json!({ "from": "1900-01-01", "limit": 3, "page": 2, "purpose": "p" })).json();
    assert_ne!(page2["hits"], v["hits"]);
    let person = post(&d.addr, search, Some(&t.officer), &serde_json::json!({ "subject": subject, "purpose": "p" })).json();
    assert!(person["total"].as_u64() > Some(0) && person["hits"].as_array().unwrap().iter().all(|h| h["subject"] == subject.as_str()));
    let text = post(&d.addr, search, Some(&t.officer), &serde_json::json!({ "text": "päänsärky", "sort": "date", "purpose": "p" })).json();
    assert!(text["total"].as_u64() > Some(0) && text["sort"] == "date", "{text}");
    // Bad bodies are 400 with a code, not a server error; roles are checked first.
    for (bad, code) in [
        (serde_json::json!({ "subject": subject }), "no-purpose"),
        (serde_json::json!({ "purpose": "p", "limit": 0 }), "bad-query"),
        (serde_json::json!({ "purpose": "p", "limit": 2.5 }), "bad-body"),
        (serde_json::json!({ "text": "x", "purpose": "p", "sort": "random" }), "bad-body"),
        (serde_json::json!({ "text": "x", "purpose": "p", "nonsense": 1 }), "bad-body"),
        (serde_json::json!({ "from": "yesterday", "purpose": "p" }), "bad-date"),
    ] {
        let r = post(&d.addr, search, Some(&t.officer), &bad);
        assert_eq!((r.status, r.json()["code"].as_str()), (400, Some(code)), "{bad}: {}", r.text());
    }
    for tok in [&t.operator, &t.auditor] {
        assert_eq!(post(&d.addr, search, Some(tok), &body).status, 403);
    }
    assert_eq!(post(&d.addr, search, None, &body).status, 401);
}

#[test]
fn an_export_job_makes_the_clients_package_and_only_its_owner_sees_or_downloads_it() {
    use sha2::Digest;
    let (env, t, d) = setup();
    let other_officer = token(&env, "records-officer", "Other Officer");
    let (_, hits) = env.json(&["search", "--source", "valid-small", "--purpose", "find a person", "--limit", "1"]);
    let subject = hits["hits"][0]["subject"].as_str().unwrap().to_string();
    let body = serde_json::json!({ "subject": subject, "purpose": "asiakkaan tarkastuspyyntö", "lang": "sv", "request": "2026/17" });
    // Every denied case: no token, a revoked token, the wrong roles; no purpose; a bad language.
    assert_eq!(post(&d.addr, "/api/v1/exports", None, &body).status, 401);
    assert_eq!(post(&d.addr, "/api/v1/exports", Some(&t.revoked), &body).status, 401);
    assert_eq!(post(&d.addr, "/api/v1/exports", Some(&t.operator), &body).status, 403);
    assert_eq!(post(&d.addr, "/api/v1/exports", Some(&t.auditor), &body).status, 403);
    let r = post(&d.addr, "/api/v1/exports", Some(&t.officer), &serde_json::json!({ "subject": subject }));
    assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("no-purpose")));
    let r = post(&d.addr, "/api/v1/exports", Some(&t.officer), &serde_json::json!({ "subject": subject, "purpose": "p", "lang": "de" }));
    assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("bad-lang")));

    let r = post(&d.addr, "/api/v1/exports", Some(&t.officer), &body);
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location"), Some(format!("/api/v1/exports/{id}").as_str()));
    let mut job = serde_json::Value::Null;
    for _ in 0..300 {
        job = get(&d.addr, &format!("/api/v1/exports/{id}"), Some(&t.officer)).json();
        if job["state"] != "running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(job["state"], "done", "{job}");
    // Another officer, or another role, sees nothing of it.
    assert_eq!(get(&d.addr, &format!("/api/v1/exports/{id}"), Some(&other_officer)).status, 404);
    assert_eq!(get(&d.addr, &format!("/api/v1/exports/{id}/package"), Some(&other_officer)).status, 404);
    assert_eq!(get(&d.addr, &format!("/api/v1/exports/{id}/package"), Some(&t.auditor)).status, 403);
    assert_eq!(get(&d.addr, "/api/v1/exports/exp-..%2F..%2Fetc", Some(&t.officer)).status, 404);

    let r = get(&d.addr, &format!("/api/v1/exports/{id}/package"), Some(&t.officer));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").and_then(|l| l.parse::<usize>().ok()), Some(r.body.len()));
    let sha = hex::encode(sha2::Sha256::digest(&r.body));
    assert_eq!(r.header("x-arkisto-sha256"), Some(sha.as_str()));
    assert_eq!(job["package"]["sha256"], sha.as_str());
    let tar = env.path("download.tar");
    std::fs::write(&tar, &r.body).unwrap();
    let x = env.path("x");
    std::fs::create_dir_all(&x).unwrap();
    assert!(std::process::Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&x).status().unwrap().success());
    let pkg = std::fs::read_dir(&x).unwrap().next().unwrap().unwrap().path();
    let cover = std::fs::read_to_string(pkg.join("documentation/index.html")).unwrap();
    assert!(cover.contains("<html lang=\"sv\">") && cover.contains("2026/17") && cover.contains("Liisa Records"), "{cover}");

    // The export and the download are both in the person's access log.
    let (_, log) = env.json(&["access-log", "--subject", &subject, "--purpose", "tarkistus"]);
    let actions: Vec<&str> = log.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"export person") && actions.contains(&"export download"), "{log}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let events = rt.block_on(async { env.archive().await.index.events().await.unwrap() });
    assert!(events.iter().any(|e| e.detail["action"] == "export download" && e.actor.contains("Liisa Records")));
}

#[test]
fn finished_export_packages_are_deleted_after_their_keep_time() {
    let env = Env::new();
    assert_eq!(env.ingest(&root().join("fixtures/batches/valid-small")).0, 0);
    let officer = token(&env, "records-officer", "Liisa Records");
    let d = serve(&env.data(), env.path("serve.log"), &[("ARKISTO__SERVE__INGEST_SCHEDULE", "off"), ("ARKISTO__EXPORT__KEEP_HOURS", "0")]);
    let body = serde_json::json!({ "subject": "010181-900C", "purpose": "tarkastuspyyntö" });
    let wait = |id: &str| {
        for _ in 0..300 {
            let j = get(&d.addr, &format!("/api/v1/exports/{id}"), Some(&officer)).json();
            if j["state"] != "running" {
                return j;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("export {id} did not finish");
    };
    let first = post(&d.addr, "/api/v1/exports", Some(&officer), &body).json()["id"].as_str().unwrap().to_string();
    assert_eq!(wait(&first)["state"], "done");
    assert!(env.data().join(format!("exports/{first}.tar")).is_file());
    // With keep_hours = 0 the next job sweeps the finished one away, package and all.
    let second = post(&d.addr, "/api/v1/exports", Some(&officer), &body).json()["id"].as_str().unwrap().to_string();
    assert_eq!(get(&d.addr, &format!("/api/v1/exports/{first}"), Some(&officer)).status, 404);
    assert!(!env.data().join(format!("exports/{first}.tar")).exists());
    assert_eq!(wait(&second)["state"], "done");
}

#[test]
fn an_export_cut_off_by_a_daemon_stop_says_so_instead_of_running_forever() {
    let env = Env::new();
    assert_eq!(env.ingest(&root().join("fixtures/batches/valid-small")).0, 0);
    let officer = token(&env, "records-officer", "Liisa Records");
    // What a daemon killed mid-export leaves: the job still "running", a half-written package.
    let dir = env.data().join("exports");
    std::fs::create_dir_all(&dir).unwrap();
    let id = "exp-01JZZZZZZZZZZZZZZZZZZZZZZZ";
    let (_, list) = env.json(&["token", "list"]);
    let t = list.as_array().unwrap().iter().find(|t| t["name"] == "Liisa Records").unwrap().clone();
    let owner = format!("api:Liisa Records ({})", t["token_id"].as_str().unwrap());
    let job =
        serde_json::json!({ "id": id, "state": "running", "owner": owner, "subject": "010181-900C", "started_at": "2026-01-01T00:00:00Z" });
    std::fs::write(dir.join(format!("{id}.json")), job.to_string()).unwrap();
    std::fs::write(dir.join(format!(".{id}.tar.arkisto-tmp-1")), b"half").unwrap();
    let d = serve(&env.data(), env.path("serve.log"), &[("ARKISTO__SERVE__INGEST_SCHEDULE", "off")]);
    let j = get(&d.addr, &format!("/api/v1/exports/{id}"), Some(&officer)).json();
    assert_eq!((j["state"].as_str(), j["error"]["code"].as_str()), (Some("failed"), Some("interrupted")), "{j}");
    assert_eq!(get(&d.addr, &format!("/api/v1/exports/{id}/package"), Some(&officer)).status, 409);
    // The next job clears the half-written package away.
    let r = post(&d.addr, "/api/v1/exports", Some(&officer), &serde_json::json!({ "subject": "010181-900C", "purpose": "p" }));
    assert_eq!(r.status, 202);
    assert!(!dir.join(format!(".{id}.tar.arkisto-tmp-1")).exists());
}
