//! The CDA reader (encoding detection, hardened XML parse, header extraction) on any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = arkisto::formats::cda::read(data, arkisto::formats::xml::Limits::default());
});
