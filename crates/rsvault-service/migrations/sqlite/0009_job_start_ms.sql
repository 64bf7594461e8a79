-- Jobs are listed newest first and filtered by start time in the query:
-- the start time as milliseconds since the epoch (the text column's
-- fractional seconds make its order differ from time order), indexed with
-- the row id for keyset paging. Existing rows are filled from start_time.
ALTER TABLE jobs ADD COLUMN start_ms INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET start_ms = CAST(round((julianday(start_time) - 2440587.5) * 86400000.0) AS INTEGER)
    WHERE julianday(start_time) IS NOT NULL;
CREATE INDEX jobs_by_vault_start ON jobs (vault, start_ms, id);
CREATE INDEX protected_items_by_vault ON protected_items (vault, vm_resource_group, vm_name);
CREATE INDEX recovery_points_by_item ON recovery_points (item, time);
