//! The S3 store against real servers: Garage (no Object Lock) and the moto server (Object
//! Lock). The same store contract runs on the local directory, Garage and moto; then the CLI
//! end to end, the capability probe, Object Lock and legal holds, and interop with a standard
//! client.

mod common;

use std::path::Path;

use arkisto::config::{Secret, StoreConfig};
use arkisto::store::{LocalStore, ObjectKey, ObjectStore, PutOptions, S3Store, StoreError};
use common::s3::Target;
use common::{Env, root};

fn store_config(t: &Target, prefix: &str) -> StoreConfig {
    StoreConfig {
        kind: "s3".into(),
        endpoint: t.endpoint.clone(),
        region: t.region.clone(),
        bucket: t.bucket.clone(),
        prefix: prefix.into(),
        access_key_id: t.key_id.clone(),
        secret_access_key: Secret::new(t.secret.clone()),
        multipart_threshold_mib: 5,
        part_size_mib: 5,
        ..StoreConfig::default()
    }
}

fn prefix() -> String {
    format!("t{}/", ulid::Ulid::new().to_string().to_lowercase())
}

/// What every store must do: put-if-absent (small and multipart), ranged reads, head, list,
/// delete, and the right errors.
async fn contract(store: &dyn ObjectStore, scratch: &Path) {
    let k = ObjectKey::new("packs/2026/a.pack").unwrap();
    store.put_bytes(&k, b"hello world".to_vec()).await.unwrap();
    assert_eq!(store.get_range(&k, 6, 5).await.unwrap(), b"world");
    assert!(matches!(store.put_bytes(&k, b"evil".to_vec()).await, Err(StoreError::Exists(_))), "{}: overwrote", store.describe());
    assert_eq!(store.get_range(&k, 0, 11).await.unwrap(), b"hello world", "the first write survives");
    assert!(matches!(store.get_range(&k, 6, 50).await, Err(StoreError::Range { .. })), "{}", store.describe());
    let missing = ObjectKey::new("packs/2026/missing.pack").unwrap();
    assert!(matches!(store.get_range(&missing, 0, 1).await, Err(StoreError::NotFound(_))));
    assert!(store.head(&missing).await.unwrap().is_none());

    // 12 MiB from a file: three 5 MiB parts on S3 (threshold 5 MiB), one put locally.
    let big: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let f = scratch.join("big.bin");
    std::fs::write(&f, &big).unwrap();
    let kb = ObjectKey::new("packs/2026/big.pack").unwrap();
    let opts = PutOptions { sha256: Some(arkisto::digest::Sha256::of(&big)), ..Default::default() };
    store.put_file(&kb, &f, &opts).await.unwrap();
    assert_eq!(store.head(&kb).await.unwrap().unwrap().size, big.len() as u64);
    let at = 5 * 1024 * 1024 - 10;
    assert_eq!(store.get_range(&kb, at as u64, 20).await.unwrap(), &big[at..at + 20], "a range across a part boundary");
    assert!(matches!(store.put_file(&kb, &f, &opts).await, Err(StoreError::Exists(_))), "multipart overwrote");

    let listed: Vec<String> = store.list("packs/").await.unwrap().into_iter().map(|o| o.key.to_string()).collect();
    assert_eq!(listed, vec!["packs/2026/a.pack", "packs/2026/big.pack"]);
    assert!(store.list("ledger/").await.unwrap().is_empty());
    store.delete(&k).await.unwrap();
    store.delete(&k).await.unwrap(); // absent: not an error
    assert!(store.head(&k).await.unwrap().is_none());
    store.health().await.unwrap();
}

#[tokio::test]
async fn the_store_contract_holds_on_a_local_directory() {
    let d = tempfile::tempdir().unwrap();
    let s = LocalStore::open(d.path().join("store")).unwrap();
    contract(&s, d.path()).await;
}

#[tokio::test]
async fn the_store_contract_holds_on_garage() {
    let Some(t) = common::s3::garage() else { return };
    let d = tempfile::tempdir().unwrap();
    let s = S3Store::open(&store_config(&t, &prefix())).await.unwrap();
    contract(&s, d.path()).await;
}

#[tokio::test]
async fn the_store_contract_holds_on_moto() {
    let Some(m) = common::s3::moto() else { return };
    let t = m.fresh_bucket(false).await;
    let d = tempfile::tempdir().unwrap();
    let s = S3Store::open(&store_config(&t, "")).await.unwrap();
    contract(&s, d.path()).await;
}

