-- The text index's vocabulary, read to expand a prefix search (`lääk*`) into the words it
-- stands for: FTS5 merges an OR of words lazily (newest first, stopping at the limit), where
-- a bare prefix query loads every matching doclist whole.
CREATE VIRTUAL TABLE records_fts_vocab USING fts5vocab(records_fts, 'row');
