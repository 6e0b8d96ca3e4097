-- 0009: custom key stores (AWS_CLOUDHSM now; EXTERNAL_KEY_STORE's settings go in `config`) and
-- the simulated CloudHSM clusters they connect to. A key made in a store names it.
CREATE TABLE custom_key_stores (
    store_id              TEXT PRIMARY KEY,
    account               TEXT NOT NULL,
    region                TEXT NOT NULL,
    name                  TEXT NOT NULL,
    store_type            TEXT NOT NULL,
    creation_date         REAL NOT NULL,
    connection_state      TEXT NOT NULL,
    connection_error_code TEXT NOT NULL DEFAULT '',
    state_due             REAL,
    cluster_id            TEXT NOT NULL DEFAULT '',
    trust_anchor          TEXT NOT NULL DEFAULT '',
    password_digest       TEXT NOT NULL DEFAULT '',
    config                TEXT NOT NULL DEFAULT '',
    UNIQUE (account, region, name)
);
CREATE TABLE cloudhsm_clusters (
    account          TEXT NOT NULL,
    region           TEXT NOT NULL,
    cluster_id       TEXT NOT NULL,
    trust_anchor     TEXT NOT NULL,
    password_digest  TEXT NOT NULL,
    hsm_count        INTEGER NOT NULL,
    cluster_state    TEXT NOT NULL,
    lineage          TEXT NOT NULL,
    connection_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (account, region, cluster_id)
);
ALTER TABLE keys ADD COLUMN custom_key_store_id TEXT NOT NULL DEFAULT '';
