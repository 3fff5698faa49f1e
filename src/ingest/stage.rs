//! The pack stage: takes workers' results one at a time, catches duplicates within the
//! batch, groups records by retention key into packs, hands finished packs to the committer,
//! and keeps quarantined inputs with their findings.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::commit::{Committed, Committer, Job, Pending};
use super::dicts::Trainer;
use super::pipeline::IngestError;
use super::report::{Counts, FileOutcome, FileReport};
use super::text::{RowIds, TextIndexer};
use super::worker::Work;
use crate::archive::{Archive, now};
use crate::dict::DictInfo;
use crate::ids::{PackId, RecordId};
use crate::pack::{CompressedRecord, PackWriter};
use crate::validate::findings::{Code, Finding};

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> IngestError {
    let what = what.into();
    move |source| IngestError::Io { what, source }
}

/// A pack being filled, with a spool file holding its records' index data (so that memory
/// stays flat however large the pack grows).
struct OpenPack {
    writer: PackWriter,
    pending: Vec<Pending>,
    spool: BufWriter<File>,
    spool_path: PathBuf,
    spool_len: u64,
}

/// What a run's stage produced.
pub struct StageOutcome {
    /// Every input file's outcome, sorted by path.
    pub files: Vec<FileReport>,
    /// Counts.
    pub counts: Counts,
    /// Packs committed.
    pub packs: Vec<PackId>,
    /// Dictionaries trained.
    pub dicts: Vec<DictInfo>,
    /// (parent, attachment) links of attachments that were archived already: the same file
    /// referred to by another record.
    pub links: Vec<(RecordId, RecordId)>,
}

/// The sequential stage between workers and committer.
pub struct PackStage {
    committer: Committer,
    text: TextIndexer,
    row_ids: RowIds,
    open: HashMap<String, OpenPack>,
    seen: HashSet<RecordId>,
    seen_docs: HashMap<String, (RecordId, String)>,
    links: Vec<(RecordId, RecordId)>,
    files: Vec<FileReport>,
    counts: Counts,
    target: u64,
    max_open: usize,
    tmp: PathBuf,
    quarantine: PathBuf,
    trainer: Trainer,
    archive: Archive,
    handle: tokio::runtime::Handle,
}

impl PackStage {
    /// A stage for one run, with its committer.
    pub fn new(
        archive: &Archive,
        committer: Committer,
        handle: tokio::runtime::Handle,
        run_id: crate::ids::RunId,
        trainer: Trainer,
    ) -> Result<Self, IngestError> {
        let tmp = archive.config.tmp_dir();
        fs::create_dir_all(&tmp).map_err(io(format!("create {}", tmp.display())))?;
        Ok(Self {
            committer,
            text: TextIndexer::start(archive.index.clone(), handle.clone()),
            row_ids: RowIds::new(archive.index.clone(), handle.clone()),
            open: HashMap::new(),
            seen: HashSet::new(),
            seen_docs: HashMap::new(),
            links: Vec::new(),
            files: Vec::new(),
            counts: Counts::default(),
            target: archive.config.pack.target_size_mib << 20,
            max_open: archive.config.pack.max_open_packs,
            tmp,
            quarantine: archive.config.quarantine_dir().join(run_id.to_string()),
            trainer,
            archive: archive.clone(),
            handle,
        })
    }

    /// Quarantined so far.
    pub fn quarantined(&self) -> u64 {
        self.counts.quarantined
    }

    /// Take one worker result.
    pub fn accept(&mut self, w: Work) -> Result<(), IngestError> {
        match w {
            Work::Fatal(e) => Err(e),
            Work::Duplicate { path, id, parent } => {
                self.duplicate(path, id, parent);
                Ok(())
            }
            Work::Quarantine { path, abs, bytes, id, findings } => self.quarantine(path, abs.as_deref(), bytes, id, findings),
            Work::Split { path, records } => {
                self.counts.split += 1;
                self.counts.records_read += records;
                self.files.push(FileReport { path, outcome: FileOutcome::Split, record_id: None, findings: vec![] });
                Ok(())
            }
            Work::Ready { path, rec } => {
                for (p, r) in self.trainer.take(&self.archive, &self.handle, path, *rec)? {
                    self.add(p, r)?;
                }
                Ok(())
            }
        }
    }

