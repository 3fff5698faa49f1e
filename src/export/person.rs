//! `arkisto export person`: one E-ARK DIP (CSIP 2.2.0 + DIP) of every record of a person.
//!
//! Layout (FORMAT.md section 8):
//! ```text
//! <package-id>/METS.xml
//! <package-id>/representations/<source>/METS.xml, data/…, metadata/preservation/premis.xml
//! <package-id>/representations/<source>-rendering/METS.xml, data/….html
//! <package-id>/documentation/index.html, access-report.csv, records.csv
//! <package-id>/schemas/*.xsd
//! ```
//! With `--bag` the same folder is the payload of a BagIt 1.0 bag (`data/<package-id>/…`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::cover::{self, CoverRecord};
use super::csip::{self, Content, FileEntry, PremisEvent, PremisObject, Profile};
use super::sink::{AnySink, Bag, DirSink, Output, Sink, TarSink, safe_name};
use super::{Excluded, ExportError, Lang};
use crate::archive::Archive;
use crate::digest::Sha256;
use crate::ids::{PackId, RecordId};
use crate::index::SearchQuery;
use crate::ledger::{self, NewEvent};
use crate::record::{RecordLocation, RecordMeta};
use crate::retrieve::{self, Access};
use crate::store::ObjectKey;
use crate::truth::LedgerState;

/// Records up to this size are verified in memory; larger ones through a spool file.
const IN_MEMORY: u64 = 16 << 20;

