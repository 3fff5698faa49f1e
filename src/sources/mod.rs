//! Legacy exports read through a source profile: vendor XML files with many records, CSV
//! tables joined by key, and the attachment files their records refer to.
//!
//! The [`produce`] step turns a batch into [`Unit`]s (one per record, attachment, problem or
//! export file) on its own thread, streaming: an export file is never held in memory, only
//! the record being cut out of it. Workers then validate and compress units as they do
//! CDA files. Every file of the batch ends with an outcome: read as an export, archived as
//! an attachment, or reported (V017) because no record refers to it.

pub mod csv;
pub mod profile;
pub mod sniff;
mod tables;
pub mod vendor_xml;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc::SyncSender;

pub use profile::{Format, Profile, ProfileError};

use crate::digest::Sha256;
use crate::formats::xml::{Encoding, Limits};
use crate::ids::RecordId;
use crate::ingest::batch::InputFile;
use crate::validate::findings::{Code, Finding};
use crate::validate::mapped::{Mapped, Rules};

/// One unit of work for the ingest workers.
#[derive(Debug)]
pub enum Unit {
    /// A whole file read by the CDA reader.
    File(InputFile),
    /// A record cut out of an export file.
    Part(Part),
    /// A file a record refers to.
    Attachment(AttachmentRef),
    /// Something that cannot be archived: reported as quarantined with its findings; `bytes`
    /// (a broken row) or `abs` (a file) is kept in quarantine.
    Problem {
        /// Report path.
        path: String,
        /// File to keep, if any.
        abs: Option<PathBuf>,
        /// Bytes to keep, if any.
        bytes: Option<Vec<u8>>,
        /// Findings.
        findings: Vec<Finding>,
    },
    /// An export file that was read through: its records are listed separately.
    Split {
        /// Report path.
        path: String,
        /// Records found in it.
        records: u64,
    },
}

/// A record cut out of an export.
#[derive(Debug)]
pub struct Part {
    /// Report path (`export.xml#record=3`, `rows.csv#line=12`).
    pub path: String,
    /// The record's original bytes.
    pub bytes: Vec<u8>,
    /// Their SHA-256, when the reader had to take it (to link attachments); else the worker does.
    pub id: Option<RecordId>,
    /// `vendor-xml` or `csv-row`.
    pub format: &'static str,
    /// Media type (with the charset of the source file).
    pub media_type: String,
    /// Mapped values.
    pub fields: Mapped,
    /// Text for the index.
    pub text: String,
    /// Findings made while reading it (warnings).
    pub findings: Vec<Finding>,
}

/// A file referred to by a record.
#[derive(Debug)]
pub struct AttachmentRef {
    /// Path of the file in the batch.
    pub path: String,
    /// File to read.
    pub abs: PathBuf,
    /// The referring record.
    pub parent: RecordId,
    /// Declared type (media type or extension), if the export gives one.
    pub declared: Option<String>,
    /// The parent's values (subject, dates, class): an attachment is kept as long as its parent.
    pub fields: Mapped,
}

/// Rules for validating what a profile reads.
pub fn rules(p: &Profile) -> Rules {
    Rules {
        profile: p.name.clone(),
        hetu: p.subject_kind == profile::SubjectKind::Hetu,
        subject_root: p.subject_root.clone(),
        date_formats: p.date_formats.clone(),
        retention: p.retention.clone(),
        language: p.language.clone(),
    }
}

/// Sends units and counts them (every unit must come back as one outcome).
pub struct Sink {
    tx: SyncSender<Unit>,
    /// Units sent.
    pub sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Sink {
    /// A sink on `tx`.
    pub fn new(
        tx: SyncSender<Unit>,
        sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
        cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> Self {
        Self { tx, sent, cancel }
    }

    /// Send; false when the run is stopping.
    fn send(&self, u: Unit) -> bool {
        if self.cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
            return false;
        }
        if self.tx.send(u).is_err() {
            return false;
        }
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }
}

pub(crate) struct Ctx<'a> {
    profile: &'a Profile,
    files: HashMap<String, InputFile>,
    used: HashSet<String>,
    sink: &'a Sink,
    limits: Limits,
    max_size: u64,
    stopped: bool,
}

