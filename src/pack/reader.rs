//! Decoding a record's metadata frame into [`RecordMeta`]; the rest of the pack's checks live
//! in the format crate (`arkisto_format::pack`).

pub use arkisto_format::pack::{PackError, decode_footer, decode_table, decompress_frame, decompress_frame_to};

use crate::record::{RecordLocation, RecordMeta};

/// Decode and check a metadata frame against its table entry.
pub fn decode_meta(frame: &[u8], loc: &RecordLocation) -> Result<RecordMeta, PackError> {
    let err = |why: String| PackError::Meta { record: loc.record_id.to_string(), why };
    let json = arkisto_format::pack::meta_json(frame, loc)?;
    let m: RecordMeta = serde_json::from_slice(&json).map_err(|e| err(e.to_string()))?;
    if m.record_id != loc.record_id {
        return Err(err("metadata names another record".into()));
    }
    Ok(m)
}
