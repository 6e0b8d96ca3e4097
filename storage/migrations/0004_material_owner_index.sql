-- 0004: deleting a key cascades to its materials; without this index every cascade scans the
-- whole key_materials table (10,000 due deletions took 45 s instead of under a second).
CREATE INDEX key_materials_by_key ON key_materials (account, region, key_id);
