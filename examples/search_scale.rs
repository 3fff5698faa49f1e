//! Search at scale: fill an index with N synthetic records directly (SQL, not ingest), then
//! time subject lookups, set-id chains and free-text queries through the `Index` trait — the
//! code path `arkisto search` uses — and print p50/p99.
//!
//!   cargo run --release --example search_scale -- sqlite PATH N [QUERIES]
//!   cargo run --release --example search_scale -- postgres URL N [QUERIES]
//!
//! Records: 1 in 4 subjects has one record per year over 40 years; every 5th record is a
//! version chain of 3; titles and narratives are 12 words from a 2000-word Finnish/Swedish
//! vocabulary (Zipf-like, so some words are common and some rare). Used by benches/search.sh.

use std::time::{Duration, Instant};

use arkisto::index::{Index, PgIndex, SearchQuery, SqliteIndex};

const VOCAB_SIZE: i64 = 2000;

fn word_sql_sqlite(expr: &str) -> String {
    // 'w' || a Zipf-like index: squares concentrate on small numbers.
    format!("'sana' || (({expr}) * ({expr}) % {VOCAB_SIZE})")
}

async fn fill_sqlite(path: &str, n: i64) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await?;
    sqlx::query("PRAGMA journal_mode = WAL").execute(&mut c).await?;
    sqlx::query("PRAGMA synchronous = OFF").execute(&mut c).await?;
    sqlx::query("INSERT INTO packs (pack_id, object_key, state, size, sha256, record_count, created_at) VALUES ('01bench', 'packs/2026/bench.pack', 'committed', 0, '', 0, '2026-01-01')")
        .execute(&mut c)
        .await?;
    let step = 1_000_000i64;
    let mut lo = 1;
    while lo <= n {
        let hi = (lo + step - 1).min(n);
        let w = |k: i64| word_sql_sqlite(&format!("(i * {k} + {k}) % 997 + i % 89"));
        let sql = format!(
            "WITH RECURSIVE c(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM c WHERE i < {hi})
             INSERT INTO records (id, record_id, document_id, set_id, version, subject_root, subject_value, title, doc_type, created, source, run_id,
                pack_id, meta_offset, meta_len, data_offset, data_len, stored_sha256, meta_sha256, original_size, dict_id, disposal, lock_horizon, retention_rule)
             SELECT i, printf('%064x', i), 'doc-' || i, CASE WHEN i % 5 = 0 THEN 'set-' || (i / 15) END, 1 + (i % 3),
                '1.2.246.21', 'S' || (i / 40), {} || ' ' || {}, 'T' || (i % 50), printf('%04d-01-01T10:00:00', 1950 + i % 70), 'bench', '01bench',
                '01bench', 0, 0, 0, 0, '', '', 0, 0, 'undetermined', '2038-01-01', 'bench' FROM c",
            w(3),
            w(7)
        );
        sqlx::query(&sql).execute(&mut c).await?;
        let body: Vec<String> = (11..23).map(w).collect();
        let sql = format!(
            "WITH RECURSIVE c(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM c WHERE i < {hi})
             INSERT INTO records_fts (rowid, title, body) SELECT i, {} || ' ' || {}, {} FROM c",
            w(3),
            w(7),
            body.join(" || ' ' || ")
        );
        sqlx::query(&sql).execute(&mut c).await?;
        eprintln!("sqlite: {hi} records");
        lo = hi + 1;
    }
    sqlx::query("INSERT INTO records_fts(records_fts) VALUES ('optimize')").execute(&mut c).await?;
    sqlx::query("ANALYZE").execute(&mut c).await?;
    Ok(())
}

