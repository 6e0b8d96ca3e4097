-- 0011: last usage keyed by the key's rowid, not by (account, region, key_id). The usage flush
-- upserts a row for every key used in the last second: with many keys in use, a text primary
-- key (a second B-tree of about 60 bytes an entry) cost more than twice the integer one.
-- There is no foreign key (a rowid cannot be one's parent): the Catalog deletes a key's row
-- with the key. The key ID is kept and checked on every read, so a rowid that VACUUM renumbered
-- can never give one key's usage to another.
CREATE TABLE key_usage (
    key_row    INTEGER PRIMARY KEY,  -- keys.rowid
    key_id     TEXT NOT NULL,
    operation  TEXT NOT NULL,
    timestamp  REAL NOT NULL,
    event_id   TEXT NOT NULL,
    request_id TEXT NOT NULL
);
INSERT INTO key_usage (key_row, key_id, operation, timestamp, event_id, request_id)
    SELECT k.rowid, u.key_id, u.operation, u.timestamp, u.event_id, u.request_id
    FROM key_last_usage u
    JOIN keys k ON k.account = u.account AND k.region = u.region AND k.key_id = u.key_id;
DROP TABLE key_last_usage;
