//! The streaming vendor XML reader on any bytes: records it reports must lie inside the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

use arkisto::sources::vendor_xml::{XmlSpec, read};

fuzz_target!(|data: &[u8]| {
    let spec = XmlSpec {
        record: "r".into(),
        wanted: ["@id", "a", "a/@x", "b/c"].iter().map(|s| s.to_string()).collect(),
        text: vec![],
        attachment: Some(("f".into(), "@file".into(), Some("@type".into()))),
    };
    let _ = read(data, &spec, arkisto::formats::xml::Limits::default(), |r| {
        assert!(r.start <= r.end && r.end <= data.len() as u64, "record range {}..{} outside {}", r.start, r.end, data.len());
        true
    });
});
