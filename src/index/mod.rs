//! The index: a searchable projection of the store (packs + ledger). SQLite is the embedded
//! default; PostgreSQL implements the same trait for shared deployments.
//!
//! The index never holds anything that cannot be rebuilt from the store, except credentials.

pub mod coord;
pub mod links;
mod pg;
pub mod projection;
pub mod retention;
mod search;
mod sql;
mod sqlite;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::dict::{DictId, DictInfo};
use crate::digest::Sha256;
use crate::ids::{PackId, RecordId, RunId};
use crate::ledger::{Event, NewEvent};
use crate::record::{RecordLocation, RecordMeta};

pub use pg::PgIndex;
pub use sqlite::SqliteIndex;

/// Index failures.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database reported an error.
    #[error("index database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored value could not be decoded (damaged index: rebuild it).
    #[error("index holds an undecodable value in {what}: {why}; run `arkisto index rebuild`")]
    Corrupt {
        /// Column or table.
        what: String,
        /// Decoder message.
        why: String,
    },
    /// A uniqueness rule was hit (e.g. a document id already archived).
    #[error("index conflict: {0}")]
    Conflict(String),
    /// An event could not be encoded for the ledger (a bug in the caller: nothing was written).
    #[error(transparent)]
    BadEvent(crate::ledger::FloatInEvent),
    /// The text index was filled by another analyzer: text search would miss records.
    #[error(
        "the text index was built by analyzer {built}, and this arkisto analyses with {current}: run `arkisto index rebuild` before searching text"
    )]
    TextStale {
        /// The analyzer that filled the text index.
        built: String,
        /// This process's analyzer.
        current: String,
    },
}

impl IndexError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            IndexError::Db(_) => "index-db",
            IndexError::Corrupt { .. } => "index-corrupt",
            IndexError::Conflict(_) => "index-conflict",
            IndexError::BadEvent(_) => "ledger-float",
            IndexError::TextStale { .. } => "index-text-stale",
        }
    }
}

/// A committed pack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRow {
    /// Pack id.
    pub pack_id: PackId,
    /// Object key.
    pub key: String,
    /// Size.
    pub size: u64,
    /// SHA-256 of the whole object.
    pub sha256: Sha256,
    /// Number of records.
    pub record_count: u64,
    /// When written.
    pub created_at: String,
    /// Run that wrote it.
    pub run_id: Option<RunId>,
}

/// A record to index: its metadata and where it is.
#[derive(Clone, Debug)]
pub struct NewRecord {
    /// Row id reserved with [`Index::reserve_ids`]; its search text carries the same id.
    pub row_id: i64,
    /// Metadata (as in the pack).
    pub meta: RecordMeta,
    /// Location in the pack.
    pub location: RecordLocation,
}

/// Search text of one record, indexed ahead of its commit under the record's reserved row id.
/// Text of a record that is never committed matches no record and is never shown.
#[derive(Clone, Debug)]
pub struct TextRow {
    /// Reserved row id.
    pub row_id: i64,
    /// Title and narrative, analysed (ingest workers analyse in parallel; the index writer
    /// only stores).
    pub text: crate::text::Analysed,
}

impl TextRow {
    /// Analyse a record's title and narrative (declared language `fi`, `sv-FI`, ... if any).
    pub fn analyse(row_id: i64, title: &str, body: &str, language: Option<&str>) -> TextRow {
        TextRow { row_id, text: crate::text::Analysed::new(crate::text::analyzer(), language, title, body) }
    }
}

/// Where the index places a record.
#[derive(Clone, Debug, Serialize)]
pub struct Located {
    /// Pack.
    pub pack_id: PackId,
    /// Object key of the pack.
    pub pack_key: String,
    /// Frames and digests.
    pub location: RecordLocation,
}

/// A search; every field given must match.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SearchQuery {
    /// Subject identifier value (e.g. a henkilötunnus), exact.
    pub subject: Option<String>,
    /// Version chain id: results in version order.
    pub set_id: Option<String>,
    /// Document type code.
    pub doc_type: Option<String>,
    /// Source system.
    pub source: Option<String>,
    /// Created on or after (ISO date).
    pub from: Option<String>,
    /// Created on or before (ISO date, inclusive).
    pub to: Option<String>,
    /// Free text over title and narrative: every word must match in one of its Finnish or
    /// Swedish forms; `"a b"` for a phrase, `word*` for a prefix (`crate::text::query`).
    pub text: Option<String>,
    /// Order; the default is relevance for a text search, date otherwise.
    pub sort: Option<Sort>,
    /// Hits per page (at least 1).
    pub limit: u32,
    /// Page, from 1 (0 is taken as 1).
    pub page: u32,
}