#[tokio::test]
async fn disposal_deletes_every_version_on_a_versioned_bucket() {
    let Some(m) = common::s3::moto() else { return };
    let t = m.fresh_bucket(false).await;
    t.client()
        .put_bucket_versioning()
        .bucket(&t.bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build(),
        )
        .send()
        .await
        .unwrap();
    let s = S3Store::open(&store_config(&t, "")).await.unwrap();
    let k = ObjectKey::new("packs/2026/v.pack").unwrap();
    s.put_bytes(&k, b"x".to_vec()).await.unwrap();
    s.delete(&k).await.unwrap();
    let v = t.client().list_object_versions().bucket(&t.bucket).send().await.unwrap();
    assert!(v.versions().is_empty() && v.delete_markers().is_empty(), "a version survived: {v:?}");
}

fn env_of(t: &Target, prefix: &str) -> Vec<(String, String)> {
    t.env(prefix)
}

fn run(env: &Env, vars: &[(String, String)], args: &[&str]) -> (i32, serde_json::Value, String) {
    let v: Vec<(&str, &str)> = vars.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = env.run_env(&a, &v);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let json = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code().unwrap_or(-1), json, stderr)
}

fn valid_small() -> std::path::PathBuf {
    root().join("fixtures/batches/valid-small")
}

#[test]
fn ingest_into_garage_then_verify_get_and_rebuild_from_the_bucket() {
    let Some(t) = common::s3::garage() else { return };
    let env = Env::new();
    let vars = env_of(&t, &prefix());
    let (code, rep, err) = run(&env, &vars, &["ingest", valid_small().to_str().unwrap()]);
    assert_eq!(code, 0, "{rep}\n{err}");
    let archived = common::stored(&rep);
    assert!(archived > 0);
    let (code, v, err) = run(&env, &vars, &["verify"]);
    assert_eq!(code, 0, "{v}\n{err}");
    // Every archived document comes back byte-identical.
    for f in std::fs::read_dir(valid_small()).unwrap().flatten().filter(|f| f.path().extension().is_some_and(|e| e == "xml")) {
        let bytes = std::fs::read(f.path()).unwrap();
        let id = arkisto::digest::Sha256::of(&bytes).to_hex();
        let out = env.path("out.xml");
        let v: Vec<(&str, &str)> = vars.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let o = env.run_env(&["get", &id, "-o", out.to_str().unwrap(), "--purpose", "test"], &v);
        if o.status.success() {
            assert_eq!(std::fs::read(&out).unwrap(), bytes, "{}", f.path().display());
        }
    }
    // The index is derived: delete it and rebuild from the bucket alone.
    let (_, before, _) = run(&env, &vars, &["search", "--from", "1800-01-01", "--limit", "100000", "--purpose", "test"]);
    assert!(before["total"].as_u64() > Some(0), "{before}");
    std::fs::remove_file(env.data().join("index.sqlite")).unwrap();
    let (code, r, err) = run(&env, &vars, &["index", "rebuild"]);
    assert_eq!(code, 0, "{r}\n{err}");
    assert_eq!(r["records"].as_u64(), Some(archived));
    let (code, v, err) = run(&env, &vars, &["verify"]);
    assert_eq!(code, 0, "{v}\n{err}");
    let (_, after, _) = run(&env, &vars, &["search", "--from", "1800-01-01", "--limit", "100000", "--purpose", "test"]);
    assert_eq!(before, after);
}

#[test]
fn store_check_on_garage_finds_no_object_lock_and_require_worm_refuses() {
    let Some(t) = common::s3::garage() else { return };
    let env = Env::new();
    let vars = env_of(&t, &prefix());
    let (code, r, err) = run(&env, &vars, &["store", "check"]);
    assert_eq!(code, 0, "{r}\n{err}");
    for op in r["operations"].as_array().unwrap() {
        assert_eq!(op["ok"], true, "{op}");
    }
    assert_eq!(r["object_lock_enforced"], false, "{r}");
    // The finding is in the ledger, and require_worm refuses to run on this store.
    let mut strict = vars.clone();
    strict.push(("ARKISTO__STORE__REQUIRE_WORM".into(), "true".into()));
    let (code, v, _) = run(&env, &strict, &["ingest", valid_small().to_str().unwrap()]);
    assert_eq!(code, 1, "{v}");
    let err = v["error"].as_str().unwrap_or("");
    assert!(err.contains("require_worm") && err.contains("Object Lock"), "{err}");
    let (code, _, _) = run(&env, &strict, &["store", "check"]);
    assert_eq!(code, 3, "store check with require_worm on a store without the lock exits 3");
}

