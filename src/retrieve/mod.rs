//! Retrieval: index → pack location → ranged read → decompress → verify → bytes, with an
//! access event written before anything personal is handed out. Also `show` and `search`,
//! which reveal metadata and so are logged the same way.

use crate::archive::{Archive, ArchiveError, now};
use crate::ids::RecordId;
use crate::index::{Hit, Located, SearchQuery};
use crate::ledger::{self, NewEvent};
use crate::pack;
use crate::record::RecordMeta;
use crate::store::ObjectKey;

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
}

/// Load a record's metadata from its pack (checked against the metadata digest).
pub async fn load(archive: &Archive, rid: RecordId) -> Result<Record, RetrieveError> {
    let at = archive.index.locate(&rid).await?.ok_or_else(|| RetrieveError::NotFound(rid.to_string()))?;
    let key = ObjectKey::new(at.pack_key.clone())?;
    let frame = archive.store.get_range(&key, at.location.meta_offset, at.location.meta_len).await?;
    let meta = pack::decode_meta(&frame, &at.location).map_err(|e| RetrieveError::Damaged { record: rid, why: e.to_string() })?;
    Ok(Record { meta, at })
}

/// Resolve a user-given id (full digest, 8+ character digest prefix, or document id).
pub async fn resolve(archive: &Archive, id: &str) -> Result<RecordId, RetrieveError> {
    let ids = archive.index.resolve(id).await?;
    match ids.as_slice() {
        [one] => Ok(*one),
        [] => Err(RetrieveError::NotFound(id.to_string())),
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
    let rec = load(archive, rid).await?;
    log(archive, access, ledger::ACCESS, rid.to_string(), serde_json::json!({ "action": "show", "subject": rec.meta.subject })).await?;
    Ok(rec)
}

/// The verified original bytes of a record, logged as a dissemination.
pub async fn get(archive: &Archive, id: &str, access: &Access) -> Result<(Record, Vec<u8>), RetrieveError> {
    let rid = resolve(archive, id).await?;
    let rec = load(archive, rid).await?;
    let key = ObjectKey::new(rec.at.pack_key.clone())?;
    let frame = archive.store.get_range(&key, rec.at.location.data_offset, rec.at.location.data_len).await?;
    let dict = archive.dict_for(&rec.at.location).await.map_err(|e| RetrieveError::Damaged { record: rid, why: e.to_string() })?;
    let bytes = pack::decompress_frame(&frame, &rec.at.location, dict.as_deref().map(|d| d.as_slice()))
        .map_err(|e| RetrieveError::Damaged { record: rid, why: e.to_string() })?;
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

/// Search, logged as an access naming the query and the records it revealed.
pub async fn search(archive: &Archive, q: &SearchQuery, access: &Access) -> Result<Vec<Hit>, RetrieveError> {
    let hits = archive.index.search(q).await?;
    let subjects: std::collections::BTreeSet<&str> = hits.iter().filter_map(|h| h.subject.as_deref()).collect();
    log(
        archive,
        access,
        ledger::ACCESS,
        q.subject.clone().unwrap_or_else(|| "search".into()),
        serde_json::json!({ "action": "search", "query": q, "hits": hits.len(), "subjects": subjects,
            "records": hits.iter().map(|h| h.record_id).collect::<Vec<_>>() }),
    )
    .await?;
    Ok(hits)
}
