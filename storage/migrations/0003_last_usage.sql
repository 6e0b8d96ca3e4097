-- 0003: GetKeyLastUsage. The last successful cryptographic use of each key, flushed from memory.
CREATE TABLE key_last_usage (
    account    TEXT NOT NULL,
    region     TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    operation  TEXT NOT NULL,
    timestamp  REAL NOT NULL,
    event_id   TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (account, region, key_id),
    FOREIGN KEY (account, region, key_id) REFERENCES keys ON DELETE CASCADE
);
