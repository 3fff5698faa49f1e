//! Search on PostgreSQL: metadata filters over `records`, text through the GIN index over
//! the analyzer's tsvectors, exact totals, ordered pages (`super::super::search`).

use super::PgIndex;
use crate::index::search::{HIT_COLUMNS, filters, order_by, text_ready, tsquery};
use crate::index::sql::numbered;
use crate::index::{IndexError, SearchPage, SearchQuery};
use crate::text::{analyzer, query};

impl PgIndex {
    /// An empty index is filled by this process's analyzer.
    pub(super) async fn stamp_if_empty(&self) -> Result<(), IndexError> {
        sqlx::query(
            "INSERT INTO index_meta (key, value) SELECT 'text_analyzer', $1 WHERE NOT EXISTS (SELECT 1 FROM records)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(analyzer().id())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Text search only with the analyzer that filled the text index.
    async fn check_text(&self) -> Result<(), IndexError> {
        let built: Option<String> =
            sqlx::query_scalar("SELECT value FROM index_meta WHERE key = 'text_analyzer'").fetch_optional(&self.pool).await?;
        text_ready(built)
    }

    pub(super) async fn search_page(&self, q: &SearchQuery) -> Result<SearchPage, IndexError> {
        let (mut wh, mut binds) = filters(q);
        let mut from = " FROM records r".to_string();
        if let Some(t) = q.text.as_deref() {
            self.check_text().await?;
            let Some(clauses) = query::parse(analyzer(), t) else { return Ok(SearchPage::new(q, 0, Vec::new())) };
            from = " FROM records_text f JOIN records r ON r.id = f.id CROSS JOIN CAST(? AS tsquery) AS tq".into();
            wh.insert(0, "f.tsv @@ tq");
            binds.insert(0, tsquery(&clauses));
        }
        let cond = if wh.is_empty() { String::new() } else { format!(" WHERE {}", wh.join(" AND ")) };
        // Text alone, and no text pending a commit: count in records_text without the join.
        let text_only = q.text.is_some() && wh.len() == 1;
        let sql = if text_only && !sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM text_pending)").fetch_one(&self.pool).await?
        {
            "SELECT count(*) FROM records_text f WHERE f.tsv @@ CAST($1 AS tsquery)".to_string()
        } else {
            numbered(&format!("SELECT count(*){from}{cond}"))
        };
        let mut count = sqlx::query_scalar::<_, i64>(&sql).persistent(false);
        for b in &binds {
            count = count.bind(b);
        }
        let total = count.fetch_one(&self.pool).await? as u64;
        let (limit, skip) = q.window();
        if total <= skip {
            return Ok(SearchPage::new(q, total, Vec::new()));
        }
        let sql = numbered(&format!(
            "SELECT {HIT_COLUMNS}{from}{cond}{} LIMIT {limit} OFFSET {skip}",
            order_by(q, "ts_rank_cd(f.tsv, tq) DESC", " COLLATE \"C\"")
        ));
        let mut page = sqlx::query(&sql).persistent(false);
        for b in &binds {
            page = page.bind(b);
        }
        let rows = page.fetch_all(&self.pool).await?;
        let hits = rows.iter().map(|r| crate::index::search::hit!(r)).collect::<Result<Vec<_>, IndexError>>()?;
        Ok(SearchPage::new(q, total, hits))
    }
}
