//! Source formats: each turns an input's bytes into header fields and searchable text.
//! Formats parse; they never decide whether a record is acceptable (that is `validate`).

pub mod cda;
pub mod encoding;
pub mod xml;
