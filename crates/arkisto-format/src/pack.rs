//! The pack format (FORMAT.md is the normative text): constants, frame encoding, and the
//! checks that decode a pack's pieces from bytes obtained by ranged reads.
//!
//! A pack is a valid zstd stream: per record a skippable metadata frame and a zstd data frame,
//! then a skippable table frame and a fixed-size skippable footer locating the table.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::digest::{HashingWriter, Sha256};
use crate::ids::{PackId, RecordId};

/// Where a record's frames sit in its pack, and their digests (one pack-table entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordLocation {
    /// The record.
    pub record_id: RecordId,
    /// Offset of the metadata skippable frame.
    pub meta_offset: u64,
    /// Length of the metadata frame (header included).
    pub meta_len: u64,
    /// SHA-256 of the metadata frame bytes.
    pub meta_sha256: Sha256,
    /// Offset of the zstd data frame.
    pub data_offset: u64,
    /// Length of the zstd data frame.
    pub data_len: u64,
    /// SHA-256 of the stored (compressed) data frame: fixity.
    pub stored_sha256: Sha256,
    /// Size of the original bytes.
    pub original_size: u64,
    /// zstd dictionary id used by the data frame (0 = none).
    #[serde(default)]
    pub dict_id: u32,
}

/// Skippable-frame magic for a record's metadata (JSON).
pub const MAGIC_META: u32 = 0x184D_2A5A;
/// Skippable-frame magic for the pack table (JSON).
pub const MAGIC_TABLE: u32 = 0x184D_2A5B;
/// Skippable-frame magic for the footer.
pub const MAGIC_FOOTER: u32 = 0x184D_2A5F;
/// First bytes of the footer payload; the digit is the format version.
pub const FOOTER_TAG: &[u8; 8] = b"ARKPACK1";
/// Footer payload length: tag, table offset, table length, table SHA-256.
pub const FOOTER_PAYLOAD: usize = 8 + 8 + 8 + 32;
/// Whole footer frame length (8-byte skippable header + payload).
pub const FOOTER_LEN: usize = 8 + FOOTER_PAYLOAD;
/// Format name in the table.
pub const FORMAT_NAME: &str = "arkisto-pack";
/// Format version in the table.
pub const FORMAT_VERSION: u32 = 1;

/// Encode a skippable frame.
pub fn skippable(magic: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&magic.to_le_bytes());
    // Payloads are bounded far below 4 GiB by the writer (metadata and tables are small).
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Largest JSON a metadata frame may decompress to (a guard against damaged or hostile packs).
pub const MAX_META_JSON: usize = 4 << 20;
/// Largest JSON a table frame may decompress to.
pub const MAX_TABLE_JSON: usize = 512 << 20;

/// A skippable frame whose payload is one zstd frame holding `json`.
pub fn json_frame(magic: u32, json: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        // One context per thread: creating one per record was 2% of ingest (profiled).
        static CCTX: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
    }
    let z = CCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let c = match &mut *slot {
            Some(c) => c,
            None => slot.insert(zstd::bulk::Compressor::new(3)?),
        };
        c.compress(json)
    })?;
    Ok(skippable(magic, &z))
}

/// The JSON inside a skippable frame written by [`json_frame`], at most `max` bytes.
pub fn parse_json_frame(magic: u32, frame: &[u8], max: usize) -> Option<Vec<u8>> {
    let payload = parse_skippable(magic, frame)?;
    let mut out = Vec::new();
    let d = zstd::stream::read::Decoder::with_buffer(payload).ok()?.single_frame();
    std::io::Read::read_to_end(&mut std::io::Read::take(d, max as u64 + 1), &mut out).ok()?;
    (out.len() <= max).then_some(out)
}

/// Decode a skippable frame with the expected magic; returns its payload.
pub fn parse_skippable(magic: u32, frame: &[u8]) -> Option<&[u8]> {
    let (head, payload) = frame.split_at_checked(8)?;
    let m = u32::from_le_bytes(head[..4].try_into().ok()?);
    let n = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
    (m == magic && n == payload.len()).then_some(payload)
}

/// The pack table: every record's frames and digests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackTable {
    /// Always `arkisto-pack`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// The pack.
    pub pack_id: PackId,
    /// When written (RFC 3339).
    pub created: String,
    /// Records in pack order.
    pub records: Vec<RecordLocation>,
}

/// The footer: where the table is and its digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// Offset of the table frame.
    pub table_offset: u64,
    /// Length of the table frame (header included).
    pub table_len: u64,
    /// SHA-256 of the table frame bytes.
    pub table_sha256: Sha256,
}

impl Footer {
    /// Encode as a skippable frame of exactly [`FOOTER_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(FOOTER_PAYLOAD);
        p.extend_from_slice(FOOTER_TAG);
        p.extend_from_slice(&self.table_offset.to_le_bytes());
        p.extend_from_slice(&self.table_len.to_le_bytes());
        p.extend_from_slice(&self.table_sha256.0);
        skippable(MAGIC_FOOTER, &p)
    }

    /// Decode the last [`FOOTER_LEN`] bytes of a pack.
    pub fn decode(frame: &[u8]) -> Option<Self> {
        let p = parse_skippable(MAGIC_FOOTER, frame)?;
        if p.len() != FOOTER_PAYLOAD || &p[..8] != FOOTER_TAG {
            return None;
        }
        Some(Self {
            table_offset: u64::from_le_bytes(p[8..16].try_into().ok()?),
            table_len: u64::from_le_bytes(p[16..24].try_into().ok()?),
            table_sha256: Sha256(p[24..56].try_into().ok()?),
        })
    }
}

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

/// Decode the footer from the last [`FOOTER_LEN`] bytes; `size` is the pack's size.
pub fn decode_footer(tail: &[u8], size: u64) -> Result<Footer, PackError> {
    let f = Footer::decode(tail).ok_or(PackError::Footer)?;
    let end = f.table_offset.checked_add(f.table_len).ok_or(PackError::Footer)?;
    if end + FOOTER_LEN as u64 != size {
        return Err(PackError::Footer);
    }
    Ok(f)
}

/// Decode and check the table frame.
pub fn decode_table(frame: &[u8], footer: &Footer) -> Result<PackTable, PackError> {
    if Sha256::of(frame) != footer.table_sha256 {
        return Err(PackError::Table("digest mismatch".into()));
    }
    let json = parse_json_frame(MAGIC_TABLE, frame, MAX_TABLE_JSON).ok_or_else(|| PackError::Table("not a table frame".into()))?;
    let t: PackTable = serde_json::from_slice(&json).map_err(|e| PackError::Table(e.to_string()))?;
    if t.format != FORMAT_NAME || t.version != FORMAT_VERSION {
        return Err(PackError::Table(format!("unknown format {} v{}", t.format, t.version)));
    }
    Ok(t)
}

/// The JSON of a metadata frame, checked against its table entry's digest (the caller
/// parses it into its own metadata type and checks that it names `loc.record_id`).
pub fn meta_json(frame: &[u8], loc: &RecordLocation) -> Result<Vec<u8>, PackError> {
    let err = |why: &str| PackError::Meta { record: loc.record_id.to_string(), why: why.into() };
    if Sha256::of(frame) != loc.meta_sha256 {
        return Err(err("digest mismatch"));
    }
    parse_json_frame(MAGIC_META, frame, MAX_META_JSON).ok_or_else(|| err("not a metadata frame"))
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
