//! Writing packages: the output (a folder or a TAR, bagged or not, built beside its final
//! place and renamed into it only when whole) and the representations of a CSIP package
//! (originals verified as they are read, renderings, PREMIS, METS).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::cover::{self, CoverRecord};
use super::csip::{self, Content, FileEntry, PremisEvent, PremisObject, Profile};
use super::gather::Item;
use super::sink::{AnySink, Bag, DirSink, Output, Sink, TarSink, safe_name};
use super::{Excluded, ExportError, Lang};
use crate::archive::Archive;
use crate::digest::Sha256;
use crate::retrieve;

/// Records up to this size are verified in memory; larger ones through a spool file.
const IN_MEMORY: u64 = 16 << 20;

/// Where a package goes: `out` (a folder, or a `.tar` file), built at `tmp` beside it.
pub(crate) struct Target {
    pub out: PathBuf,
    tmp: PathBuf,
    /// A spool file for records too large to verify in memory.
    pub spool: PathBuf,
    /// TAR output.
    pub tar: bool,
    bag: bool,
    out_name: String,
}

impl Target {
    /// A target at `out`; `.tar` means a TAR stream.
    pub fn new(archive: &Archive, out: &Path, bag: bool) -> Self {
        let out_name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
        Target {
            out: out.to_path_buf(),
            tmp: out.with_file_name(format!(".{out_name}.arkisto-tmp-{}", std::process::id())),
            spool: archive.config.tmp_dir().join(format!("export-{}.spool", std::process::id())),
            tar: out.extension().is_some_and(|e| e == "tar"),
            bag,
            out_name,
        }
    }

    /// Start writing. `created` (RFC 3339) dates the TAR entries.
    pub fn open(&self, created: &str) -> Result<Output, ExportError> {
        if let Some(parent) = self.spool.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("{}", parent.display())))?;
        }
        let inner = if self.tar {
            let mtime = chrono::DateTime::parse_from_rfc3339(created).map(|d| d.timestamp().max(0) as u64).unwrap_or(0);
            AnySink::Tar(TarSink::new(std::fs::File::create(&self.tmp).map_err(io(format!("{}", self.tmp.display())))?, mtime))
        } else {
            AnySink::Dir(DirSink::new(&self.tmp).map_err(io(format!("{}", self.tmp.display())))?)
        };
        let bag_root = if self.tar {
            format!("{}/", self.out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
        } else {
            String::new()
        };
        Ok(if self.bag { Output::Bagged(Bag::new(inner, &bag_root)) } else { Output::Plain(inner) })
    }

    /// Finish writing (the bag's tag files with `(bagging date, external id, organisation)`);
    /// a TAR's SHA-256.
    pub fn close(&self, sink: Output, bag_info: (&str, &str, &str)) -> Result<Option<Sha256>, ExportError> {
        let inner = match sink {
            Output::Plain(s) => s,
            Output::Bagged(b) => b.finish(bag_info.0, bag_info.1, bag_info.2).map_err(io("the bag's tag files"))?,
        };
        Ok(match inner {
            AnySink::Tar(t) => Some(t.finish().map_err(io(format!("{}", self.tmp.display())))?.0),
            AnySink::Dir(d) => {
                d.sync().map_err(io(format!("{}", self.tmp.display())))?;
                None
            }
        })
    }

    /// Remove what was written (after a failure).
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.spool);
        let _ = if self.tmp.is_dir() { std::fs::remove_dir_all(&self.tmp) } else { std::fs::remove_file(&self.tmp) };
    }

    /// Put the finished package in place (replacing an earlier export with `force`).
    pub fn place(&self, force: bool) -> Result<(), ExportError> {
        let _ = std::fs::remove_file(&self.spool);
        if force && std::fs::symlink_metadata(&self.out).is_ok() {
            let old = self.out.with_file_name(format!(".{}.arkisto-old-{}", self.out_name, std::process::id()));
            std::fs::rename(&self.out, &old).map_err(io(format!("{}", self.out.display())))?;
            let _ = if old.is_dir() { std::fs::remove_dir_all(&old) } else { std::fs::remove_file(&old) };
        }
        std::fs::rename(&self.tmp, &self.out).map_err(io(format!("{}", self.out.display())))
    }

    /// `"data/"` inside a bag, else `""`: where packages sit in the output.
    pub fn payload(&self) -> &'static str {
        if self.bag { "data/" } else { "" }
    }
}

