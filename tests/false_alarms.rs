//! Zero false alarms: a tamper alarm that fires on an untouched archive teaches people to
//! ignore it. Fifty fresh archives of the public CDA documents (Kanta and HL7 C-CDA) and of
//! generated batches of every format (CDA, vendor XML, CSV with attachments), each with its
//! own seed (and so its own dictionaries), must each verify clean.

mod common;

use common::{Env, shared};

const ARCHIVES: u32 = 50;

#[test]
fn fifty_fresh_archives_verify_clean() {
    let real = [shared().join("cda/kanta-examples"), shared().join("cda/hl7-c-cda-examples")];
    for i in 0..ARCHIVES {
        let env = Env::new();
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
        let (code, v) = env.json(&["verify"]);
        assert_eq!(code, 0, "archive {i}: a fresh archive must verify clean: {v}");
        assert!(v["findings"].as_array().is_some_and(|f| f.is_empty()), "archive {i}: {v}");
    }
}
