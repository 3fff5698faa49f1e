//! `RetentionIndex` for SQLite.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteIndex;
use crate::ids::{PackId, RecordId};
use crate::index::IndexError;
use crate::index::retention::*;
use crate::index::sql::{corrupt, parse};
use crate::ledger::NewEvent;

const RETENTION_COLS: &str = "SELECT record_id, document_id, subject_value, subject_birth, birth_from_hetu, created_date, kanta_code, function_code, document_type, disposal, \
                                      lock_horizon, retention_rule, pack_id, stored_sha256 FROM records";

fn row_to_retention(r: &SqliteRow) -> Result<RetentionRow, IndexError> {
    Ok(RetentionRow {
        record_id: RecordId(parse("records.record_id", &r.try_get::<String, _>("record_id")?)?),
        document_id: r.try_get("document_id")?,
        subject: r.try_get("subject_value")?,
        subject_birth: r.try_get("subject_birth")?,
        birth_from_hetu: r.try_get::<i64, _>("birth_from_hetu")? != 0,
        created_date: r.try_get("created_date")?,
        kanta_code: r.try_get("kanta_code")?,
        function_code: r.try_get("function_code")?,
        document_type: r.try_get("document_type")?,
        disposal: r.try_get("disposal")?,
        lock_horizon: r.try_get("lock_horizon")?,
        rule: r.try_get("retention_rule")?,
        pack_id: parse("records.pack_id", &r.try_get::<String, _>("pack_id")?)?,
        stored_sha256: parse("records.stored_sha256", &r.try_get::<String, _>("stored_sha256")?)?,
    })
}

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, IndexError> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

#[async_trait]
impl RetentionIndex for SqliteIndex {
    async fn retention_rows(&self, subject: Option<&str>) -> Result<Vec<RetentionRow>, IndexError> {
        let rows = match subject {
            Some(s) => sqlx::query(&format!("{RETENTION_COLS} WHERE subject_value = ?")).bind(s).fetch_all(&self.pool).await?,
            None => sqlx::query(&format!("{RETENTION_COLS} ORDER BY pack_id, data_offset")).fetch_all(&self.pool).await?,
        };
        rows.iter().map(row_to_retention).collect()
    }