/// Refuse an output that exists, unless `force` and it is an earlier arkisto export.
pub(crate) fn check_output(out: &Path, force: bool) -> Result<(), ExportError> {
    let Ok(md) = std::fs::symlink_metadata(out) else { return Ok(()) };
    if !force {
        return Err(ExportError::Usage(format!("{} exists; give another --out, or --force to replace an earlier export", out.display())));
    }
    let ours = if md.is_dir() {
        out.join("bagit.txt").exists()
            || std::fs::read_dir(out)
                .map(|d| {
                    d.flatten().any(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.starts_with("arkisto-dip-") || n.starts_with("arkisto-sip-")
                    })
                })
                .unwrap_or(false)
    } else {
        out.extension().is_some_and(|e| e == "tar")
    };
    if !ours {
        return Err(ExportError::Usage(format!(
            "{} exists and is not an arkisto export; --force replaces only an earlier export",
            out.display()
        )));
    }
    Ok(())
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExportError {
    let what = what.into();
    move |source| ExportError::Io { what, source }
}

/// Writes the package's files under its root folder.
pub(crate) struct Writer<'a> {
    pub lang: Lang,
    pub created: &'a str,
    /// The package's root folder in the output, with a trailing `/`.
    pub root: String,
    pub spool: &'a Path,
    pub profile: Profile,
    pub content: &'a Content,
}

