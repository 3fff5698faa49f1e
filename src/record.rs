//! The archival metadata of one record: what the metadata frame in a pack holds, and what the
//! index is a projection of. Everything needed to rebuild a record's index row is in here.

use serde::{Deserialize, Serialize};

use crate::formats::cda::LocalHeader;
use crate::ids::{DocumentId, RecordId, RunId, SubjectId};
use crate::retention::Retention;
use crate::validate::findings::Finding;

/// Version of the metadata JSON schema (FORMAT.md "Record metadata").
pub const META_VERSION: u32 = 1;

/// Metadata stored with every record (JSON in the record's skippable frame).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// Schema version of this JSON.
    pub meta_version: u32,
    /// SHA-256 of the original bytes: the record's identity.
    pub record_id: RecordId,
    /// Size of the original bytes.
    pub original_size: u64,
    /// Media type of the original bytes.
    pub media_type: String,
    /// Source format the record was read as (`cda-r2`).
    pub format: String,
    /// The source system's name for the batch.
    pub source: String,
    /// The document's own id.
    pub document_id: Option<DocumentId>,
    /// Version chain id.
    pub set_id: Option<String>,
    /// Version number in the chain.
    pub version: Option<i64>,
    /// Primary subject.
    pub subject: Option<SubjectId>,
    /// Subject's birth date (ISO), from the henkilötunnus or the header.
    pub subject_birth_date: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Document type: code.
    pub doc_type: Option<String>,
    /// Document type: display name.
    pub doc_type_name: Option<String>,
    /// Created (document effectiveTime), ISO 8601.
    pub created: Option<String>,
    /// Service event time, ISO 8601.
    pub service_time: Option<String>,
    /// Custodian organisation id.
    pub custodian: Option<String>,
    /// Run that archived it.
    pub run_id: RunId,
    /// Path of the input file relative to the batch root.
    pub input_path: String,
    /// When it was archived (RFC 3339, UTC).
    pub ingested_at: String,
    /// Retention decision at ingest.
    pub retention: Retention,
    /// Warnings found at ingest (errors never reach a pack).
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// The Finnish `hl7fi:localHeader` fields (the inputs of retention classification).
    /// Everything else in the header can be re-read from the record's own bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_header: Option<LocalHeader>,
    /// The record this one is attached to (an attachment's parent document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<RecordId>,
    /// Declared language of the text (CDA `languageCode`, or the source profile's), which
    /// the search analyzer follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl RecordMeta {
    /// Whether the subject's birth date comes from a henkilötunnus (the birthday sample needs
    /// the day, which only a henkilötunnus gives reliably). The index, `verify` and the
    /// retention re-judgement all read it from here.
    pub fn birth_from_hetu(&self) -> bool {
        self.subject
            .as_ref()
            .is_some_and(|s| s.root == crate::ids::HETU_OID && crate::validate::hetu::birth_date_lenient(&s.value).is_some())
    }
}

pub use arkisto_format::pack::RecordLocation;
