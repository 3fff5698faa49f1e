-- arkisto index, PostgreSQL. Derived data: `arkisto index rebuild` recreates all of it from the store.
CREATE TABLE packs (
    pack_id      TEXT PRIMARY KEY,
    object_key   TEXT NOT NULL UNIQUE,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'committed', 'deleting')),
    size         BIGINT,
    sha256       TEXT,
    record_count BIGINT,
    created_at   TEXT NOT NULL,
    run_id       TEXT
);

CREATE TABLE records (
    id               BIGINT PRIMARY KEY,
    record_id        TEXT NOT NULL UNIQUE,
    document_id      TEXT,
    set_id           TEXT,
    version          BIGINT,
    subject_root     TEXT,
    subject_value    TEXT,
    title            TEXT,
    doc_type         TEXT,
    created          TEXT,
    service_time     TEXT,
    custodian        TEXT,
    source           TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    pack_id          TEXT NOT NULL REFERENCES packs(pack_id),
    meta_offset      BIGINT NOT NULL,
    meta_len         BIGINT NOT NULL,
    data_offset      BIGINT NOT NULL,
    data_len         BIGINT NOT NULL,
    stored_sha256    TEXT NOT NULL,
    meta_sha256      TEXT NOT NULL,
    original_size    BIGINT NOT NULL,
    dict_id          BIGINT NOT NULL DEFAULT 0,
    disposal         TEXT NOT NULL,
    lock_horizon     TEXT NOT NULL,
    retention_rule   TEXT NOT NULL,
    -- Facts the retention engine needs, so that re-evaluation never has to read packs.
    subject_birth    TEXT,
    birth_from_hetu  BOOLEAN NOT NULL DEFAULT false,
    created_date     TEXT,
    kanta_code       TEXT,
    function_code    TEXT,
    document_type    TEXT
);
CREATE INDEX records_document ON records(document_id);
CREATE INDEX records_subject ON records(subject_value, subject_root);
CREATE INDEX records_set ON records(set_id, version);
CREATE INDEX records_type ON records(doc_type);
CREATE INDEX records_created ON records(created);
CREATE INDEX records_source ON records(source);
CREATE INDEX records_pack ON records(pack_id);
CREATE INDEX records_run ON records(run_id);

-- Free text over title and narrative, as Finnish and Swedish tsvectors (ä, ö, å kept).
-- The text itself is in the packs; the index keeps only the lexemes (id = records.id).
CREATE TABLE records_text (
    id  BIGINT PRIMARY KEY,
    tsv TSVECTOR NOT NULL
);
CREATE INDEX records_text_tsv ON records_text USING GIN (tsv);

-- Row ids are handed out in blocks, so that a record's search text can be indexed while its
-- pack is still being written; ids of records never committed are simply never used.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    next BIGINT NOT NULL
);

-- zstd dictionaries per source (objects dicts/<dict_id>); rebuilt from ledger events.
CREATE TABLE dicts (
    seq           BIGSERIAL,
    dict_id       BIGINT PRIMARY KEY,
    source        TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          BIGINT NOT NULL,
    samples       BIGINT NOT NULL,
    trained_ratio DOUBLE PRECISION NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX records_dict ON records(dict_id) WHERE dict_id != 0;

-- Facts that arrive after ingest (e.g. death dates from a population-register extract).
CREATE TABLE facts (
    subject_value TEXT PRIMARY KEY,
    death_date    TEXT NOT NULL,
    source        TEXT NOT NULL,
    recorded_at   TEXT NOT NULL
);

-- Legal holds: on a subject (all their records, also future ones) or on listed records.
CREATE TABLE holds (
    hold_id    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('subject', 'records')),
    subject    TEXT,
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    removed_at TEXT,
    removed_by TEXT,
    removal_reason TEXT
);
CREATE TABLE hold_records (
    hold_id   TEXT NOT NULL REFERENCES holds(hold_id),
    record_id TEXT NOT NULL,
    PRIMARY KEY (hold_id, record_id)
);

-- Disposal: plans (made by one actor, approved by another), and what was destroyed.
CREATE TABLE disposal_plans (
    plan_id     TEXT PRIMARY KEY,
    as_of       TEXT NOT NULL,
    planned_by  TEXT NOT NULL,
    planned_at  TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT,
    executed_at TEXT,
    items_json  TEXT NOT NULL
);
CREATE TABLE tombstones (
    record_id     TEXT PRIMARY KEY,
    document_id   TEXT,
    plan_id       TEXT NOT NULL,
    disposed_at   TEXT NOT NULL,
    detail_json   TEXT NOT NULL
);
CREATE INDEX tombstones_document ON tombstones(document_id);

CREATE TABLE runs (
    run_id       TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    source       TEXT NOT NULL,
    input        TEXT NOT NULL,
    status       TEXT NOT NULL,
    summary_json TEXT
);

CREATE TABLE run_files (
    run_id     TEXT NOT NULL,
    path       TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    record_id  TEXT,
    findings   TEXT,
    PRIMARY KEY (run_id, path)
);

CREATE TABLE ledger (
    seq        BIGINT PRIMARY KEY,
    time       TEXT NOT NULL,
    event_type TEXT NOT NULL,
    actor      TEXT NOT NULL,
    purpose    TEXT,
    object     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    segment    TEXT
);
CREATE INDEX ledger_object ON ledger(object);
CREATE INDEX ledger_type_object ON ledger(event_type, object);
CREATE INDEX ledger_unflushed ON ledger(segment) WHERE segment IS NULL;
