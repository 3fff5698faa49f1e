//! `arkisto export transfer`: records handed over to long-term preservation as E-ARK SIPs
//! (CSIP 2.2.0 + SIP 2.2.0), one package per subject (or per source and year). Each SIP
//! carries the originals, PREMIS with the ingest events, fixity and retention decision from
//! the ledger, and descriptive metadata from the record model.
//!
//! The handover is a `transfer` event in the ledger. From its date a transferred record may
//! be destroyed in the county's archive (through a disposal plan and a second person's
//! approval, as always), under "RULE; transferred to preservation on DATE (TRANSFER)"; the
//! tombstone names the transfer. Another package format (the Finnish Digital Preservation
//! Service's SIP, say) is another writer beside this one, over the same gathered records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cover;
use super::csip::{self, Content, Profile};
use super::gather::{Gatherer, Item, commit_events};
use super::package::{Target, Writer, check_output};
use super::{Excluded, ExportError, Lang};
use crate::archive::Archive;
use crate::digest::Sha256;
use crate::ids::RecordId;
use crate::index::retention::RetentionUpdate;
use crate::ledger::{self, NewEvent};

/// How records are grouped into packages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grouping {
    /// One SIP per subject (records without one: per source and year). The default: the
    /// rules that keep records permanently (the birthday sample, genetics) select people.
    Subject,
    /// One SIP per source system and year of creation.
    SourceYear,
}

/// Which records to hand over.
#[derive(Clone, Debug)]
pub enum Selection {
    /// Every record whose recorded retention rule is this one.
    Rule(String),
    /// The record ids in this file (one per line; blank lines and `#` comments skipped).
    Records(PathBuf),
}

/// What the operator asks for.
#[derive(Clone, Debug)]
pub struct TransferRequest {
    /// The records.
    pub selection: Selection,
    /// Package grouping.
    pub group: Grouping,
    /// A folder to create; it holds one folder per SIP and `transfer.json`.
    pub out: PathBuf,
    /// Replace an earlier transfer's folder at `out`.
    pub force: bool,
    /// List damaged records instead of stopping.
    pub skip_damaged: bool,
}

