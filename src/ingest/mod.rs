//! Ingest: take a batch, and end every input file as archived, duplicate or quarantined.
//!
//! Stages: enumerate (and validate a bag) → workers read, hash, parse, validate and compress
//! (CPU work on plain threads) → one pack stage groups records by retention key into packs,
//! stores each pack durably, then commits its index rows and ledger event in one transaction.
//! A bounded channel between the stages keeps memory flat. Nothing is ever overwritten.

pub mod bagit;
pub mod batch;
mod commit;
mod dicts;
pub mod heartbeat;
mod pipeline;
mod report;
mod stage;
mod text;
mod worker;

pub use commit::pack_lock_horizon;
pub use pipeline::{IngestError, IngestOptions, run};
pub use report::{Counts, FileOutcome, FileReport, RunReport};
pub use worker::STREAM_ABOVE;

use crate::ids::RecordId;

/// One input's bytes as read, with the digest computed while reading.
#[derive(Debug)]
pub struct IngestedRecord {
    /// Path relative to the batch root.
    pub rel_path: String,
    /// Original bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub record_id: RecordId,
}
