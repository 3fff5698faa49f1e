//! Zero false alarms: a tamper alarm that fires on an untouched archive teaches people to
//! ignore it. Fifty fresh archives of the public CDA documents (Kanta and HL7 C-CDA) and of
//! generated batches of every format (CDA, vendor XML, CSV with attachments), each with its
//! own seed (and so its own dictionaries), must each verify clean, and each pass the
//! auditor's `arkisto-audit` clean against its own signed checkpoints.

mod common;

use common::{Env, shared};

const ARCHIVES: u32 = 50;

#[test]
fn fifty_fresh_archives_verify_and_audit_clean() {
    let real = [shared().join("cda/kanta-examples"), shared().join("cda/hl7-c-cda-examples")];
    for i in 0..ARCHIVES {
        let env = Env::new();
        // Half signed from the start, half signed after their first ingest (so that
        // unsigned tree heads come before the key).
        let mut key = (i % 2 == 0).then(|| env.key());
        for dir in &real {
            let (code, r) = env.ingest(dir);
            assert!(code == 0 || code == 3, "archive {i}: ingest {}: {r}", dir.display());
        }
        for (format, n) in [("cda", "25"), ("vendor-xml", "6"), ("csv", "6")] {
            let out = env.path(&format!("gen-{format}"));
            let seed = (i * 7 + 1).to_string();
            let o = env.run(&["fixtures", "generate", "--format", format, "--records", n, "--seed", &seed, "--out", out.to_str().unwrap()]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let (code, r) = env.ingest(&out);
            assert!(code == 0 || code == 3, "archive {i}: ingest {format}: {r}");
        }
        let key = key.get_or_insert_with(|| env.key());
        let (code, v) = env.json(&["verify"]);
        assert_eq!(code, 0, "archive {i}: a fresh archive must verify clean: {v}");
        assert!(v["findings"].as_array().is_some_and(|f| f.is_empty()), "archive {i}: {v}");
        let (code, a) = env.audit(key, None);
        assert_eq!(code, 0, "archive {i}: a fresh archive must audit clean: {a:#}");
        assert_eq!(a["uncovered_events"], 0, "archive {i}: {a}");
    }
}