/// The order of search hits. Ties are always broken by created date, then record id, so a
/// query gives the same pages whatever the row ids (before and after `index rebuild`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Created date, then record id (a version chain: version, then date).
    Date,
    /// Text relevance (bm25 on SQLite, `ts_rank_cd` on PostgreSQL), best first.
    Relevance,
}

impl SearchQuery {
    /// The order this query is answered in.
    pub fn order(&self) -> Sort {
        match self.sort {
            Some(s) if self.text.is_some() => s,
            _ if self.text.is_some() => Sort::Relevance,
            _ => Sort::Date,
        }
    }

    /// Hits per page and how many to skip.
    pub fn window(&self) -> (u32, u64) {
        let limit = self.limit.max(1);
        (limit, u64::from(self.page.max(1) - 1) * u64::from(limit))
    }
}

/// One page of a search, with the total.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    /// Every record that matches (not just this page).
    pub total: u64,
    /// This page's number, from 1.
    pub page: u32,
    /// Hits per page.
    pub limit: u32,
    /// The next page's number, if there are more hits.
    pub next: Option<u32>,
    /// The order of the hits.
    pub sort: Sort,
    /// This page's hits.
    pub hits: Vec<Hit>,
}

impl SearchPage {
    /// A page of `q` holding `hits` out of `total`.
    pub fn new(q: &SearchQuery, total: u64, hits: Vec<Hit>) -> SearchPage {
        let (limit, skip) = q.window();
        let page = q.page.max(1);
        let next = (skip + (hits.len() as u64) < total && !hits.is_empty()).then(|| page.saturating_add(1));
        SearchPage { total, page, limit, next, sort: q.order(), hits }
    }
}

/// One search hit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// Record.
    pub record_id: RecordId,
    /// Source document id.
    pub document_id: Option<String>,
    /// Set id.
    pub set_id: Option<String>,
    /// Version.
    pub version: Option<i64>,
    /// Subject id value.
    pub subject: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Type code.
    pub doc_type: Option<String>,
    /// Created.
    pub created: Option<String>,
    /// Source.
    pub source: String,
}

/// What the ingest path needs to know about a new record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// The record (same bytes) is already archived.
    pub exists: bool,
    /// Other records archived under the same document id (with different bytes).
    pub same_document: Vec<RecordId>,
}

/// Storage figures of one source (`arkisto stats`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SourceStats {
    /// Source.
    pub source: String,
    /// Records.
    pub records: u64,
    /// Original bytes.
    pub original_bytes: u64,
    /// Bytes of data frames in the store.
    pub stored_bytes: u64,
    /// Records compressed with a dictionary.
    pub records_with_dict: u64,
    /// Dictionaries its records use.
    pub dicts: Vec<DictId>,
    /// Their total size.
    pub dict_bytes: u64,
}

/// A pack that was being written when a run stopped.
#[derive(Clone, Debug)]
pub struct PendingPack {
    /// Pack id.
    pub pack_id: PackId,
    /// Its object key.
    pub key: String,
    /// The run writing it.
    pub run_id: Option<RunId>,
}

/// An ingest run as listed by `arkisto runs`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunRow {
    /// Run.
    pub run_id: RunId,
    /// Start.
    pub started_at: String,
    /// End, if it ended.
    pub finished_at: Option<String>,
    /// Source.
    pub source: String,
    /// Input path.
    pub input: String,
    /// `running`, `completed`, `completed-with-findings`, `refused`, `interrupted` (closed by
    /// a later recovery: killed, crashed or stopped by a failure).
    pub status: String,
    /// Counts.
    pub summary: Option<serde_json::Value>,
}

/// One input file's outcome in a run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunFile {
    /// Path relative to the batch.
    pub path: String,
    /// `archived`, `duplicate`, `quarantined`.
    pub outcome: String,
    /// Record, when archived or duplicate.
    pub record_id: Option<RecordId>,
    /// Findings (JSON array).
    pub findings: serde_json::Value,
}

/// The index, whatever database holds it.
#[async_trait]
pub trait Index: retention::RetentionIndex + coord::CoordIndex + links::LinkIndex + projection::ProjectionIndex + Send + Sync {
    /// Create or upgrade the schema.
    async fn migrate(&self) -> Result<(), IndexError>;
    /// Empty every table (before a rebuild).
    async fn clear(&self) -> Result<(), IndexError>;

