//! Workers: read, hash, parse, validate and compress inputs on plain threads (CPU work stays
//! off the async runtime). Inputs are taken in small chunks so that one index lookup serves
//! a whole chunk instead of one round trip per file.

use std::fs;
use std::path::PathBuf;

use tokio::runtime::Handle;

use super::IngestedRecord;
use super::batch::InputFile;
use super::pipeline::IngestError;
use crate::digest::Sha256;
use crate::formats::{cda, xml::Limits};
use crate::ids::RecordId;
use crate::index::Index;
use crate::pack::{self, CompressedRecord};
use crate::sources::{AttachmentRef, Part, Unit, sniff};
use crate::validate::{
    self, ValidatedRecord,
    findings::{Code, Finding},
};

/// Files a worker takes at a time (and answers with one index lookup).
pub const CHUNK: usize = 32;

/// What a worker made of one input.
pub enum Work {
    /// Validated and compressed: ready to pack.
    Ready { path: String, rec: Box<CompressedRecord> },
    /// The same bytes are already archived (`parent`: the record this input is attached to,
    /// which may differ from the one the archived copy was first attached to).
    Duplicate { path: String, id: RecordId, parent: Option<RecordId> },
    /// Not archivable; `abs` is the file to keep in quarantine (when it may be read), or
    /// `bytes` (a record cut out of an export file).
    Quarantine { path: String, abs: Option<PathBuf>, bytes: Option<Vec<u8>>, id: Option<RecordId>, findings: Vec<Finding> },
    /// An export file read through; its records have outcomes of their own.
    Split { path: String, records: u64 },
    /// The run cannot go on.
    Fatal(IngestError),
}

/// Settings a worker needs.
#[derive(Clone)]
pub struct WorkerConfig {
    pub ctx: validate::Context,
    pub limits: Limits,
    pub level: i32,
    pub max_size: u64,
    /// Largest record compressed with a dictionary.
    pub max_dict_record: u64,
    /// The current dictionary, and whether originals are wanted for training.
    pub dict: std::sync::Arc<super::dicts::DictSlot>,
    /// How a profile's mapped values are read (None without a profile).
    pub rules: Option<std::sync::Arc<validate::mapped::Rules>>,
    /// Where large records' frames are written before they go into a pack.
    pub tmp: PathBuf,
}

enum Step {
    Done(Work),
    Validated { path: String, rec: Box<ValidatedRecord> },
    Refused { path: String, abs: Option<PathBuf>, bytes: Option<Vec<u8>>, id: RecordId, findings: Vec<Finding> },
}

/// Process a chunk of inputs.
pub fn process_chunk(units: Vec<Unit>, cfg: &WorkerConfig, index: &dyn Index, handle: &Handle) -> Vec<Work> {
    let steps: Vec<Step> = units
        .into_iter()
        .flat_map(|u| {
            // A bug must never lose a file: a panic while reading one quarantines it instead.
            let (path, abs) = match &u {
                Unit::File(f) => (f.rel_path.clone(), Some(f.abs_path())),
                Unit::Part(p) => (p.path.clone(), None),
                Unit::Attachment(a) => (a.path.clone(), Some(a.abs.clone())),
                Unit::Problem { path, .. } | Unit::Split { path, .. } => (path.clone(), None),
            };
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unit_steps(u, cfg))).unwrap_or_else(|_| {
                vec![Step::Done(Work::Quarantine {
                    path,
                    abs,
                    bytes: None,
                    id: None,
                    findings: vec![Finding::new(
                        Code::V013,
                        "arkisto failed while reading this file (an internal error; please report it); the file is kept here",
                    )],
                })]
            })
        })
        .collect();
    // One lookup for the chunk: which are archived already, and which document ids are taken.
    let keys: Vec<(RecordId, Option<String>)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Validated { rec, .. } => Some((rec.meta().record_id, rec.meta().document_id.as_ref().map(|d| d.0.clone()))),
            Step::Refused { id, .. } => Some((*id, None)),
            Step::Done(_) => None,
        })
        .collect();
    let lookups = if keys.is_empty() {
        Vec::new()
    } else {
        match handle.block_on(index.lookup_many(&keys)) {
            Ok(l) => l,
            Err(e) => return vec![Work::Fatal(e.into())],
        }
    };
    let mut lookups = lookups.into_iter();
    steps
        .into_iter()
        .map(|s| match s {
            Step::Done(w) => w,
            Step::Refused { path, abs, bytes, id, findings } => match lookups.next() {
                // Bytes archived earlier stay duplicates even if today's rules refuse them.
                Some(l) if l.exists => Work::Duplicate { path, id, parent: None },
                _ => Work::Quarantine { path, abs, bytes, id: Some(id), findings },
            },
            Step::Validated { path, mut rec } => {
                let id = rec.meta().record_id;
                let l = lookups.next().unwrap_or_default();
                if l.exists {
                    return Work::Duplicate { path, id, parent: rec.meta().parent };
                }
                if let (Some(other), Some(doc)) = (l.same_document.first(), rec.meta().document_id.clone()) {
                    rec.flag(Finding::new(
                        Code::V008,
                        format!("document id {doc} is already archived as record {other} with different bytes; both are kept"),
                    ));
                }
                let dict = cfg.dict.current();
                let keep = rec.source().is_none() && cfg.dict.sampling() && pack::dict_eligible(rec.bytes(), cfg.max_dict_record);
                match pack::compress(*rec, cfg.level, dict.as_deref(), cfg.max_dict_record, keep, &cfg.tmp) {
                    Ok(rec) => Work::Ready { path, rec: Box::new(rec) },
                    Err(e) => Work::Fatal(IngestError::Io { what: format!("compress {path}"), source: e }),
                }
            }
        })
        .collect()
}

