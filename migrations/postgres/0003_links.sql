-- Attachments: a record cut out of an export, or a file it refers to, links to its parent.
ALTER TABLE records ADD COLUMN parent_id TEXT;
CREATE INDEX records_parent ON records(parent_id) WHERE parent_id IS NOT NULL;
-- An attachment referred to by more than one record: the links beyond its own parent.
CREATE TABLE record_links (
    parent_id TEXT NOT NULL,
    child_id  TEXT NOT NULL,
    PRIMARY KEY (parent_id, child_id)
);
