-- 0010: keys in external key stores (Origin EXTERNAL_KEY_STORE) name their external key: the
-- XksKeyId the store's proxy knows it by.
ALTER TABLE keys ADD COLUMN xks_key_id TEXT NOT NULL DEFAULT '';
