ALTER TABLE recovery_points ADD COLUMN instant_until TEXT;
     ALTER TABLE protected_items ADD COLUMN health TEXT;