/// One SIP written.
#[derive(Clone, Debug, Serialize)]
pub struct Sip {
    /// Package id (its folder).
    pub package_id: String,
    /// The group it holds (a subject, or `source/year`).
    pub group: String,
    /// Its records.
    pub records: Vec<RecordId>,
    /// SHA-256 of its METS.xml (which lists every other file's digest).
    pub mets_sha256: Sha256,
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct TransferExport {
    /// The transfer's id (in the ledger and in each tombstone that follows).
    pub transfer_id: String,
    /// Its date: the records may be destroyed from then on.
    pub date: String,
    /// Where.
    pub output: PathBuf,
    /// The packages.
    pub packages: Vec<Sip>,
    /// Records handed over.
    pub records: usize,
    /// Their original bytes.
    pub bytes: u64,
    /// Records selected but not handed over, and why.
    pub not_included: Vec<Excluded>,
    /// Records selected that an earlier transfer handed over already (left out).
    pub already_transferred: Vec<RecordId>,
}

fn read_ids(file: &Path) -> Result<Vec<RecordId>, ExportError> {
    let text = std::fs::read_to_string(file).map_err(|e| ExportError::Usage(format!("cannot read --records {}: {e}", file.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let d = l.parse::<Sha256>().map_err(|_| {
            ExportError::Usage(format!("{} line {}: {l:?} is not a record id (64 hexadecimal characters)", file.display(), n + 1))
        })?;
        out.push(RecordId(d));
    }
    if out.is_empty() {
        return Err(ExportError::Usage(format!("{} lists no record ids", file.display())));
    }
    Ok(out)
}

fn content_of(items: &[Item]) -> Content {
    if items.iter().all(|i| i.meta.format == "cda-r2") {
        Content { other_type: "Patient Medical Records".into(), content_type: "citsehpj_v2_0".into() }
    } else {
        // Not (only) patient records: arkisto's own documented value (FORMAT.md section 8).
        Content { other_type: "Client Records".into(), content_type: "arkisto_client_records_v1".into() }
    }
}

/// Write the SIPs and record the handover. Nothing is written at `req.out` unless every
/// package was, and the handover is in the ledger before the folder is put in place.
pub async fn export_transfer(archive: &Archive, req: &TransferRequest, actor: &str) -> Result<TransferExport, ExportError> {
    check_output(&req.out, req.force)?;
    if req.out.extension().is_some_and(|e| e == "tar") {
        return Err(ExportError::Usage("a transfer is a folder of packages: give --out a folder, not a .tar".into()));
    }
    let (state, stored) = archive.ledger_state().await?;
    let (candidates, rule) = match &req.selection {
        Selection::Records(f) => (read_ids(f)?, None),
        Selection::Rule(r) => {
            let ids: Vec<RecordId> =
                archive.index.retention_rows(None).await?.into_iter().filter(|row| &row.rule == r).map(|row| row.record_id).collect();
            if ids.is_empty() {
                return Err(ExportError::Usage(format!(
                    "no record is kept under rule {r:?}; `arkisto retention explain ID` shows a record's rule"
                )));
            }
            (ids, Some(r.clone()))
        }
    };
    let mut g = Gatherer::new(archive, &state, req.skip_damaged);
    let mut groups: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    let mut already = Vec::new();
    for rid in candidates {
        if state.transfers.contains_key(&rid) {
            if !g.seen(rid) {
                already.push(rid);
            }
            continue;
        }
        if let Selection::Records(_) = req.selection
            && !state.record_pack.contains_key(&rid)
            && !state.tombstones.contains_key(&rid)
        {
            return Err(ExportError::Usage(format!("record {rid} is not in this archive")));
        }
        let Some(item) = g.check(rid, None).await? else { continue };
        if let Some(r) = &rule
            && &item.rule != r
        {
            g.refuse(Excluded::Mismatch {
                record: rid,
                detail: format!("the index lists it under rule {r}, but the ledger and its metadata say {}", item.rule),
            })?;
            continue;
        }
        let m = &item.meta;
        let year = m.created.as_deref().and_then(|c| c.get(..4)).unwrap_or("undated");
        let key = match (req.group, &m.subject) {
            (Grouping::Subject, Some(s)) => s.value.clone(),
            _ => format!("{}/{year}", m.source),
        };
        groups.entry(key).or_default().push(item);
    }
    let mut excluded = std::mem::take(&mut g.excluded);
    if groups.is_empty() && excluded.is_empty() {
        return Err(ExportError::Usage(format!(
            "nothing to hand over: the {} selected record(s) were handed over by an earlier transfer",
            already.len()
        )));
    }

    let transfer_id = format!("transfer-{}", ulid::Ulid::new());
    let created = crate::clock::now();
    let date = created.get(..10).unwrap_or(&created).to_string();
    let target = Target::new(archive, &req.out, false);
    let org = &archive.config.export.organisation;
    let written = async {
        let mut sink = target.open(&created)?;
        let mut packages = Vec::new();
        let mut bytes = 0;
        for (group, items) in &mut groups {
            items.sort_by(|a, b| {
                (&a.meta.source, &a.meta.created, a.meta.record_id).cmp(&(&b.meta.source, &b.meta.created, b.meta.record_id))
            });
            let events = commit_events(&stored.events, items, |it| it.meta.source.clone());
            let package_id = format!("arkisto-sip-{}", ulid::Ulid::new());
            let content = content_of(items);
            let w = Writer {
                lang: Lang::En,
                created: &created,
                root: format!("{package_id}/"),
                spool: &target.spool,
                profile: Profile::Sip,
                content: &content,
            };
            let before = excluded.len();
            let (b, cover_records, reps) = w.representations(archive, &mut sink, items, &events, req.skip_damaged, &mut excluded).await?;
            bytes += b;
            let skipped: Vec<RecordId> = excluded[before..].iter().map(Excluded::record).collect();
            if cover_records.is_empty() {
                continue;
            }
            let docs =
                vec![w.put(&mut sink, "documentation/records.csv", cover::records_csv(&cover_records, &[]).as_bytes(), "text/csv")?];
            let dc = csip::dublin_core(
                &format!("Records of {group}"),
                &package_id,
                group,
                org,
                &created,
                &format!("{} record(s) handed over to long-term preservation by {org} in transfer {transfer_id}", cover_records.len()),
            );
            let mets =
                w.finish_package(&mut sink, archive, &package_id, &format!("{transfer_id} {group}"), &dc, &docs, &reps, Some(actor))?;
            packages.push(Sip {
                package_id,
                group: group.clone(),
                records: items.iter().map(|i| i.meta.record_id).filter(|r| !skipped.contains(r)).collect(),
                mets_sha256: Sha256::of(mets.as_bytes()),
            });
        }
        let manifest = serde_json::json!({ "transfer": transfer_id, "date": date, "organisation": org, "packages": packages });
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::Io { what: "transfer.json".into(), source: e.into() })?;
        super::sink::Sink::add_bytes(&mut sink, "transfer.json", &text).map_err(super::package::io("transfer.json"))?;
        target.close(sink, ("", "", ""))?;
        Ok::<_, ExportError>((packages, bytes))
    }
    .await;
    let (packages, bytes) = match written {
        Ok(w) => w,
        Err(e) => {
            target.discard();
            return Err(e);
        }
    };
    let handed: Vec<RecordId> = packages.iter().flat_map(|p| p.records.iter().copied()).collect();
    if !handed.is_empty() {
        let decision = format!("transferred ({transfer_id})");
        let updates: Vec<RetentionUpdate> = handed
            .iter()
            .map(|r| RetentionUpdate { record_id: *r, disposal: date.clone(), lock_horizon: date.clone(), rule: decision.clone() })
            .collect();
        let event = NewEvent {
            event_type: ledger::TRANSFER.into(),
            actor: actor.into(),
            purpose: Some("transfer to long-term preservation".into()),
            object: transfer_id.clone(),
            outcome: "success".into(),
            detail: serde_json::json!({
                "transfer": transfer_id, "date": date, "format": "E-ARK SIP (CSIP 2.2.0, SIP 2.2.0)", "rule": rule,
                "records": handed,
                "packages": packages.iter().map(|p| serde_json::json!({"package": p.package_id, "mets_sha256": p.mets_sha256, "records": p.records})).collect::<Vec<_>>(),
                "changes": updates.iter().map(|u| serde_json::json!({"record_id": u.record_id, "disposal": u.disposal, "rule": u.rule, "lock_horizon": u.lock_horizon})).collect::<Vec<_>>(),
            }),
        };
        if let Err(e) = archive.index.update_retention(&updates, vec![event], &crate::clock::now()).await {
            target.discard();
            return Err(e.into());
        }
        archive.flush_ledger().await?;
    }
    target.place(req.force)?;
    Ok(TransferExport {
        transfer_id,
        date,
        output: req.out.clone(),
        records: handed.len(),
        packages,
        bytes,
        not_included: excluded,
        already_transferred: already,
    })
}
