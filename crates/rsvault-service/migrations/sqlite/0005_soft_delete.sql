ALTER TABLE protected_items ADD COLUMN deferred_delete TEXT;