    /// Close every pack, wait for the committer, and return the run's files, counts and packs.
    pub fn finish(mut self) -> Result<StageOutcome, IngestError> {
        let mut r = Ok(());
        match self.trainer.finish(&self.archive, &self.handle) {
            Ok(rest) => {
                for (p, rec) in rest {
                    if r.is_ok() {
                        r = self.add(p, rec);
                    }
                }
            }
            Err(e) => r = Err(e),
        }
        let mut keys: Vec<String> = self.open.keys().cloned().collect();
        keys.sort();

        for k in keys {
            if r.is_ok() {
                r = self.flush(&k);
            }
        }
        let committed = self.committer.finish();
        let text = self.text.finish();
        r?;
        text?;
        let Committed { files, packs, bytes_archived, bytes_stored } = committed?;
        self.counts.embedded = files.iter().filter(|f| super::report::is_embedded(&f.path)).count() as u64;
        self.counts.archived = files.len() as u64 - self.counts.embedded;
        self.counts.bytes_archived = bytes_archived;
        self.counts.bytes_stored = bytes_stored;
        let mut all = self.files;
        all.extend(files);
        all.sort_by(|a, b| a.path.cmp(&b.path));
        self.counts.files = all.len() as u64;
        self.counts.findings = all.iter().map(|f| f.findings.len() as u64).sum();
        let links = std::mem::take(&mut self.links);
        Ok(StageOutcome { files: all, counts: self.counts, packs, dicts: std::mem::take(&mut self.trainer.created), links })
    }

    fn duplicate(&mut self, path: String, id: RecordId, parent: Option<RecordId>) {
        if let Some(p) = parent {
            self.links.push((p, id));
        }
        if super::report::is_embedded(&path) {
            // Archived with its document earlier; the document's line says so.
            return;
        }
        self.counts.duplicate += 1;
        self.files.push(FileReport { path, outcome: FileOutcome::Duplicate, record_id: Some(id), findings: vec![] });
    }

    fn quarantine(
        &mut self,
        path: String,
        abs: Option<&Path>,
        bytes: Option<Vec<u8>>,
        id: Option<RecordId>,
        findings: Vec<Finding>,
    ) -> Result<(), IngestError> {
        let files_dir = self.quarantine.join("files");
        let find_dir = self.quarantine.join("findings");
        let json =
            serde_json::to_vec_pretty(&serde_json::json!({ "path": path, "record_id": id, "findings": findings })).unwrap_or_default();
        // Report paths can carry what an export wrote (a hostile reference): never let them
        // lead out of the quarantine folder.
        let safe = quarantine_name(&path);
        let fpath = find_dir.join(format!("{safe}.json"));
        fs::create_dir_all(fpath.parent().unwrap_or(&find_dir)).map_err(io("create quarantine folder"))?;
        fs::write(&fpath, json).map_err(io(format!("write {}", fpath.display())))?;
        if let Some(src) = abs {
            let dst = files_dir.join(&safe);
            fs::create_dir_all(dst.parent().unwrap_or(&files_dir)).map_err(io("create quarantine folder"))?;
            fs::copy(src, &dst).map_err(io(format!("copy {path} to quarantine")))?;
        } else if let Some(b) = bytes {
            let dst = files_dir.join(&safe);
            fs::create_dir_all(dst.parent().unwrap_or(&files_dir)).map_err(io("create quarantine folder"))?;
            fs::write(&dst, b).map_err(io(format!("write {path} to quarantine")))?;
        }
        self.counts.quarantined += 1;
        self.files.push(FileReport { path, outcome: FileOutcome::Quarantined, record_id: id, findings });
        Ok(())
    }

