//! Source profiles: what one legacy system's export looks like, declared in TOML instead of
//! hard-coded (format, field mapping, encoding, retention class mapping). Shipped examples
//! live in `fixtures/profiles/`; `ingest --profile NAME` looks a name up in
//! `<data_dir>/profiles/` and then in the shipped folder, or takes a path to a `.toml` file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::formats::xml::Encoding;

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No such profile.
    #[error("no profile {name:?} (looked in {looked}); give a path to a .toml file or one of: {known}")]
    NotFound {
        /// Name asked for.
        name: String,
        /// Folders searched.
        looked: String,
        /// Profiles found there.
        known: String,
    },
    /// The file cannot be read.
    #[error("cannot read profile {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is wrong.
    #[error("profile {path}: {why}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl ProfileError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProfileError::NotFound { .. } => "profile-not-found",
            ProfileError::Io { .. } => "profile-io",
            ProfileError::Invalid { .. } => "profile-invalid",
        }
    }
}

/// Export formats a profile can declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// One HL7 CDA R2 document per file (the default without a profile).
    Cda,
    /// One XML file holding many records.
    VendorXml,
    /// Delimited text tables.
    Csv,
}

/// How subject ids are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectKind {
    /// Finnish henkilötunnus (checked: V005/V006).
    #[default]
    Hetu,
    /// A local client number under `subject_root`.
    Local,
}

/// Where each record-model field comes from. For vendor XML a value is a path relative to
/// the record element (`Potilas/Hetu`, `@id`, `Otsikko`); for CSV it is a column name.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// Subject id (for CSV with a subject table: taken from the joined row when absent here).
    pub subject_id: Option<String>,
    /// The source's own document id.
    pub document_id: Option<String>,
    /// Document type / class code.
    pub doc_type: Option<String>,
    /// Document created date.
    pub created: Option<String>,
    /// Service (event) date.
    pub service_date: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Fields whose text is indexed for search (empty: all text of the record).
    #[serde(default)]
    pub text: Vec<String>,
    /// Organisation (unit) id or name.
    pub organisation: Option<String>,
    /// Retention class value (mapped through `[retention]`).
    pub retention_class: Option<String>,
    /// Subject birth date (when the subject id does not give it).
    pub birth_date: Option<String>,
}

impl FieldMap {
    /// The record-model values of one record: `get` looks a source path or column up; values
    /// are trimmed, and empty ones are absent.
    pub fn resolve(&self, get: impl Fn(&str) -> Option<String>) -> crate::validate::mapped::Mapped {
        let v = |k: &Option<String>| k.as_deref().and_then(&get).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        crate::validate::mapped::Mapped {
            subject_id: v(&self.subject_id),
            document_id: v(&self.document_id),
            doc_type: v(&self.doc_type),
            created: v(&self.created),
            service_date: v(&self.service_date),
            title: v(&self.title),
            organisation: v(&self.organisation),
            retention_class: v(&self.retention_class),
            birth_date: v(&self.birth_date),
        }
    }

    /// Every source path or column the mapping reads.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        [
            &self.subject_id,
            &self.document_id,
            &self.doc_type,
            &self.created,
            &self.service_date,
            &self.title,
            &self.organisation,
            &self.retention_class,
            &self.birth_date,
        ]
        .into_iter()
        .flatten()
    }
}

/// Attachment references.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentMap {
    /// Vendor XML: the element (relative to the record) of one attachment, repeated.
    pub element: Option<String>,
    /// The file reference: an attribute (`@file`) of `element`, or a CSV column. Relative
    /// to `dir` (default: the batch root).
    pub file: Option<String>,
    /// The declared media type or file type: an attribute of `element`, or a CSV column.
    pub declared_type: Option<String>,
    /// Folder (relative to the batch root) that references are relative to.
    #[serde(default)]
    pub dir: String,
    /// CSV: several references in one cell are separated by this.
    #[serde(default = "default_separator")]
    pub separator: String,
}

fn default_separator() -> String {
    "|".into()
}

/// Vendor XML settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorXml {
    /// Files of the batch that hold records (relative paths or `*.xml`-style suffix patterns).
    #[serde(default = "default_xml_files")]
    pub files: Vec<String>,
    /// Local name of the element that is one record.
    pub record: String,
}

fn default_xml_files() -> Vec<String> {
    vec!["*.xml".into()]
}

/// CSV settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Csv {
    /// Field delimiter (one character).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Quote character (one character; empty: no quoting).
    #[serde(default = "default_quote")]
    pub quote: String,
    /// The records table.
    pub records: String,
    /// A subject table joined to the records by key.
    pub subjects: Option<SubjectTable>,
    /// Longest row accepted, KiB (longer: V012, the row is quarantined).
    #[serde(default = "default_max_row")]
    pub max_row_kib: u64,
}

fn default_delimiter() -> String {
    ",".into()
}
fn default_quote() -> String {
    "\"".into()
}
fn default_max_row() -> u64 {
    1024
}

/// A subject table: one row per client or patient.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectTable {
    /// File (relative to the batch root).
    pub file: String,
    /// Key column in the subject table.
    pub key: String,
    /// Column of the records table that refers to `key`.
    pub foreign_key: String,
    /// Subject id column.
    pub subject_id: String,
    /// Birth date column.
    pub birth_date: Option<String>,
}