fn unit_steps(u: Unit, cfg: &WorkerConfig) -> Vec<Step> {
    match u {
        Unit::File(f) => first_steps(f, cfg),
        Unit::Problem { path, abs, bytes, findings } => vec![Step::Done(Work::Quarantine { path, abs, bytes, id: None, findings })],
        Unit::Split { path, records } => vec![Step::Done(Work::Split { path, records })],
        Unit::Part(p) => vec![part_steps(p, cfg)],
        Unit::Attachment(a) => vec![attachment_steps(a, cfg)],
    }
}

/// Sniff decoded or attached bytes against a declared type: the media type to record and
/// the findings (V015 type differs, V016 incomplete).
fn judge_type(bytes: &[u8], declared: Option<&str>) -> (String, Vec<Finding>) {
    let kind = sniff::sniff(&bytes[..bytes.len().min(8192)]);
    let incomplete =
        kind.and_then(|k| sniff::check_complete(k, bytes, &bytes[bytes.len().saturating_sub(65536)..], bytes.len() as u64).err());
    type_findings(declared, kind, incomplete)
}

/// The media type to record for a sniffed kind, and the findings: V015 when the content is not
/// the declared type, V016 when it looks incomplete.
fn type_findings(declared: Option<&str>, kind: Option<sniff::Kind>, incomplete: Option<String>) -> (String, Vec<Finding>) {
    let mut findings = Vec::new();
    match (declared.and_then(sniff::Kind::from_declared), kind) {
        (Some(d), Some(k)) if d != k && !(d == sniff::Kind::Text && k == sniff::Kind::Xml) => findings.push(Finding::new(
            Code::V015,
            format!("declared {:?} ({}) but the content is {}", declared.unwrap_or(""), d.media_type(), k.media_type()),
        )),
        (Some(d), None) => {
            findings.push(Finding::new(Code::V015, format!("declared {} but the content is of no known type", d.media_type())))
        }
        _ => {}
    }
    findings.extend(incomplete.map(|why| Finding::new(Code::V016, why)));
    (kind.map(|k| k.media_type()).unwrap_or("application/octet-stream").to_string(), findings)
}

/// A CDA document's embedded `nonXMLBody` (base64), decoded into a record of its own.
fn embedded_body(parent: &mut ValidatedRecord, path: &str, b64: &str, declared: Option<&str>) -> Option<Step> {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(bytes) if !bytes.is_empty() => {
            let (media_type, findings) = judge_type(&bytes, declared);
            let child_path = format!("{path}{}", super::report::EMBEDDED_SUFFIX);
            let child = parent.attachment(child_path.clone(), bytes, media_type, findings);
            Some(Step::Validated { path: child_path, rec: Box::new(child) })
        }
        Ok(_) => None,
        Err(e) => {
            parent.flag(Finding::new(Code::V016, format!("embedded nonXMLBody is not valid base64 ({e}); kept only inside the document")));
            None
        }
    }
}

