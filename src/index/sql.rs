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

/// The day after an ISO date, for inclusive upper bounds on timestamps.
pub(crate) fn day_after(d: &str) -> String {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.succ_opt())
        .map(|d| d.to_string())
        .unwrap_or_else(|| format!("{d}\u{10FFFF}"))
}
