//! What `verify` needs to compare the index with the source of truth: each record's indexed
//! columns as text, every plan and every extra attachment link. One implementation for both
//! backends (placeholders converted by `$sql`). [`expected_columns`] says what each column
//! must hold, from the record's metadata frame; it mirrors `commit_pack`.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::IndexError;
use super::retention::Plan;
use crate::ids::{PackId, RecordId};
use crate::record::RecordMeta;

/// One record's indexed columns, as text (`None` for NULL).
pub type Columns = BTreeMap<&'static str, Option<String>>;

/// The record columns `verify` compares with the metadata frame, in the order it reports
/// them. Location columns are compared with the pack table (A006), retention with the
/// recorded decision (A013).
pub const COLUMNS: &[&str] = &[
    "document_id",
    "set_id",
    "version",
    "subject_root",
    "subject_value",
    "title",
    "doc_type",
    "created",
    "service_time",
    "custodian",
    "source",
    "run_id",
    "subject_birth",
    "birth_from_hetu",
    "created_date",
    "kanta_code",
    "function_code",
    "document_type",
    "parent_id",
    "disposal",
    "retention_rule",
];

/// What the index must hold for `meta` (the columns of [`COLUMNS`] but the retention ones,
/// which come from the recorded decision).
pub fn expected_columns(meta: &RecordMeta) -> Columns {
    let local = meta.local_header.as_ref();
    let hetu_birth = meta.birth_from_hetu();
    BTreeMap::from([
        ("document_id", meta.document_id.as_ref().map(|d| d.0.clone())),
        ("set_id", meta.set_id.clone()),
        ("version", meta.version.map(|v| v.to_string())),
        ("subject_root", meta.subject.as_ref().map(|s| s.root.clone())),
        ("subject_value", meta.subject.as_ref().map(|s| s.value.clone())),
        ("title", meta.title.clone()),
        ("doc_type", meta.doc_type.clone()),
        ("created", meta.created.clone()),
        ("service_time", meta.service_time.clone()),
        ("custodian", meta.custodian.clone()),
        ("source", Some(meta.source.clone())),
        ("run_id", Some(meta.run_id.to_string())),
        ("subject_birth", meta.subject_birth_date.clone()),
        ("birth_from_hetu", Some(if hetu_birth { "1" } else { "0" }.to_string())),
        ("created_date", meta.created.as_deref().and_then(|c| c.get(..10)).map(String::from)),
        ("kanta_code", local.and_then(|l| l.retention_period_class.clone())),
        ("function_code", local.and_then(|l| l.function_code.clone())),
        ("document_type", local.and_then(|l| l.document_type.clone())),
        ("parent_id", meta.parent.map(|p| p.to_string())),
    ])
}

/// The projection side of an index.
#[async_trait]
pub trait ProjectionIndex {
    /// The indexed columns of every record the index places in `pack`, by record.
    async fn indexed_columns(&self, pack: PackId) -> Result<BTreeMap<RecordId, Columns>, IndexError>;
    /// Every plan.
    async fn plans(&self) -> Result<Vec<Plan>, IndexError>;
    /// Every extra attachment link (parent, attachment).
    async fn extra_links(&self) -> Result<Vec<(RecordId, RecordId)>, IndexError>;
}

/// The SELECT list: every compared column as text, so both backends answer alike.
pub(crate) fn select_list() -> String {
    COLUMNS
        .iter()
        .map(|c| match *c {
            "birth_from_hetu" => "CASE WHEN birth_from_hetu THEN '1' ELSE '0' END AS birth_from_hetu".to_string(),
            "version" => "CAST(version AS TEXT) AS version".to_string(),
            c => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

macro_rules! impl_projection {
    ($ty:ty, $sql:path) => {
        #[async_trait::async_trait]
        impl $crate::index::projection::ProjectionIndex for $ty {
            async fn indexed_columns(
                &self,
                pack: $crate::ids::PackId,
            ) -> Result<std::collections::BTreeMap<$crate::ids::RecordId, $crate::index::projection::Columns>, $crate::index::IndexError>
            {
                use sqlx::Row;
                let q = format!("SELECT record_id, {} FROM records WHERE pack_id = ?", $crate::index::projection::select_list());
                let rows = sqlx::query(&$sql(&q)).bind(pack.to_string()).fetch_all(&self.pool).await?;
                let mut out = std::collections::BTreeMap::new();
                for r in rows {
                    let id: String = r.try_get("record_id")?;
                    let id = $crate::ids::RecordId($crate::index::sql::parse("records.record_id", &id)?);
                    let mut cols = $crate::index::projection::Columns::new();
                    for c in $crate::index::projection::COLUMNS {
                        cols.insert(*c, r.try_get::<Option<String>, _>(*c)?);
                    }
                    out.insert(id, cols);
                }
                Ok(out)
            }

            async fn plans(&self) -> Result<Vec<$crate::index::retention::Plan>, $crate::index::IndexError> {
                let ids: Vec<String> =
                    sqlx::query_scalar("SELECT plan_id FROM disposal_plans ORDER BY plan_id").fetch_all(&self.pool).await?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(p) = $crate::index::retention::RetentionIndex::plan(self, &id).await? {
                        out.push(p);
                    }
                }
                Ok(out)
            }

            async fn extra_links(&self) -> Result<Vec<($crate::ids::RecordId, $crate::ids::RecordId)>, $crate::index::IndexError> {
                let rows: Vec<(String, String)> =
                    sqlx::query_as("SELECT parent_id, child_id FROM record_links ORDER BY parent_id, child_id")
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter()
                    .map(|(p, c)| {
                        Ok((
                            $crate::ids::RecordId($crate::index::sql::parse("record_links.parent_id", &p)?),
                            $crate::ids::RecordId($crate::index::sql::parse("record_links.child_id", &c)?),
                        ))
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use impl_projection;