fn mapped_step(m: validate::mapped::MappedInput, cfg: &WorkerConfig) -> Step {
    let (path, id) = (m.input.rel_path.clone(), m.input.record_id);
    let default;
    let rules = match cfg.rules.as_deref() {
        Some(r) => r,
        None => {
            default = validate::mapped::Rules::default();
            &default
        }
    };
    match validate::mapped::validate(m, rules, &cfg.ctx) {
        Ok(v) => Step::Validated { path, rec: Box::new(v) },
        Err((findings, bytes)) => Step::Refused { path, abs: None, bytes: Some(bytes), id, findings },
    }
}

fn part_steps(p: Part, cfg: &WorkerConfig) -> Step {
    let record_id = p.id.unwrap_or_else(|| RecordId(Sha256::of(&p.bytes)));
    let input = IngestedRecord { rel_path: p.path, bytes: p.bytes, record_id };
    let m = validate::mapped::MappedInput {
        input,
        format: p.format,
        media_type: p.media_type,
        fields: p.fields,
        parent: None,
        findings: p.findings,
        narrative: p.text,
    };
    mapped_step(m, cfg)
}

fn attachment_steps(a: AttachmentRef, cfg: &WorkerConfig) -> Step {
    let path = a.path;
    let quarantine = |abs: Option<PathBuf>, f: Finding| {
        Step::Done(Work::Quarantine { path: path.clone(), abs, bytes: None, id: None, findings: vec![f] })
    };
    let size = match fs::metadata(&a.abs) {
        Ok(m) => m.len(),
        Err(e) => return quarantine(None, Finding::new(Code::V013, format!("cannot read attachment: {}", e.kind()))),
    };
    if size == 0 {
        return quarantine(Some(a.abs), Finding::new(Code::V009, format!("zero-byte attachment (referred to by record {})", a.parent)));
    }
    if size > cfg.max_size {
        let f = Finding::new(Code::V012, format!("{size} bytes is over the {}-byte limit (ingest.max_file_size_mib)", cfg.max_size));
        return quarantine(Some(a.abs), f);
    }
    let declared = a.declared.clone().or_else(|| path.rsplit('/').next().filter(|n| n.contains('.')).map(String::from));
    if size > STREAM_ABOVE {
        // Only the head and tail are sniffed; the bytes are streamed later.
        let (kind, incomplete, _) = match sniff::sniff_file(&a.abs) {
            Ok(s) => s,
            Err(e) => return quarantine(None, Finding::new(Code::V013, format!("cannot read attachment: {}", e.kind()))),
        };
        return large_attachment(path, (a.abs, a.parent, a.fields), kind, incomplete, size, declared, cfg);
    }
    let bytes = match fs::read(&a.abs) {
        Ok(b) => b,
        Err(e) => return quarantine(None, Finding::new(Code::V013, format!("cannot read attachment: {}", e.kind()))),
    };
    let (media_type, findings) = judge_type(&bytes, declared.as_deref());
    let narrative = match sniff::sniff(&bytes[..bytes.len().min(8192)]) {
        Some(sniff::Kind::Text) => {
            let t = String::from_utf8_lossy(&bytes[..bytes.len().min(crate::formats::cda::MAX_NARRATIVE)]);
            t.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        _ => String::new(),
    };
    let mut fields = a.fields;
    fields.document_id = None;
    fields.title = path.rsplit('/').next().map(String::from);
    let record_id = RecordId(Sha256::of(&bytes));
    let input = IngestedRecord { rel_path: path.clone(), bytes, record_id };
    mapped_step(
        validate::mapped::MappedInput { input, format: "attachment", media_type, fields, parent: Some(a.parent), findings, narrative },
        cfg,
    )
}

/// Attachments larger than this are never held in memory: hashed in one pass, compressed
/// into the pack from the file in another.
pub const STREAM_ABOVE: u64 = 32 << 20;

fn large_attachment(
    path: String,
    (abs, parent, fields): (PathBuf, RecordId, validate::mapped::Mapped),
    kind: Option<sniff::Kind>,
    incomplete: Option<String>,
    size: u64,
    declared: Option<String>,
    cfg: &WorkerConfig,
) -> Step {
    let hashed = (|| -> std::io::Result<(crate::digest::Sha256, u64)> {
        let mut r = crate::digest::HashingReader::new(fs::File::open(&abs)?);
        std::io::copy(&mut r, &mut std::io::sink())?;
        Ok(r.finish())
    })();
    let record_id = match hashed {
        Ok((sha, n)) if n == size => RecordId(sha),
        Ok((_, n)) => {
            let f = Finding::new(Code::V013, format!("attachment changed while being read ({n} bytes, then {size})"));
            return Step::Done(Work::Quarantine { path, abs: None, bytes: None, id: None, findings: vec![f] });
        }
        Err(e) => {
            let f = Finding::new(Code::V013, format!("cannot read attachment: {}", e.kind()));
            return Step::Done(Work::Quarantine { path, abs: None, bytes: None, id: None, findings: vec![f] });
        }
    };
    let (media_type, findings) = type_findings(declared.as_deref(), kind, incomplete);
    let mut fields = fields;
    fields.document_id = None;
    fields.title = path.rsplit('/').next().map(String::from);
    let input = IngestedRecord { rel_path: path.clone(), bytes: Vec::new(), record_id };
    let m = validate::mapped::MappedInput {
        input,
        format: "attachment",
        media_type,
        fields,
        parent: Some(parent),
        findings,
        narrative: String::new(),
    };
    match mapped_step(m, cfg) {
        Step::Validated { path, mut rec } => {
            rec.stream_from(abs, size);
            Step::Validated { path, rec }
        }
        Step::Refused { path, id, findings, .. } => Step::Refused { path, abs: Some(abs), bytes: None, id, findings },
        other => other,
    }
}

fn first_steps(file: InputFile, cfg: &WorkerConfig) -> Vec<Step> {
    let abs_path = file.abs_path();
    let path = file.rel_path;
    let quarantine = |abs: Option<PathBuf>, f: Finding| {
        vec![Step::Done(Work::Quarantine { path: path.clone(), abs, bytes: None, id: None, findings: vec![f] })]
    };
    if let Some(p) = file.problem {
        // A file whose manifest entry disagrees is kept (it is what arrived); anything else
        // with a problem (a link out of the batch, a device) is never read.
        let keep = (p.code == Code::V020 && abs_path.symlink_metadata().is_ok_and(|m| m.is_file())).then_some(abs_path);
        return quarantine(keep, *p);
    }
    let size = match fs::metadata(&abs_path) {
        Ok(m) => m.len(),
        Err(e) => return quarantine(None, Finding::new(Code::V013, format!("cannot read: {}", e.kind()))),
    };
    if size > cfg.max_size {
        let f = Finding::new(Code::V012, format!("{size} bytes is over the {}-byte limit (ingest.max_file_size_mib)", cfg.max_size));
        return quarantine(Some(abs_path), f);
    }
    let bytes = match fs::read(&abs_path) {
        Ok(b) => b,
        Err(e) => return quarantine(None, Finding::new(Code::V013, format!("cannot read: {}", e.kind()))),
    };
    let id = RecordId(Sha256::of(&bytes));
    let doc = match cda::read(&bytes, cfg.limits) {
        Ok(d) => d,
        Err(f) => {
            return vec![Step::Refused { path, abs: Some(abs_path), bytes: None, id, findings: vec![f] }];
        }
    };
    let mut doc = doc;
    let embedded = doc.embedded.take().filter(|_| {
        doc.header.non_xml_body.as_ref().and_then(|b| b.representation.as_deref()).is_some_and(|r| r.eq_ignore_ascii_case("B64"))
    });
    let declared = doc.header.non_xml_body.as_ref().and_then(|b| b.media_type.clone());
    match validate::validate(IngestedRecord { rel_path: path.clone(), bytes, record_id: id }, doc, &cfg.ctx) {
        Ok(mut v) => {
            let child = embedded.and_then(|b64| embedded_body(&mut v, &path, &b64, declared.as_deref()));
            let mut steps = vec![Step::Validated { path, rec: Box::new(v) }];
            steps.extend(child);
            steps
        }
        Err(findings) => vec![Step::Refused { path, abs: Some(abs_path), bytes: None, id, findings }],
    }
}