/// Read a batch through a profile, sending every unit to `sink`. Runs to the end of the batch
/// (or until the run stops); problems become units, never errors.
pub fn produce(profile: &Profile, files: Vec<InputFile>, sink: &Sink, limits: Limits, max_size: u64) {
    let files: HashMap<String, InputFile> = files.into_iter().map(|f| (f.rel_path.clone(), f)).collect();
    let mut c = Ctx { profile, files, used: HashSet::new(), sink, limits, max_size, stopped: false };
    match profile.format {
        Format::Cda => {}
        Format::VendorXml => {
            let patterns = profile.vendor_xml.as_ref().map(|v| v.files.clone()).unwrap_or_default();
            let mut names: Vec<String> = c.files.keys().filter(|k| patterns.iter().any(|p| profile::matches(p, k))).cloned().collect();
            names.sort();
            for n in names {
                if c.stopped {
                    break;
                }
                c.vendor_file(&n);
            }
        }
        Format::Csv => c.csv_tables(),
    }
    // Everything else: CDA files for a CDA profile; for other formats a file nobody refers to.
    let mut rest: Vec<InputFile> = c.files.drain().filter(|(k, _)| !c.used.contains(k)).map(|(_, f)| f).collect();
    rest.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    for f in rest {
        if c.stopped {
            break;
        }
        let u = if profile.format == Format::Cda || f.problem.is_some() {
            Unit::File(f)
        } else {
            let abs = f.abs_path();
            Unit::Problem {
                path: f.rel_path,
                abs: Some(abs),
                bytes: None,
                findings: vec![Finding::new(
                    Code::V017,
                    "no record of the export refers to this file; kept in quarantine (check the profile's attachment mapping)",
                )],
            }
        };
        c.stopped = !sink.send(u);
    }
}

impl Ctx<'_> {
    fn send(&mut self, u: Unit) {
        if !self.stopped {
            self.stopped = !self.sink.send(u);
        }
    }

    fn problem(&mut self, path: &str, abs: Option<PathBuf>, f: Finding) {
        self.send(Unit::Problem { path: path.into(), abs, bytes: None, findings: vec![f] });
    }

    /// Take an export file of the batch; a problem is reported and None returned.
    fn take(&mut self, name: &str) -> Option<PathBuf> {
        self.used.insert(name.to_string());
        let Some(f) = self.files.get(name) else {
            let msg = format!("the profile names {name}, which is not in the batch");
            self.problem(name, None, Finding::new(Code::V019, msg));
            return None;
        };
        if let Some(p) = f.problem.clone() {
            self.problem(name, None, *p);
            return None;
        }
        Some(f.abs_path())
    }

    fn vendor_file(&mut self, name: &str) {
        let Some(abs) = self.take(name) else { return };
        let profile = self.profile;
        let Some(vx) = profile.vendor_xml.clone() else { return };
        let fm = &profile.fields;
        let mut wanted: HashSet<String> = fm.keys().cloned().collect();
        let att = self.profile.attachments.clone();
        let attachment = att.as_ref().and_then(|a| Some((a.element.clone().unwrap_or_default(), a.file.clone()?, a.declared_type.clone())));
        if let Some((_, f, t)) = &attachment {
            wanted.insert(f.clone());
            wanted.extend(t.clone());
        }
        let spec = vendor_xml::XmlSpec { record: vx.record.clone(), wanted, text: fm.text.clone(), attachment };
        let file = match File::open(&abs) {
            Ok(f) => f,
            Err(e) => return self.problem(name, None, Finding::new(Code::V013, format!("cannot read: {}", e.kind()))),
        };
        if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            return self.problem(name, Some(abs), Finding::new(Code::V009, "zero-byte export file"));
        }
        let reader = match file.try_clone() {
            Ok(f) => BufReader::with_capacity(256 << 10, f),
            Err(e) => return self.problem(name, None, Finding::new(Code::V013, format!("cannot read: {}", e.kind()))),
        };
        let enc = head_encoding(&file);
        let mut pending: Vec<Unit> = Vec::new();
        let max_size = self.max_size;
        let result = vendor_xml::read(reader, &spec, self.limits, |r| {
            let path = format!("{name}#record={}", r.ordinal);
            let len = r.end.saturating_sub(r.start);
            if len > max_size {
                let f = Finding::new(Code::V012, format!("record of {len} bytes is over the {max_size}-byte limit"))
                    .at(format!("byte {}", r.start));
                pending.push(Unit::Problem { path, abs: None, bytes: None, findings: vec![f] });
                return self.flush(&mut pending);
            }
            let mut bytes = vec![0u8; len as usize];
            if let Err(e) = file.read_exact_at(&mut bytes, r.start) {
                let f = Finding::new(Code::V013, format!("cannot read record bytes: {}", e.kind()));
                pending.push(Unit::Problem { path, abs: None, bytes: None, findings: vec![f] });
                return self.flush(&mut pending);
            }
            let fields = fm.resolve(|k| r.values.get(k).cloned());
            // The digest is needed here only to link attachments; otherwise a worker takes it.
            let id = (!r.attachments.is_empty()).then(|| RecordId(Sha256::of(&bytes)));
            pending.push(Unit::Part(Part {
                path,
                bytes,
                id,
                format: "vendor-xml",
                media_type: format!("application/xml; charset={}", enc.label()),
                fields: fields.clone(),
                text: r.text,
                findings: vec![],
            }));
            if let Some(id) = id {
                for (f, declared) in r.attachments {
                    let u = self.attachment(&f, declared, id, &fields);
                    pending.push(u);
                }
            }
            self.flush(&mut pending)
        });
        match result {
            Ok(0) => {
                let msg = format!("no <{}> record elements in the file (profile vendor_xml.record)", vx.record);
                self.problem(name, Some(abs), Finding::new(Code::V019, msg));
            }
            Ok(n) => self.send(Unit::Split { path: name.into(), records: n }),
            Err((n, mut f)) => {
                if n > 0 {
                    f.message =
                        format!("{} ({n} records before this point were read and archived; the file is kept whole here)", f.message);
                }
                self.problem(name, Some(abs), f);
            }
        }
    }

    fn flush(&mut self, pending: &mut Vec<Unit>) -> bool {
        for u in pending.drain(..) {
            self.send(u);
        }
        !self.stopped
    }

    /// Resolve an attachment reference into a unit (the attachment, or a problem).
    fn attachment(&mut self, reference: &str, declared: Option<String>, parent: RecordId, fields: &Mapped) -> Unit {
        let dir = self.profile.attachments.as_ref().map(|a| a.dir.clone()).unwrap_or_default();
        let problem =
            |f: Finding| Unit::Problem { path: format!("{reference} (attachment of {parent})"), abs: None, bytes: None, findings: vec![f] };
        let norm = reference.trim().replace('\\', "/");
        if norm.is_empty() {
            return problem(Finding::new(Code::V017, "empty attachment reference"));
        }
        if norm.starts_with('/') || norm.get(1..2) == Some(":") || norm.split('/').any(|s| s == "..") {
            return problem(Finding::new(Code::V013, "attachment reference leads outside the batch (absolute path or ..); not read"));
        }
        let rel = if dir.is_empty() {
            norm.trim_start_matches("./").to_string()
        } else {
            format!("{}/{}", dir.trim_end_matches('/'), norm.trim_start_matches("./"))
        };
        self.used.insert(rel.clone());
        match self.files.get(&rel) {
            None => problem(Finding::new(Code::V017, format!("attachment {rel} is not in the batch"))),
            Some(f) => match &f.problem {
                Some(p) => Unit::Problem { path: rel, abs: None, bytes: None, findings: vec![(**p).clone()] },
                None => Unit::Attachment(AttachmentRef { path: rel, abs: f.abs_path(), parent, declared, fields: fields.clone() }),
            },
        }
    }
}

