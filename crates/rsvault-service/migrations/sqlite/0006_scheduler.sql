ALTER TABLE protected_items ADD COLUMN sched_after TEXT;
