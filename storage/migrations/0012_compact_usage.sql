-- 0012: last usage in a compact row, about 41 bytes instead of 100 (storage/usage_codec.h). The
-- usage flush writes a row for every key used in the last second; with many keys in use that
-- rewrites nearly every page of this table, so its size is what a flush costs. The operation is
-- a code, a request ID that is a UUID its 16 bytes (other text stays text), the key ID a 32-bit
-- digest that is checked on every read. The event ID is NULL when it is the one derived from the
-- request ID (every row written since schema 11); older rows keep theirs. The kmsd_* functions
-- are the Catalog's (registered on its connection).
CREATE TABLE key_usage_v12 (
    key_row    INTEGER PRIMARY KEY,  -- keys.rowid
    key_check  INTEGER NOT NULL,     -- KeyIdCheck(keys.key_id)
    operation  INTEGER NOT NULL,     -- UsageOperationCode
    timestamp  REAL NOT NULL,
    request_id NOT NULL,             -- BLOB (a UUID's bytes) or TEXT
    event_id   TEXT                  -- NULL: derived from request_id
);
INSERT INTO key_usage_v12 (key_row, key_check, operation, timestamp, request_id, event_id)
    SELECT key_row, kmsd_key_check(key_id), kmsd_usage_op(operation), timestamp,
           kmsd_pack_request_id(request_id), NULLIF(event_id, '')
    FROM key_usage WHERE kmsd_usage_op(operation) IS NOT NULL;
DROP TABLE key_usage;
ALTER TABLE key_usage_v12 RENAME TO key_usage;
