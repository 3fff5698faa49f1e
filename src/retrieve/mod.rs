//! Retrieval: index → pack location → ranged read → decompress → verify → bytes, with an
//! access event written before anything personal is handed out. Also `show` and `search`,
//! which reveal metadata and so are logged the same way.

use crate::archive::{Archive, ArchiveError, now};
use crate::ids::RecordId;
use crate::index::{Hit, Located, SearchPage, SearchQuery};
use crate::ledger::{self, NewEvent};
use crate::pack;
use crate::record::RecordMeta;
use crate::store::ObjectKey;
use std::io::Write;
use std::path::Path;

/// Who is asking, and why. Required for every read of personal data.
#[derive(Clone, Debug)]
pub struct Access {
    /// The person or service.
    pub actor: String,
    /// The purpose, in the actor's words.
    pub purpose: String,
}

/// Retrieval failures.
#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    /// No record matches the id.
    #[error("no record matches {0:?}; try `arkisto search` to find its id")]
    NotFound(String),
    /// The record was destroyed under a disposal plan.
    #[error("record {record} was disposed of on {date} under {rule} (plan {plan}, approved by {approved_by})")]
    Disposed {
        /// Record.
        record: RecordId,
        /// When.
        date: String,
        /// Rule.
        rule: String,
        /// Plan.
        plan: String,
        /// Approver.
        approved_by: String,
    },
    /// The id prefix matches several records.
    #[error("{0:?} matches {1} records; give more characters of the id")]
    Ambiguous(String, usize),
    /// The stored bytes failed verification: nothing was handed out.
    #[error("record {record} failed verification ({why}); nothing was written. Run `arkisto verify`")]
    Damaged {
        /// Record.
        record: RecordId,
        /// What failed.
        why: String,
    },
    /// Store or index failure.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

impl RetrieveError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RetrieveError::NotFound(_) => "not-found",
            RetrieveError::Disposed { .. } => "disposed",
            RetrieveError::Ambiguous(..) => "ambiguous-id",
            RetrieveError::Damaged { .. } => "damaged",
            RetrieveError::Archive(_) => "archive",
        }
    }
}

impl From<crate::index::IndexError> for RetrieveError {
    fn from(e: crate::index::IndexError) -> Self {
        RetrieveError::Archive(e.into())
    }
}
impl From<crate::store::StoreError> for RetrieveError {
    fn from(e: crate::store::StoreError) -> Self {
        RetrieveError::Archive(e.into())
    }
}

/// A record: its metadata (read and verified from the pack) and where it is.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Record {
    /// Metadata, from the record's metadata frame.
    pub meta: RecordMeta,
    /// Where it is.
    #[serde(flatten)]
    pub at: Located,
    /// Records attached to this one (filled by [`show`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Link>,
}

/// A linked record.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Link {
    /// Its id.
    pub record_id: RecordId,
    /// Its title (an attachment's file name).
    pub title: Option<String>,
}

/// Load a record's metadata from its pack (checked against the metadata digest).
pub async fn load(archive: &Archive, rid: RecordId) -> Result<Record, RetrieveError> {
    let at = archive.index.locate(&rid).await?.ok_or_else(|| RetrieveError::NotFound(rid.to_string()))?;
    let key = ObjectKey::new(at.pack_key.clone())?;
    let frame = archive.store.get_range(&key, at.location.meta_offset, at.location.meta_len).await?;
    let meta = pack::decode_meta(&frame, &at.location).map_err(|e| RetrieveError::Damaged { record: rid, why: e.to_string() })?;
    Ok(Record { meta, at, attachments: vec![] })
}

/// Resolve a user-given id (full digest, 8+ character digest prefix, or document id).
pub async fn resolve(archive: &Archive, id: &str) -> Result<RecordId, RetrieveError> {
    let ids = archive.index.resolve(id).await?;
    match ids.as_slice() {
        [one] => Ok(*one),
        [] => match archive.index.tombstone(id).await? {
            Some(t) => {
                let f = |k: &str| t.detail.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
                Err(RetrieveError::Disposed {
                    record: t.record_id,
                    date: t.disposed_at.get(..10).unwrap_or(&t.disposed_at).to_string(),
                    rule: f("rule"),
                    plan: t.plan_id.clone(),
                    approved_by: f("approved_by"),
                })
            }
            None => Err(RetrieveError::NotFound(id.to_string())),
        },
        many => Err(RetrieveError::Ambiguous(id.to_string(), many.len())),
    }
}

