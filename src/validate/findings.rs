//! Validation findings: data with stable codes, never errors.
//!
//! A finding's code is part of arkisto's user interface (scripts match on it, fixture folders
//! are named after it): never renumber a code; add new ones at the end and note them in
//! CHANGELOG.md.

use serde::{Deserialize, Serialize};

/// How a finding affects the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input is quarantined, not archived.
    Error,
    /// The input is archived; the finding is kept with it.
    Warning,
}

/// Stable validation codes (`V###`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Code {
    /// Not well-formed XML (syntax, namespaces, characters).
    V001,
    /// A DOCTYPE / DTD is present: refused, never processed.
    V002,
    /// Well-formed, but the root is not an HL7 v3 `ClinicalDocument`.
    V003,
    /// A required header field is missing or empty.
    V004,
    /// A henkilötunnus whose check character is wrong.
    V005,
    /// A henkilötunnus that is malformed (length, century sign, date).
    V006,
    /// A date/time value that does not parse.
    V007,
    /// The same document id is already archived (or earlier in this batch) with different bytes:
    /// both are kept, neither overwrites the other.
    V008,
    /// The file is empty (zero bytes).
    V009,
    /// Encoding problem: invalid UTF-8, an unsupported encoding, or a BOM that contradicts the declaration.
    V010,
    /// Unknown Kanta `retentionPeriodClass` code: archived with retention undetermined.
    V011,
    /// A safety limit was exceeded (nesting depth, file size, attribute count).
    V012,
    /// The file could not be read, or leads outside the batch (symlink, traversal).
    V013,
    /// Not an XML document: no format of this batch recognises the file.
    V014,
    /// An attachment's content (magic bytes) is not the type the export declares.
    V015,
    /// An attachment is unreadable or incomplete for its type (truncated scan, no end marker).
    V016,
    /// A reference does not resolve: a row points at a missing subject, a record at a missing
    /// attachment, or a file of the batch is referenced by no record.
    V017,
    /// A CSV row is malformed: wrong number of fields, or a quote left open.
    V018,
    /// An export file holds no records of the kind its profile describes (or no header row).
    V019,
    /// A BagIt manifest disagrees with the payload (digest, file list or Payload-Oxum).
    V020,
}

impl Code {
    /// The code as printed, e.g. `V001`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::V001 => "V001",
            Code::V002 => "V002",
            Code::V003 => "V003",
            Code::V004 => "V004",
            Code::V005 => "V005",
            Code::V006 => "V006",
            Code::V007 => "V007",
            Code::V008 => "V008",
            Code::V009 => "V009",
            Code::V010 => "V010",
            Code::V011 => "V011",
            Code::V012 => "V012",
            Code::V013 => "V013",
            Code::V014 => "V014",
            Code::V015 => "V015",
            Code::V016 => "V016",
            Code::V017 => "V017",
            Code::V018 => "V018",
            Code::V019 => "V019",
            Code::V020 => "V020",
        }
    }

    /// What the code means, in one line.
    pub fn title(self) -> &'static str {
        match self {
            Code::V001 => "not well-formed XML",
            Code::V002 => "DOCTYPE/DTD refused",
            Code::V003 => "not a ClinicalDocument",
            Code::V004 => "required header field missing",
            Code::V005 => "henkilötunnus check character invalid",
            Code::V006 => "henkilötunnus malformed",
            Code::V007 => "date does not parse",
            Code::V008 => "document id already archived with different bytes",
            Code::V009 => "empty file",
            Code::V010 => "encoding problem",
            Code::V011 => "unknown retention class code",
            Code::V012 => "safety limit exceeded",
            Code::V013 => "unreadable or outside the batch",
            Code::V014 => "not an XML document",
            Code::V015 => "attachment type differs from declared",
            Code::V016 => "attachment unreadable or truncated",
            Code::V017 => "reference does not resolve",
            Code::V018 => "malformed CSV row",
            Code::V019 => "no records in export file",
            Code::V020 => "BagIt manifest disagrees with payload",
        }
    }

    /// Default severity. V005 and V006 follow config (`ingest.invalid_hetu`); V008 keeps both
    /// versions side by side (never an overwrite) and flags the newcomer.
    pub fn severity(self) -> Severity {
        match self {
            Code::V008 | Code::V011 | Code::V015 | Code::V016 => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// Every code, in order (for docs and fixture checks).
    pub const ALL: [Code; 20] = [
        Code::V001,
        Code::V002,
        Code::V003,
        Code::V004,
        Code::V005,
        Code::V006,
        Code::V007,
        Code::V008,
        Code::V009,
        Code::V010,
        Code::V011,
        Code::V012,
        Code::V013,
        Code::V014,
        Code::V015,
        Code::V016,
        Code::V017,
        Code::V018,
        Code::V019,
        Code::V020,
    ];
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding about one input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code.
    pub code: Code,
    /// Error (quarantine) or warning (archive anyway).
    pub severity: Severity,
    /// What is wrong, specific enough to act on. Never contains document content or names.
    pub message: String,
    /// Where in the input (e.g. `line 12, column 4` or an element path), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Finding {
    /// A finding with the code's default severity.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, severity: code.severity(), message: message.into(), location: None }
    }
    /// Attach a location.
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
    /// Override the severity.
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.code.title(), self.message)?;
        if let Some(l) = &self.location {
            write!(f, " ({l})")?;
        }
        Ok(())
    }
}
