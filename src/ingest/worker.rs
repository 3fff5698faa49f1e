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
    /// The same bytes are already archived.
    Duplicate { path: String, id: RecordId },
    /// Not archivable; `abs` is the file to keep in quarantine (when it may be read).
    Quarantine { path: String, abs: Option<PathBuf>, id: Option<RecordId>, findings: Vec<Finding> },
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
}

enum Step {
    Done(Work),
    Validated { path: String, rec: Box<ValidatedRecord> },
    Refused { path: String, abs: PathBuf, id: RecordId, findings: Vec<Finding> },
}

/// Process a chunk of inputs.
pub fn process_chunk(files: Vec<InputFile>, cfg: &WorkerConfig, index: &dyn Index, handle: &Handle) -> Vec<Work> {
    let steps: Vec<Step> = files
        .into_iter()
        .map(|f| {
            // A bug must never lose a file: a panic while reading one quarantines it instead.
            let (path, abs) = (f.rel_path.clone(), f.abs_path.clone());
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| first_steps(f, cfg))).unwrap_or_else(|_| {
                Step::Done(Work::Quarantine {
                    path,
                    abs: Some(abs),
                    id: None,
                    findings: vec![Finding::new(
                        Code::V013,
                        "arkisto failed while reading this file (an internal error; please report it); the file is kept here",
                    )],
                })
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
            Step::Refused { path, abs, id, findings } => match lookups.next() {
                // Bytes archived earlier stay duplicates even if today's rules refuse them.
                Some(l) if l.exists => Work::Duplicate { path, id },
                _ => Work::Quarantine { path, abs: Some(abs), id: Some(id), findings },
            },
            Step::Validated { path, mut rec } => {
                let id = rec.meta().record_id;
                let l = lookups.next().unwrap_or_default();
                if l.exists {
                    return Work::Duplicate { path, id };
                }
                if let (Some(other), Some(doc)) = (l.same_document.first(), rec.meta().document_id.clone()) {
                    rec.flag(Finding::new(
                        Code::V008,
                        format!("document id {doc} is already archived as record {other} with different bytes; both are kept"),
                    ));
                }
                let dict = cfg.dict.current();
                let keep = cfg.dict.sampling() && pack::dict_eligible(rec.bytes(), cfg.max_dict_record);
                match pack::compress(*rec, cfg.level, dict.as_deref(), cfg.max_dict_record, keep) {
                    Ok(rec) => Work::Ready { path, rec: Box::new(rec) },
                    Err(e) => Work::Fatal(IngestError::Io { what: format!("compress {path}"), source: e }),
                }
            }
        })
        .collect()
}

fn first_steps(file: InputFile, cfg: &WorkerConfig) -> Step {
    let path = file.rel_path;
    let quarantine =
        |abs: Option<PathBuf>, f: Finding| Step::Done(Work::Quarantine { path: path.clone(), abs, id: None, findings: vec![f] });
    if let Some(p) = file.problem {
        return quarantine(None, p);
    }
    let size = match fs::metadata(&file.abs_path) {
        Ok(m) => m.len(),
        Err(e) => return quarantine(None, Finding::new(Code::V013, format!("cannot read: {}", e.kind()))),
    };
    if size > cfg.max_size {
        let f = Finding::new(Code::V012, format!("{size} bytes is over the {}-byte limit (ingest.max_file_size_mib)", cfg.max_size));
        return quarantine(Some(file.abs_path), f);
    }
    let bytes = match fs::read(&file.abs_path) {
        Ok(b) => b,
        Err(e) => return quarantine(None, Finding::new(Code::V013, format!("cannot read: {}", e.kind()))),
    };
    let id = RecordId(Sha256::of(&bytes));
    let doc = match cda::read(&bytes, cfg.limits) {
        Ok(d) => d,
        Err(f) => {
            return Step::Refused { path, abs: file.abs_path, id, findings: vec![f] };
        }
    };
    match validate::validate(IngestedRecord { rel_path: path.clone(), bytes, record_id: id }, doc, &cfg.ctx) {
        Ok(v) => Step::Validated { path, rec: Box::new(v) },
        Err(findings) => Step::Refused { path, abs: file.abs_path, id, findings },
    }
}
