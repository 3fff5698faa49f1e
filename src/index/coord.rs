//! What several instances sharing one index coordinate through it: run heartbeats (so that
//! recovery only touches runs that are really dead), leases on inbox batches, and API tokens.
//!
//! Both backends run the same SQL; a macro writes the two impls, changing only the
//! placeholder style (`?` for SQLite, `$n` for PostgreSQL).

use async_trait::async_trait;
use serde::Serialize;

use crate::credential::{TokenId, TokenRow};
use crate::ids::RunId;
use crate::index::IndexError;
use crate::ledger::NewEvent;

/// A run's sign of life and progress.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Heartbeat {
    /// Run.
    pub run_id: RunId,
    /// Instance running it.
    pub instance: String,
    /// Last seen alive (RFC 3339 UTC).
    pub heartbeat_at: String,
    /// Input files done.
    pub files_done: u64,
    /// Input files in the batch (0 until known).
    pub files_total: u64,
}

/// An inbox batch's lease.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim {
    /// Batch (its path).
    pub batch: String,
    /// Instance holding or last holding it.
    pub instance: String,
    /// Run working on it.
    pub run_id: Option<RunId>,
    /// Lease end (RFC 3339 UTC).
    pub lease_until: String,
    /// `claimed`, `done` or `released`.
    pub state: String,
    /// Last change.
    pub updated_at: String,
}

