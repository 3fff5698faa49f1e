//! The pack reader (footer, table, metadata and data frames) on any bytes, as if a pack in
//! the store were damaged: errors, never panics or runaway allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

use arkisto::pack::{self, format::FOOTER_LEN};

fuzz_target!(|data: &[u8]| {
    if data.len() < FOOTER_LEN {
        return;
    }
    let Ok(footer) = pack::decode_footer(&data[data.len() - FOOTER_LEN..], data.len() as u64) else { return };
    let (off, len) = (footer.table_offset as usize, footer.table_len as usize);
    let Some(tframe) = off.checked_add(len).and_then(|end| data.get(off..end)) else { return };
    let Ok(table) = pack::decode_table(tframe, &footer) else { return };
    for l in table.records.iter().take(64) {
        let get = |o: u64, n: u64| (o as usize).checked_add(n as usize).and_then(|e| data.get(o as usize..e));
        if let Some(m) = get(l.meta_offset, l.meta_len) {
            let _ = pack::decode_meta(m, l);
        }
        if let Some(d) = get(l.data_offset, l.data_len) {
            let _ = pack::decompress_frame(d, l, None);
        }
    }
});
