-- 0001: keys, their sealed material, tags, aliases, and a small metadata table.
CREATE TABLE keys (
    account             TEXT NOT NULL,
    region              TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    arn                 TEXT NOT NULL,
    creation_date       REAL NOT NULL,
    description         TEXT NOT NULL,
    key_state           TEXT NOT NULL,
    key_usage           TEXT NOT NULL,
    key_spec            TEXT NOT NULL,
    origin              TEXT NOT NULL,
    deletion_date       REAL,
    pending_window_days INTEGER,
    policy              TEXT NOT NULL,
    PRIMARY KEY (account, region, key_id)
);

-- Only sealed bytes: material is AES-256-GCM-wrapped under the master key inside the HSM.
CREATE TABLE key_materials (
    material_id   TEXT PRIMARY KEY,
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    creation_date REAL NOT NULL,
    sealed        BLOB NOT NULL,
    FOREIGN KEY (account, region, key_id) REFERENCES keys ON DELETE CASCADE
);

CREATE TABLE tags (
    account   TEXT NOT NULL,
    region    TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    position  INTEGER NOT NULL,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (account, region, key_id, tag_key),
    FOREIGN KEY (account, region, key_id) REFERENCES keys ON DELETE CASCADE
);

CREATE TABLE aliases (
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    alias_name    TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    creation_date REAL NOT NULL,
    last_updated  REAL NOT NULL,
    PRIMARY KEY (account, region, alias_name),
    FOREIGN KEY (account, region, key_id) REFERENCES keys ON DELETE CASCADE
);

-- Named values: the master-key check value, the clock offset.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
