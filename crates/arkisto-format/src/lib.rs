//! arkisto's storage format, as FORMAT.md defines it: the pack and its frames, the ledger's
//! event encoding, the Merkle tree over the events and the signed checkpoints of that tree.
//!
//! This crate knows no index, no store backend and no HTTP: it turns bytes into checked
//! values. Both `arkisto` and the auditor's `arkisto-audit` read the archive through it, so
//! the auditor's tool shares arkisto's reading of the format but none of its state.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod digest;
pub mod ids;
pub mod ledger;
pub mod merkle;
pub mod note;
pub mod pack;
pub mod scan;
