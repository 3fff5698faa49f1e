-- Ledger events in encoding 2 keep their stored bytes (canonical JSON, what the hash covers);
-- the other columns are copies for queries. NULL for events written in encoding 1.
ALTER TABLE ledger ADD COLUMN body TEXT;