async fn head_lock(t: &Target, key: &str) -> (Option<String>, Option<i64>, Option<String>) {
    let h = t.client().head_object().bucket(&t.bucket).key(key).send().await.unwrap();
    (
        h.object_lock_mode().map(|m| m.as_str().to_string()),
        h.object_lock_retain_until_date().map(|d| d.secs()),
        h.object_lock_legal_hold_status().map(|s| s.as_str().to_string()),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn object_lock_on_moto_is_proven_applied_renewed_and_follows_holds() {
    let Some(m) = common::s3::moto() else { return };
    let t = m.fresh_bucket(true).await;
    let env = Env::new();
    let mut vars = env_of(&t, "");
    vars.push(("ARKISTO__STORE__LOCK_MODE".into(), "compliance".into()));
    vars.push(("ARKISTO__STORE__REQUIRE_WORM".into(), "true".into()));
    // Without a check, require_worm refuses.
    let (code, v, _) = tokio::task::block_in_place(|| run(&env, &vars, &["stats"]));
    assert_eq!(code, 1, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("store check"), "{v}");
    let (code, r, err) = tokio::task::block_in_place(|| run(&env, &vars, &["store", "check", "--lock-seconds", "2"]));
    assert_eq!(code, 0, "{r}\n{err}");
    assert_eq!(r["object_lock_enforced"], true, "{r}");
    assert_eq!(r["legal_hold"], true, "{r}");

    let (code, rep, err) = tokio::task::block_in_place(|| run(&env, &vars, &["ingest", valid_small().to_str().unwrap()]));
    assert_eq!(code, 0, "{rep}\n{err}");
    let packs = t.keys("packs/").await;
    assert!(!packs.is_empty());
    // Each pack carries COMPLIANCE retention until its earliest member's lock horizon.
    let a = {
        let cfg = arkisto::config::Config::load(None, vars.clone(), &arkisto::config::Flags { data_dir: Some(env.data()) }).unwrap();
        arkisto::archive::Archive::open(cfg).await.unwrap()
    };
    let today = chrono::Utc::now().date_naive();
    let want = arkisto::lock::desired(&a, today).await.unwrap();
    for p in &want {
        let (mode, until, hold) = head_lock(&t, &p.key).await;
        assert_eq!(mode.as_deref(), Some("COMPLIANCE"), "{}", p.key);
        let until = chrono::DateTime::from_timestamp(until.unwrap(), 0).unwrap().date_naive();
        assert_eq!(Some(until), p.retain_until, "{}", p.key);
        assert_ne!(hold.as_deref(), Some("ON"));
        // The server refuses to destroy it.
        let v = t.client().list_object_versions().bucket(&t.bucket).prefix(&p.key).send().await.unwrap();
        let vid = v.versions()[0].version_id().unwrap().to_string();
        let del = t.client().delete_object().bucket(&t.bucket).key(&p.key).version_id(vid).send().await;
        assert!(del.is_err(), "moto deleted a COMPLIANCE-locked pack version");
    }

    // A hold on a subject puts that subject's packs under legal hold; removing it releases.
    let rows = a.index.retention_rows(None).await.unwrap();
    let subject = rows.iter().find_map(|r| r.subject.clone()).expect("a subject");
    let held_pack = rows.iter().find(|r| r.subject.as_deref() == Some(&subject)).unwrap().pack_id;
    let key = want.iter().find(|p| p.pack_id == held_pack).unwrap().key.clone();
    let (code, h, err) =
        tokio::task::block_in_place(|| run(&env, &vars, &["hold", "add", "--subject", &subject, "--reason", "court order 12/2026"]));
    assert_eq!(code, 0, "{h}\n{err}");
    assert_eq!(head_lock(&t, &key).await.2.as_deref(), Some("ON"));
    let hold_id = h["hold_id"].as_str().unwrap().to_string();
    let (code, _, err) = tokio::task::block_in_place(|| run(&env, &vars, &["hold", "remove", &hold_id, "--reason", "case closed"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(head_lock(&t, &key).await.2.as_deref(), Some("OFF"));

    // Renewal judged a year from now extends every pack; nothing is ever shortened.
    let later = (today + chrono::Days::new(400)).to_string();
    let (code, r, err) = tokio::task::block_in_place(|| run(&env, &vars, &["lock", "renew", "--as-of", &later]));
    assert_eq!(code, 0, "{r}\n{err}");
    assert_eq!(r["extended"].as_u64(), Some(want.len() as u64), "{r}");
    let again = arkisto::lock::desired(&a, today + chrono::Days::new(400)).await.unwrap();
    for p in &again {
        let until = chrono::DateTime::from_timestamp(head_lock(&t, &p.key).await.1.unwrap(), 0).unwrap().date_naive();
        assert!(Some(until) >= p.retain_until, "{}: {until} < {:?}", p.key, p.retain_until);
    }
    let (code, r, _) = tokio::task::block_in_place(|| run(&env, &vars, &["lock", "renew"]));
    assert_eq!(code, 0);
    assert_eq!(r["extended"].as_u64(), Some(0), "renewing as of today never shortens: {r}");
    let (code, v, err) = tokio::task::block_in_place(|| run(&env, &vars, &["verify"]));
    assert_eq!(code, 0, "{v}\n{err}");

    // A death date long ago makes the subject's records due, but the lock set at ingest
    // (from what was known then) is never shortened: disposal keeps them back and says why.
    let facts = env.path("deaths.csv");
    std::fs::write(&facts, format!("subject_id,death_date\n{subject},1990-01-01\n")).unwrap();
    let (code, f, err) = tokio::task::block_in_place(|| run(&env, &vars, &["facts", "import", facts.to_str().unwrap()]));
    assert_eq!(code, 0, "{f}\n{err}");
    let (code, plan, err) = tokio::task::block_in_place(|| run(&env, &vars, &["dispose", "plan", "--actor", "alice"]));
    assert_eq!(code, 0, "{plan}\n{err}");
    let plan_id = plan["plan_id"].as_str().unwrap().to_string();
    assert!(!plan["items"].as_array().unwrap().is_empty(), "{plan}");
    let (code, _, err) = tokio::task::block_in_place(|| run(&env, &vars, &["dispose", "approve", &plan_id, "--actor", "bob"]));
    assert_eq!(code, 0, "{err}");
    let (code, x, err) = tokio::task::block_in_place(|| run(&env, &vars, &["dispose", "execute", &plan_id, "--actor", "bob"]));
    assert_eq!(code, 0, "{x}\n{err}");
    assert_eq!(x["disposed"].as_u64(), Some(0), "{x}");
    let kept = x["kept"].as_array().unwrap();
    assert!(!kept.is_empty() && kept.iter().all(|k| k[1].as_str().unwrap_or("").contains("Object Lock until")), "{x}");
    let (code, v, err) = tokio::task::block_in_place(|| run(&env, &vars, &["verify"]));
    assert_eq!(code, 0, "{v}\n{err}");
}

#[test]
fn a_standard_client_lists_and_downloads_what_arkisto_wrote() {
    let Some(t) = common::s3::garage() else { return };
    let aws = std::process::Command::new("sh").args(["-c", "command -v aws"]).output().unwrap();
    if !aws.status.success() {
        common::s3::missing("the aws CLI");
        return;
    }
    let env = Env::new();
    let pre = prefix();
    let vars = env_of(&t, &pre);
    let (code, rep, err) = run(&env, &vars, &["ingest", valid_small().to_str().unwrap()]);
    assert_eq!(code, 0, "{rep}\n{err}");
    let aws_env = [
        ("AWS_ACCESS_KEY_ID", t.key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", t.secret.as_str()),
        ("AWS_DEFAULT_REGION", t.region.as_str()),
        ("AWS_CA_BUNDLE", ""),
    ];
    let ls = std::process::Command::new("aws")
        .args(["--endpoint-url", &t.endpoint, "s3", "ls", "--recursive", &format!("s3://{}/{}packs/", t.bucket, pre)])
        .envs(aws_env)
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .unwrap();
    assert!(ls.status.success(), "{}", String::from_utf8_lossy(&ls.stderr));
    let listing = String::from_utf8_lossy(&ls.stdout).to_string();
    let key =
        listing.lines().find_map(|l| l.split_whitespace().last().filter(|k| k.ends_with(".pack"))).expect("a pack listed").to_string();
    let dl = env.path("dl.pack");
    let cp = std::process::Command::new("aws")
        .args(["--endpoint-url", &t.endpoint, "s3", "cp", &format!("s3://{}/{}", t.bucket, key), dl.to_str().unwrap()])
        .envs(aws_env)
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .unwrap();
    assert!(cp.status.success(), "{}", String::from_utf8_lossy(&cp.stderr));
    // zstd -d on the downloaded pack gives the records' bytes (skippable frames are skipped).
    let z = std::process::Command::new("zstd").args(["-d", "-c", "-q"]).arg(&dl).output().unwrap();
    assert!(z.status.success(), "zstd: {}", String::from_utf8_lossy(&z.stderr));
    let text = String::from_utf8_lossy(&z.stdout);
    let sources: Vec<Vec<u8>> = std::fs::read_dir(valid_small())
        .unwrap()
        .flatten()
        .filter(|f| f.path().extension().is_some_and(|e| e == "xml"))
        .map(|f| std::fs::read(f.path()).unwrap())
        .collect();
    let found = sources.iter().filter(|s| text.contains(String::from_utf8_lossy(s).as_ref())).count();
    assert!(found > 0, "no source document found whole in the decompressed pack");
}

#[test]
fn the_auditor_reads_the_bucket_itself_and_a_witness_prefix_gets_every_checkpoint() {
    let Some(t) = common::s3::garage() else { return };
    let env = Env::new();
    let (p, w) = (prefix(), prefix());
    let mut vars = env_of(&t, &p);
    for (k, v) in [
        ("KIND", "s3".to_string()),
        ("ENDPOINT", t.endpoint.clone()),
        ("REGION", t.region.clone()),
        ("BUCKET", t.bucket.clone()),
        ("PREFIX", w.clone()),
        ("ACCESS_KEY_ID", t.key_id.clone()),
        ("SECRET_ACCESS_KEY", t.secret.clone()),
    ] {
        vars.push((format!("ARKISTO__LEDGER__WITNESS__{k}"), v));
    }
    let (code, k, err) = run(&env, &vars, &["key", "generate", "--name", "s3.example/arkisto"]);
    assert_eq!(code, 0, "{k}\n{err}");
    let key = k["verifier_key"].as_str().unwrap().to_string();
    let (code, rep, err) = run(&env, &vars, &["ingest", valid_small().to_str().unwrap()]);
    assert_eq!(code, 0, "{rep}\n{err}");
    let audit = |extra: &[&str]| {
        let o = std::process::Command::new(common::audit_bin())
            .args(["--json", "--store", &format!("s3://{}/{p}", t.bucket), "--endpoint", &t.endpoint, "--region", &t.region, "--key", &key])
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", &t.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &t.secret)
            .output()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        (o.status.code().unwrap_or(-1), v)
    };
    let (code, r) = audit(&[]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["records"].as_u64(), Some(common::stored(&rep)), "{r}");

    // The witness prefix holds every checkpoint the store holds, byte for byte.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (store, witness) =
        rt.block_on(async { (S3Store::open(&store_config(&t, &p)).await.unwrap(), S3Store::open(&store_config(&t, &w)).await.unwrap()) });
    let notes = |s: &S3Store| -> Vec<(String, Vec<u8>)> {
        rt.block_on(async {
            let mut out = Vec::new();
            for o in s.list("checkpoints/").await.unwrap().into_iter().filter(|o| o.key.as_str().ends_with(".note")) {
                out.push((o.key.to_string(), arkisto::store::get_all(s, &o.key).await.unwrap()));
            }
            out
        })
    };
    let in_store = notes(&store);
    assert!(!in_store.is_empty());
    assert_eq!(notes(&witness), in_store);

    // A pack deleted from the bucket is found, reading the bucket.
    let pack = rt.block_on(store.list("packs/")).unwrap().remove(0).key;
    rt.block_on(store.delete(&pack)).unwrap();
    let (code, r) = audit(&[]);
    assert_eq!(code, 3, "{r:#}");
    assert!(common::audit_found(&r, "AU04", pack.as_str()), "{r:#}");
}
