-- 0008: AWS managed keys (alias/aws/<service>), created by kmsd on first use. KeyManager is
-- CUSTOMER for every key before this migration.
ALTER TABLE keys ADD COLUMN key_manager TEXT NOT NULL DEFAULT 'CUSTOMER';
