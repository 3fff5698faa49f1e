//! Legacy exports read through source profiles: vendor XML, CSV tables, attachments, and the
//! hostile input that comes with them. Through the real binary, on the embedded default.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use common::*;

fn batch(name: &str) -> std::path::PathBuf {
    root().join("fixtures/batches").join(name)
}

/// Every file of a batch (relative paths), control files excluded.
fn batch_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.retain(|p| p != "PROFILE");
    out.sort();
    out
}

fn get(env: &Env, id: &str) -> Vec<u8> {
    let o = env.run(&["get", id, "--purpose", "test", "--actor", "tester"]);
    assert!(o.status.success(), "get {id}: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

fn show(env: &Env, id: &str) -> serde_json::Value {
    let (code, v) = env.json(&["show", id, "--purpose", "test", "--actor", "tester"]);
    assert_eq!(code, 0, "{v}");
    v
}

/// The report's archived entries: path → record id.
fn archived(r: &serde_json::Value) -> BTreeMap<String, String> {
    r["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["outcome"] == "archived")
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["record_id"].as_str().unwrap().to_string()))
        .collect()
}

/// The byte ranges of `<tag …>…</tag>` elements in `bytes`, in order.
fn elements(bytes: &[u8], tag: &str) -> Vec<Vec<u8>> {
    let (open, close) = (format!("<{tag} ").into_bytes(), format!("</{tag}>").into_bytes());
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(s) = bytes[i..].windows(open.len()).position(|w| w == open.as_slice()) {
        let s = i + s;
        let e = s + bytes[s..].windows(close.len()).position(|w| w == close.as_slice()).unwrap() + close.len();
        out.push(bytes[s..e].to_vec());
        i = e;
    }
    out
}

#[test]
fn vendor_xml_batch_archives_every_record_and_attachment_byte_exact() {
    let env = Env::new();
    let dir = batch("vendor-xml");
    let (code, r) = env.ingest(&dir);
    assert_eq!(code, 0, "{r}");
    let export = std::fs::read(dir.join("export.xml")).unwrap();
    let records = elements(&export, "Asiakirja");
    let attachments: Vec<String> = batch_files(&dir).into_iter().filter(|p| p.starts_with("liitteet/")).collect();
    assert_eq!(records.len(), 12);
    assert_eq!(r["counts"]["records_read"], 12);
    assert_eq!(r["counts"]["archived"].as_u64().unwrap() as usize, records.len() + attachments.len(), "{r}");
    assert_eq!(r["counts"]["quarantined"], 0);
    // The report lists every input file with its outcome.
    let out = outcomes(&r);
    for f in batch_files(&dir) {
        assert!(out.contains_key(&f), "{f} is not in the report");
    }
    assert_eq!(out["export.xml"].0, "split");
    let ids = archived(&r);
    // Each record's bytes are exactly its element in the export (ISO-8859-15, as it came).
    for (i, want) in records.iter().enumerate() {
        let id = &ids[&format!("export.xml#record={}", i + 1)];
        assert_eq!(&get(&env, id), want, "record {}", i + 1);
    }
    for a in &attachments {
        assert_eq!(get(&env, &ids[a]), std::fs::read(dir.join(a)).unwrap(), "{a}");
    }
    // show lists the links both ways; the attachment keeps its sniffed type.
    let first = show(&env, &ids["export.xml#record=1"]);
    let linked: Vec<&str> = first["attachments"].as_array().unwrap().iter().map(|a| a["record_id"].as_str().unwrap()).collect();
    assert_eq!(linked, [ids["liitteet/D0000001-1.pdf"].as_str(), ids["liitteet/D0000001-2.tif"].as_str()]);
    let pdf = show(&env, &ids["liitteet/D0000001-1.pdf"]);
    assert_eq!(pdf["meta"]["parent"], ids["export.xml#record=1"].as_str());
    assert_eq!(pdf["meta"]["media_type"], "application/pdf");
    assert_eq!(pdf["meta"]["subject"], first["meta"]["subject"], "an attachment belongs to its parent's subject");
    assert_eq!(pdf["meta"]["retention"], first["meta"]["retention"], "and is kept as long");
    assert_eq!(first["meta"]["media_type"], "application/xml; charset=iso-8859-15");
    assert_eq!(first["meta"]["document_id"], "legacy-patient-xml:D0000001");
    // Decoded for the index: Finnish letters from ISO-8859-15 are searchable.
    let (_, hits) = env.json(&["search", "--text", "päänsärky", "--purpose", "test"]);
    let hits = hits["hits"].clone();
    assert_eq!(hits.as_array().unwrap().len(), 12, "{hits}");
    // The links survive an index rebuild from the store.
    std::fs::remove_file(env.data().join("index.sqlite")).unwrap();
    let o = env.run(&["index", "rebuild"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = show(&env, &ids["export.xml#record=1"]);
    assert_eq!(again["attachments"], first["attachments"]);
    let (_, hits) = env.json(&["search", "--text", "päänsärky", "--purpose", "test"]);
    let hits = hits["hits"].clone();
    assert_eq!(hits.as_array().unwrap().len(), 12, "after rebuild: {hits}");
    // A second run archives nothing twice.
    let (code, r2) = env.ingest(&dir);
    assert_eq!(code, 0);
    assert_eq!(r2["counts"]["archived"], 0);
    assert_eq!(r2["counts"]["duplicate"], r["counts"]["archived"]);
}

#[test]
fn csv_batch_joins_subjects_decodes_windows_1252_and_keeps_row_bytes() {
    let env = Env::new();
    let dir = batch("csv");
    let (code, r) = env.ingest(&dir);
    assert_eq!(code, 0, "{r}");
    let docs = std::fs::read(dir.join("asiakirjat.csv")).unwrap();
    let clients = std::fs::read(dir.join("asiakkaat.csv")).unwrap();
    let attachments: Vec<String> = batch_files(&dir).into_iter().filter(|p| p.starts_with("liitteet/")).collect();
    let client_rows = clients.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() - 1;
    assert_eq!(r["counts"]["records_read"].as_u64().unwrap() as usize, 12 + client_rows);
    assert_eq!(r["counts"]["archived"].as_u64().unwrap() as usize, 12 + client_rows + attachments.len(), "{r}");
    let out = outcomes(&r);
    for f in batch_files(&dir) {
        assert!(out.contains_key(&f), "{f} is not in the report");
    }
    let ids = archived(&r);
    // Rows put back together in line order are the table minus its header, byte for byte
    // (quoted fields with line breaks and CRLF line ends included).
    let mut rows: Vec<(u64, String)> =
        ids.iter().filter_map(|(p, id)| p.strip_prefix("asiakirjat.csv#line=").map(|n| (n.parse().unwrap(), id.clone()))).collect();
    rows.sort();
    let joined: Vec<u8> = rows.iter().flat_map(|(_, id)| get(&env, id)).collect();
    let header_end = docs.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(joined, docs[header_end..].to_vec());
    for a in &attachments {
        assert_eq!(get(&env, &ids[a]), std::fs::read(dir.join(a)).unwrap(), "{a}");
    }
    // The join gave each document row its client's henkilötunnus; the text is decoded.
    let row = show(&env, &rows[0].1);
    assert_eq!(row["meta"]["subject"]["root"], "1.2.246.21");
    assert!(row["meta"]["subject_birth_date"].is_string());
    assert_eq!(row["meta"]["media_type"], "text/csv; charset=windows-1252; header=absent");
    let (_, hits) = env.json(&["search", "--text", "tapaaminen", "--purpose", "test"]);
    let hits = hits["hits"].clone();
    assert_eq!(hits.as_array().unwrap().len(), 12, "{hits}");
}

#[test]
fn profile_by_flag_and_unknown_profiles_say_what_exists() {
    let env = Env::new();
    let copy = env.path("batch");
    copy_dir(&batch("vendor-xml"), &copy);
    std::fs::remove_file(copy.join("PROFILE")).unwrap();
    // Without a profile the export is read as CDA and refused file by file.
    let (_, r) = env.ingest(&copy);
    assert_eq!(r["counts"]["archived"], 0);
    let (code, r) = env.json(&["ingest", copy.to_str().unwrap(), "--profile", "legacy-patient-xml"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["counts"]["records_read"], 12);
    let o = env.run(&["ingest", copy.to_str().unwrap(), "--profile", "no-such-profile"]);
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no-such-profile") && err.contains("legacy-social-csv"), "{err}");
}

#[test]
fn cda_nonxmlbody_is_archived_as_a_linked_decoded_attachment() {
    let env = Env::new();
    let src = shared().join("cda/hl7-c-cda-examples");
    let mut found = None;
    for e in walk(&src) {
        let t = std::fs::read_to_string(&e).unwrap_or_default();
        if t.contains("<nonXMLBody") && t.contains("representation=\"B64\"") && t.contains("ClinicalDocument") {
            found = Some(e);
            break;
        }
    }
    let doc = found.expect("a CDA with an embedded base64 body in the shared data");
    let b = env.path("b");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(&doc, b.join("doc.xml")).unwrap();
    let (_, r) = env.ingest(&b);
    let ids = archived(&r);
    let parent = ids.get("doc.xml").unwrap_or_else(|| panic!("{r}"));
    let child = ids.get("doc.xml#nonXMLBody").unwrap_or_else(|| panic!("{r}"));
    let s = show(&env, parent);
    assert_eq!(s["attachments"][0]["record_id"], child.as_str());
    // The attachment is the decoded content, byte-exact.
    let text = std::fs::read_to_string(b.join("doc.xml")).unwrap();
    let start = text.find("representation=\"B64\"").unwrap();
    let body = &text[text[start..].find('>').unwrap() + start + 1..];
    let body = &body[..body.find('<').unwrap()];
    let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    use base64::Engine;
    let want = base64::engine::general_purpose::STANDARD.decode(clean).unwrap();
    assert_eq!(get(&env, child), want);
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "xml") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// External entities and remote schemas are never fetched: a loopback listener stands in for
/// the remote server and must see no connection, whatever the input asks for.
#[test]
fn external_entities_and_schemas_are_never_fetched() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = Env::new();
    let b = env.path("b");
    std::fs::create_dir_all(&b).unwrap();
    let url = format!("http://127.0.0.1:{port}/canary");
    std::fs::write(
        b.join("a-xxe.xml"),
        format!("<?xml version=\"1.0\"?>\n<!DOCTYPE Vienti [<!ENTITY e SYSTEM \"{url}\">]>\n<Vienti><Asiakirja id=\"1\">&e;</Asiakirja></Vienti>\n"),
    )
    .unwrap();
    std::fs::write(
        b.join("b-dtd.xml"),
        format!("<?xml version=\"1.0\"?>\n<!DOCTYPE Vienti SYSTEM \"{url}\">\n<Vienti><Asiakirja id=\"2\"/></Vienti>\n"),
    )
    .unwrap();
    std::fs::write(
        b.join("c-schema.xml"),
        format!(
            "<?xml version=\"1.0\"?>\n<Vienti xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:x {url}\" xmlns:xi=\"http://www.w3.org/2001/XInclude\"><Asiakirja id=\"3\"><Potilas><Hetu>010170-900J</Hetu></Potilas><xi:include href=\"{url}\"/></Asiakirja></Vienti>\n"
        ),
    )
    .unwrap();
    std::fs::write(b.join("PROFILE"), "legacy-patient-xml\n").unwrap();
    let (_, r) = env.ingest(&b);
    let out = outcomes(&r);
    assert_eq!(out["a-xxe.xml"], ("quarantined".to_string(), vec!["V002".to_string()]));
    assert_eq!(out["b-dtd.xml"], ("quarantined".to_string(), vec!["V002".to_string()]));
    assert_eq!(out["c-schema.xml#record=1"].0, "archived", "{r}");
    // The same inputs as CDA files, without the profile.
    std::fs::remove_file(b.join("PROFILE")).unwrap();
    let env2 = Env::new();
    env2.ingest(&b);
    match listener.accept() {
        Ok((mut s, _)) => {
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            panic!("arkisto connected to the canary: {buf}");
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
    }
}

/// The vendor XML reader meets the conformance bar of the CDA reader on James Clark's
/// xmltest: every not-wf case rejected, no well-formed case called malformed.
#[test]
fn vendor_xml_reader_on_xmltest() {
    use arkisto::formats::xml::Limits;
    use arkisto::sources::vendor_xml::{XmlSpec, read};
    use arkisto::validate::findings::Code;
    let base = shared().join("xml");
    let text = std::fs::read_to_string(base.join("xmltest/MANIFEST.csv")).unwrap();
    let spec = XmlSpec { record: "doc".into(), ..Default::default() };
    let (mut slipped, mut wrongly) = (Vec::new(), Vec::new());
    let mut n = 0;
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let (id, kind, path) = (c[0], c[1], c[7]);
        let f = std::fs::File::open(base.join(path)).unwrap();
        let verdict = read(std::io::BufReader::new(f), &spec, Limits::default(), |_| true);
        n += 1;
        match (kind, verdict) {
            ("not-wf", Ok(_)) => slipped.push(id.to_string()),
            ("not-wf", Err((_, f))) => assert!(matches!(f.code, Code::V001 | Code::V002 | Code::V010 | Code::V012), "{id}: {f}"),
            (_, Err((_, f))) if f.code == Code::V001 => wrongly.push(format!("{id}: {f}")),
            _ => {}
        }
    }
    assert!(n > 300, "{n} cases");
    assert!(wrongly.is_empty(), "well-formed documents called not well-formed: {wrongly:#?}");
    assert!(slipped.is_empty(), "not-wf documents accepted: {slipped:?}");
}

/// An attachment over the streaming threshold is hashed and compressed from its file (never
/// held whole in memory) and still comes back byte-exact; a later run finds it archived.
#[test]
fn a_large_attachment_is_streamed_and_comes_back_byte_exact() {
    let env = Env::new();
    let b = env.path("b");
    std::fs::create_dir_all(b.join("liitteet")).unwrap();
    let size = (arkisto::ingest::STREAM_ABOVE + (3 << 20)) as usize;
    let mut big = b"%PDF-1.4\n".to_vec();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while big.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    big.extend_from_slice(b"\n%%EOF\n");
    std::fs::write(b.join("liitteet/scan.pdf"), &big).unwrap();
    std::fs::write(
        b.join("export.xml"),
        "<?xml version=\"1.0\"?>\n<Vienti><Asiakirja id=\"1\"><Potilas><Hetu>010170-900J</Hetu></Potilas><Otsikko>Lähete</Otsikko>\
         <Liitteet><Liite tiedosto=\"scan.pdf\" tyyppi=\"application/pdf\"/></Liitteet></Asiakirja></Vienti>\n",
    )
    .unwrap();
    std::fs::write(b.join("PROFILE"), "legacy-patient-xml\n").unwrap();
    let (code, r) = env.ingest(&b);
    assert_eq!(code, 0, "{r}");
    let ids = archived(&r);
    let id = &ids["liitteet/scan.pdf"];
    assert_eq!(id, &arkisto::digest::Sha256::of(&big).to_hex());
    assert!(get(&env, id) == big, "the streamed attachment must come back byte-exact");
    let s = show(&env, id);
    assert_eq!(s["meta"]["original_size"], big.len() as u64);
    assert_eq!(s["meta"]["media_type"], "application/pdf");
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 0, "{v}");
    let (_, again) = env.ingest(&b);
    assert_eq!(again["counts"]["duplicate"], 2);
    // Damage in the middle of the large frame: verify (which checks it as it streams past)
    // names the record, and get refuses it.
    let loc = &s["location"];
    let pack = env.data().join("store").join(s["pack_key"].as_str().unwrap());
    let at = loc["data_offset"].as_u64().unwrap() + loc["data_len"].as_u64().unwrap() / 2;
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[at as usize] ^= 0x20;
    std::fs::write(&pack, &bytes).unwrap();
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 3, "{v}");
    assert!(
        v["findings"].as_array().unwrap().iter().any(|f| f["code"] == "A004" && f["records"][0] == id.as_str()),
        "the damaged large record is named: {v}"
    );
    let o = env.run(&["get", id, "--purpose", "t"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    // No streamed frame is left behind in the temp folder.
    let tmp_left: Vec<_> =
        std::fs::read_dir(env.data().join("tmp")).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(tmp_left.iter().all(|n| !n.to_string_lossy().starts_with("frame-")), "{tmp_left:?}");
}

/// Hostile input never harms what is archived already: after every fixture of
/// `fixtures/invalid/` has been thrown at one archive, the records archived before are all
/// there, byte-exact, and verify is clean.
#[test]
fn hostile_batches_harm_nothing_archived_before() {
    let env = Env::new();
    let dir = batch("vendor-xml");
    let (code, first) = env.ingest(&dir);
    assert_eq!(code, 0, "{first}");
    let before = archived(&first);
    let mut folders: Vec<_> = std::fs::read_dir(root().join("fixtures/invalid")).unwrap().map(|e| e.unwrap().path()).collect();
    folders.sort();
    for f in &folders {
        let (code, r) = env.ingest(f);
        assert!(matches!(code, 0 | 3), "{}: {r}", f.display());
    }
    let (code, v) = env.json(&["verify"]);
    assert_eq!(code, 0, "{v}");
    for (path, id) in &before {
        let want = match path.split_once('#') {
            Some(_) => continue,
            None => std::fs::read(dir.join(path)).unwrap(),
        };
        assert_eq!(get(&env, id), want, "{path}");
    }
    let (_, again) = env.ingest(&dir);
    assert_eq!(again["counts"]["duplicate"].as_u64().unwrap() as usize, before.len());
}

/// One scanned file referred to by several records is archived once and listed as an
/// attachment of each of them, in this run and in later ones, and after an index rebuild.
#[test]
fn a_file_referred_to_by_several_records_is_linked_to_each() {
    let env = Env::new();
    let b = env.path("b");
    std::fs::create_dir_all(b.join("liitteet")).unwrap();
    std::fs::copy(batch("vendor-xml").join("liitteet/D0000001-1.pdf"), b.join("liitteet/shared.pdf")).unwrap();
    let rec = |id: &str| {
        format!(
            "<Asiakirja id=\"{id}\"><Potilas><Hetu>010170-900J</Hetu></Potilas><Otsikko>{id}</Otsikko>\
             <Liitteet><Liite tiedosto=\"shared.pdf\" tyyppi=\"application/pdf\"/></Liitteet></Asiakirja>"
        )
    };
    std::fs::write(b.join("export.xml"), format!("<?xml version=\"1.0\"?>\n<Vienti>{}{}</Vienti>\n", rec("A"), rec("B"))).unwrap();
    std::fs::write(b.join("PROFILE"), "legacy-patient-xml\n").unwrap();
    let (code, r) = env.ingest(&b);
    assert_eq!(code, 0, "{r}");
    let ids = archived(&r);
    let pdf = ids["liitteet/shared.pdf"].clone();
    let attached = |env: &Env, id: &str| -> Vec<String> {
        show(env, id)["attachments"]
            .as_array()
            .map(|a| a.iter().map(|x| x["record_id"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    for rec_path in ["export.xml#record=1", "export.xml#record=2"] {
        assert_eq!(attached(&env, &ids[rec_path]), vec![pdf.clone()], "{rec_path}");
    }
    // A later export refers to the same scan.
    let c = env.path("c");
    std::fs::create_dir_all(c.join("liitteet")).unwrap();
    std::fs::copy(b.join("liitteet/shared.pdf"), c.join("liitteet/shared.pdf")).unwrap();
    std::fs::write(c.join("export.xml"), format!("<?xml version=\"1.0\"?>\n<Vienti>{}</Vienti>\n", rec("C"))).unwrap();
    std::fs::write(c.join("PROFILE"), "legacy-patient-xml\n").unwrap();
    let (_, r2) = env.ingest(&c);
    let third = archived(&r2)["export.xml#record=1"].clone();
    assert_eq!(attached(&env, &third), vec![pdf.clone()]);
    // A re-run links nothing twice.
    let links = |env: &Env| {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let a = env.archive().await;
            a.index.events().await.unwrap().iter().filter(|e| e.event_type == arkisto::ledger::LINK).count()
        })
    };
    let before = links(&env);
    assert_eq!(before, 2, "one event per run that linked (run 1: the second record; run 2: the third)");
    env.ingest(&c);
    assert_eq!(links(&env), before, "no new link event for links already known");
    // The links are in the ledger: a rebuilt index has them.
    std::fs::remove_file(env.data().join("index.sqlite")).unwrap();
    assert!(env.run(&["index", "rebuild"]).status.success());
    for id in [&ids["export.xml#record=1"], &ids["export.xml#record=2"], &third] {
        assert_eq!(attached(&env, id), vec![pdf.clone()], "after rebuild: {id}");
    }
}