impl Writer<'_> {
    /// Put a file at `rel` (from the package root); its entry, with `href` = `rel`.
    pub fn put(&self, sink: &mut Output, rel: &str, bytes: &[u8], mime: &str) -> Result<FileEntry, ExportError> {
        sink.add_bytes(&format!("{}{rel}", self.root), bytes).map_err(io(rel.to_string()))?;
        Ok(FileEntry {
            href: rel.to_string(),
            size: bytes.len() as u64,
            sha256: Sha256::of(bytes),
            mime: mime.into(),
            created: self.created.into(),
        })
    }

    /// The package's descriptive metadata (`dc`), schemas and METS.xml, once its
    /// representations and documentation are written; returns the METS document.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_package(
        &self,
        sink: &mut Output,
        archive: &Archive,
        objid: &str,
        label: &str,
        dc: &str,
        docs: &[FileEntry],
        reps: &[(String, FileEntry)],
        submitter: Option<&str>,
    ) -> Result<String, ExportError> {
        let mut schemas = Vec::new();
        for (name, xsd) in csip::SCHEMAS {
            schemas.push(self.put(sink, &format!("schemas/{name}"), xsd, "application/xml")?);
        }
        let descriptive = [(self.put(sink, "metadata/descriptive/dc.xml", dc.as_bytes(), "text/xml")?, "DC")];
        let agents = csip::Agents {
            organisation: archive.config.export.organisation.clone(),
            organisation_id: archive.config.export.organisation_id.clone(),
            submitter: submitter.map(String::from),
        };
        let mets = csip::package_mets(
            self.profile,
            &csip::PackageParts {
                objid,
                label,
                content: self.content,
                created: self.created,
                agents: &agents,
                descriptive: &descriptive,
                preservation: &[],
                documentation: docs,
                schemas: &schemas,
                representations: reps,
            },
        );
        self.put(sink, "METS.xml", mets.as_bytes(), "application/xml")?;
        Ok(mets)
    }

    /// Every representation: originals (verified as read), renderings, PREMIS, METS.
    pub async fn representations(
        &self,
        archive: &Archive,
        sink: &mut Output,
        items: &[Item],
        events: &BTreeMap<String, Vec<PremisEvent>>,
        skip_damaged: bool,
        excluded: &mut Vec<Excluded>,
    ) -> Result<(u64, Vec<CoverRecord>, Vec<(String, FileEntry)>), ExportError> {
        let mut bytes = 0u64;
        let mut cover_records = Vec::new();
        let mut reps = Vec::new();
        let mut used_names = HashSet::new();
        let mut i = 0;
        while i < items.len() {
            let source = &items[i].meta.source;
            let group: Vec<&Item> = items[i..].iter().take_while(|it| &it.meta.source == source).collect();
            i += group.len();
            let mut rep = safe_name(source);
            while !used_names.insert(rep.clone()) {
                rep.push('_');
            }
            let rendering_rep = format!("{rep}-rendering");
            used_names.insert(rendering_rep.clone());
            let (mut data, mut renders, mut objects) = (Vec::new(), Vec::new(), Vec::new());
            let mut dctx = zstd::bulk::Decompressor::new().map_err(io("a zstd decompression context"))?;
            for it in group {
                let m = &it.meta;
                let rid = m.record_id;
                let hex = rid.to_string();
                let date = m.created.as_deref().and_then(|c| c.get(..10)).unwrap_or("undated");
                let ext = extension(&m.media_type, &m.input_path);
                // Every part of a package path is made safe here: the date comes from metadata.
                let name = format!("{}_{}.{ext}", safe_name(date), &hex[..12]);
                let rel = format!("representations/{rep}/data/{name}");
                // Verified before a byte of it is written: a damaged record is never in the
                // package, even in part.
                let fetched = if m.original_size <= IN_MEMORY {
                    fetch_small(archive, &mut dctx, &it.key, &it.loc).await.map(Fetched::Memory)
                } else {
                    retrieve::fetch_to_file(archive, &it.key, &it.loc, self.spool).await.map(|_| Fetched::Spool)
                };
                let fetched = match fetched {
                    Ok(f) => f,
                    Err(crate::retrieve::RetrieveError::Damaged { record, why }) => {
                        if !skip_damaged {
                            return Err(ExportError::Damaged { record, why });
                        }
                        excluded.push(Excluded::Damaged { record, detail: why });
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let path = format!("{}{rel}", self.root);
                let mut rendering = None;
                match &fetched {
                    Fetched::Memory(b) => {
                        sink.add_bytes(&path, b).map_err(io(rel.clone()))?;
                        if m.format == "cda-r2"
                            && let Some(doc) = super::render::read(b)
                        {
                            let html = cover::render_cda(self.lang, &doc, m);
                            let rname = format!("{name}.html");
                            let r =
                                self.put(sink, &format!("representations/{rendering_rep}/data/{rname}"), html.as_bytes(), "text/html")?;
                            renders.push(FileEntry { href: format!("data/{rname}"), ..r.clone() });
                            rendering = Some(r.href);
                        }
                    }
                    Fetched::Spool => {
                        let mut f = std::fs::File::open(self.spool).map_err(io("the spool file"))?;
                        sink.add(&path, m.original_size, &mut f as &mut dyn Read).map_err(io(rel.clone()))?;
                        let _ = std::fs::remove_file(self.spool);
                    }
                }
                bytes += m.original_size;
                data.push(FileEntry {
                    href: format!("data/{name}"),
                    size: m.original_size,
                    sha256: rid.0,
                    // METS takes a bare IANA media type (CSIP68); the parameters (a legacy
                    // CSV's charset) stay in the PREMIS format name below.
                    mime: Some(m.media_type.split(';').next().unwrap_or("").trim())
                        .filter(|t| t.contains('/'))
                        .unwrap_or("application/octet-stream")
                        .to_string(),
                    created: m.ingested_at.clone(),
                });
                objects.push(PremisObject {
                    record_id: hex.clone(),
                    size: m.original_size,
                    mime: m.media_type.clone(),
                    original_name: m.input_path.clone(),
                    href: format!("data/{name}"),
                    retention: Some((it.rule.clone(), it.disposal.clone())),
                    events: it.events.clone(),
                });
                cover_records.push(CoverRecord {
                    date: date.to_string(),
                    doc_type: m.doc_type_name.clone().or_else(|| m.doc_type.clone()).unwrap_or_default(),
                    source: m.source.clone(),
                    title: m.title.clone().unwrap_or_default(),
                    record_id: hex,
                    original: rel,
                    rendering,
                    rule: it.rule.clone(),
                    disposal: it.disposal.clone(),
                    hold: it.hold.clone(),
                });
            }
            if data.is_empty() {
                continue;
            }
            let evs = events.get(source).map(Vec::as_slice).unwrap_or(&[]);
            let premis = csip::premis(&objects, evs, &archive.config.export.organisation);
            let p = self.put(sink, &format!("representations/{rep}/metadata/preservation/premis.xml"), premis.as_bytes(), "text/xml")?;
            let premis_entry = FileEntry { href: "metadata/preservation/premis.xml".into(), ..p };
            let mets = csip::representation_mets(self.profile, &rep, self.content, self.created, &data, Some(&premis_entry));
            reps.push((rep.clone(), self.put(sink, &format!("representations/{rep}/METS.xml"), mets.as_bytes(), "application/xml")?));
            if !renders.is_empty() {
                let mets = csip::representation_mets(self.profile, &rendering_rep, self.content, self.created, &renders, None);
                reps.push((
                    rendering_rep.clone(),
                    self.put(sink, &format!("representations/{rendering_rep}/METS.xml"), mets.as_bytes(), "application/xml")?,
                ));
            }
        }
        Ok((bytes, cover_records, reps))
    }
}

/// A data file's extension: from its media type where that is known (an attachment decoded
/// from a document has its parent's file name), else from its input file's name, else `bin`.
fn extension(media_type: &str, input_path: &str) -> String {
    let known = match media_type.split(';').next().unwrap_or("").trim() {
        "application/pdf" => Some("pdf"),
        "image/png" => Some("png"),
        "image/jpeg" => Some("jpg"),
        "image/tiff" => Some("tif"),
        "image/gif" => Some("gif"),
        "text/plain" => Some("txt"),
        "text/csv" => Some("csv"),
        "text/html" => Some("html"),
        "application/rtf" | "text/rtf" => Some("rtf"),
        t if t.ends_with("xml") => Some("xml"),
        _ => None,
    };
    known.map(String::from).unwrap_or_else(|| {
        Path::new(input_path)
            .extension()
            .map(|e| safe_name(&e.to_string_lossy()).to_lowercase())
            .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "bin".into())
    })
}

