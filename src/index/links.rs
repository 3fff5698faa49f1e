//! Attachment links: which records are attached to which. A record's own parent is in its
//! metadata (and the `records.parent_id` column); a file that further records refer to gets
//! extra links in `record_links`, written with a ledger event so that a rebuild restores them.
//! One implementation for both backends (placeholders converted by `$sql`).

use async_trait::async_trait;

use super::IndexError;
use crate::ids::RecordId;
use crate::ledger::NewEvent;

/// Attachment links in the index.
#[async_trait]
pub trait LinkIndex {
    /// Records attached to `parent` (attachments, decoded embedded bodies): id and title.
    async fn attachments(&self, parent: &RecordId) -> Result<Vec<(RecordId, Option<String>)>, IndexError>;
    /// Link archived attachments to further parents. Links already known (the record's own
    /// parent, or an earlier link) are skipped; `event`, if given, is appended with the new
    /// links in `detail.links` when there are any. Returns how many were new.
    async fn add_links(&self, links: &[(RecordId, RecordId)], event: Option<NewEvent>, now: &str) -> Result<usize, IndexError>;
}

macro_rules! impl_links {
    ($ty:ty, $sql:path) => {
        #[async_trait::async_trait]
        impl $crate::index::links::LinkIndex for $ty {
            async fn attachments(
                &self,
                parent: &$crate::ids::RecordId,
            ) -> Result<Vec<($crate::ids::RecordId, Option<String>)>, $crate::index::IndexError> {
                let rows: Vec<(String, Option<String>)> = sqlx::query_as(&$sql(
                    "SELECT record_id, title FROM (SELECT id, record_id, title FROM records WHERE parent_id = ? \
                     UNION SELECT r.id, r.record_id, r.title FROM record_links l JOIN records r ON r.record_id = l.child_id \
                     WHERE l.parent_id = ?) a ORDER BY id",
                ))
                .bind(parent.to_string())
                .bind(parent.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, t)| Ok(($crate::ids::RecordId($crate::index::sql::parse("records.record_id", &id)?), t)))
                    .collect()
            }

            async fn add_links(
                &self,
                links: &[($crate::ids::RecordId, $crate::ids::RecordId)],
                event: Option<$crate::ledger::NewEvent>,
                now: &str,
            ) -> Result<usize, $crate::index::IndexError> {
                let (_guard, mut tx) = self.write_tx().await?;
                let mut new = Vec::new();
                for (parent, child) in links {
                    let (p, c) = (parent.to_string(), child.to_string());
                    let done = sqlx::query(&$sql(
                        "INSERT INTO record_links (parent_id, child_id) SELECT ?, ? \
                         WHERE NOT EXISTS (SELECT 1 FROM records WHERE record_id = ? AND parent_id = ?) ON CONFLICT DO NOTHING",
                    ))
                    .bind(&p)
                    .bind(&c)
                    .bind(&c)
                    .bind(&p)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() > 0 {
                        new.push([p, c]);
                    }
                }
                if let Some(mut e) = event
                    && !new.is_empty()
                {
                    e.detail = serde_json::json!({ "links": new });
                    Self::append_in(&mut tx, vec![e], now).await?;
                }
                tx.commit().await?;
                Ok(new.len())
            }
        }
    };
}
pub(crate) use impl_links;
