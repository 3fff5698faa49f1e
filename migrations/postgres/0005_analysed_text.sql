-- The text index holds tsvectors built by arkisto's own analyzer (src/text), the same terms
-- the SQLite index holds. The old vectors came from to_tsvector('finnish'/'swedish'); they
-- are dropped and `arkisto index rebuild` analyses the records again (the text index is
-- stamped with the analyzer that filled it: index_meta.text_analyzer).
TRUNCATE records_text;
CREATE TABLE index_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Text indexed ahead of its record's commit (the row id reserved, the record not yet in
-- `records`). While none is pending, a text search counts its matches in records_text alone.
CREATE TABLE text_pending (row_id BIGINT PRIMARY KEY);
