//! Packs: many records in one object, each record a metadata frame plus a zstd frame, with a
//! table and footer at the end (DESIGN.md "Storage format", FORMAT.md).
//!
//! This module builds packs in local temp files (streaming, bounded memory) and reads them
//! back from bytes; it never talks to a store or the index itself.

pub mod format;
mod reader;
mod writer;

pub use reader::{PackError, decode_footer, decode_meta, decode_table, decompress_frame, decompress_frame_to};
pub use writer::{CompressedRecord, FinishedPack, PackWriter, compress, compress_record, dict_eligible};