/// The encoding an XML file declares (for the media type of its records; the parse has
/// already refused a declaration it cannot read).
fn head_encoding(f: &File) -> Encoding {
    let mut head = [0u8; 200];
    let n = f.read_at(&mut head, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..n]);
    crate::formats::xml::declared_encoding(text.trim_start_matches('\u{FEFF}'))
        .and_then(|l| Encoding::from_label(&l))
        .unwrap_or(Encoding::Utf8)
}

/// Search text of a record read through a profile, from its bytes and metadata alone (what
/// `index rebuild` uses: the profile is not stored). Vendor XML: all character data of the
/// element; CSV rows: the decoded row; text attachments: the text. The ingest may have
/// indexed only the profile's `text` fields, so a rebuilt index can find a record by more
/// words than before, never by fewer.
pub fn extract_text(format: &str, media_type: &str, bytes: &[u8]) -> String {
    let enc =
        media_type.split(';').filter_map(|p| p.trim().strip_prefix("charset=")).find_map(Encoding::from_label).unwrap_or(Encoding::Utf8);
    let decoded = match enc.decode(bytes) {
        Ok(s) => s.into_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    let text = match format {
        "vendor-xml" => {
            let mut out = String::with_capacity(decoded.len() / 2);
            let mut in_tag = false;
            for c in decoded.chars() {
                match c {
                    '<' => {
                        in_tag = true;
                        out.push(' ');
                    }
                    '>' if in_tag => in_tag = false,
                    _ if !in_tag => out.push(c),
                    _ => {}
                }
            }
            crate::formats::xml::unescape(&out).map(|c| c.into_owned()).unwrap_or(out)
        }
        "csv-row" => decoded.replace('"', " "),
        "attachment" if media_type.starts_with("text/plain") => decoded,
        _ => return String::new(),
    };
    let mut t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.len() > crate::formats::cda::MAX_NARRATIVE {
        let mut cut = crate::formats::cda::MAX_NARRATIVE;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
    }
    t
}
