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

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;

use super::cover;
use super::csip::{self, Content, Profile};
use super::gather::{Gatherer, commit_events, destroyed};
use super::package::{Target, Writer, check_output};
use super::{Excluded, ExportError, Lang};
use crate::archive::Archive;
use crate::digest::Sha256;
use crate::ids::RecordId;
use crate::index::SearchQuery;
use crate::ledger::{self, NewEvent};
use crate::retrieve::{self, Access};

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
    let mut g = Gatherer::new(archive, &state, req.skip_damaged);
    let mut items = Vec::new();
    for hit in hits {
        let Some(item) = g.check(hit.record_id, Some(subject)).await? else { continue };
        let rid = item.meta.record_id;
        let held_back = req
            .hold_back
            .iter()
            .filter_map(|h| state.holds.get(h))
            .find(|h| h.records.contains(&rid) || (h.kind == "subject" && h.subject.as_deref() == Some(subject)));
        match held_back {
            Some(h) => g.excluded.push(Excluded::HeldBack { record: rid, hold: h.hold_id.clone(), reason: h.reason.clone() }),
            None => items.push(item),
        }
    }
    // Records of the person destroyed earlier (tombstones name their subject).
    for t in state.tombstones.values() {
        if t.detail.get("subject").and_then(|v| v.as_str()) == Some(subject) && !g.seen(t.record_id) {
            g.excluded.push(destroyed(t));
        }
    }
    let mut excluded = std::mem::take(&mut g.excluded);
    items.sort_by(|a, b| (&a.meta.source, &a.meta.created, a.meta.record_id).cmp(&(&b.meta.source, &b.meta.created, b.meta.record_id)));
    let events = commit_events(&stored.events, &mut items, |it| it.meta.source.clone());
    let access_log: Vec<_> = stored.events.iter().filter_map(|e| retrieve::access_entry(e, subject)).collect();

    // Write.
    let package_id = format!("arkisto-dip-{}", ulid::Ulid::new());
    let request_id = req.request_id.clone().unwrap_or_else(|| package_id.clone());
    let created = crate::clock::now();
    let target = Target::new(archive, &req.out, req.bag);
    let content = person_content();
    let org = &archive.config.export.organisation;
    let written = async {
        let mut sink = target.open(&created)?;
        let w = Writer {
            lang: req.lang,
            created: &created,
            root: format!("{package_id}/"),
            spool: &target.spool,
            profile: Profile::Dip,
            content: &content,
        };
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
            organisation: org,
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
        let sources = cover_records.iter().map(|c| &c.source).collect::<HashSet<_>>().len();
        let dc = csip::dublin_core(
            &format!("Records of {subject}"),
            &request_id,
            subject,
            org,
            &created,
            &format!("{} record(s) from {sources} source system(s), exported by arkisto for request {request_id}", cover_records.len()),
        );
        let mets = w.finish_package(&mut sink, archive, &package_id, &request_id, &dc, &docs, &reps, None)?;
        let tar_sha = target.close(sink, (created.get(..10).unwrap_or(&created), &request_id, org))?;
        let (sha256, sha256_of) = match tar_sha {
            Some(d) => (d, "the TAR file".to_string()),
            None => (Sha256::of(mets.as_bytes()), format!("{}{package_id}/METS.xml", target.payload())),
        };
        Ok::<_, ExportError>((sha256, sha256_of, bytes, cover_records.len()))
    }
    .await;
    let (sha256, sha256_of, bytes, records) = match written {
        Ok(w) => w,
        Err(e) => {
            target.discard();
            return Err(e);
        }
    };

    // Logged before the package is put in place: a package that exists was always logged.
    let record_ids: Vec<RecordId> = items.iter().map(|i| i.meta.record_id).filter(|r| !excluded.iter().any(|x| x.record() == *r)).collect();
    let container = if target.tar { "tar" } else { "folder" };
    let event = NewEvent {
        event_type: ledger::DISSEMINATION.into(),
        actor: access.actor.clone(),
        purpose: Some(access.purpose.clone()),
        object: package_id.clone(),
        outcome: "success".into(),
        detail: serde_json::json!({
            "action": "export person", "subject": subject, "request": request_id, "package": package_id,
            "format": "E-ARK DIP (CSIP 2.2.0)", "bag": req.bag, "container": container,
            "package_sha256": sha256, "package_sha256_of": sha256_of, "lang": req.lang.code(),
            "records": record_ids, "not_included": excluded.iter().map(|x| serde_json::json!({"record": x.record(), "why": x.why()})).collect::<Vec<_>>(),
        }),
    };
    if let Err(e) = archive.index.append_events(vec![event], &crate::clock::now()).await {
        target.discard();
        return Err(e.into());
    }
    archive.flush_ledger().await?;
    target.place(req.force)?;
    Ok(PersonExport {
        package_id,
        request_id,
        output: req.out.clone(),
        container,
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
