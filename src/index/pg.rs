//! `PgIndex`: the shared index in PostgreSQL (several arkisto instances, one database).
//! Same behaviour as `SqliteIndex`; free text is indexed as tsvectors of arkisto's own
//! analyzer (src/text), the terms SQLite's FTS5 holds. Writes that append ledger events take a transaction-scoped advisory
//! lock, so that the hash chain stays one chain whatever the number of writers.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::sql::{corrupt, parse, split_statements};
use super::*;
use crate::ledger::Event;

mod retention;
mod search;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_instances.sql")),
    (3, include_str!("../../migrations/postgres/0003_links.sql")),
    (4, include_str!("../../migrations/postgres/0004_event_body.sql")),
    (5, include_str!("../../migrations/postgres/0005_analysed_text.sql")),
    (6, include_str!("../../migrations/postgres/0006_text_lz4.sql")),
];

crate::index::coord::impl_coord!(PgIndex, PgRow, crate::index::sql::numbered);
crate::index::links::impl_links!(PgIndex, crate::index::sql::numbered);
crate::index::projection::impl_projection!(PgIndex, crate::index::sql::numbered);

/// A tsvector in PostgreSQL's binary format ([`crate::text::Analysed::tsvector_binary`]).
struct TsVector(Vec<u8>);

impl sqlx::Type<Postgres> for TsVector {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_name("tsvector")
    }
}

impl sqlx::Encode<'_, Postgres> for TsVector {
    fn encode_by_ref(&self, buf: &mut sqlx::postgres::PgArgumentBuffer) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        buf.extend_from_slice(&self.0);
        Ok(sqlx::encode::IsNull::No)
    }
}

/// The PostgreSQL index.
#[derive(Clone, Debug)]
pub struct PgIndex {
    pool: PgPool,
}

/// Held for the span of a write; writes are serialised by an advisory lock in the database
/// (shared by every process), not by a lock in this one.
type WriteGuard = ();

/// The advisory lock key that serialises writers (ledger chain, row-id blocks).
const WRITE_LOCK: i64 = 0x61726b6973746f; // "arkisto"

impl PgIndex {
    /// Connect to `url` (e.g. `postgres://arkisto@db.example/arkisto`) and migrate.
    pub async fn open(url: &str) -> Result<Self, IndexError> {
        let pool = PgPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(30)).connect(url).await?;
        let idx = Self { pool };
        idx.migrate().await?;
        Ok(idx)
    }

    async fn write_tx(&self) -> Result<(WriteGuard, Transaction<'static, Postgres>), IndexError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
        Ok(((), tx))
    }

    async fn write_guard(&self) -> WriteGuard {}

    /// Append `events` to the ledger inside `tx`, then commit: every state change and the
    /// event recording it land together or not at all.
    async fn commit_with(mut tx: Transaction<'static, Postgres>, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError> {
        Self::append_in(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn append_in(tx: &mut Transaction<'static, Postgres>, events: Vec<NewEvent>, now: &str) -> Result<Vec<Event>, IndexError> {
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetch_optional(&mut **tx).await?;
        let (mut seq, mut prev) = match last {
            Some((s, h)) => (s, parse::<Sha256>("ledger.hash", &h)?),
            None => (0, Sha256([0; 32])),
        };
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            seq += 1;
            let ev = Event::chain(e, seq, now.to_string(), prev).map_err(IndexError::BadEvent)?;
            prev = ev.hash;
            insert_event(tx, &ev, None).await?;
            out.push(ev);
        }
        Ok(out)
    }
}

