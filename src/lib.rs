//! arkisto: archives the records of retiring social and health care systems.
//!
//! Data flows ingest → formats → validate → retention → pack → store → index → ledger;
//! verify and retrieve read it back. See DESIGN.md and FORMAT.md.
#![warn(missing_docs)]

pub mod api;
pub mod archive;
pub mod auth;
pub mod checkpoints;
pub mod clock;
pub mod config;
pub mod credential;
pub mod daemon;
pub mod dict;
pub mod export;
pub use arkisto_format::digest;
pub mod disposal;
pub mod fixtures;
pub mod formats;
pub use arkisto_format::ids;
pub mod index;
pub mod ingest;
pub mod ledger;
pub mod lock;
pub mod maintain;
pub mod pack;
pub mod record;
pub mod retention;
pub mod retrieve;
pub mod sources;
pub mod store;
pub mod text;
pub mod truth;
pub mod validate;
pub mod verify;
