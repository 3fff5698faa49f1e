//! What both backends' searches share: the metadata filters, the order, and the text
//! clauses rendered for FTS5 and for tsquery (`crate::text` analyses both sides).

use super::{IndexError, SearchQuery, Sort};
use crate::text::query::Clause;
use crate::text::quote;

/// Columns of a hit.
pub(super) const HIT_COLUMNS: &str =
    "r.record_id, r.document_id, r.set_id, r.version, r.subject_value, r.title, r.doc_type, r.created, r.source";

/// A hit from a row of [`HIT_COLUMNS`] (either backend's row type).
macro_rules! hit {
    ($r:expr) => {{
        use sqlx::Row as _;
        let r = $r;
        Ok::<_, $crate::index::IndexError>($crate::index::Hit {
            record_id: $crate::ids::RecordId($crate::index::sql::parse("records.record_id", &r.try_get::<String, _>("record_id")?)?),
            document_id: r.try_get("document_id")?,
            set_id: r.try_get("set_id")?,
            version: r.try_get("version")?,
            subject: r.try_get("subject_value")?,
            title: r.try_get("title")?,
            doc_type: r.try_get("doc_type")?,
            created: r.try_get("created")?,
            source: r.try_get("source")?,
        })
    }};
}
pub(super) use hit;

/// Text rows of records now committed are no longer pending (in the commit's transaction).
macro_rules! unpend {
    ($tx:expr, $records:expr, $db:ident) => {
        for chunk in $records.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM text_pending WHERE row_id IN (");
            let mut sep = qb.separated(", ");
            for r in chunk {
                sep.push_bind(r.row_id);
            }
            qb.push(")");
            qb.build().execute(&mut *$tx).await?;
        }
    };
}
pub(super) use unpend;

/// When no other run is going on, text still pending belongs to records that will never be
/// committed (a run that failed or was killed): it is removed, so that counts need no join.
macro_rules! sweep_pending {
    ($tx:expr, $run:expr, $sql:expr, $fts_delete:expr) => {{
        let others: i64 = sqlx::query_scalar(&$sql("SELECT count(*) FROM runs WHERE status = 'running' AND run_id <> ?"))
            .bind($run.run_id.to_string())
            .fetch_one(&mut *$tx)
            .await?;
        if others == 0 {
            sqlx::query($fts_delete).execute(&mut *$tx).await?;
            sqlx::query("DELETE FROM text_pending").execute(&mut *$tx).await?;
        }
    }};
}
pub(super) use sweep_pending;

/// Text search needs the text index to have been filled by this process's analyzer (`built`
/// is the one it was): with another, a search would miss records silently.
pub(super) fn text_ready(built: Option<String>) -> Result<(), IndexError> {
    let current = crate::text::analyzer().id();
    match built {
        Some(b) if b == current => Ok(()),
        built => Err(IndexError::TextStale { built: built.unwrap_or_else(|| "an earlier arkisto".into()), current }),
    }
}

/// The metadata conditions of a query (`?` placeholders) and their values.
pub(super) fn filters(q: &SearchQuery) -> (Vec<&'static str>, Vec<String>) {
    let mut wh = Vec::new();
    let mut binds = Vec::new();
    for (v, clause) in [
        (&q.subject, "r.subject_value = ?"),
        (&q.set_id, "r.set_id = ?"),
        (&q.doc_type, "r.doc_type = ?"),
        (&q.source, "r.source = ?"),
        (&q.from, "r.created >= ?"),
    ] {
        if let Some(v) = v {
            wh.push(clause);
            binds.push(v.clone());
        }
    }
    if let Some(to) = &q.to {
        wh.push("r.created < ?");
        binds.push(super::sql::day_after(to));
    }
    (wh, binds)
}

/// `ORDER BY` for a query: `rank` is the backend's relevance expression (ascending = best
/// first) and `collate` what makes text compare bytewise (PostgreSQL's `COLLATE "C"`), so
/// both backends order alike. Records without a date come last.
pub(super) fn order_by(q: &SearchQuery, rank: &str, collate: &str) -> String {
    let date = format!("r.created{collate} NULLS LAST, r.record_id{collate}");
    match q.order() {
        Sort::Relevance => format!(" ORDER BY {rank}, {date}"),
        Sort::Date if q.set_id.is_some() => format!(" ORDER BY r.version NULLS LAST, {date}"),
        Sort::Date => format!(" ORDER BY {date}"),
    }
}

/// FTS5 query text of the clauses; `expand` gives the terms a prefix stands for (`None`:
/// too many to list, use FTS5's own prefix query; empty: nothing can match).
pub(super) fn fts5(clauses: &[Clause], mut expand: impl FnMut(&str) -> Option<Vec<String>>) -> Option<String> {
    let q = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    let mut parts = Vec::new();
    for c in clauses {
        parts.push(match c {
            Clause::Word(forms) => any(forms.iter().map(|f| q(f)).collect()),
            Clause::Phrase(seqs) => any(seqs.iter().map(|s| q(&s.join(" "))).collect()),
            Clause::Prefix(p) => match expand(p) {
                None => format!("{}*", q(p)),
                Some(terms) if terms.is_empty() => return None,
                Some(terms) => any(terms.iter().map(|t| q(t)).collect()),
            },
        });
    }
    Some(parts.join(" AND "))
}

/// tsquery text of the clauses.
pub(super) fn tsquery(clauses: &[Clause]) -> String {
    let parts: Vec<String> = clauses
        .iter()
        .map(|c| match c {
            Clause::Word(forms) => any_ts(forms.iter().map(|f| quote(f)).collect()),
            Clause::Phrase(seqs) => {
                any_ts(seqs.iter().map(|s| format!("({})", s.iter().map(|t| quote(t)).collect::<Vec<_>>().join(" <-> "))).collect())
            }
            Clause::Prefix(p) => format!("{}:*", quote(p)),
        })
        .collect();
    parts.join(" & ")
}

fn any(alts: Vec<String>) -> String {
    if alts.len() == 1 { alts.into_iter().collect() } else { format!("({})", alts.join(" OR ")) }
}

fn any_ts(alts: Vec<String>) -> String {
    if alts.len() == 1 { alts.into_iter().collect() } else { format!("({})", alts.join(" | ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_render_for_both_backends() {
        let c = vec![
            Clause::Word(vec!["sydän".into(), "sydäm".into()]),
            Clause::Phrase(vec![vec!["a".into(), "b".into()]]),
            Clause::Prefix("lääk".into()),
        ];
        assert_eq!(fts5(&c, |_| None).as_deref(), Some("(\"sydän\" OR \"sydäm\") AND \"a b\" AND \"lääk\"*"));
        assert_eq!(fts5(&c, |_| Some(vec!["lääke".into()])).as_deref(), Some("(\"sydän\" OR \"sydäm\") AND \"a b\" AND \"lääke\""));
        assert_eq!(fts5(&c, |_| Some(vec![])), None);
        assert_eq!(tsquery(&c), "('sydän' | 'sydäm') & ('a' <-> 'b') & 'lääk':*");
    }
}