/// Coordination through the shared index.
#[async_trait]
pub trait CoordIndex {
    /// Record (insert or update) a run's heartbeat.
    async fn heartbeat(&self, hb: &Heartbeat) -> Result<(), IndexError>;
    /// Every run's last heartbeat.
    async fn heartbeats(&self) -> Result<Vec<Heartbeat>, IndexError>;
    /// Take `batch` for `instance` until `lease_until`, if no one else holds an unexpired
    /// lease and it is not done. Atomic across instances. Returns whether it was taken.
    async fn claim_batch(&self, batch: &str, instance: &str, now: &str, lease_until: &str) -> Result<bool, IndexError>;
    /// Extend a lease this instance holds; false when it was lost (expired and taken).
    async fn renew_claim(
        &self,
        batch: &str,
        instance: &str,
        run_id: Option<RunId>,
        now: &str,
        lease_until: &str,
    ) -> Result<bool, IndexError>;
    /// Give a lease up: `done` (never taken again) or released (free for anyone now).
    async fn release_claim(&self, batch: &str, instance: &str, done: bool, now: &str) -> Result<(), IndexError>;
    /// Every batch lease.
    async fn claims(&self) -> Result<Vec<Claim>, IndexError>;
    /// Store a new API token (its hash) with the ledger events recording it.
    async fn add_token(&self, t: &TokenRow, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError>;
    /// The token with this hash, revoked or not.
    async fn token_by_hash(&self, sha256: &crate::digest::Sha256) -> Result<Option<TokenRow>, IndexError>;
    /// Every token.
    async fn tokens(&self) -> Result<Vec<TokenRow>, IndexError>;
    /// Revoke a token; false when there is no such live token.
    async fn revoke_token(&self, id: &TokenId, at: &str, events: Vec<NewEvent>, now: &str) -> Result<bool, IndexError>;
    /// Put a token back from the ledger (index rebuild).
    async fn restore_token(&self, t: &TokenRow) -> Result<(), IndexError>;
}

macro_rules! impl_coord {
    ($ty:ty, $row:ty, $sql:path) => {
        fn hb_from_row(r: &$row) -> Result<$crate::index::coord::Heartbeat, $crate::index::IndexError> {
            use sqlx::Row;
            Ok($crate::index::coord::Heartbeat {
                run_id: $crate::index::sql::parse("run_heartbeats.run_id", &r.try_get::<String, _>("run_id")?)?,
                instance: r.try_get("instance")?,
                heartbeat_at: r.try_get("heartbeat_at")?,
                files_done: r.try_get::<i64, _>("files_done")?.max(0) as u64,
                files_total: r.try_get::<i64, _>("files_total")?.max(0) as u64,
            })
        }

        fn token_from_row(r: &$row) -> Result<$crate::credential::TokenRow, $crate::index::IndexError> {
            use sqlx::Row;
            Ok($crate::credential::TokenRow {
                token_id: $crate::credential::TokenId(r.try_get("token_id")?),
                name: r.try_get("name")?,
                role: r.try_get::<String, _>("role")?.parse().map_err(|e: String| $crate::index::sql::corrupt("api_tokens.role", e))?,
                sha256: $crate::index::sql::parse("api_tokens.sha256", &r.try_get::<String, _>("sha256")?)?,
                created_at: r.try_get("created_at")?,
                created_by: r.try_get("created_by")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::index::coord::CoordIndex for $ty {
            async fn heartbeat(&self, hb: &$crate::index::coord::Heartbeat) -> Result<(), $crate::index::IndexError> {
                sqlx::query(&$sql(
                    "INSERT INTO run_heartbeats (run_id, instance, heartbeat_at, files_done, files_total) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (run_id) DO UPDATE SET instance = excluded.instance, heartbeat_at = excluded.heartbeat_at, \
                     files_done = excluded.files_done, files_total = excluded.files_total",
                ))
                .bind(hb.run_id.to_string())
                .bind(&hb.instance)
                .bind(&hb.heartbeat_at)
                .bind(hb.files_done as i64)
                .bind(hb.files_total as i64)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn heartbeats(&self) -> Result<Vec<$crate::index::coord::Heartbeat>, $crate::index::IndexError> {
                let rows = sqlx::query("SELECT * FROM run_heartbeats ORDER BY run_id").fetch_all(&self.pool).await?;
                rows.iter().map(hb_from_row).collect()
            }

            async fn claim_batch(&self, batch: &str, instance: &str, now: &str, lease_until: &str) -> Result<bool, $crate::index::IndexError> {
                // One statement: the conflicting row is locked while its WHERE is judged, so
                // of two instances racing for a free batch exactly one gets a row back.
                let r = sqlx::query(&$sql(
                    "INSERT INTO batch_claims (batch, instance, run_id, lease_until, state, updated_at) VALUES (?, ?, NULL, ?, 'claimed', ?) \
                     ON CONFLICT (batch) DO UPDATE SET instance = excluded.instance, run_id = NULL, lease_until = excluded.lease_until, \
                     state = 'claimed', updated_at = excluded.updated_at \
                     WHERE batch_claims.state <> 'done' AND (batch_claims.state = 'released' OR batch_claims.lease_until < excluded.updated_at \
                     OR batch_claims.instance = excluded.instance)",
                ))
                .bind(batch)
                .bind(instance)
                .bind(lease_until)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn renew_claim(
                &self,
                batch: &str,
                instance: &str,
                run_id: Option<$crate::ids::RunId>,
                now: &str,
                lease_until: &str,
            ) -> Result<bool, $crate::index::IndexError> {
                let r = sqlx::query(&$sql(
                    "UPDATE batch_claims SET lease_until = ?, run_id = COALESCE(?, run_id), updated_at = ? \
                     WHERE batch = ? AND instance = ? AND state = 'claimed'",
                ))
                .bind(lease_until)
                .bind(run_id.map(|r| r.to_string()))
                .bind(now)
                .bind(batch)
                .bind(instance)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn release_claim(&self, batch: &str, instance: &str, done: bool, now: &str) -> Result<(), $crate::index::IndexError> {
                sqlx::query(&$sql("UPDATE batch_claims SET state = ?, updated_at = ? WHERE batch = ? AND instance = ? AND state = 'claimed'"))
                    .bind(if done { "done" } else { "released" })
                    .bind(now)
                    .bind(batch)
                    .bind(instance)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn claims(&self) -> Result<Vec<$crate::index::coord::Claim>, $crate::index::IndexError> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT * FROM batch_claims ORDER BY batch").fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::index::coord::Claim {
                            batch: r.try_get("batch")?,
                            instance: r.try_get("instance")?,
                            run_id: r
                                .try_get::<Option<String>, _>("run_id")?
                                .map(|s| $crate::index::sql::parse("batch_claims.run_id", &s))
                                .transpose()?,
                            lease_until: r.try_get("lease_until")?,
                            state: r.try_get("state")?,
                            updated_at: r.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            async fn add_token(
                &self,
                t: &$crate::credential::TokenRow,
                events: Vec<$crate::ledger::NewEvent>,
                now: &str,
            ) -> Result<(), $crate::index::IndexError> {
                let (_guard, mut tx) = self.write_tx().await?;
                sqlx::query(&$sql(
                    "INSERT INTO api_tokens (token_id, name, role, sha256, created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&t.token_id.0)
                .bind(&t.name)
                .bind(t.role.as_str())
                .bind(t.sha256.to_string())
                .bind(&t.created_at)
                .bind(&t.created_by)
                .bind(&t.revoked_at)
                .execute(&mut *tx)
                .await?;
                Self::commit_with(tx, events, now).await
            }

            async fn token_by_hash(&self, sha256: &$crate::digest::Sha256) -> Result<Option<$crate::credential::TokenRow>, $crate::index::IndexError> {
                let r = sqlx::query(&$sql("SELECT * FROM api_tokens WHERE sha256 = ?")).bind(sha256.to_string()).fetch_optional(&self.pool).await?;
                r.as_ref().map(token_from_row).transpose()
            }

            async fn tokens(&self) -> Result<Vec<$crate::credential::TokenRow>, $crate::index::IndexError> {
                let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at, token_id").fetch_all(&self.pool).await?;
                rows.iter().map(token_from_row).collect()
            }

            async fn revoke_token(
                &self,
                id: &$crate::credential::TokenId,
                at: &str,
                events: Vec<$crate::ledger::NewEvent>,
                now: &str,
            ) -> Result<bool, $crate::index::IndexError> {
                let (_guard, mut tx) = self.write_tx().await?;
                let r = sqlx::query(&$sql("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL"))
                    .bind(at)
                    .bind(&id.0)
                    .execute(&mut *tx)
                    .await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                Self::commit_with(tx, events, now).await?;
                Ok(true)
            }

            async fn restore_token(&self, t: &$crate::credential::TokenRow) -> Result<(), $crate::index::IndexError> {
                sqlx::query(&$sql(
                    "INSERT INTO api_tokens (token_id, name, role, sha256, created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (token_id) DO UPDATE SET revoked_at = excluded.revoked_at",
                ))
                .bind(&t.token_id.0)
                .bind(&t.name)
                .bind(t.role.as_str())
                .bind(t.sha256.to_string())
                .bind(&t.created_at)
                .bind(&t.created_by)
                .bind(&t.revoked_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_coord;
