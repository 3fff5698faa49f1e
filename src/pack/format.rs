//! The pack format's constants and frame encoding (FORMAT.md is the normative text).
//!
//! A pack is a valid zstd stream: per record a skippable metadata frame and a zstd data frame,
//! then a skippable table frame and a fixed-size skippable footer locating the table.

use serde::{Deserialize, Serialize};

use crate::digest::Sha256;
use crate::ids::PackId;
use crate::record::RecordLocation;

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
    Ok(skippable(magic, &zstd::bulk::compress(json, 3)?))
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