    fn add(&mut self, path: String, mut rec: CompressedRecord) -> Result<(), IngestError> {
        let id = rec.meta.record_id;
        if !self.seen.insert(id) {
            self.duplicate(path, id, rec.meta.parent);
            return Ok(());
        }
        if let Some(doc) = rec.meta.document_id.as_ref().map(|d| d.0.clone()) {
            // The same document id with other bytes in this batch: keep both, flag the
            // newcomer (V008). Conflicts with earlier runs were flagged by the worker.
            if let Some((other, other_path)) = self.seen_docs.get(&doc)
                && *other != id
            {
                let msg = format!("document id {doc} is also in this batch ({other_path}) with different bytes; both are archived");
                rec.meta.findings.push(Finding::new(Code::V008, msg));
            }
            self.seen_docs.entry(doc).or_insert((id, path.clone()));
        }
        let group = rec.meta.retention.group_key();
        if !self.open.contains_key(&group) && self.open.len() >= self.max_open {
            let fullest = self.open.iter().max_by_key(|(_, p)| p.writer.size()).map(|(k, _)| k.clone());
            if let Some(k) = fullest {
                self.flush(&k)?;
            }
        }
        if !self.open.contains_key(&group) {
            let p = self.open_pack()?;
            self.open.insert(group.clone(), p);
        }
        let row_id = self.row_ids.next()?;
        if !self.text.send(crate::index::TextRow { row_id, text: std::mem::take(&mut rec.text) }) {
            return Err(self.text.stopped_error());
        }
        let Some(op) = self.open.get_mut(&group) else { return Ok(()) };
        let (loc, meta_json) = op.writer.append(&rec).map_err(io("write pack"))?;
        op.spool.write_all(&meta_json).map_err(io("write spool"))?;
        op.pending.push(Pending {
            path,
            row_id,
            loc,
            spool_offset: op.spool_len,
            meta_len: meta_json.len() as u64,
            warnings: rec.meta.findings.clone(),
        });
        op.spool_len += meta_json.len() as u64;
        if op.writer.size() >= self.target {
            self.flush(&group)?;
        }
        Ok(())
    }

    fn open_pack(&self) -> Result<OpenPack, IngestError> {
        let id = PackId::generate();
        let writer = PackWriter::create(&self.tmp, id, now()).map_err(io("create pack temp file"))?;
        let spool_path = self.tmp.join(format!("{id}.spool"));
        let spool = BufWriter::new(File::create(&spool_path).map_err(io("create spool"))?);
        Ok(OpenPack { writer, pending: Vec::new(), spool, spool_path, spool_len: 0 })
    }

    /// Close a pack (fsync) and queue it for storing and indexing.
    fn flush(&mut self, group: &str) -> Result<(), IngestError> {
        let Some(op) = self.open.remove(group) else { return Ok(()) };
        if op.writer.is_empty() {
            op.writer.abandon();
            let _ = fs::remove_file(&op.spool_path);
            return Ok(());
        }
        let OpenPack { writer, pending, spool, spool_path, .. } = op;
        drop(spool.into_inner().map_err(|e| e.into_error()).map_err(io("flush spool"))?);
        let pack = writer.finish().map_err(io("finish pack"))?;
        if let Err(job) = self.committer.send(Job { pack, pending, spool: spool_path }) {
            let _ = fs::remove_file(&job.pack.path);
            let _ = fs::remove_file(&job.spool);
            // The committer stopped on an error: that error is the one to report.
            return Err(self.committer.stopped_error());
        }
        Ok(())
    }
}

/// A relative path under the quarantine folder for a report path: no `..`, no absolute part,
/// only plain characters.
fn quarantine_name(path: &str) -> String {
    let parts: Vec<String> = path
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(|s| s.chars().map(|c| if c.is_control() { '_' } else { c }).collect())
        .collect();
    if parts.is_empty() { "_".into() } else { parts.join("/") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quarantine_names_stay_inside() {
        assert_eq!(super::quarantine_name("../../etc/passwd (attachment of x)"), "etc/passwd (attachment of x)");
        assert_eq!(super::quarantine_name("a\\..\\b\nc"), "a/b_c");
        assert_eq!(super::quarantine_name("/abs/a.pdf"), "abs/a.pdf");
        assert_eq!(super::quarantine_name(".."), "_");
        assert_eq!(super::quarantine_name("rows.csv#line=3"), "rows.csv#line=3");
    }
}
