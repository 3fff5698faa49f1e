//! Packages out. `export person` answers a client's request for their records (GDPR Art. 15,
//! Act 703/2023 §11) with one E-ARK DIP: every record of the person from every retired
//! system, byte for byte as archived, a readable rendering, the retention of each record,
//! what is not included and why, and who has used the data.
//!
//! The index only proposes candidates. What goes into a package is decided by the store and
//! the ledger: each record's pack comes from the ledger, its location from the pack's own
//! table, its metadata from its metadata frame (checked against its digest) and must name
//! the person; its bytes are checked against both digests before they are written; its
//! retention, holds, ingest events and the access report come from the ledger segments in
//! the store. An edited index row can hide nothing it did not already hide from `verify`,
//! and can put no one else's record into a person's package.

pub mod cover;
pub mod csip;
mod gather;
mod package;
mod person;
pub mod render;
pub mod sink;
mod transfer;

pub use person::{PersonExport, PersonRequest, export_person};
pub use transfer::{Grouping, Selection, Sip, TransferExport, TransferRequest, export_transfer};

use crate::ids::RecordId;

/// Export failures. Each variant has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A record failed its digest check (or its metadata disagrees with the index) and
    /// `--skip-damaged` was not given: nothing was written.
    #[error(
        "record {record} cannot be exported ({why}); nothing was written. Run `arkisto verify`, or give --skip-damaged to list it on the cover page instead"
    )]
    Damaged {
        /// Record.
        record: RecordId,
        /// What failed.
        why: String,
    },
    /// The request itself is wrong (an unknown hold, an output that exists…).
    #[error("{0}")]
    Usage(String),
    /// Writing the package failed.
    #[error("cannot write {what}: {source}")]
    Io {
        /// What was being written.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Store, index or ledger failure.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
}

impl ExportError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Damaged { .. } => "damaged",
            ExportError::Usage(_) => "usage",
            ExportError::Io { .. } => "io",
            ExportError::Archive(_) => "archive",
        }
    }
}

impl From<crate::retrieve::RetrieveError> for ExportError {
    fn from(e: crate::retrieve::RetrieveError) -> Self {
        match e {
            crate::retrieve::RetrieveError::Damaged { record, why } => ExportError::Damaged { record, why },
            crate::retrieve::RetrieveError::Archive(a) => ExportError::Archive(a),
            other => ExportError::Archive(crate::archive::ArchiveError::Io {
                what: "read".into(),
                source: std::io::Error::other(other.to_string()),
            }),
        }
    }
}
impl From<crate::store::StoreError> for ExportError {
    fn from(e: crate::store::StoreError) -> Self {
        ExportError::Archive(e.into())
    }
}
impl From<crate::index::IndexError> for ExportError {
    fn from(e: crate::index::IndexError) -> Self {
        ExportError::Archive(e.into())
    }
}

/// The language of a package's cover page and renderings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Finnish.
    Fi,
    /// Swedish.
    Sv,
    /// English.
    En,
}

impl Lang {
    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fi => "fi",
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "fi" => Ok(Lang::Fi),
            "sv" => Ok(Lang::Sv),
            "en" => Ok(Lang::En),
            _ => Err(format!("unknown language {s:?}: use fi, sv or en")),
        }
    }
}

/// A record of the person that the package does not hold, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Excluded {
    /// Destroyed under a disposal plan.
    Destroyed {
        /// Record.
        record: RecordId,
        /// When (ISO date).
        date: String,
        /// Rule.
        rule: String,
        /// Plan.
        plan: String,
    },
    /// Held back under a legal hold the officer named.
    HeldBack {
        /// Record.
        record: RecordId,
        /// Hold id.
        hold: String,
        /// Its reason.
        reason: String,
    },
    /// Its stored bytes failed verification (`--skip-damaged`).
    Damaged {
        /// Record.
        record: RecordId,
        /// What failed (for the officer; the cover page says only that it failed).
        detail: String,
    },
    /// The index lists it for the person, but the ledger or the record's own metadata says
    /// otherwise (`--skip-damaged`).
    Mismatch {
        /// Record.
        record: RecordId,
        /// What disagrees.
        detail: String,
    },
}

impl Excluded {
    /// Why, in a word (the `why` of its JSON form and of the ledger's `not_included[]`).
    pub fn why(&self) -> &'static str {
        match self {
            Excluded::Destroyed { .. } => "destroyed",
            Excluded::HeldBack { .. } => "held-back",
            Excluded::Damaged { .. } => "damaged",
            Excluded::Mismatch { .. } => "mismatch",
        }
    }

    /// The record.
    pub fn record(&self) -> RecordId {
        match self {
            Excluded::Destroyed { record, .. }
            | Excluded::HeldBack { record, .. }
            | Excluded::Damaged { record, .. }
            | Excluded::Mismatch { record, .. } => *record,
        }
    }
}

/// XML/HTML escaping for text and attribute values. Characters XML 1.0 cannot hold at all
/// are dropped, never passed through. Runs without anything to escape are copied whole.
pub fn esc(s: &str) -> String {
    let special = |b: u8| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'') || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF;
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 16);
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !special(b) || i < start {
            continue;
        }
        out.push_str(&s[start..i]);
        start = i + 1;
        match b {
            b'&' => out.push_str("&amp;"),
            b'<' => out.push_str("&lt;"),
            b'>' => out.push_str("&gt;"),
            b'"' => out.push_str("&quot;"),
            b'\'' => out.push_str("&#39;"),
            // U+FFFE and U+FFFF (EF BF BE / EF BF BF) are not XML characters; any other
            // character starting with EF is copied.
            0xEF => {
                let end = s[i..].chars().next().map_or(i + 1, |c| i + c.len_utf8());
                if !matches!(&bytes[i..end], [0xEF, 0xBF, 0xBE] | [0xEF, 0xBF, 0xBF]) {
                    out.push_str(&s[i..end]);
                }
                start = end;
            }
            _ => {}
        }
    }
    out.push_str(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_characters_xml_cannot_hold() {
        assert_eq!(esc("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        assert_eq!(esc("a\u{0}b\u{1b}c\td"), "abc\td");
        assert_eq!(esc("sydän"), "sydän");
        assert_eq!(esc("a\u{FFFE}b\u{FFFF}c\u{FEFF}d"), "abc\u{FEFF}d");
        assert_eq!(esc("plain text"), "plain text");
        assert_eq!(esc(""), "");
    }
}
