-- 0007: multi-Region keys. Each member of a set (same mrk- key ID, one per Region) names the
-- primary's Region. Members share material IDs, each with its own sealed copy (sealed for its own
-- ARN), so a material row is identified by its key and material ID together: the table is
-- rebuilt with that primary key (SQLite cannot change a primary key in place).
ALTER TABLE keys ADD COLUMN multi_region INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN primary_region TEXT NOT NULL DEFAULT '';

CREATE TABLE key_materials_v7 (
    material_id      TEXT NOT NULL,
    account          TEXT NOT NULL,
    region           TEXT NOT NULL,
    key_id           TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    creation_date    REAL NOT NULL,
    sealed           BLOB NOT NULL,
    rotation_type    TEXT NOT NULL DEFAULT '',
    import_state     TEXT NOT NULL DEFAULT '',
    expiration_model TEXT NOT NULL DEFAULT '',
    valid_to         REAL,
    description      TEXT NOT NULL DEFAULT '',
    pending_rotation INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, region, key_id, material_id),
    FOREIGN KEY (account, region, key_id) REFERENCES keys ON DELETE CASCADE
);
INSERT INTO key_materials_v7 (material_id, account, region, key_id, seq, creation_date, sealed,
                              rotation_type, import_state, expiration_model, valid_to,
                              description, pending_rotation)
    SELECT material_id, account, region, key_id, seq, creation_date, sealed, rotation_type,
           import_state, expiration_model, valid_to, description, pending_rotation
    FROM key_materials;
DROP TABLE key_materials;
ALTER TABLE key_materials_v7 RENAME TO key_materials;
CREATE INDEX key_materials_by_id ON key_materials (material_id);