/// A dictionary prepared for decompression once per process: a dictionary never changes
/// once used (its id names its bytes), so the few a process meets are kept for its life.
fn prepared(id: u32, bytes: &[u8]) -> &'static zstd::dict::DecoderDictionary<'static> {
    static CACHE: OnceLock<Mutex<HashMap<u32, &'static zstd::dict::DecoderDictionary<'static>>>> = OnceLock::new();
    let mut m = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    m.entry(id).or_insert_with(|| Box::leak(Box::new(zstd::dict::DecoderDictionary::copy(bytes))))
}

/// A small record's verified original bytes, decoded with the package's one decompression
/// context (a context and a dictionary load per record cost more than the decoding): the
/// frame must match its stored digest and name the table's dictionary, and the bytes must
/// be exactly the record (size and SHA-256) before anything is returned.
async fn fetch_small(
    archive: &Archive,
    dctx: &mut zstd::bulk::Decompressor<'static>,
    key: &crate::store::ObjectKey,
    loc: &crate::record::RecordLocation,
) -> Result<Vec<u8>, retrieve::RetrieveError> {
    let rid = loc.record_id;
    let damaged = |why: String| retrieve::RetrieveError::Damaged { record: rid, why };
    let frame = archive.store.get_range(key, loc.data_offset, loc.data_len).await?;
    if Sha256::of(&frame) != loc.stored_sha256 {
        return Err(damaged(format!("stored digest mismatch for record {rid}")));
    }
    let in_frame = zstd::zstd_safe::get_dict_id_from_frame(&frame).map_or(0, |n| n.get());
    if in_frame != loc.dict_id {
        return Err(damaged(format!("the frame names dictionary {in_frame}, the pack table {}", loc.dict_id)));
    }
    let set = match loc.dict_id {
        0 => dctx.set_dictionary(&[]),
        id => {
            let bytes = archive
                .dict_for(loc)
                .await
                .map_err(|e| damaged(e.to_string()))?
                .ok_or_else(|| damaged(format!("dictionary {id} is missing")))?;
            dctx.set_prepared_dictionary(prepared(id, &bytes))
        }
    };
    set.map_err(|e| damaged(format!("zstd: {e}")))?;
    // Never more than the table says: a damaged frame cannot balloon.
    let mut out = Vec::with_capacity(usize::try_from(loc.original_size).unwrap_or(usize::MAX));
    dctx.decompress_to_buffer(&frame[..], &mut out).map_err(|e| damaged(format!("zstd: {e}")))?;
    if out.len() as u64 != loc.original_size || Sha256::of(&out) != rid.0 {
        return Err(damaged(format!("original digest mismatch for record {rid}")));
    }
    Ok(out)
}

/// A record's verified bytes: in memory, or in the spool file.
enum Fetched {
    Memory(Vec<u8>),
    Spool,
}
