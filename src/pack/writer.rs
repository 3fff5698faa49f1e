//! Streaming pack writer: appends pre-compressed records to a temp file, then writes the
//! table and footer and fsyncs. Holds only the table entries in memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::format::{self, Footer, PackTable};
use crate::dict::Dictionary;
use crate::digest::{HashingWriter, Sha256};
use crate::ids::PackId;
use crate::record::{RecordLocation, RecordMeta};
use crate::validate::ValidatedRecord;

/// A validated record, compressed and ready to append (made only by [`compress`]).
#[derive(Debug)]
pub struct CompressedRecord {
    /// Metadata (goes into the skippable frame as JSON).
    pub(crate) meta: RecordMeta,
    /// One complete zstd frame of the original bytes (content checksum on).
    pub(crate) frame: Vec<u8>,
    /// SHA-256 of `frame`.
    pub(crate) stored_sha256: Sha256,
    /// Dictionary the frame needs (0 = none).
    pub(crate) dict_id: u32,
    /// Title and narrative analysed for the index (not stored in the pack; the narrative is
    /// re-extracted on rebuild). Analysed here, on the worker, so that the index writer
    /// only stores.
    pub(crate) text: crate::text::Analysed,
    /// The original bytes, kept only while a dictionary is being trained from them.
    pub(crate) original: Option<Vec<u8>>,
    /// A large record's frame, in a temp file (`frame` is then empty): copied into the pack
    /// and deleted, so that no large record is ever held in memory.
    pub(crate) frame_file: Option<(PathBuf, u64)>,
}

impl Drop for CompressedRecord {
    fn drop(&mut self) {
        if let Some((p, _)) = self.frame_file.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl CompressedRecord {
    /// Compress again, with `dict` (used when a dictionary was trained from this very record).
    pub(crate) fn recompress(&mut self, level: i32, dict: &Dictionary, max_record: u64) -> io::Result<()> {
        if let Some(orig) = &self.original {
            let (frame, sha, id) = compress_record(orig, level, Some(dict), max_record)?;
            (self.frame, self.stored_sha256, self.dict_id) = (frame, sha, id);
        }
        Ok(())
    }
}

/// Compress a validated record into a [`CompressedRecord`]: the only way to make one, so
/// nothing unvalidated reaches a pack. `dict` is used when the record is eligible (not too
/// large, not compressed already); `keep_original` keeps the bytes for dictionary training.
/// A streamed record is compressed from its file into a temp frame under `tmp`.
pub fn compress(
    v: ValidatedRecord,
    level: i32,
    dict: Option<&Dictionary>,
    max_record: u64,
    keep_original: bool,
    tmp: &Path,
) -> io::Result<CompressedRecord> {
    if let Some(src) = v.source().map(Path::to_path_buf) {
        let (path, len, stored_sha256) = compress_file(&src, tmp, level)?;
        let (meta, _, narrative) = v.into_parts();
        let text = analyse(&meta, &narrative);
        return Ok(CompressedRecord {
            meta,
            frame: Vec::new(),
            stored_sha256,
            dict_id: 0,
            text,
            original: None,
            frame_file: Some((path, len)),
        });
    }
    let (frame, stored_sha256, dict_id) = compress_record(v.bytes(), level, dict, max_record)?;
    let (meta, bytes, narrative) = v.into_parts();
    let text = analyse(&meta, &narrative);
    Ok(CompressedRecord { meta, frame, stored_sha256, dict_id, text, original: keep_original.then_some(bytes), frame_file: None })
}

fn analyse(meta: &RecordMeta, narrative: &str) -> crate::text::Analysed {
    crate::text::Analysed::new(crate::text::analyzer(), meta.language.as_deref(), meta.title.as_deref().unwrap_or_default(), narrative)
}

/// Compress a file into one zstd frame in a temp file under `tmp`, streaming (content size
/// and checksum on, like [`compress_record`]); returns the frame file, its length and digest.
pub fn compress_file(src: &Path, tmp: &Path, level: i32) -> io::Result<(PathBuf, u64, Sha256)> {
    use std::io::Read;
    let mut input = File::open(src)?;
    let size = input.metadata()?.len();
    let mut head = vec![0u8; 8192.min(size as usize)];
    input.read_exact(&mut head)?;
    let level = if crate::dict::looks_compressed(&head) { -5 } else { level };
    let path = tmp.join(format!("frame-{}.zst.tmp", crate::ids::PackId::generate()));
    let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, File::create(&path)?));
    let mut enc = zstd::stream::write::Encoder::new(out, level)?;
    enc.include_checksum(true)?;
    enc.include_contentsize(true)?;
    enc.set_pledged_src_size(Some(size))?;
    enc.write_all(&head)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        enc.write_all(&buf[..n])?;
    }
    let out = enc.finish()?;
    let (w, sha, len) = out.finish();
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok((path, len, sha))
}

/// Whether a record of these bytes may use a dictionary.
pub fn dict_eligible(bytes: &[u8], max_record: u64) -> bool {
    bytes.len() as u64 <= max_record && !crate::dict::looks_compressed(bytes)
}

