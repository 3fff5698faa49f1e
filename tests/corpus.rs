//! The public documents and conformance suites in ../shared/data, end to end.

mod common;

use std::collections::BTreeMap;

use arkisto::formats::xml::{self, Handler, Limits};
use arkisto::validate::findings::Code;
use common::*;

struct Row {
    source: String,
    path: String,
    sha256: String,
    kind: String,
    well_formed: bool,
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(shared().join("cda/MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            Row { source: c[0].into(), path: c[1].into(), sha256: c[3].into(), kind: c[4].into(), well_formed: c[5] == "yes" }
        })
        .collect()
}

#[test]
fn every_complete_public_document_is_archived_and_comes_back_byte_identical() {
    let env = Env::new();
    let (code, kanta) = env.ingest(&shared().join("cda/kanta-examples"));
    assert!(code == 0 || code == 3, "{kanta}");
    let (_, hl7) = env.ingest(&shared().join("cda/hl7-c-cda-examples"));
    let mut outcomes = BTreeMap::new();
    for (prefix, r) in [("kanta-examples/", &kanta), ("hl7-c-cda-examples/", &hl7)] {
        for (p, o) in common::outcomes(r) {
            outcomes.insert(format!("{prefix}{p}"), o);
        }
    }
    let mut checked = 0;
    for row in manifest().iter().filter(|r| r.kind == "full" && r.well_formed) {
        let (outcome, codes) = outcomes.get(&row.path).unwrap_or_else(|| panic!("{} missing from the run reports", row.path));
        assert_eq!(outcome, "archived", "{} was {outcome} {codes:?}", row.path);
        let out = env.path("out.xml");
        let o = env.run(&["get", &row.sha256, "-o", out.to_str().unwrap(), "--purpose", "conformance test"]);
        assert!(o.status.success(), "get {}: {}", row.path, String::from_utf8_lossy(&o.stderr));
        let original = std::fs::read(shared().join("cda").join(&row.path)).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), original, "{} not byte-identical", row.path);
        assert_eq!(arkisto::digest::Sha256::of(&original).to_hex(), row.sha256);
        checked += 1;
    }
    assert_eq!(checked, 55, "30 Kanta + 25 complete well-formed HL7 documents");
    // Complete but not well-formed documents are quarantined as such.
    for row in manifest().iter().filter(|r| r.kind == "full" && !r.well_formed) {
        let (outcome, codes) = &outcomes[&row.path];
        assert_eq!((outcome.as_str(), codes.as_slice()), ("quarantined", &["V001".to_string()][..]), "{}", row.path);
    }
}

#[test]
fn hl7_fragments_are_quarantined_as_not_clinical_documents() {
    let env = Env::new();
    let (code, hl7) = env.ingest(&shared().join("cda/hl7-c-cda-examples"));
    assert_eq!(code, 3);
    let outcomes = common::outcomes(&hl7);
    let mut n = 0;
    for row in manifest().iter().filter(|r| r.source == "hl7-c-cda-examples" && r.kind == "fragment") {
        let rel = row.path.trim_start_matches("hl7-c-cda-examples/");
        let (outcome, codes) = &outcomes[rel];
        let want = if row.well_formed { "V003" } else { "V001" };
        assert_eq!(outcome, "quarantined", "{rel}");
        assert_eq!(codes, &vec![want.to_string()], "{rel}");
        n += 1;
    }
    assert_eq!(n, 417);
    // Quarantined inputs are kept, with their findings.
    let q = env.data().join("quarantine").join(hl7["run_id"].as_str().unwrap());
    assert!(q.join("files/Allergies/Allergy to food egg/Allergy to food egg(C-CDA2.1).xml").is_file());
    assert!(q.join("findings/Allergies/Allergy to food egg/Allergy to food egg(C-CDA2.1).xml.json").is_file());
}

struct Nop;
impl Handler for Nop {
    fn start(&mut self, _: Option<&str>, _: &str, _: &[(String, String)]) {}
    fn end(&mut self, _: Option<&str>, _: &str) {}
    fn text(&mut self, _: &str) {}
}

#[test]
fn xml_conformance_suite_not_wf_rejected_and_wf_never_called_malformed() {
    let base = shared().join("xml");
    let text = std::fs::read_to_string(base.join("xmltest/MANIFEST.csv")).unwrap();
    let (mut not_wf, mut slipped, mut wf, mut expat_slipped) = (0, Vec::new(), 0, 0);
    let mut wrongly_malformed = Vec::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let (id, kind, path, expat) = (c[0], c[1], c[7], c[9]);
        let bytes = std::fs::read(base.join(path)).unwrap();
        let verdict = xml::decode(&bytes).and_then(|t| xml::parse(&t, Limits::default(), &mut Nop));
        match kind {
            "not-wf" => {
                not_wf += 1;
                if expat != "rejected" {
                    expat_slipped += 1;
                }
                match verdict {
                    Err(f) => assert!(matches!(f.code, Code::V001 | Code::V002 | Code::V010 | Code::V012), "{id}: {f}"),
                    Ok(()) => slipped.push(id.to_string()),
                }
            }
            _ => {
                wf += 1;
                if let Err(f) = verdict
                    && f.code == Code::V001
                {
                    wrongly_malformed.push(format!("{id}: {f}"));
                }
            }
        }
    }
    eprintln!(
        "xmltest: {not_wf} not-wf cases, {} accepted by arkisto (expat accepted {expat_slipped}): {slipped:?}; {wf} well-formed cases, none called malformed",
        slipped.len()
    );
    assert!(wrongly_malformed.is_empty(), "well-formed documents called not well-formed: {wrongly_malformed:#?}");
    assert!(slipped.is_empty(), "not-wf documents accepted: {slipped:?}");
}

#[test]
fn bagit_suite_valid_bags_accepted_invalid_refused() {
    let text = std::fs::read_to_string(shared().join("bagit-v1.0/EXPECTED.tsv")).unwrap();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let (category, case, expected) = (c[1], c[2], c[3]);
        let env = Env::new();
        let (code, r) = env.ingest(&shared().join("bagit-v1.0").join(category).join(case));
        if expected == "pass" {
            assert_ne!(r["status"], "refused", "{case}: {r}");
            assert_eq!(r["counts"]["files"], 1, "{case}");
        } else if r["status"] == "refused" {
            assert_eq!(code, 1, "{case}: {r}");
            assert!(r["refused"].as_str().is_some_and(|s| !s.is_empty()), "{case} must say why");
            assert_eq!(r["counts"]["archived"], 0);
        } else {
            // Manifests that disagree with the payload: the files concerned are quarantined
            // with V020, never archived; a file the manifests prove intact may be.
            assert_eq!(code, 3, "{case}: {r}");
            let files = r["files"].as_array().unwrap();
            assert!(files.iter().any(|f| f["outcome"] == "quarantined" && f["findings"][0]["code"] == "V020"), "{case}: {r}");
            assert!(files.iter().all(|f| f["outcome"] != "archived" || f["findings"].is_null()), "{case}: {r}");
        }
    }
}
