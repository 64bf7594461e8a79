-- Geo-redundant storage: a vault's secondary store (in its paired region)
-- and that region, the last time replication brought the secondary up to
-- the primary and the error of the last attempt that failed (NULL after a
-- success); and for each recovery point, when all of its disks were on the
-- secondary (NULL: not yet, or the vault is not geo-redundant).
ALTER TABLE vaults ADD COLUMN secondary_store TEXT;
ALTER TABLE vaults ADD COLUMN secondary_region TEXT;
ALTER TABLE vaults ADD COLUMN replicated_at TEXT;
ALTER TABLE vaults ADD COLUMN replication_error TEXT;
ALTER TABLE recovery_points ADD COLUMN replicated TEXT;
