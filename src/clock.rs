//! The time as arkisto records it, below every other module (the store's probe, the ledger
//! and the archive all stamp with it).

/// Now, as RFC 3339 UTC with seconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