/// What the officer asks for.
#[derive(Clone, Debug)]
pub struct PersonRequest {
    /// The person's identifier value (a henkilötunnus or a local client number).
    pub subject: String,
    /// Created on or after (ISO date).
    pub from: Option<String>,
    /// Created on or before (ISO date).
    pub to: Option<String>,
    /// One source system only.
    pub source: Option<String>,
    /// The cover page's language.
    pub lang: Lang,
    /// The client's request id (default: the package id).
    pub request_id: Option<String>,
    /// Holds whose records are held back (listed as not included).
    pub hold_back: Vec<String>,
    /// List damaged records on the cover page instead of stopping.
    pub skip_damaged: bool,
    /// Wrap the package as a BagIt bag.
    pub bag: bool,
    /// A folder, or a `.tar` file.
    pub out: PathBuf,
    /// Replace an earlier export at `out`.
    pub force: bool,
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct PersonExport {
    /// The package id (`mets/@OBJID`, the package's folder).
    pub package_id: String,
    /// The request id (BagIt External-Identifier).
    pub request_id: String,
    /// Where.
    pub output: PathBuf,
    /// `folder` or `tar`.
    pub container: &'static str,
    /// Wrapped as a BagIt bag.
    pub bag: bool,
    /// The package's SHA-256: of the TAR file, or of the package METS.xml (which lists every
    /// other file's SHA-256, directly or through a representation's METS.xml).
    pub sha256: Sha256,
    /// What `sha256` is of.
    pub sha256_of: String,
    /// Records included.
    pub records: usize,
    /// Their original bytes.
    pub bytes: u64,
    /// Records of the person not included, and why.
    pub not_included: Vec<Excluded>,
    /// Entries in the access report.
    pub access_entries: usize,
}

/// One record going into the package, as the store and the ledger have it.
struct Item {
    meta: RecordMeta,
    loc: RecordLocation,
    key: ObjectKey,
    rule: String,
    disposal: String,
    hold: Option<(String, String)>,
    events: Vec<i64>,
}

type Tables = HashMap<PackId, Result<Arc<(ObjectKey, HashMap<RecordId, RecordLocation>)>, String>>;

/// Where the ledger and the pack's own table place a record, or why they do not: the
/// ledger knows no pack holding it (the index disagrees with the ledger), or the pack
/// cannot be read (the store is damaged).
async fn locate(
    archive: &Archive,
    state: &LedgerState,
    tables: &mut Tables,
    rid: RecordId,
) -> Result<Result<(ObjectKey, RecordLocation), Excluded>, ExportError> {
    let mismatch = |detail: String| Excluded::Mismatch { record: rid, detail };
    let Some(pack) = state.record_pack.get(&rid) else {
        return Ok(Err(mismatch("the index lists it, but the ledger records no pack holding it".into())));
    };
    let Some(commit) = state.packs.get(pack) else {
        return Ok(Err(mismatch(format!("the ledger records no pack {pack}"))));
    };
    if !tables.contains_key(pack) {
        let t = match ObjectKey::new(commit.key.clone()) {
            Err(e) => Err(e.to_string()),
            Ok(key) => match crate::truth::read_table(&*archive.store, &key).await? {
                Err(why) => Err(why),
                Ok((_, table)) => Ok(Arc::new((key, table.records.into_iter().map(|l| (l.record_id, l)).collect()))),
            },
        };
        tables.insert(*pack, t);
    }
    let damaged = |detail: String| Excluded::Damaged { record: rid, detail };
    Ok(match tables.get(pack) {
        Some(Ok(t)) => match t.1.get(&rid) {
            Some(loc) => Ok((t.0.clone(), loc.clone())),
            None => Err(damaged(format!("pack {pack}'s table does not hold it"))),
        },
        Some(Err(why)) => Err(damaged(why.clone())),
        None => Err(damaged("pack not read".into())),
    })
}

fn destroyed(t: &crate::retention::acts::Tombstone) -> Excluded {
    let f = |k: &str| t.detail.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
    Excluded::Destroyed {
        record: t.record_id,
        date: t.disposed_at.get(..10).unwrap_or(&t.disposed_at).to_string(),
        rule: f("rule"),
        plan: t.plan_id.clone(),
    }
}

/// Refuse an output that exists, unless `force` and it is an earlier arkisto export.
fn check_output(out: &Path, force: bool) -> Result<(), ExportError> {
    let Ok(md) = std::fs::symlink_metadata(out) else { return Ok(()) };
    if !force {
        return Err(ExportError::Usage(format!("{} exists; give another --out, or --force to replace an earlier export", out.display())));
    }
    let ours = if md.is_dir() {
        out.join("bagit.txt").exists()
            || std::fs::read_dir(out)
                .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("arkisto-dip-")))
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

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExportError {
    let what = what.into();
    move |source| ExportError::Io { what, source }
}

/// Export every record of `req.subject` as one E-ARK DIP at `req.out`, logged as a
/// dissemination naming the person, the request, the records and the package's SHA-256.
/// Nothing is written at `req.out` unless the whole package was (a temp file or folder
/// beside it is renamed into place).
pub async fn export_person(archive: &Archive, req: &PersonRequest, access: &Access) -> Result<PersonExport, ExportError> {
    check_output(&req.out, req.force)?;
    let subject = req.subject.as_str();
    let (state, stored) = archive.ledger_state().await?;
    for h in &req.hold_back {
        match state.holds.get(h) {
            Some(x) if x.removed_at.is_none() => {}
            Some(_) => return Err(ExportError::Usage(format!("hold {h} was lifted; nothing is held back under it"))),
            None => return Err(ExportError::Usage(format!("no hold {h}; `arkisto hold list` shows the holds in force"))),
        }
    }

    // Candidates from the index; every fact about them from the store and the ledger.
    let q = SearchQuery {
        subject: Some(subject.to_string()),
        from: req.from.clone(),
        to: req.to.clone(),
        source: req.source.clone(),
        limit: u32::MAX,
        page: 1,
        ..Default::default()
    };
    let hits = retrieve::search_all(archive, &q).await?;
    let mut tables = Tables::new();
    let mut items = Vec::new();
    let mut excluded = Vec::new();
    let mut seen = HashSet::new();
    let refuse = |excluded: &mut Vec<Excluded>, x: Excluded| -> Result<(), ExportError> {
        if req.skip_damaged {
            excluded.push(x);
            return Ok(());
        }
        let (record, why) = match x {
            Excluded::Damaged { record, detail } | Excluded::Mismatch { record, detail } => (record, detail),
            other => (other.record(), "excluded".into()),
        };
        Err(ExportError::Damaged { record, why })
    };
    for hit in hits {
        let rid = hit.record_id;
        if !seen.insert(rid) {
            continue;
        }
        if let Some(t) = state.tombstones.get(&rid) {
            excluded.push(destroyed(t));
            continue;
        }
        let (key, loc) = match locate(archive, &state, &mut tables, rid).await? {
            Ok(at) => at,
            Err(x) => {
                refuse(&mut excluded, x)?;
                continue;
            }
        };
        let frame = archive.store.get_range(&key, loc.meta_offset, loc.meta_len).await?;
        let meta = match crate::pack::decode_meta(&frame, &loc) {
            Ok(m) => m,
            Err(e) => {
                refuse(&mut excluded, Excluded::Damaged { record: rid, detail: format!("metadata frame: {e}") })?;
                continue;
            }
        };
        if meta.subject.as_ref().map(|s| s.value.as_str()) != Some(subject) {
            refuse(
                &mut excluded,
                Excluded::Mismatch {
                    record: rid,
                    detail: "the index lists it for this person, but its archived metadata names another".into(),
                },
            )?;
            continue;
        }
        let held_back = req
            .hold_back
            .iter()
            .filter_map(|h| state.holds.get(h))
            .find(|h| h.records.contains(&rid) || (h.kind == "subject" && h.subject.as_deref() == Some(subject)));
        if let Some(h) = held_back {
            excluded.push(Excluded::HeldBack { record: rid, hold: h.hold_id.clone(), reason: h.reason.clone() });
            continue;
        }
        let decision = crate::truth::judge::recorded(&meta, &state);
        let hold = state.held(&rid, Some(subject)).map(|h| (h.hold_id.clone(), h.reason.clone()));
        items.push(Item { meta, loc, key, rule: decision.rule, disposal: decision.disposal, hold, events: Vec::new() });
    }
    // Records of the person destroyed earlier (tombstones name their subject).
    for t in state.tombstones.values() {
        if t.detail.get("subject").and_then(|v| v.as_str()) == Some(subject) && seen.insert(t.record_id) {
            excluded.push(destroyed(t));
        }
    }
    items.sort_by(|a, b| (&a.meta.source, &a.meta.created, a.meta.record_id).cmp(&(&b.meta.source, &b.meta.created, b.meta.record_id)));

    // The ledger's events about these records (ingestion, compaction, adoption) and the
    // person's access log, from the segments in the store.
    let wanted: HashMap<RecordId, usize> = items.iter().enumerate().map(|(i, it)| (it.meta.record_id, i)).collect();
    let mut events: BTreeMap<String, Vec<PremisEvent>> = BTreeMap::new();
    for e in &stored.events {
        let commits = e.event_type == ledger::INGESTION
            || e.event_type == ledger::COMPACTION
            || (e.event_type == ledger::REPAIR && e.outcome == "adopted");
        if !commits {
            continue;
        }
        let Some(recs) = e.detail.get("records").and_then(|v| v.as_array()) else { continue };
        let mut by_source: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in recs.iter().filter_map(|v| v.as_str()) {
            if let Some(&i) = r.parse::<Sha256>().ok().and_then(|d| wanted.get(&RecordId(d))) {
                items[i].events.push(e.seq);
                by_source.entry(items[i].meta.source.clone()).or_default().push(r.to_string());
            }
        }
        for (source, objects) in by_source {
            let pack_sha = e.detail.get("pack_sha256").and_then(|v| v.as_str()).unwrap_or("?");
            events.entry(source).or_default().push(PremisEvent {
                seq: e.seq,
                event_type: e.event_type.clone(),
                time: e.time.clone(),
                actor: e.actor.clone(),
                detail: format!("pack {} (SHA-256 {pack_sha}); ledger event SHA-256 {}", e.object, e.hash),
                outcome: e.outcome.clone(),
                objects,
            });
        }
    }
    let access_log: Vec<_> = stored.events.iter().filter_map(|e| retrieve::access_entry(e, subject)).collect();

    // Write.
    let package_id = format!("arkisto-dip-{}", ulid::Ulid::new());
    let request_id = req.request_id.clone().unwrap_or_else(|| package_id.clone());
    let created = crate::clock::now();
    let tar = req.out.extension().is_some_and(|e| e == "tar");
    let out_name = req.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
    let tmp = req.out.with_file_name(format!(".{out_name}.arkisto-tmp-{}", std::process::id()));
    let spool = archive.config.tmp_dir().join(format!("export-{}.spool", std::process::id()));
    let cleanup = |tmp: &Path, spool: &Path| {
        let _ = std::fs::remove_file(spool);
        let _ = if tmp.is_dir() { std::fs::remove_dir_all(tmp) } else { std::fs::remove_file(tmp) };
    };
    let written = async {
        let inner = if tar {
            let mtime = chrono::DateTime::parse_from_rfc3339(&created).map(|d| d.timestamp().max(0) as u64).unwrap_or(0);
            AnySink::Tar(TarSink::new(std::fs::File::create(&tmp).map_err(io(format!("{}", tmp.display())))?, mtime))
        } else {
            AnySink::Dir(DirSink::new(&tmp).map_err(io(format!("{}", tmp.display())))?)
        };
        let bag_root = if tar {
            format!("{}/", req.out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
        } else {
            String::new()
        };
        let mut sink = if req.bag { Output::Bagged(Bag::new(inner, &bag_root)) } else { Output::Plain(inner) };
        let w = Writer { lang: req.lang, created: &created, root: format!("{package_id}/"), spool: &spool };
        let (bytes, cover_records, reps) = w.representations(archive, &mut sink, &items, &events, req.skip_damaged, &mut excluded).await?;
        let request = cover::Request {
            lang: req.lang,
            subject,
            request_id: &request_id,
            actor: &access.actor,
            purpose: &access.purpose,
            period: (req.from.is_some() || req.to.is_some())
                .then(|| format!("{} – {}", req.from.as_deref().unwrap_or(""), req.to.as_deref().unwrap_or(""))),
            source: req.source.as_deref(),
            created: &created,
            package_id: &package_id,
            organisation: &archive.config.export.organisation,
        };
        let docs = vec![
            w.put(
                &mut sink,
                "documentation/index.html",
                cover::index_html(&request, &cover_records, &excluded, &access_log).as_bytes(),
                "text/html",
            )?,
            w.put(&mut sink, "documentation/access-report.csv", cover::access_csv(&access_log).as_bytes(), "text/csv")?,
            w.put(&mut sink, "documentation/records.csv", cover::records_csv(&cover_records, &excluded).as_bytes(), "text/csv")?,
        ];
        let mut schemas = Vec::new();
        for (name, xsd) in csip::SCHEMAS {
            schemas.push(w.put(&mut sink, &format!("schemas/{name}"), xsd, "application/xml")?);
        }
        let dc = csip::dublin_core(
            &format!("Records of {subject}"),
            &request_id,
            subject,
            &archive.config.export.organisation,
            &created,
            &format!(
                "{} record(s) from {} source system(s), exported by arkisto for request {request_id}",
                cover_records.len(),
                cover_records.iter().map(|c| &c.source).collect::<HashSet<_>>().len()
            ),
        );
        let descriptive = [(w.put(&mut sink, "metadata/descriptive/dc.xml", dc.as_bytes(), "text/xml")?, "DC")];
        let content = person_content();
        let agents = csip::Agents {
            organisation: archive.config.export.organisation.clone(),
            organisation_id: archive.config.export.organisation_id.clone(),
        };
        let mets = csip::package_mets(
            Profile::Dip,
            &csip::PackageParts {
                objid: &package_id,
                label: &request_id,
                content: &content,
                created: &created,
                agents: &agents,
                descriptive: &descriptive,
                preservation: &[],
                documentation: &docs,
                schemas: &schemas,
                representations: &reps,
            },
        );
        w.put(&mut sink, "METS.xml", mets.as_bytes(), "application/xml")?;
        let inner = match sink {
            Output::Plain(s) => s,
            Output::Bagged(b) => b
                .finish(created.get(..10).unwrap_or(&created), &request_id, &archive.config.export.organisation)
                .map_err(io("the bag's tag files"))?,
        };
        let payload = if req.bag { "data/" } else { "" };
        let (sha256, sha256_of) = match inner {
            AnySink::Tar(t) => (t.finish().map_err(io(format!("{}", tmp.display())))?.0, "the TAR file".to_string()),
            AnySink::Dir(_) => (Sha256::of(mets.as_bytes()), format!("{payload}{package_id}/METS.xml")),
        };
        Ok::<_, ExportError>((sha256, sha256_of, bytes, cover_records.len()))
    }
    .await;
    let (sha256, sha256_of, bytes, records) = match written {
        Ok(w) => w,
        Err(e) => {
            cleanup(&tmp, &spool);
            return Err(e);
        }
    };

    // Logged before the package is put in place: a package that exists was always logged.
    let record_ids: Vec<RecordId> = items.iter().map(|i| i.meta.record_id).filter(|r| !excluded.iter().any(|x| x.record() == *r)).collect();
    let event = NewEvent {
        event_type: ledger::DISSEMINATION.into(),
        actor: access.actor.clone(),
        purpose: Some(access.purpose.clone()),
        object: package_id.clone(),
        outcome: "success".into(),
        detail: serde_json::json!({
            "action": "export person", "subject": subject, "request": request_id, "package": package_id,
            "format": "E-ARK DIP (CSIP 2.2.0)", "bag": req.bag, "container": if tar { "tar" } else { "folder" },
            "package_sha256": sha256, "package_sha256_of": sha256_of, "lang": req.lang.code(),
            "records": record_ids, "not_included": excluded.iter().map(|x| serde_json::json!({"record": x.record(), "why": match x {
                Excluded::Destroyed { .. } => "destroyed", Excluded::HeldBack { .. } => "held back",
                Excluded::Damaged { .. } => "damaged", Excluded::Mismatch { .. } => "index mismatch" }})).collect::<Vec<_>>(),
        }),
    };
    if let Err(e) = archive.index.append_events(vec![event], &crate::clock::now()).await {
        cleanup(&tmp, &spool);
        return Err(e.into());
    }
    archive.flush_ledger().await?;
    if req.force && std::fs::symlink_metadata(&req.out).is_ok() {
        let old = req.out.with_file_name(format!(".{out_name}.arkisto-old-{}", std::process::id()));
        std::fs::rename(&req.out, &old).map_err(io(format!("{}", req.out.display())))?;
        let _ = if old.is_dir() { std::fs::remove_dir_all(&old) } else { std::fs::remove_file(&old) };
    }
    std::fs::rename(&tmp, &req.out).map_err(io(format!("{}", req.out.display())))?;
    Ok(PersonExport {
        package_id,
        request_id,
        output: req.out.clone(),
        container: if tar { "tar" } else { "folder" },
        bag: req.bag,
        sha256,
        sha256_of,
        records,
        bytes,
        not_included: excluded,
        access_entries: access_log.len(),
    })
}

/// `mets/@TYPE` and content type of a client's package: patient records use E-ARK's
/// eHealth1 content information type; the package says so whatever the mix of sources.
fn person_content() -> Content {
    Content { other_type: "Patient Medical Records".into(), content_type: "citsehpj_v2_0".into() }
}

/// Writes the package's files under its root folder.
struct Writer<'a> {
    lang: Lang,
    created: &'a str,
    root: String,
    spool: &'a Path,
}

impl Writer<'_> {
    /// Put a file at `rel` (from the package root); its entry, with `href` = `rel`.
    fn put(&self, sink: &mut Output, rel: &str, bytes: &[u8], mime: &str) -> Result<FileEntry, ExportError> {
        sink.add_bytes(&format!("{}{rel}", self.root), bytes).map_err(io(rel.to_string()))?;
        Ok(FileEntry {
            href: rel.to_string(),
            size: bytes.len() as u64,
            sha256: Sha256::of(bytes),
            mime: mime.into(),
            created: self.created.into(),
        })
    }

