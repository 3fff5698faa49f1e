//! BagIt manifest and tag-file parsing on any text: no path it accepts may leave the bag.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = arkisto::ingest::bagit::parse_manifest(text, "manifest-sha256.txt", true) {
        for p in m.keys() {
            assert!(p.starts_with("data/") && !p.split('/').any(|s| s == ".." || s.is_empty()) && !p.starts_with('/'), "{p:?}");
        }
    }
    let _ = arkisto::ingest::bagit::tags(text, "bag-info.txt");
});
