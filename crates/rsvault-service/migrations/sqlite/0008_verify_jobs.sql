ALTER TABLE vaults ADD COLUMN verify_schedule TEXT;
     ALTER TABLE vaults ADD COLUMN verify_after TEXT;
     ALTER TABLE recovery_points ADD COLUMN damage TEXT;
     ALTER TABLE recovery_points ADD COLUMN verified TEXT;
     ALTER TABLE jobs ADD COLUMN extra TEXT;
