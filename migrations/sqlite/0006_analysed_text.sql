-- The text index holds the terms of arkisto's own analyzer (src/text), the same terms the
-- PostgreSQL index holds: space-separated, so FTS5's `ascii` tokenizer only splits them.
-- Positions are kept (detail=full) for phrase queries. The old table held FTS5's unicode61
-- tokens; its text is dropped and `arkisto index rebuild` analyses the records again (the
-- text index is stamped with the analyzer that filled it: index_meta.text_analyzer).
DROP TABLE IF EXISTS records_fts_vocab;
DROP TABLE IF EXISTS records_fts;
CREATE VIRTUAL TABLE records_fts USING fts5(title, body, content = '', contentless_delete = 1, tokenize = 'ascii');
CREATE VIRTUAL TABLE records_fts_vocab USING fts5vocab(records_fts, 'row');
CREATE TABLE index_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Text indexed ahead of its record's commit (the row id reserved, the record not yet in
-- `records`). While none is pending, a text search counts its matches in FTS5 alone.
CREATE TABLE text_pending (row_id INTEGER PRIMARY KEY);
