//! Decoding pack pieces from bytes obtained by ranged reads: footer, table, metadata frames,
//! data frames. Every check that can fail on a damaged pack returns a [`PackError`].

use std::io::{self, Write};

use super::format::{self, Footer, PackTable};
use crate::digest::{HashingWriter, Sha256};
use crate::record::{RecordLocation, RecordMeta};

/// What is wrong with a pack or a piece of one.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The footer is missing or damaged (truncated pack?).
    #[error("pack footer is missing or damaged (truncated pack?)")]
    Footer,
    /// The table's bytes do not match the footer's digest, or do not parse.
    #[error("pack table is damaged: {0}")]
    Table(String),
    /// A metadata frame does not match its digest or does not parse.
    #[error("metadata frame of record {record} is damaged: {why}")]
    Meta {
        /// Record concerned.
        record: String,
        /// What failed.
        why: String,
    },
    /// A data frame fails its digest, its zstd checksum or decompression.
    #[error("data frame is damaged: {0}")]
    Data(String),
}

impl PackError {
    /// Stable code (kebab-case), for logs and JSON.
    pub fn code(&self) -> &'static str {
        match self {
            PackError::Footer => "pack-footer",
            PackError::Table(_) => "pack-table",
            PackError::Meta { .. } => "pack-meta",
            PackError::Data(_) => "pack-data",
        }
    }
}

/// Decode the footer from the last [`format::FOOTER_LEN`] bytes; `size` is the pack's size.
pub fn decode_footer(tail: &[u8], size: u64) -> Result<Footer, PackError> {
    let f = Footer::decode(tail).ok_or(PackError::Footer)?;
    let end = f.table_offset.checked_add(f.table_len).ok_or(PackError::Footer)?;
    if end + format::FOOTER_LEN as u64 != size {
        return Err(PackError::Footer);
    }
    Ok(f)
}

/// Decode and check the table frame.
pub fn decode_table(frame: &[u8], footer: &Footer) -> Result<PackTable, PackError> {
    if Sha256::of(frame) != footer.table_sha256 {
        return Err(PackError::Table("digest mismatch".into()));
    }
    let json = format::parse_json_frame(format::MAGIC_TABLE, frame, format::MAX_TABLE_JSON)
        .ok_or_else(|| PackError::Table("not a table frame".into()))?;
    let t: PackTable = serde_json::from_slice(&json).map_err(|e| PackError::Table(e.to_string()))?;
    if t.format != format::FORMAT_NAME || t.version != format::FORMAT_VERSION {
        return Err(PackError::Table(format!("unknown format {} v{}", t.format, t.version)));
    }
    Ok(t)
}

/// Decode and check a metadata frame against its table entry.
pub fn decode_meta(frame: &[u8], loc: &RecordLocation) -> Result<RecordMeta, PackError> {
    let err = |why: String| PackError::Meta { record: loc.record_id.to_string(), why };
    if Sha256::of(frame) != loc.meta_sha256 {
        return Err(err("digest mismatch".into()));
    }
    let json =
        format::parse_json_frame(format::MAGIC_META, frame, format::MAX_META_JSON).ok_or_else(|| err("not a metadata frame".into()))?;
    let m: RecordMeta = serde_json::from_slice(&json).map_err(|e| err(e.to_string()))?;
    if m.record_id != loc.record_id {
        return Err(err("metadata names another record".into()));
    }
    Ok(m)
}

/// Check a data frame's stored digest, decompress it (zstd verifies its content checksum),
/// and check the original digest and size. Returns the original bytes.
pub fn decompress_frame(frame: &[u8], loc: &RecordLocation, dict: Option<&[u8]>) -> Result<Vec<u8>, PackError> {
    let mut out = Vec::with_capacity(loc.original_size.min(256 << 20) as usize);
    decompress_frame_to(frame, loc, dict, &mut out)?;
    Ok(out)
}

/// As [`decompress_frame`], streaming the original bytes into `out`. On `Err`, `out` may
/// hold partial output: callers write to a temp file and discard it on failure.
pub fn decompress_frame_to(frame: &[u8], loc: &RecordLocation, dict: Option<&[u8]>, out: &mut impl Write) -> Result<(), PackError> {
    if loc.dict_id != 0 && dict.is_none() {
        return Err(PackError::Data(format!("record {} needs dictionary {}", loc.record_id, loc.dict_id)));
    }
    // The frame header names its dictionary; it must be the one the table names.
    let in_frame = zstd::zstd_safe::get_dict_id_from_frame(frame).map_or(0, |n| n.get());
    if in_frame != loc.dict_id {
        return Err(PackError::Data(format!(
            "record {}: frame header names dictionary {in_frame}, the pack table {}",
            loc.record_id, loc.dict_id
        )));
    }
    if Sha256::of(frame) != loc.stored_sha256 {
        return Err(PackError::Data(format!("stored digest mismatch for record {}", loc.record_id)));
    }
    let mut w = HashingWriter::new(out);
    let r = (|| -> io::Result<()> {
        let mut d = zstd::stream::read::Decoder::with_dictionary(frame, dict.unwrap_or_default())?.single_frame();
        // Never more than the table says (plus one byte to notice): a damaged frame cannot balloon.
        io::copy(&mut io::Read::take(&mut d, loc.original_size.saturating_add(1)), &mut w)?;
        Ok(())
    })();
    r.map_err(|e| PackError::Data(format!("record {}: zstd: {e}", loc.record_id)))?;
    let (_, digest, n) = w.finish();
    if n != loc.original_size || digest != loc.record_id.0 {
        return Err(PackError::Data(format!("original digest mismatch for record {}", loc.record_id)));
    }
    Ok(())
}