    /// Every representation: originals (verified as read), renderings, PREMIS, METS.
    async fn representations(
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
            for it in group {
                let m = &it.meta;
                let rid = m.record_id;
                let hex = rid.to_string();
                let date = m.created.as_deref().and_then(|c| c.get(..10)).unwrap_or("undated");
                let ext = Path::new(&m.input_path)
                    .extension()
                    .map(|e| safe_name(&e.to_string_lossy()).to_lowercase())
                    .filter(|e| e.len() <= 8)
                    .unwrap_or_else(|| if m.media_type.contains("xml") { "xml".into() } else { "bin".into() });
                let name = format!("{date}_{}.{ext}", &hex[..12]);
                let rel = format!("representations/{rep}/data/{name}");
                // Verified before a byte of it is written: a damaged record is never in the
                // package, even in part.
                let fetched = if m.original_size <= IN_MEMORY {
                    retrieve::fetch(archive, &it.key, &it.loc).await.map(Fetched::Memory)
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
                            && let Ok(doc) = crate::formats::cda::read(b, crate::formats::xml::Limits::default())
                        {
                            let html = cover::render_cda(self.lang, &doc, b, m);
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
                    mime: m.media_type.clone(),
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
            let content = person_content();
            let evs = events.get(source).map(Vec::as_slice).unwrap_or(&[]);
            let premis = csip::premis(&objects, evs, &archive.config.export.organisation);
            let p = self.put(sink, &format!("representations/{rep}/metadata/preservation/premis.xml"), premis.as_bytes(), "text/xml")?;
            let premis_entry = FileEntry { href: "metadata/preservation/premis.xml".into(), ..p };
            let mets = csip::representation_mets(Profile::Dip, &rep, &content, self.created, &data, Some(&premis_entry));
            reps.push((rep.clone(), self.put(sink, &format!("representations/{rep}/METS.xml"), mets.as_bytes(), "application/xml")?));
            if !renders.is_empty() {
                let mets = csip::representation_mets(Profile::Dip, &rendering_rep, &content, self.created, &renders, None);
                reps.push((
                    rendering_rep.clone(),
                    self.put(sink, &format!("representations/{rendering_rep}/METS.xml"), mets.as_bytes(), "application/xml")?,
                ));
            }
        }
        Ok((bytes, cover_records, reps))
    }
}

/// A record's verified bytes: in memory, or in the spool file.
enum Fetched {
    Memory(Vec<u8>),
    Spool,
}
