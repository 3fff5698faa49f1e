//! The ledger's event encoding lives in the format crate (`arkisto_format::ledger`), so that
//! the auditor's tool reads it with the same code; this module re-exports it.

pub use arkisto_format::ledger::*;