async fn fill_pg(url: &str, n: i64) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await?;
    sqlx::query("INSERT INTO packs (pack_id, object_key, state, size, sha256, record_count, created_at) VALUES ('01bench', 'packs/2026/bench.pack', 'committed', 0, '', 0, '2026-01-01')")
        .execute(&mut c)
        .await?;
    let w = |k: i64| format!("'sana' || ((((i * {k} + {k}) % 997 + i % 89)) * (((i * {k} + {k}) % 997 + i % 89)) % {VOCAB_SIZE})");
    let step = 1_000_000i64;
    let mut lo = 1;
    while lo <= n {
        let hi = (lo + step - 1).min(n);
        let sql = format!(
            "INSERT INTO records (id, record_id, document_id, set_id, version, subject_root, subject_value, title, doc_type, created, source, run_id,
                pack_id, meta_offset, meta_len, data_offset, data_len, stored_sha256, meta_sha256, original_size, dict_id, disposal, lock_horizon, retention_rule)
             SELECT i, lpad(to_hex(i), 64, '0'), 'doc-' || i, CASE WHEN i % 5 = 0 THEN 'set-' || (i / 15) END, 1 + (i % 3),
                '1.2.246.21', 'S' || (i / 40), {} || ' ' || {}, 'T' || (i % 50), (1950 + i % 70)::text || '-01-01T10:00:00', 'bench', '01bench',
                '01bench', 0, 0, 0, 0, '', '', 0, 0, 'undetermined', '2038-01-01', 'bench' FROM generate_series({lo}::bigint, {hi}::bigint) AS i",
            w(3),
            w(7)
        );
        sqlx::query(&sql).execute(&mut c).await?;
        let body: Vec<String> = (11..23).map(w).collect();
        let text = format!("{} || ' ' || {} || ' ' || {}", w(3), w(7), body.join(" || ' ' || "));
        let sql = format!(
            "INSERT INTO records_text (id, tsv) SELECT i, to_tsvector('simple', t)
             FROM (SELECT i, {text} AS t FROM generate_series({lo}::bigint, {hi}::bigint) AS i) s"
        );
        sqlx::query(&sql).execute(&mut c).await?;
        eprintln!("postgres: {hi} records");
        lo = hi + 1;
    }
    sqlx::query("ANALYZE").execute(&mut c).await?;
    Ok(())
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (kind, target, n) = match args.as_slice() {
        [_, k, t, n, ..] => (k.clone(), t.clone(), n.parse::<i64>().expect("N")),
        _ => {
            eprintln!("usage: search_scale sqlite|postgres PATH|URL N [QUERIES]");
            std::process::exit(2);
        }
    };
    let queries: usize = args.get(4).and_then(|q| q.parse().ok()).unwrap_or(300);
    let t0 = Instant::now();
    let index: Box<dyn Index> = match kind.as_str() {
        "sqlite" => {
            let idx = SqliteIndex::open(std::path::Path::new(&target)).await.expect("open sqlite");
            if idx.record_count().await.expect("count") == 0 {
                fill_sqlite(&target, n).await.expect("fill sqlite");
            }
            Box::new(idx)
        }
        _ => {
            let idx = PgIndex::open(&target).await.expect("open postgres");
            if idx.record_count().await.expect("count") == 0 {
                fill_pg(&target, n).await.expect("fill postgres");
            }
            Box::new(idx)
        }
    };
    let have = index.record_count().await.expect("count");
    eprintln!("{kind}: {have} records ready in {:.0} s", t0.elapsed().as_secs_f64());
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let q = |subject: Option<String>, set_id: Option<String>, text: Option<String>| SearchQuery {
        subject,
        set_id,
        text,
        limit: 50,
        ..Default::default()
    };
    let mut results = Vec::new();
    let kinds = [
        ("subject lookup", 0),
        ("set-id chain", 1),
        ("text, one word", 2),
        ("text, two words", 3),
        ("text, prefix", 4),
        ("text, phrase", 5),
        ("text, by date", 6),
    ];
    for (name, make) in kinds {
        let mut times = Vec::with_capacity(queries);
        let mut hits = 0usize;
        let mut totals = 0u64;
        for _ in 0..queries {
            let r = rng.next() as i64;
            let word = |r: i64| {
                let x = (r.rem_euclid(997)) + r.rem_euclid(89);
                format!("sana{}", x * x % VOCAB_SIZE)
            };
            let query = match make {
                0 => q(Some(format!("S{}", r.rem_euclid(have as i64 / 40 + 1))), None, None),
                1 => q(None, Some(format!("set-{}", r.rem_euclid(have as i64 / 15 + 1))), None),
                2 => q(None, None, Some(word(r))),
                3 => q(None, None, Some(format!("{} {}", word(r), word(r / 7)))),
                4 => q(None, None, Some(format!("{}*", word(r).get(..6).unwrap_or("sana")))),
                5 => {
                    // Two consecutive body words of a record (fill: body word k of record i).
                    let i = r.rem_euclid(have as i64) + 1;
                    let w = |k: i64| {
                        let x = (i * k + k) % 997 + i % 89;
                        format!("sana{}", x * x % VOCAB_SIZE)
                    };
                    q(None, None, Some(format!("\"{} {}\"", w(11), w(12))))
                }
                _ => SearchQuery { sort: Some(arkisto::index::Sort::Date), ..q(None, None, Some(word(r))) },
            };
            let t = Instant::now();
            let page = index.search(&query).await.expect("search");
            times.push(t.elapsed());
            hits += page.hits.len();
            totals += page.total;
        }
        results.push((name, pct(times.clone(), 0.5), pct(times, 0.99), hits as f64 / queries as f64, totals as f64 / queries as f64));
    }
    println!("{kind}: {have} records, {queries} queries each (limit 50, exact totals)");
    println!("{:<18} {:>9} {:>9} {:>10} {:>12}", "query", "p50 ms", "p99 ms", "hits/query", "total/query");
    for (name, p50, p99, hits, total) in results {
        println!("{name:<18} {p50:>9.2} {p99:>9.2} {hits:>10.1} {total:>12.0}");
    }
}