async fn log(archive: &Archive, access: &Access, event_type: &str, object: String, detail: serde_json::Value) -> Result<(), RetrieveError> {
    let e = NewEvent {
        event_type: event_type.into(),
        actor: access.actor.clone(),
        purpose: Some(access.purpose.clone()),
        object,
        outcome: "success".into(),
        detail,
    };
    archive.index.append_events(vec![e], &now()).await?;
    archive.flush_ledger().await?;
    Ok(())
}

/// A record's metadata, logged as an access.
pub async fn show(archive: &Archive, id: &str, access: &Access) -> Result<Record, RetrieveError> {
    let rid = resolve(archive, id).await?;
    let mut rec = load(archive, rid).await?;
    rec.attachments = archive.index.attachments(&rid).await?.into_iter().map(|(record_id, title)| Link { record_id, title }).collect();
    log(archive, access, ledger::ACCESS, rid.to_string(), serde_json::json!({ "action": "show", "subject": rec.meta.subject })).await?;
    Ok(rec)
}

/// The verified original bytes of a record, logged as a dissemination.
pub async fn get(archive: &Archive, id: &str, access: &Access) -> Result<(Record, Vec<u8>), RetrieveError> {
    let rid = resolve(archive, id).await?;
    let rec = load(archive, rid).await?;
    let key = ObjectKey::new(rec.at.pack_key.clone())?;
    let bytes = fetch(archive, &key, &rec.at.location).await?;
    log(
        archive,
        access,
        ledger::DISSEMINATION,
        rid.to_string(),
        serde_json::json!({ "action": "get", "subject": rec.meta.subject, "pack": rec.at.pack_id, "bytes": bytes.len() }),
    )
    .await?;
    Ok((rec, bytes))
}

/// The verified original bytes of a record, streamed into the file `dest` (created, or
/// replaced only once every digest has matched: a temp file beside it is renamed), logged as
/// a dissemination. The frame is read in 8 MiB ranges and decoded as it arrives, so a record
/// of any size takes flat memory. Returns the record and the number of bytes written.
pub async fn get_to_file(archive: &Archive, id: &str, access: &Access, dest: &Path) -> Result<(Record, u64), RetrieveError> {
    let rid = resolve(archive, id).await?;
    let rec = load(archive, rid).await?;
    let key = ObjectKey::new(rec.at.pack_key.clone())?;
    let n = fetch_to_file(archive, &key, &rec.at.location, dest).await?;
    log(
        archive,
        access,
        ledger::DISSEMINATION,
        rid.to_string(),
        serde_json::json!({ "action": "get", "subject": rec.meta.subject, "pack": rec.at.pack_id, "bytes": n }),
    )
    .await?;
    Ok((rec, n))
}

/// The verified original bytes of the record at `loc` in pack `key`, in memory (the caller
/// logs the access). Both digests are checked before anything is returned.
pub async fn fetch(archive: &Archive, key: &ObjectKey, loc: &crate::record::RecordLocation) -> Result<Vec<u8>, RetrieveError> {
    let rid = loc.record_id;
    let frame = archive.store.get_range(key, loc.data_offset, loc.data_len).await?;
    let dict = archive.dict_for(loc).await.map_err(|e| RetrieveError::Damaged { record: rid, why: e.to_string() })?;
    pack::decompress_frame(&frame, loc, dict.as_deref().map(|d| d.as_slice()))
        .map_err(|e| RetrieveError::Damaged { record: rid, why: e.to_string() })
}