    /// Note that a pack is about to be stored (so a crash leaves a trace to clean up).
    async fn begin_pack(&self, pack_id: PackId, key: &str, run_id: RunId, now: &str) -> Result<(), IndexError>;
    /// Packs begun but never committed.
    async fn pending_packs(&self) -> Result<Vec<PendingPack>, IndexError>;
    /// Give up a pending pack (its run is dead): it becomes `deleting`, so that a run waking
    /// up cannot commit it any more, and the caller may delete its object. False when the
    /// pack is no longer pending (its run committed it meanwhile: leave it alone).
    async fn abandon_pending(&self, pack_id: PackId) -> Result<bool, IndexError>;
    /// Reserve `n` consecutive row ids; returns the first.
    async fn reserve_ids(&self, n: u64) -> Result<i64, IndexError>;
    /// Add search text (may run before the records are committed).
    async fn index_text(&self, rows: &[TextRow]) -> Result<(), IndexError>;
    /// Commit a stored pack, its records and events in one transaction.
    async fn commit_pack(
        &self,
        pack: &PackRow,
        records: &[NewRecord],
        events: Vec<NewEvent>,
        now: &str,
        begun: bool,
    ) -> Result<(), IndexError>;

    /// For each (record, document id): is the record archived, and which other records carry
    /// that document id? One round trip for many records; answers in the same order.
    async fn lookup_many(&self, keys: &[(RecordId, Option<String>)]) -> Result<Vec<Lookup>, IndexError>;
    /// Resolve a user-given id (record digest, unique digest prefix of 8+, or document id).
    async fn resolve(&self, id: &str) -> Result<Vec<RecordId>, IndexError>;
    /// Where a record is (its metadata is read from the pack's metadata frame).
    async fn locate(&self, id: &RecordId) -> Result<Option<Located>, IndexError>;
    /// One page of a search, with the total number of matches.
    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, IndexError>;
    /// Every committed pack.
    async fn packs(&self) -> Result<Vec<PackRow>, IndexError>;
    /// Locations of the records the index places in a pack.
    async fn pack_records(&self, pack_id: PackId) -> Result<Vec<RecordLocation>, IndexError>;
    /// Number of records.
    async fn record_count(&self) -> Result<u64, IndexError>;

    /// Record a run's start.
    async fn start_run(&self, run: &RunRow) -> Result<(), IndexError>;
    /// Record a run's end, its per-file outcomes and its summary event.
    async fn finish_run(
        &self,
        run: &RunRow,
        files: &mut (dyn Iterator<Item = RunFile> + Send),
        events: Vec<NewEvent>,
        now: &str,
    ) -> Result<(), IndexError>;
    /// Runs, newest first.
    async fn runs(&self, limit: u32) -> Result<Vec<RunRow>, IndexError>;
    /// Per-file outcomes of a run.
    async fn run_files(&self, run_id: RunId) -> Result<Vec<RunFile>, IndexError>;

    /// Append events to the ledger.
    async fn append_events(&self, events: Vec<NewEvent>, now: &str) -> Result<Vec<Event>, IndexError>;
    /// Insert events as they are (rebuild from segments).
    async fn restore_events(&self, events: &[Event], segment: &str) -> Result<(), IndexError>;
    /// Events not yet written to a store segment.
    async fn unflushed_events(&self) -> Result<Vec<Event>, IndexError>;
    /// Mark events up to `last_seq` as written to segment `key`.
    async fn mark_flushed(&self, first_seq: i64, last_seq: i64, key: &str) -> Result<(), IndexError>;
    /// The store keys of every ledger segment the index says it wrote.
    async fn segments(&self) -> Result<Vec<String>, IndexError>;
    /// The whole ledger, in order.
    async fn events(&self) -> Result<Vec<Event>, IndexError>;
    /// At most `limit` events after sequence number `after`, in order (one page, read alone).
    async fn events_page(&self, after: i64, limit: u32) -> Result<Vec<Event>, IndexError>;
    /// The latest event of a type about an object, if any.
    async fn latest_event(&self, event_type: &str, object: &str) -> Result<Option<Event>, IndexError>;
    /// Restore a run row (rebuild).
    async fn restore_run(&self, run: &RunRow) -> Result<(), IndexError>;

    /// Record a new dictionary (and its ledger events) in one transaction. Recording the same
    /// dictionary again is a no-op.
    async fn add_dict(&self, info: &DictInfo, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError>;
    /// The newest dictionary of a source.
    async fn active_dict(&self, source: &str) -> Result<Option<DictInfo>, IndexError>;
    /// Every dictionary.
    async fn dicts(&self) -> Result<Vec<DictInfo>, IndexError>;
    /// Dictionary ids that records use but that have no dictionary row.
    async fn unknown_dict_ids(&self) -> Result<Vec<DictId>, IndexError>;
    /// Records whose data frames need dictionary `id`.
    async fn records_using_dict(&self, id: DictId) -> Result<Vec<RecordId>, IndexError>;
    /// Per-source storage figures.
    async fn stats(&self) -> Result<Vec<SourceStats>, IndexError>;
}