/// Compress original bytes into one zstd frame with content size and checksum; returns the
/// frame, its digest and the dictionary id used (0 = none). Content that is compressed
/// already (PDF, JPEG, PNG, ZIP…) gets the fastest level and no dictionary.
pub fn compress_record(bytes: &[u8], level: i32, dict: Option<&Dictionary>, max_record: u64) -> io::Result<(Vec<u8>, Sha256, u32)> {
    thread_local! {
        // One compression context per thread, level and dictionary: creating one per record
        // is costly (profiled), and loading a dictionary more so.
        static CCTX: std::cell::RefCell<Option<(i32, u32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
    }
    let (level, dict) = if crate::dict::looks_compressed(bytes) {
        (-5, None)
    } else if bytes.len() as u64 > max_record {
        (level, None)
    } else {
        (level, dict)
    };
    let dict_id = dict.map_or(0, |d| d.id.0);
    CCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, d, _)| *l != level || *d != dict_id) {
            let mut c = match dict {
                Some(d) => zstd::bulk::Compressor::with_dictionary(level, &d.bytes)?,
                None => zstd::bulk::Compressor::new(level)?,
            };
            c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
            c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true))?;
            c.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(true))?;
            *slot = Some((level, dict_id, c));
        }
        let Some((_, _, c)) = slot.as_mut() else { return Err(io::Error::other("no compressor")) };
        let frame = c.compress(bytes)?;
        let d = Sha256::of(&frame);
        Ok((frame, d, dict_id))
    })
}

/// A pack being written.
pub struct PackWriter {
    id: PackId,
    path: PathBuf,
    out: HashingWriter<BufWriter<File>>,
    records: Vec<RecordLocation>,
    created: String,
}

/// A pack whose bytes are complete and durable in a local file.
#[derive(Debug)]
pub struct FinishedPack {
    /// Pack id.
    pub id: PackId,
    /// Local temp file holding the pack.
    pub path: PathBuf,
    /// Total size.
    pub size: u64,
    /// SHA-256 of the whole pack.
    pub sha256: Sha256,
    /// The table written into it.
    pub table: PackTable,
    /// Where the table frame starts (table and footer run to the end).
    pub table_offset: u64,
}

impl PackWriter {
    /// Start a pack in `dir` (a temp file named after the pack id).
    pub fn create(dir: &Path, id: PackId, created: String) -> io::Result<Self> {
        let path = dir.join(format!("{id}.pack.tmp"));
        let f = File::create(&path)?;
        Ok(Self { id, path, out: HashingWriter::new(BufWriter::with_capacity(64 << 10, f)), records: Vec::new(), created })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.out.written()
    }

    /// No records yet.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Append one record; returns where it went and its metadata JSON.
    pub fn append(&mut self, rec: &CompressedRecord) -> io::Result<(RecordLocation, Vec<u8>)> {
        let meta_json = serde_json::to_vec(&rec.meta).map_err(io::Error::other)?;
        let meta_frame = format::json_frame(format::MAGIC_META, &meta_json)?;
        let meta_offset = self.out.written();
        self.out.write_all(&meta_frame)?;
        let data_offset = self.out.written();
        let data_len = match &rec.frame_file {
            Some((p, len)) => {
                let copied = io::copy(&mut File::open(p)?, &mut self.out)?;
                if copied != *len {
                    return Err(io::Error::other(format!("frame file {} changed: {copied} bytes, expected {len}", p.display())));
                }
                copied
            }
            None => {
                self.out.write_all(&rec.frame)?;
                rec.frame.len() as u64
            }
        };
        let loc = RecordLocation {
            record_id: rec.meta.record_id,
            meta_offset,
            meta_len: meta_frame.len() as u64,
            meta_sha256: Sha256::of(&meta_frame),
            data_offset,
            data_len,
            stored_sha256: rec.stored_sha256,
            original_size: rec.meta.original_size,
            dict_id: rec.dict_id,
        };
        self.records.push(loc.clone());
        Ok((loc, meta_json))
    }

    /// Append a record's frames exactly as they are in another pack (compaction): the bytes,
    /// and so both digests, do not change; only the offsets do.
    pub fn append_raw(&mut self, meta_frame: &[u8], data_frame: &[u8], from: &RecordLocation) -> io::Result<RecordLocation> {
        let meta_offset = self.out.written();
        self.out.write_all(meta_frame)?;
        let data_offset = self.out.written();
        self.out.write_all(data_frame)?;
        let loc = RecordLocation { meta_offset, data_offset, ..from.clone() };
        self.records.push(loc.clone());
        Ok(loc)
    }

    /// Write table and footer, flush and fsync the file.
    pub fn finish(mut self) -> io::Result<FinishedPack> {
        let table = PackTable {
            format: format::FORMAT_NAME.into(),
            version: format::FORMAT_VERSION,
            pack_id: self.id,
            created: self.created.clone(),
            records: std::mem::take(&mut self.records),
        };
        let json = serde_json::to_vec(&table).map_err(io::Error::other)?;
        let frame = format::json_frame(format::MAGIC_TABLE, &json)?;
        let table_offset = self.out.written();
        let footer = Footer { table_offset, table_len: frame.len() as u64, table_sha256: Sha256::of(&frame) };
        self.out.write_all(&frame)?;
        self.out.write_all(&footer.encode())?;
        let (buf, sha256, size) = self.out.finish();
        let f = buf.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(FinishedPack { id: self.id, path: self.path, size, sha256, table, table_offset })
    }

    /// Give up on this pack and delete its temp file.
    pub fn abandon(self) {
        let path = self.path.clone();
        drop(self);
        let _ = std::fs::remove_file(path);
    }
}
