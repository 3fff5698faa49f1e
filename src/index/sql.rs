//! Helpers both SQL index backends share.

use std::str::FromStr;

use super::IndexError;

/// A value in the index that does not parse: the index is damaged (rebuild it).
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> IndexError {
    IndexError::Corrupt { what: what.into(), why: e.to_string() }
}

/// Parse a value read from the index, or say which column is damaged.
pub(crate) fn parse<T: FromStr>(what: &str, s: &str) -> Result<T, IndexError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

/// Split a migration file into statements (our migrations have no `;` inside literals).
pub(crate) fn split_statements(sql: &str) -> Vec<String> {
    let no_comments: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    no_comments.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// The next `n` items of `it`, or `None` when it is spent: multi-row inserts from an iterator
/// without collecting it whole.
pub(crate) fn next_chunk<T>(it: &mut (dyn Iterator<Item = T> + Send), n: usize) -> Option<Vec<T>> {
    let chunk: Vec<T> = it.take(n).collect();
    (!chunk.is_empty()).then_some(chunk)
}

/// SQLite takes `?` placeholders as written.
pub(crate) fn as_is(sql: &str) -> String {
    sql.to_string()
}

/// `?` placeholders to PostgreSQL's `$1, $2, …`, so both backends can share SQL text.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// A begun pack that is no longer pending at commit: another instance's recovery took its
/// run for dead (the fence that keeps a woken run from indexing a removed object).
pub(crate) fn no_longer_pending(pack_id: &crate::ids::PackId) -> IndexError {
    IndexError::Conflict(format!(
        "pack {pack_id} is no longer pending: this run was taken for dead (no heartbeat) and its batch handed to another instance; nothing of it is indexed"
    ))
}

/// The day after an ISO date, for inclusive upper bounds on timestamps.
pub(crate) fn day_after(d: &str) -> String {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.succ_opt())
        .map(|d| d.to_string())
        .unwrap_or_else(|| format!("{d}\u{10FFFF}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(super::numbered("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(super::as_is("a = ?"), "a = ?");
    }
}