async fn insert_event(tx: &mut Transaction<'static, Postgres>, ev: &Event, segment: Option<&str>) -> Result<(), IndexError> {
    sqlx::query("INSERT INTO ledger (seq, time, event_type, actor, purpose, object, outcome, detail, prev_hash, hash, segment, body) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)")
        .bind(ev.seq)
        .bind(&ev.time)
        .bind(&ev.event_type)
        .bind(&ev.actor)
        .bind(&ev.purpose)
        .bind(&ev.object)
        .bind(&ev.outcome)
        .bind(ev.detail.to_string())
        .bind(ev.prev_hash.to_hex())
        .bind(ev.hash.to_hex())
        .bind(segment)
        .bind(&ev.body)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn event_from_row(r: &PgRow) -> Result<Event, IndexError> {
    // An encoding-2 event is its stored bytes (`body`); the other columns are copies for
    // queries, read as they are so that `verify` sees an edited copy (Event::matches_body).
    let detail: String = r.try_get("detail")?;
    Ok(Event {
        seq: r.try_get("seq")?,
        time: r.try_get("time")?,
        event_type: r.try_get("event_type")?,
        actor: r.try_get("actor")?,
        purpose: r.try_get("purpose")?,
        object: r.try_get("object")?,
        outcome: r.try_get("outcome")?,
        detail: serde_json::from_str(&detail).map_err(|e| corrupt("ledger.detail", e))?,
        prev_hash: parse("ledger.prev_hash", &r.try_get::<String, _>("prev_hash")?)?,
        hash: parse("ledger.hash", &r.try_get::<String, _>("hash")?)?,
        body: r.try_get("body")?,
    })
}

fn location_from_row(r: &PgRow) -> Result<RecordLocation, IndexError> {
    Ok(RecordLocation {
        record_id: RecordId(parse("records.record_id", &r.try_get::<String, _>("record_id")?)?),
        meta_offset: r.try_get::<i64, _>("meta_offset")? as u64,
        meta_len: r.try_get::<i64, _>("meta_len")? as u64,
        meta_sha256: parse("records.meta_sha256", &r.try_get::<String, _>("meta_sha256")?)?,
        data_offset: r.try_get::<i64, _>("data_offset")? as u64,
        data_len: r.try_get::<i64, _>("data_len")? as u64,
        stored_sha256: parse("records.stored_sha256", &r.try_get::<String, _>("stored_sha256")?)?,
        original_size: r.try_get::<i64, _>("original_size")? as u64,
        dict_id: r.try_get::<i64, _>("dict_id")? as u32,
    })
}

fn pack_from_row(r: &PgRow) -> Result<PackRow, IndexError> {
    Ok(PackRow {
        pack_id: parse("packs.pack_id", &r.try_get::<String, _>("pack_id")?)?,
        key: r.try_get("object_key")?,
        size: r.try_get::<Option<i64>, _>("size")?.unwrap_or(0) as u64,
        sha256: parse("packs.sha256", &r.try_get::<Option<String>, _>("sha256")?.unwrap_or_default())?,
        record_count: r.try_get::<Option<i64>, _>("record_count")?.unwrap_or(0) as u64,
        created_at: r.try_get("created_at")?,
        run_id: r.try_get::<Option<String>, _>("run_id")?.map(|s| parse("packs.run_id", &s)).transpose()?,
    })
}

fn run_from_row(r: &PgRow) -> Result<RunRow, IndexError> {
    let summary: Option<String> = r.try_get("summary_json")?;
    Ok(RunRow {
        run_id: parse("runs.run_id", &r.try_get::<String, _>("run_id")?)?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        source: r.try_get("source")?,
        input: r.try_get("input")?,
        status: r.try_get("status")?,
        summary: summary.map(|s| serde_json::from_str(&s)).transpose().map_err(|e| corrupt("runs.summary_json", e))?,
    })
}

#[async_trait]
impl Index for PgIndex {
    async fn migrate(&self) -> Result<(), IndexError> {
        // Up to date: no need for the writers' lock (which a stalled writer may hold).
        let applied: Result<Vec<i64>, sqlx::Error> =
            sqlx::query_scalar("SELECT version FROM schema_migrations").fetch_all(&self.pool).await;
        if let Ok(v) = applied
            && MIGRATIONS.iter().all(|(m, _)| v.contains(m))
        {
            return self.stamp_if_empty().await;
        }
        let (_guard, mut tx) = self.write_tx().await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
            .execute(&mut *tx)
            .await?;
        for (v, sql) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1").bind(v).fetch_optional(&mut *tx).await?;
            if done.is_none() {
                for stmt in split_statements(sql) {
                    sqlx::query(&stmt).execute(&mut *tx).await?;
                }
                if *v == 6 {
                    let lz4: bool = sqlx::query_scalar(
                        "SELECT coalesce(bool_or('lz4' = ANY(enumvals)), false) FROM pg_settings WHERE name = 'default_toast_compression'",
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    if lz4 {
                        sqlx::query("ALTER TABLE records_text ALTER COLUMN tsv SET COMPRESSION lz4").execute(&mut *tx).await?;
                    }
                }
                sqlx::query("INSERT INTO schema_migrations VALUES ($1, now()::text)").bind(v).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        self.stamp_if_empty().await
    }

    async fn clear(&self) -> Result<(), IndexError> {
        let (_guard, mut tx) = self.write_tx().await?;
        sqlx::query(
            "TRUNCATE records_text, records, packs, run_files, runs, ledger, counters, dicts, facts, hold_records, holds, disposal_plans, tombstones, run_heartbeats, batch_claims, api_tokens, record_links, index_meta, text_pending",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO index_meta (key, value) VALUES ('text_analyzer', $1)")
            .bind(crate::text::analyzer().id())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn begin_pack(&self, pack_id: PackId, key: &str, run_id: RunId, now: &str) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        sqlx::query("INSERT INTO packs (pack_id, object_key, state, created_at, run_id) VALUES ($1, $2, 'pending', $3, $4)")
            .bind(pack_id.to_string())
            .bind(key)
            .bind(now)
            .bind(run_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn pending_packs(&self) -> Result<Vec<PendingPack>, IndexError> {
        let rows = sqlx::query("SELECT pack_id, object_key, run_id FROM packs WHERE state = 'pending'").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(PendingPack {
                    pack_id: parse("packs.pack_id", &r.try_get::<String, _>("pack_id")?)?,
                    key: r.try_get("object_key")?,
                    run_id: r.try_get::<Option<String>, _>("run_id")?.map(|s| parse("packs.run_id", &s)).transpose()?,
                })
            })
            .collect()
    }

    async fn abandon_pending(&self, pack_id: PackId) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let r = sqlx::query("UPDATE packs SET state = 'deleting' WHERE pack_id = $1 AND state = 'pending'")
            .bind(pack_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn commit_pack(
        &self,
        pack: &PackRow,
        records: &[NewRecord],
        events: Vec<NewEvent>,
        now: &str,
        begun: bool,
    ) -> Result<(), IndexError> {
        let (_guard, mut tx) = self.write_tx().await?;
        if begun {
            // Fence: another instance's recovery removes the pending packs of a run it took
            // for dead; such a run must not index a pack whose object may be gone.
            let pending: Option<String> = sqlx::query_scalar("SELECT state FROM packs WHERE pack_id = $1 FOR UPDATE")
                .bind(pack.pack_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            if pending.as_deref() != Some("pending") {
                return Err(super::sql::no_longer_pending(&pack.pack_id));
            }
        }
        sqlx::query(
            "INSERT INTO packs (pack_id, object_key, state, size, sha256, record_count, created_at, run_id) VALUES ($1,$2, 'committed', $3,$4,$5,$6,$7)
             ON CONFLICT(pack_id) DO UPDATE SET state='committed', size=excluded.size, sha256=excluded.sha256, record_count=excluded.record_count",
        )
        .bind(pack.pack_id.to_string())
        .bind(&pack.key)
        .bind(pack.size as i64)
        .bind(pack.sha256.to_hex())
        .bind(pack.record_count as i64)
        .bind(&pack.created_at)
        .bind(pack.run_id.map(|r| r.to_string()))
        .execute(&mut *tx)
        .await?;
        // Multi-row inserts: one round trip per chunk, not per row.
        crate::index::search::unpend!(tx, records, Postgres);
        for chunk in records.chunks(64) {
            let mut qb = sqlx::QueryBuilder::<Postgres>::new(
                "INSERT INTO records (id, record_id, document_id, set_id, version, subject_root, subject_value, title, doc_type, created, service_time, \
                 custodian, source, run_id, pack_id, meta_offset, meta_len, data_offset, data_len, stored_sha256, meta_sha256, original_size, dict_id, \
                 disposal, lock_horizon, retention_rule, subject_birth, birth_from_hetu, created_date, kanta_code, function_code, document_type, parent_id) ",
            );
            qb.push_values(chunk, |mut b, r| {
                let (m, l) = (&r.meta, &r.location);
                b.push_bind(r.row_id)
                    .push_bind(m.record_id.to_string())
                    .push_bind(m.document_id.as_ref().map(|d| d.0.clone()))
                    .push_bind(m.set_id.clone())
                    .push_bind(m.version)
                    .push_bind(m.subject.as_ref().map(|s| s.root.clone()))
                    .push_bind(m.subject.as_ref().map(|s| s.value.clone()))
                    .push_bind(m.title.clone())
                    .push_bind(m.doc_type.clone())
                    .push_bind(m.created.clone())
                    .push_bind(m.service_time.clone())
                    .push_bind(m.custodian.clone())
                    .push_bind(m.source.clone())
                    .push_bind(m.run_id.to_string())
                    .push_bind(pack.pack_id.to_string())
                    .push_bind(l.meta_offset as i64)
                    .push_bind(l.meta_len as i64)
                    .push_bind(l.data_offset as i64)
                    .push_bind(l.data_len as i64)
                    .push_bind(l.stored_sha256.to_hex())
                    .push_bind(l.meta_sha256.to_hex())
                    .push_bind(l.original_size as i64)
                    .push_bind(l.dict_id as i64)
                    .push_bind(m.retention.disposal_text())
                    .push_bind(m.retention.lock_horizon.clone())
                    .push_bind(m.retention.rule_id.clone())
                    .push_bind(m.subject_birth_date.clone())
                    .push_bind(m.birth_from_hetu())
                    .push_bind(m.created.as_deref().and_then(|c| c.get(..10)).map(String::from))
                    .push_bind(m.local_header.as_ref().and_then(|l| l.retention_period_class.clone()))
                    .push_bind(m.local_header.as_ref().and_then(|l| l.function_code.clone()))
                    .push_bind(m.local_header.as_ref().and_then(|l| l.document_type.clone()))
                    .push_bind(m.parent.map(|p| p.to_string()));
            });
            match qb.build().execute(&mut *tx).await {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(IndexError::Conflict(format!("a record of pack {} is already indexed", pack.pack_id)));
                }
                other => other?,
            };
        }
        Self::commit_with(tx, events, now).await
    }

    async fn reserve_ids(&self, n: u64) -> Result<i64, IndexError> {
        let (_guard, mut tx) = self.write_tx().await?;
        let first: i64 = sqlx::query_scalar(
            "INSERT INTO counters (name, next) VALUES ('record_row', (SELECT coalesce(max(id), 0) + 1 FROM records) + $1)
             ON CONFLICT(name) DO UPDATE SET next = counters.next + $1 RETURNING counters.next - $1",
        )
        .bind(n as i64)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(first)
    }

    async fn index_text(&self, rows: &[TextRow]) -> Result<(), IndexError> {
        // The vector is built here, not by to_tsvector, so both backends index the same terms
        // (and before the write lock is taken).
        // On every core: for long narratives this is as costly as the insert.
        let vectors: Vec<(i64, TsVector)> = std::thread::scope(|s| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
            let per = rows.len().div_ceil(n).max(1);
            let parts: Vec<_> = rows
                .chunks(per)
                .map(|c| s.spawn(move || c.iter().map(|r| (r.row_id, TsVector(r.text.tsvector_binary()))).collect::<Vec<_>>()))
                .collect();
            // A panic is a bug: passed on (the text writer then fails the run), never a lost row.
            parts.into_iter().flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        let (_guard, mut tx) = self.write_tx().await?;
        for chunk in vectors.chunks(64) {
            let mut fts = sqlx::QueryBuilder::<Postgres>::new("INSERT INTO records_text (id, tsv) ");
            fts.push_values(chunk, |mut b, (id, tsv)| {
                b.push_bind(id).push_bind(tsv);
            });
            fts.push(" ON CONFLICT (id) DO NOTHING");
            fts.build().execute(&mut *tx).await?;
            let mut pending = sqlx::QueryBuilder::<Postgres>::new("INSERT INTO text_pending (row_id) ");
            pending.push_values(chunk, |mut b, r| {
                b.push_bind(r.0);
            });
            pending.push(" ON CONFLICT DO NOTHING");
            pending.build().execute(&mut *tx).await?;
            // The record may have been committed already (the text writer runs behind).
            let mut done =
                sqlx::QueryBuilder::<Postgres>::new("DELETE FROM text_pending WHERE row_id IN (SELECT id FROM records WHERE id IN (");
            let mut sep = done.separated(", ");
            for r in chunk {
                sep.push_bind(r.0);
            }
            done.push("))");
            done.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn lookup_many(&self, keys: &[(RecordId, Option<String>)]) -> Result<Vec<Lookup>, IndexError> {
        let mut out = vec![Lookup::default(); keys.len()];
        for chunk_start in (0..keys.len()).step_by(200) {
            let chunk = &keys[chunk_start..(chunk_start + 200).min(keys.len())];
            let mut qb = sqlx::QueryBuilder::<Postgres>::new("SELECT record_id, document_id FROM records WHERE record_id IN (");
            let mut sep = qb.separated(", ");
            for (id, _) in chunk {
                sep.push_bind(id.to_string());
            }
            qb.push(")");
            let docs: Vec<&String> = chunk.iter().filter_map(|(_, d)| d.as_ref()).collect();
            if !docs.is_empty() {
                qb.push(" OR document_id IN (");
                let mut sep = qb.separated(", ");
                for d in docs {
                    sep.push_bind(d.clone());
                }
                qb.push(")");
            }
            let rows: Vec<(String, Option<String>)> = qb.build_query_as().fetch_all(&self.pool).await?;
            for (rid, doc) in rows {
                let rid = RecordId(parse("records.record_id", &rid)?);
                for (i, (id, d)) in chunk.iter().enumerate() {
                    let l = &mut out[chunk_start + i];
                    if *id == rid {
                        l.exists = true;
                    } else if d.is_some() && *d == doc && !l.same_document.contains(&rid) {
                        l.same_document.push(rid);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn resolve(&self, id: &str) -> Result<Vec<RecordId>, IndexError> {
        let id = id.trim();
        let mut ids: Vec<String> =
            sqlx::query_scalar("SELECT record_id FROM records WHERE document_id = $1").bind(id).fetch_all(&self.pool).await?;
        if ids.is_empty() && id.len() >= 8 && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let lo = id.to_ascii_lowercase();
            ids = sqlx::query_scalar("SELECT record_id FROM records WHERE record_id >= $1 AND record_id < $2 LIMIT 10")
                .bind(&lo)
                .bind(format!("{lo}g"))
                .fetch_all(&self.pool)
                .await?;
        }
        ids.iter().map(|s| Ok(RecordId(parse("records.record_id", s)?))).collect()
    }

    async fn locate(&self, id: &RecordId) -> Result<Option<Located>, IndexError> {
        let row = sqlx::query("SELECT r.*, p.object_key FROM records r JOIN packs p USING (pack_id) WHERE r.record_id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Located {
            pack_id: parse("records.pack_id", &r.try_get::<String, _>("pack_id")?)?,
            pack_key: r.try_get("object_key")?,
            location: location_from_row(&r)?,
        }))
    }

    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, IndexError> {
        self.search_page(q).await
    }

    async fn packs(&self) -> Result<Vec<PackRow>, IndexError> {
        let rows = sqlx::query("SELECT * FROM packs WHERE state = 'committed' ORDER BY pack_id").fetch_all(&self.pool).await?;
        rows.iter().map(pack_from_row).collect()
    }

    async fn pack_records(&self, pack_id: PackId) -> Result<Vec<RecordLocation>, IndexError> {
        let rows = sqlx::query("SELECT * FROM records WHERE pack_id = $1 ORDER BY data_offset")
            .bind(pack_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(location_from_row).collect()
    }

    async fn record_count(&self) -> Result<u64, IndexError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM records").fetch_one(&self.pool).await?;
        Ok(n as u64)
    }

    async fn start_run(&self, run: &RunRow) -> Result<(), IndexError> {
        self.restore_run(run).await
    }

    async fn finish_run(
        &self,
        run: &RunRow,
        files: &mut (dyn Iterator<Item = RunFile> + Send),
        events: Vec<NewEvent>,
        now: &str,
    ) -> Result<(), IndexError> {
        let (_guard, mut tx) = self.write_tx().await?;
        // Taken 200 at a time: a run of a million files never holds them all twice.
        while let Some(chunk) = super::sql::next_chunk(files, 200) {
            let mut qb = sqlx::QueryBuilder::<Postgres>::new("INSERT INTO run_files (run_id, path, outcome, record_id, findings) ");
            qb.push_values(&chunk, |mut b, f| {
                b.push_bind(run.run_id.to_string())
                    .push_bind(f.path.as_str())
                    .push_bind(f.outcome.as_str())
                    .push_bind(f.record_id.map(|r| r.to_string()))
                    .push_bind(f.findings.to_string());
            });
            qb.push(" ON CONFLICT (run_id, path) DO UPDATE SET outcome = EXCLUDED.outcome, record_id = EXCLUDED.record_id, findings = EXCLUDED.findings");
            qb.build().execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE runs SET finished_at = $1, status = $2, summary_json = $3 WHERE run_id = $4")
            .bind(&run.finished_at)
            .bind(&run.status)
            .bind(run.summary.as_ref().map(|s| s.to_string()))
            .bind(run.run_id.to_string())
            .execute(&mut *tx)
            .await?;
        crate::index::search::sweep_pending!(
            tx,
            run,
            crate::index::sql::numbered,
            "DELETE FROM records_text WHERE id IN (SELECT row_id FROM text_pending)"
        );
        Self::commit_with(tx, events, now).await
    }

    async fn runs(&self, limit: u32) -> Result<Vec<RunRow>, IndexError> {
        let rows = sqlx::query("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC LIMIT $1")
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    async fn run_files(&self, run_id: RunId) -> Result<Vec<RunFile>, IndexError> {
        let rows =
            sqlx::query("SELECT * FROM run_files WHERE run_id = $1 ORDER BY path").bind(run_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let findings: Option<String> = r.try_get("findings")?;
                Ok(RunFile {
                    path: r.try_get("path")?,
                    outcome: r.try_get("outcome")?,
                    record_id: r
                        .try_get::<Option<String>, _>("record_id")?
                        .map(|s| parse("run_files.record_id", &s).map(RecordId))
                        .transpose()?,
                    findings: findings
                        .map(|s| serde_json::from_str(&s))
                        .transpose()
                        .map_err(|e| corrupt("run_files.findings", e))?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn append_events(&self, events: Vec<NewEvent>, now: &str) -> Result<Vec<Event>, IndexError> {
        let (_guard, mut tx) = self.write_tx().await?;
        let out = Self::append_in(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn restore_events(&self, events: &[Event], segment: &str) -> Result<(), IndexError> {
        let (_guard, mut tx) = self.write_tx().await?;
        for e in events {
            // Segments flushed by two instances at once may overlap: the same event (same
            // seq, same hash) is restored once; a different event under one seq is damage.
            let there: Option<String> =
                sqlx::query_scalar("SELECT hash FROM ledger WHERE seq = $1").bind(e.seq).fetch_optional(&mut *tx).await?;
            match there {
                Some(h) if h == e.hash.to_string() => continue,
                Some(_) => {
                    return Err(corrupt("ledger", format!("segment {segment} holds another event {} than an earlier segment", e.seq)));
                }
                None => insert_event(&mut tx, e, Some(segment)).await?,
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unflushed_events(&self) -> Result<Vec<Event>, IndexError> {
        let rows = sqlx::query("SELECT * FROM ledger WHERE segment IS NULL ORDER BY seq").fetch_all(&self.pool).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn mark_flushed(&self, first_seq: i64, last_seq: i64, key: &str) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        sqlx::query("UPDATE ledger SET segment = $1 WHERE seq BETWEEN $2 AND $3")
            .bind(key)
            .bind(first_seq)
            .bind(last_seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn segments(&self) -> Result<Vec<String>, IndexError> {
        Ok(sqlx::query_scalar("SELECT DISTINCT segment FROM ledger WHERE segment IS NOT NULL ORDER BY segment")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn events(&self) -> Result<Vec<Event>, IndexError> {
        let rows = sqlx::query("SELECT * FROM ledger ORDER BY seq").fetch_all(&self.pool).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn events_page(&self, after: i64, limit: u32) -> Result<Vec<Event>, IndexError> {
        let rows = sqlx::query("SELECT * FROM ledger WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn latest_event(&self, event_type: &str, object: &str) -> Result<Option<Event>, IndexError> {
        let row = sqlx::query("SELECT * FROM ledger WHERE event_type = $1 AND object = $2 ORDER BY seq DESC LIMIT 1")
            .bind(event_type)
            .bind(object)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn restore_run(&self, run: &RunRow) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "INSERT INTO runs (run_id, started_at, finished_at, source, input, status, summary_json) VALUES ($1,$2,$3,$4,$5,$6,$7)
             ON CONFLICT (run_id) DO UPDATE SET started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, source = EXCLUDED.source,
             input = EXCLUDED.input, status = EXCLUDED.status, summary_json = EXCLUDED.summary_json",
        )
        .bind(run.run_id.to_string())
        .bind(&run.started_at)
        .bind(&run.finished_at)
        .bind(&run.source)
        .bind(&run.input)
        .bind(&run.status)
        .bind(run.summary.as_ref().map(|s| s.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_dict(&self, info: &DictInfo, events: Vec<NewEvent>, now: &str) -> Result<(), IndexError> {
        let (_guard, mut tx) = self.write_tx().await?;
        let done = sqlx::query(
            "INSERT INTO dicts (dict_id, source, sha256, size, samples, trained_ratio, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT(dict_id) DO NOTHING",
        )
        .bind(info.dict_id.0 as i64)
        .bind(&info.source)
        .bind(info.sha256.to_hex())
        .bind(info.size as i64)
        .bind(info.samples as i64)
        .bind(info.trained_ratio)
        .bind(&info.created_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            Self::append_in(&mut tx, events, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn active_dict(&self, source: &str) -> Result<Option<DictInfo>, IndexError> {
        let row = sqlx::query("SELECT * FROM dicts WHERE source = $1 ORDER BY created_at DESC, seq DESC LIMIT 1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(dict_from_row).transpose()
    }

    async fn dicts(&self) -> Result<Vec<DictInfo>, IndexError> {
        let rows = sqlx::query("SELECT * FROM dicts ORDER BY created_at, dict_id").fetch_all(&self.pool).await?;
        rows.iter().map(dict_from_row).collect()
    }

    async fn unknown_dict_ids(&self) -> Result<Vec<DictId>, IndexError> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT DISTINCT dict_id FROM records WHERE dict_id != 0 AND dict_id NOT IN (SELECT dict_id FROM dicts)")
                .fetch_all(&self.pool)
                .await?;
        Ok(ids.into_iter().map(|i| DictId(i as u32)).collect())
    }

    async fn records_using_dict(&self, id: DictId) -> Result<Vec<RecordId>, IndexError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT record_id FROM records WHERE dict_id = $1 ORDER BY record_id")
            .bind(id.0 as i64)
            .fetch_all(&self.pool)
            .await?;
        ids.iter().map(|s| Ok(RecordId(parse("records.record_id", s)?))).collect()
    }

    async fn stats(&self) -> Result<Vec<SourceStats>, IndexError> {
        let rows = sqlx::query(
            "SELECT source, count(*) AS n, sum(original_size)::bigint AS orig, sum(data_len)::bigint AS stored,
                    sum(CASE WHEN dict_id != 0 THEN 1 ELSE 0 END)::bigint AS with_dict,
                    string_agg(DISTINCT CASE WHEN dict_id != 0 THEN dict_id::text END, ',') AS ids
             FROM records GROUP BY source ORDER BY source",
        )
        .fetch_all(&self.pool)
        .await?;
        let sizes: std::collections::HashMap<i64, i64> =
            sqlx::query_as::<_, (i64, i64)>("SELECT dict_id, size FROM dicts").fetch_all(&self.pool).await?.into_iter().collect();
        rows.iter()
            .map(|r| {
                let ids: Option<String> = r.try_get("ids")?;
                let dicts: Vec<DictId> = ids.unwrap_or_default().split(',').filter_map(|s| s.parse::<u32>().ok()).map(DictId).collect();
                Ok(SourceStats {
                    source: r.try_get("source")?,
                    records: r.try_get::<i64, _>("n")? as u64,
                    original_bytes: r.try_get::<Option<i64>, _>("orig")?.unwrap_or(0) as u64,
                    stored_bytes: r.try_get::<Option<i64>, _>("stored")?.unwrap_or(0) as u64,
                    records_with_dict: r.try_get::<Option<i64>, _>("with_dict")?.unwrap_or(0) as u64,
                    dict_bytes: dicts.iter().map(|d| *sizes.get(&(d.0 as i64)).unwrap_or(&0) as u64).sum(),
                    dicts,
                })
            })
            .collect()
    }
}

fn dict_from_row(r: &PgRow) -> Result<DictInfo, IndexError> {
    Ok(DictInfo {
        dict_id: DictId(r.try_get::<i64, _>("dict_id")? as u32),
        source: r.try_get("source")?,
        sha256: parse("dicts.sha256", &r.try_get::<String, _>("sha256")?)?,
        size: r.try_get::<i64, _>("size")? as u64,
        samples: r.try_get::<i64, _>("samples")? as u64,
        trained_ratio: r.try_get("trained_ratio")?,
        created_at: r.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use crate::index::sql::numbered;

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(numbered("a = ? AND b < ?"), "a = $1 AND b < $2");
    }
}