/// A source profile (one TOML file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// What the profile is for, in one line.
    #[serde(default)]
    pub description: String,
    /// Source system name given to records (default: the batch folder's name).
    pub source: Option<String>,
    /// Export format.
    pub format: Format,
    /// Character encoding of text files (XML declarations win for XML).
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// How subject ids are read.
    #[serde(default)]
    pub subject_kind: SubjectKind,
    /// OID root for `subject_kind = "local"`.
    pub subject_root: Option<String>,
    /// Date formats tried in order (chrono `strftime`); HL7 timestamps and ISO dates always work.
    #[serde(default)]
    pub date_formats: Vec<String>,
    /// Field mapping.
    #[serde(default)]
    pub fields: FieldMap,
    /// Attachment references.
    pub attachments: Option<AttachmentMap>,
    /// Vendor XML settings.
    pub vendor_xml: Option<VendorXml>,
    /// CSV settings.
    pub csv: Option<Csv>,
    /// Source retention class value → arkisto retention class.
    #[serde(default)]
    pub retention: BTreeMap<String, String>,
    /// Language of the records' text (`fi` or `sv`), for search; without it, each record's
    /// language is told from its words.
    pub language: Option<String>,
}

fn default_encoding() -> String {
    "utf-8".into()
}

impl Profile {
    /// Parse and check a profile.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ProfileError> {
        let bad = |why: String| ProfileError::Invalid { path: path.to_path_buf(), why };
        let p: Profile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        p.encoding().ok_or_else(|| bad(format!("encoding {:?} is not one of utf-8, iso-8859-1, iso-8859-15, windows-1252", p.encoding)))?;
        match p.format {
            Format::VendorXml if p.vendor_xml.is_none() => return Err(bad("format = \"vendor-xml\" needs a [vendor_xml] table".into())),
            Format::Csv => {
                let c = p.csv.as_ref().ok_or_else(|| bad("format = \"csv\" needs a [csv] table".into()))?;
                if c.delimiter.chars().count() != 1 || !c.delimiter.is_ascii() {
                    return Err(bad("csv.delimiter must be one ASCII character".into()));
                }
                if c.quote.chars().count() > 1 || !c.quote.is_ascii() {
                    return Err(bad("csv.quote must be one ASCII character or empty".into()));
                }
            }
            _ => {}
        }
        if p.subject_kind == SubjectKind::Local && p.subject_root.as_deref().is_none_or(str::is_empty) {
            return Err(bad("subject_kind = \"local\" needs subject_root (the OID of the client numbers)".into()));
        }
        if let Some(a) = &p.attachments
            && a.file.is_none()
        {
            return Err(bad("[attachments] needs `file` (the attribute or column with the file reference)".into()));
        }
        Ok(p)
    }

    /// Load a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// The declared encoding.
    pub fn encoding(&self) -> Option<Encoding> {
        Encoding::from_label(&self.encoding)
    }

    /// Find a profile by name or path: a path to an existing file, else `<name>.toml` in each
    /// of `dirs` in order.
    pub fn find(name: &str, dirs: &[PathBuf]) -> Result<Self, ProfileError> {
        let as_path = Path::new(name);
        if as_path.is_file() {
            return Self::load(as_path);
        }
        for d in dirs {
            let p = d.join(format!("{name}.toml"));
            if p.is_file() {
                return Self::load(&p);
            }
        }
        let mut known: Vec<String> = dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".toml").map(String::from))
            .collect();
        known.sort();
        known.dedup();
        Err(ProfileError::NotFound {
            name: name.into(),
            looked: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
            known: if known.is_empty() { "(none)".into() } else { known.join(", ") },
        })
    }
}

/// Profiles shipped with arkisto (the files in `fixtures/profiles/`), by name.
pub const SHIPPED: [(&str, &str); 3] = [
    ("kanta-cda", include_str!("../../fixtures/profiles/kanta-cda.toml")),
    ("legacy-patient-xml", include_str!("../../fixtures/profiles/legacy-patient-xml.toml")),
    ("legacy-social-csv", include_str!("../../fixtures/profiles/legacy-social-csv.toml")),
];

/// Resolve a profile: a path to a `.toml` file, `<data_dir>/profiles/<name>.toml`, or a
/// shipped profile.
pub fn resolve(name: &str, data_dir: &Path) -> Result<Profile, ProfileError> {
    let dirs = [data_dir.join("profiles")];
    match Profile::find(name, &dirs) {
        Err(ProfileError::NotFound { looked, known, .. }) => match SHIPPED.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Profile::parse(text, Path::new(&format!("(shipped) {n}.toml"))),
            None => {
                let shipped: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
                let known = if known == "(none)" { shipped.join(", ") } else { format!("{known}, {}", shipped.join(", ")) };
                Err(ProfileError::NotFound { name: name.into(), looked: format!("{looked} and the shipped profiles"), known })
            }
        },
        other => other,
    }
}

/// Whether `path` (relative, `/`-separated) matches a pattern: an exact path, or `*.ext`
/// (any file with that suffix, in any folder).
pub fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => path.ends_with(suffix),
        None => pattern == path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_profile_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let prof = Profile::load(&p).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(Some(prof.name.as_str()), p.file_stem().and_then(|s| s.to_str()), "{}: name = file name", p.display());
                n += 1;
            }
        }
        assert!(n >= 3, "shipped profiles: {n}");
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        let p = Path::new("x.toml");
        let e = Profile::parse("name = \"x\"\nformat = \"csv\"\n", p).unwrap_err().to_string();
        assert!(e.contains("[csv]"), "{e}");
        let e = Profile::parse("name = \"x\"\nformat = \"cda\"\nencoding = \"ebcdic\"\n", p).unwrap_err().to_string();
        assert!(e.contains("ebcdic"), "{e}");
        let e = Profile::parse("name = \"x\"\nformat = \"cda\"\nbogus = 1\n", p).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = Profile::find("nope", &[PathBuf::from("fixtures/profiles")]).unwrap_err().to_string();
        assert!(e.contains("no profile \"nope\""), "{e}");
    }
}
