-- 0006: imported key material (Origin EXTERNAL). Per material: whether it is imported or
-- awaiting (re-)import ('' for material kmsd generated), its expiration, description, and
-- whether it waits for RotateKeyOnDemand to become current. A deleted or expired material keeps
-- its row (its ID and dates) with an empty sealed blob.
ALTER TABLE key_materials ADD COLUMN import_state TEXT NOT NULL DEFAULT '';
ALTER TABLE key_materials ADD COLUMN expiration_model TEXT NOT NULL DEFAULT '';
ALTER TABLE key_materials ADD COLUMN valid_to REAL;
ALTER TABLE key_materials ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE key_materials ADD COLUMN pending_rotation INTEGER NOT NULL DEFAULT 0;
