//! The CSV reader on any bytes: every byte ends up in exactly one row (or a skipped long row
//! or blank line), with a small row limit so that the long-row path is exercised too.
#![no_main]
use libfuzzer_sys::fuzz_target;

use arkisto::sources::csv::{Row, read_all};

fuzz_target!(|data: &[u8]| {
    for (delim, quote) in [(b';', Some(b'"')), (b',', None), (b'\t', Some(b'\''))] {
        let rows = read_all(data, delim, quote, 512);
        let mut seen = 0u64;
        for r in &rows {
            match r {
                Row::Ok { raw, fields, .. } => {
                    assert!(!fields.is_empty());
                    assert!(raw.len() <= 512);
                    seen += raw.len() as u64;
                }
                Row::Malformed { raw, .. } => seen += raw.len() as u64,
                Row::TooLong { len, .. } => seen += len,
            }
        }
        assert!(seen <= data.len() as u64);
    }
    let _ = arkisto::formats::xml::Encoding::Cp1252.decode(data);
    let _ = arkisto::formats::xml::Encoding::Latin9.decode(data);
});