    async fn retention_rows_in_packs(&self, packs: &[crate::ids::PackId]) -> Result<Vec<RetentionRow>, IndexError> {
        let mut out = Vec::new();
        for chunk in packs.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!("{RETENTION_COLS} WHERE pack_id IN ("));
            let mut sep = qb.separated(", ");
            for p in chunk {
                sep.push_bind(p.to_string());
            }
            qb.push(")");
            for r in qb.build().fetch_all(&self.pool).await? {
                out.push(row_to_retention(&r)?);
            }
        }
        Ok(out)
    }

    async fn retention_row(&self, id: &RecordId) -> Result<Option<RetentionRow>, IndexError> {
        let r = sqlx::query(&format!("{RETENTION_COLS} WHERE record_id = ?")).bind(id.to_string()).fetch_optional(&self.pool).await?;
        r.as_ref().map(row_to_retention).transpose()
    }

    async fn death_date(&self, subject: &str) -> Result<Option<String>, IndexError> {
        Ok(sqlx::query_scalar("SELECT death_date FROM facts WHERE subject_value = ?").bind(subject).fetch_optional(&self.pool).await?)
    }

    async fn set_fact(&self, subject: &str, death_date: &str, source: &str, now: &str) -> Result<(), IndexError> {
        let _g = self.write_guard().await;
        sqlx::query("INSERT INTO facts (subject_value, death_date, source, recorded_at) VALUES (?,?,?,?) ON CONFLICT(subject_value) DO UPDATE SET death_date = excluded.death_date, source = excluded.source, recorded_at = excluded.recorded_at")
            .bind(subject).bind(death_date).bind(source).bind(now).execute(&self.pool).await?;
        Ok(())
    }

    async fn facts(&self) -> Result<Vec<(String, String)>, IndexError> {
        Ok(sqlx::query_as("SELECT subject_value, death_date FROM facts ORDER BY subject_value").fetch_all(&self.pool).await?)
    }

    async fn update_retention(&self, updates: &[RetentionUpdate], events: Vec<NewEvent>, now: &str) -> Result<(), IndexError> {
        let (_g, mut tx) = self.write_tx().await?;
        for u in updates {
            sqlx::query("UPDATE records SET disposal = ?, lock_horizon = ?, retention_rule = ? WHERE record_id = ?")
                .bind(&u.disposal)
                .bind(&u.lock_horizon)
                .bind(&u.rule)
                .bind(u.record_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Self::commit_with(tx, events, now).await
    }

    async fn add_hold(&self, h: &Hold, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError> {
        let (_g, mut tx) = self.write_tx().await?;
        sqlx::query("INSERT OR IGNORE INTO holds (hold_id, kind, subject, reason, actor, created_at) VALUES (?,?,?,?,?,?)")
            .bind(&h.hold_id)
            .bind(&h.kind)
            .bind(&h.subject)
            .bind(&h.reason)
            .bind(&h.actor)
            .bind(&h.created_at)
            .execute(&mut *tx)
            .await?;
        for r in &h.records {
            sqlx::query("INSERT OR IGNORE INTO hold_records (hold_id, record_id) VALUES (?,?)")
                .bind(&h.hold_id)
                .bind(r.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Self::commit_with(tx, events, now).await
    }

    async fn remove_hold(
        &self,
        hold_id: &str,
        by: &str,
        reason: &str,
        at: &str,
        events: Vec<NewEvent>,
        now: &str,
    ) -> Result<bool, IndexError> {
        let (_g, mut tx) = self.write_tx().await?;
        let done =
            sqlx::query("UPDATE holds SET removed_at = ?, removed_by = ?, removal_reason = ? WHERE hold_id = ? AND removed_at IS NULL")
                .bind(at)
                .bind(by)
                .bind(reason)
                .bind(hold_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        Self::append_in(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn holds(&self, include_removed: bool) -> Result<Vec<Hold>, IndexError> {
        let sql = if include_removed {
            "SELECT * FROM holds ORDER BY created_at"
        } else {
            "SELECT * FROM holds WHERE removed_at IS NULL ORDER BY created_at"
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for r in rows {
            let id: String = r.try_get("hold_id")?;
            let recs: Vec<String> = sqlx::query_scalar("SELECT record_id FROM hold_records WHERE hold_id = ? ORDER BY record_id")
                .bind(&id)
                .fetch_all(&self.pool)
                .await?;
            out.push(Hold {
                hold_id: id,
                kind: r.try_get("kind")?,
                subject: r.try_get("subject")?,
                records: recs.iter().map(|s| Ok(RecordId(parse("hold_records.record_id", s)?))).collect::<Result<_, IndexError>>()?,
                reason: r.try_get("reason")?,
                actor: r.try_get("actor")?,
                created_at: r.try_get("created_at")?,
                removed_at: r.try_get("removed_at")?,
                removed_by: r.try_get("removed_by")?,
                removal_reason: r.try_get("removal_reason")?,
            });
        }
        Ok(out)
    }

    async fn held(&self) -> Result<(HashSet<String>, HashSet<RecordId>), IndexError> {
        let subjects: Vec<String> =
            sqlx::query_scalar("SELECT subject FROM holds WHERE removed_at IS NULL AND kind = 'subject' AND subject IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        let recs: Vec<String> =
            sqlx::query_scalar("SELECT hr.record_id FROM hold_records hr JOIN holds h USING (hold_id) WHERE h.removed_at IS NULL")
                .fetch_all(&self.pool)
                .await?;
        Ok((
            subjects.into_iter().collect(),
            recs.iter().map(|s| Ok(RecordId(parse("hold_records.record_id", s)?))).collect::<Result<_, IndexError>>()?,
        ))
    }

    async fn add_plan(&self, p: &Plan, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError> {
        let (_g, mut tx) = self.write_tx().await?;
        sqlx::query("INSERT OR IGNORE INTO disposal_plans (plan_id, as_of, planned_by, planned_at, items_json) VALUES (?,?,?,?,?)")
            .bind(&p.plan_id)
            .bind(&p.as_of)
            .bind(&p.planned_by)
            .bind(&p.planned_at)
            .bind(serde_json::to_string(&p.items).map_err(|e| corrupt("plan", e))?)
            .execute(&mut *tx)
            .await?;
        Self::commit_with(tx, events, now).await
    }

    async fn plan(&self, plan_id: &str) -> Result<Option<Plan>, IndexError> {
        let Some(r) = sqlx::query("SELECT * FROM disposal_plans WHERE plan_id = ?").bind(plan_id).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        Ok(Some(Plan {
            plan_id: r.try_get("plan_id")?,
            as_of: r.try_get("as_of")?,
            planned_by: r.try_get("planned_by")?,
            planned_at: r.try_get("planned_at")?,
            approved_by: r.try_get("approved_by")?,
            approved_at: r.try_get("approved_at")?,
            executed_at: r.try_get("executed_at")?,
            items: json("disposal_plans.items_json", &r.try_get::<String, _>("items_json")?)?,
            kept: Vec::new(),
        }))
    }

    async fn approve_plan(&self, plan_id: &str, actor: &str, at: &str, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError> {
        let (_g, mut tx) = self.write_tx().await?;
        sqlx::query("UPDATE disposal_plans SET approved_by = ?, approved_at = ? WHERE plan_id = ? AND approved_by IS NULL")
            .bind(actor)
            .bind(at)
            .bind(plan_id)
            .execute(&mut *tx)
            .await?;
        Self::commit_with(tx, events, now).await
    }

    async fn finish_plan(&self, plan_id: &str, at: &str, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError> {
        let (_g, mut tx) = self.write_tx().await?;
        sqlx::query("UPDATE disposal_plans SET executed_at = ? WHERE plan_id = ? AND executed_at IS NULL")
            .bind(at)
            .bind(plan_id)
            .execute(&mut *tx)
            .await?;
        Self::commit_with(tx, events, now).await
    }

    async fn dispose_in_pack(&self, d: PackDisposal<'_>, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError> {
        let (_g, mut tx) = self.write_tx().await?;
        for t in d.tombstones {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM records WHERE record_id = ?")
                .bind(t.record_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(id) = id {
                sqlx::query("DELETE FROM records_fts WHERE rowid = ?").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM records WHERE id = ?").bind(id).execute(&mut *tx).await?;
            }
            insert_tombstone(&mut tx, t).await?;
        }
        if let Some((row, moved)) = d.new_pack {
            sqlx::query("INSERT INTO packs (pack_id, object_key, state, size, sha256, record_count, created_at, run_id) VALUES (?,?, 'committed', ?,?,?,?,?)
                         ON CONFLICT(pack_id) DO UPDATE SET state='committed', size=excluded.size, sha256=excluded.sha256, record_count=excluded.record_count")
                .bind(row.pack_id.to_string()).bind(&row.key).bind(row.size as i64).bind(row.sha256.to_hex()).bind(row.record_count as i64)
                .bind(&row.created_at).bind(row.run_id.map(|r| r.to_string()))
                .execute(&mut *tx).await?;
            for l in moved {
                sqlx::query(
                    "UPDATE records SET pack_id = ?, meta_offset = ?, meta_len = ?, data_offset = ?, data_len = ? WHERE record_id = ?",
                )
                .bind(row.pack_id.to_string())
                .bind(l.meta_offset as i64)
                .bind(l.meta_len as i64)
                .bind(l.data_offset as i64)
                .bind(l.data_len as i64)
                .bind(l.record_id.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM records WHERE pack_id = ?").bind(d.old_pack.to_string()).fetch_one(&mut *tx).await?;
        if left != 0 {
            return Err(IndexError::Conflict(format!("pack {} would keep {left} indexed records; disposal not applied", d.old_pack)));
        }
        sqlx::query("UPDATE packs SET state = 'deleting' WHERE pack_id = ?").bind(d.old_pack.to_string()).execute(&mut *tx).await?;
        Self::commit_with(tx, events, now).await
    }

    async fn deleting_packs(&self) -> Result<Vec<(PackId, String)>, IndexError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT pack_id, object_key FROM packs WHERE state = 'deleting'").fetch_all(&self.pool).await?;
        rows.into_iter().map(|(p, k)| Ok((parse("packs.pack_id", &p)?, k))).collect()
    }

    async fn drop_pack(&self, pack_id: PackId) -> Result<(), IndexError> {
        let _g = self.write_guard().await;
        sqlx::query("DELETE FROM packs WHERE pack_id = ? AND state = 'deleting'").bind(pack_id.to_string()).execute(&self.pool).await?;
        Ok(())
    }

    async fn tombstone(&self, id: &str) -> Result<Option<Tombstone>, IndexError> {
        let id = id.trim();
        let mut row = sqlx::query("SELECT * FROM tombstones WHERE record_id = ? OR document_id = ? LIMIT 1")
            .bind(id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        if row.is_none() && id.len() >= 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let lo = id.to_ascii_lowercase();
            row = sqlx::query("SELECT * FROM tombstones WHERE record_id >= ? AND record_id < ? LIMIT 1")
                .bind(&lo)
                .bind(format!("{lo}g"))
                .fetch_optional(&self.pool)
                .await?;
        }
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Tombstone {
            record_id: RecordId(parse("tombstones.record_id", &r.try_get::<String, _>("record_id")?)?),
            document_id: r.try_get("document_id")?,
            plan_id: r.try_get("plan_id")?,
            disposed_at: r.try_get("disposed_at")?,
            detail: json("tombstones.detail_json", &r.try_get::<String, _>("detail_json")?)?,
        }))
    }

    async fn tombstoned(&self) -> Result<HashSet<RecordId>, IndexError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT record_id FROM tombstones").fetch_all(&self.pool).await?;
        ids.iter().map(|s| Ok(RecordId(parse("tombstones.record_id", s)?))).collect()
    }

    async fn restore_tombstone(&self, t: &Tombstone) -> Result<(), IndexError> {
        let (_g, mut tx) = self.write_tx().await?;
        insert_tombstone(&mut tx, t).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_tombstone(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, t: &Tombstone) -> Result<(), IndexError> {
    sqlx::query("INSERT OR IGNORE INTO tombstones (record_id, document_id, plan_id, disposed_at, detail_json) VALUES (?,?,?,?,?)")
        .bind(t.record_id.to_string())
        .bind(&t.document_id)
        .bind(&t.plan_id)
        .bind(&t.disposed_at)
        .bind(t.detail.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
