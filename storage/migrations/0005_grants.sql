-- 0005: grants (CreateGrant). Operations are stored space-separated (they are [A-Za-z] names);
-- constraint pairs live in their own table. Both cascade with the key.
CREATE TABLE grants (
    grant_id           TEXT PRIMARY KEY,
    account            TEXT NOT NULL,
    region             TEXT NOT NULL,
    key_id             TEXT NOT NULL,
    name               TEXT NOT NULL,
    creation_date      REAL NOT NULL,
    grantee_principal  TEXT NOT NULL,
    retiring_principal TEXT NOT NULL,
    issuing_account    TEXT NOT NULL,
    operations         TEXT NOT NULL,
    constraint_type    TEXT NOT NULL,
    FOREIGN KEY (account, region, key_id) REFERENCES keys ON DELETE CASCADE
);
CREATE INDEX grants_by_key ON grants (account, region, key_id);

CREATE TABLE grant_constraints (
    grant_id  TEXT NOT NULL REFERENCES grants ON DELETE CASCADE,
    ctx_key   TEXT NOT NULL,
    ctx_value TEXT NOT NULL,
    PRIMARY KEY (grant_id, ctx_key)
);
