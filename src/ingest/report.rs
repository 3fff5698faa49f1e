//! The run report: one line per input file, and the counts.

use serde::{Deserialize, Serialize};

use crate::ids::{PackId, RecordId, RunId};
use crate::validate::findings::Finding;

/// Suffix of the report path of a document's embedded body (a CDA `nonXMLBody`), archived
/// as a record of its own.
pub const EMBEDDED_SUFFIX: &str = "#nonXMLBody";

/// Whether a report path is an embedded body's (not an input of its own).
pub fn is_embedded(path: &str) -> bool {
    path.ends_with(EMBEDDED_SUFFIX)
}

/// What became of one input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileOutcome {
    /// Archived now.
    Archived,
    /// Already archived (same bytes), nothing written.
    Duplicate,
    /// Not archived; kept under the quarantine directory with its findings.
    Quarantined,
    /// An export file read through: each of its records (and their attachments) has a
    /// line of its own (`file#record=N`, `file#line=N`).
    Split,
}

impl FileOutcome {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            FileOutcome::Archived => "archived",
            FileOutcome::Duplicate => "duplicate",
            FileOutcome::Quarantined => "quarantined",
            FileOutcome::Split => "split",
        }
    }
}

/// One input file's line in the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileReport {
    /// Path relative to the batch root.
    pub path: String,
    /// Outcome.
    pub outcome: FileOutcome,
    /// Record id (SHA-256 of the bytes), when the file could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<RecordId>,
    /// Findings (errors for quarantined files, warnings for archived ones).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub findings: Vec<Finding>,
}

/// Counts per outcome.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Input files seen.
    pub files: u64,
    /// Archived.
    pub archived: u64,
    /// Duplicates.
    pub duplicate: u64,
    /// Quarantined.
    pub quarantined: u64,
    /// Export files split into records (vendor XML files, CSV tables).
    #[serde(default)]
    pub split: u64,
    /// Records read out of those export files.
    #[serde(default)]
    pub records_read: u64,
    /// Embedded bodies (CDA `nonXMLBody`) decoded and archived as records of their own,
    /// linked to their document (not in `archived`, which counts inputs).
    #[serde(default)]
    pub embedded: u64,
    /// Original bytes archived.
    pub bytes_archived: u64,
    /// Stored (compressed) bytes written.
    pub bytes_stored: u64,
    /// Findings on all files (warnings on archived files included).
    #[serde(default)]
    pub findings: u64,
}

/// The report of one ingest run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: RunId,
    /// Source name.
    pub source: String,
    /// Input path as given.
    pub input: String,
    /// `completed`, `completed-with-findings` or `refused`.
    pub status: String,
    /// Why a batch was refused whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339).
    pub finished_at: String,
    /// Counts.
    pub counts: Counts,
    /// Packs written.
    pub packs: Vec<PackId>,
    /// Dictionaries trained in this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dicts: Vec<crate::dict::DictInfo>,
    /// Interrupted packs cleaned up before this run.
    pub recovered_packs: usize,
    /// Store requests that failed and were tried again (S3: 5xx, timeouts, resets).
    #[serde(default)]
    pub store_retries: u64,
    /// Every input file.
    pub files: Vec<FileReport>,
}