/// The verified original bytes of the record at `loc` in pack `key`, streamed into the file
/// `dest` (created, or replaced only once every digest has matched: a temp file beside it is
/// renamed). The frame is read in 8 MiB ranges and decoded as it arrives, so a record of any
/// size takes flat memory. The caller logs the access. Returns the number of bytes written.
pub async fn fetch_to_file(
    archive: &Archive,
    key: &ObjectKey,
    loc: &crate::record::RecordLocation,
    dest: &Path,
) -> Result<u64, RetrieveError> {
    let rid = loc.record_id;
    let dict = archive.dict_for(loc).await.map_err(|e| RetrieveError::Damaged { record: rid, why: e.to_string() })?;
    let tmp = dest.with_file_name(format!(
        ".{}.arkisto-tmp-{}",
        dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    let io_err = |e: std::io::Error| {
        RetrieveError::Archive(crate::archive::ArchiveError::Io { what: format!("write {}", dest.display()), source: e })
    };
    let damaged = |why: String| RetrieveError::Damaged { record: rid, why };
    let result = async {
        let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).map_err(io_err)?);
        let mut dec = zstd::stream::write::Decoder::with_dictionary(
            crate::digest::HashingWriter::new(file),
            dict.as_deref().map_or(&[][..], |d| d.as_slice()),
        )
        .map_err(io_err)?;
        let mut stored = crate::digest::Hasher::new();
        let mut off = 0u64;
        while off < loc.data_len {
            let n = (loc.data_len - off).min(8 << 20);
            let chunk = archive.store.get_range(key, loc.data_offset + off, n).await?;
            stored.update(&chunk);
            dec.write_all(&chunk).map_err(|e| damaged(format!("zstd: {e}")))?;
            if dec.get_ref().written() > loc.original_size {
                return Err(damaged("decodes to more bytes than the pack table says".into()));
            }
            off += n;
        }
        dec.flush().map_err(|e| damaged(format!("zstd: {e}")))?;
        if stored.finish() != loc.stored_sha256 {
            return Err(damaged(format!("stored digest mismatch for record {rid}")));
        }
        let (file, digest, n) = dec.into_inner().finish();
        if n != loc.original_size || digest != rid.0 {
            return Err(damaged(format!("original digest mismatch for record {rid}")));
        }
        let f = file.into_inner().map_err(|e| io_err(e.into_error()))?;
        f.sync_all().map_err(io_err)?;
        std::fs::rename(&tmp, dest).map_err(io_err)?;
        Ok(n)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Search one page, logged as an access naming the query, the total and the records the
/// page revealed.
pub async fn search(archive: &Archive, q: &SearchQuery, access: &Access) -> Result<SearchPage, RetrieveError> {
    let page = archive.index.search(q).await?;
    let subjects: std::collections::BTreeSet<&str> = page.hits.iter().filter_map(|h| h.subject.as_deref()).collect();
    log(
        archive,
        access,
        ledger::ACCESS,
        q.subject.clone().unwrap_or_else(|| "search".into()),
        serde_json::json!({ "action": "search", "query": q, "total": page.total, "page": page.page, "hits": page.hits.len(),
            "subjects": subjects, "records": page.hits.iter().map(|h| h.record_id).collect::<Vec<_>>() }),
    )
    .await?;
    Ok(page)
}

/// Every record a query matches, as one page (for holds and exports, which must not miss one).
pub async fn search_all(archive: &Archive, q: &SearchQuery) -> Result<Vec<Hit>, RetrieveError> {
    let page = archive.index.search(&SearchQuery { limit: u32::MAX, page: 1, ..q.clone() }).await?;
    Ok(page.hits)
}

/// A record's retention: the decision stored at ingest, and the rules applied today to the
/// facts the archive holds, with the reasoning.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Explanation {
    /// Record.
    pub record_id: RecordId,
    /// The decision stored with the record.
    pub stored: crate::retention::Retention,
    /// The rules in force applied now.
    pub now: crate::retention::Retention,
    /// Whether the two differ (a rule or a fact changed since).
    pub changed: bool,
    /// The reasoning, step by step.
    pub why: Vec<String>,
}

/// Explain a record's retention (logged: it reveals facts about the subject).
pub async fn explain(archive: &Archive, id: &str, access: &Access) -> Result<Explanation, RetrieveError> {
    let rid = resolve(archive, id).await?;
    let rec = load(archive, rid).await?;
    let m = &rec.meta;
    let row = archive.index.retention_row(&rid).await?.ok_or_else(|| RetrieveError::NotFound(id.to_string()))?;
    let death = match &row.subject {
        Some(s) => archive.index.death_date(s).await?,
        None => None,
    };
    let facts = crate::disposal::facts_of(archive, &row, death.as_deref());
    let policies = archive.config.retention.policies().map_err(|e| RetrieveError::Damaged { record: rid, why: e.to_string() })?;
    let eval = crate::retention::evaluate(&policies, &facts, chrono::Utc::now().date_naive());
    log(archive, access, ledger::ACCESS, rid.to_string(), serde_json::json!({ "action": "retention explain", "subject": m.subject }))
        .await?;
    // "Stored" is the decision in force: ingest's, or a later re-evaluation's (the index row).
    let mut stored = m.retention.clone();
    stored.rule_id = row.rule;
    stored.lock_horizon = row.lock_horizon;
    stored.disposal = match row.disposal.as_str() {
        "permanent" => crate::retention::Disposal::Permanent,
        "undetermined" => match stored.disposal {
            u @ crate::retention::Disposal::Undetermined { .. } => u,
            _ => crate::retention::Disposal::Undetermined { missing: "a fact (see today's reasoning)".into() },
        },
        d => crate::retention::Disposal::Date { date: d.to_string() },
    };
    let changed = eval.retention.rule_id != stored.rule_id || eval.retention.disposal != stored.disposal;
    Ok(Explanation { record_id: rid, stored, now: eval.retention, changed, why: eval.why })
}

/// One use or disclosure of a subject's data, for the client's right to know (Act 703/2023 §11).
#[derive(Clone, Debug, serde::Serialize)]
pub struct AccessEntry {
    /// When.
    pub time: String,
    /// Who.
    pub actor: String,
    /// Why, as they said.
    pub purpose: Option<String>,
    /// `search`, `show`, `get`, `retention explain`, …
    pub action: String,
    /// `access` (metadata seen) or `dissemination` (bytes handed out).
    pub kind: String,
    /// Records concerned, when known.
    pub records: Vec<String>,
}

/// `e` as an entry of `subject`'s access log, if it is an access to or a dissemination of
/// their data (reading the access log itself is left out).
pub fn access_entry(e: &ledger::Event, subject: &str) -> Option<AccessEntry> {
    if e.event_type != ledger::ACCESS && e.event_type != ledger::DISSEMINATION {
        return None;
    }
    let d = &e.detail;
    let about = d.pointer("/subject/value").and_then(|v| v.as_str()) == Some(subject)
        || d.get("subjects").and_then(|v| v.as_array()).is_some_and(|a| a.iter().any(|x| x.as_str() == Some(subject)))
        || d.pointer("/query/subject").and_then(|v| v.as_str()) == Some(subject)
        || d.get("subject").and_then(|v| v.as_str()) == Some(subject);
    if !about || d.get("action").and_then(|v| v.as_str()) == Some("access log") {
        return None;
    }
    let records = match d.get("records").and_then(|v| v.as_array()) {
        Some(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        None => vec![e.object.clone()].into_iter().filter(|o| o.len() == 64).collect(),
    };
    Some(AccessEntry {
        time: e.time.clone(),
        actor: e.actor.clone(),
        purpose: e.purpose.clone(),
        action: d.get("action").and_then(|v| v.as_str()).unwrap_or("").to_string(),
        kind: e.event_type.clone(),
        records,
    })
}

/// Who has used or received a subject's data, and why, since `since` (ISO date). Reading the
/// log is itself logged.
pub async fn access_log(archive: &Archive, subject: &str, since: Option<&str>, access: &Access) -> Result<Vec<AccessEntry>, RetrieveError> {
    let mut out = Vec::new();
    for e in archive.index.events().await? {
        if e.event_type != ledger::ACCESS && e.event_type != ledger::DISSEMINATION {
            continue;
        }
        if since.is_some_and(|s| e.time.as_str() < s) {
            continue;
        }
        if let Some(entry) = access_entry(&e, subject) {
            out.push(entry);
        }
    }
    log(
        archive,
        access,
        ledger::ACCESS,
        subject.to_string(),
        serde_json::json!({ "action": "access log", "subject": subject, "entries": out.len() }),
    )
    .await?;
    Ok(out)
}
