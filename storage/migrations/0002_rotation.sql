-- 0002: automatic and on-demand rotation.
ALTER TABLE keys ADD COLUMN rotation_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN rotation_period_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN next_rotation_date REAL;
-- '' for a key's first material, else AUTOMATIC or ON_DEMAND; creation_date is the rotation date.
ALTER TABLE key_materials ADD COLUMN rotation_type TEXT NOT NULL DEFAULT '';
