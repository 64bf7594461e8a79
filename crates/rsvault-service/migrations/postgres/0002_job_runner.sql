-- The job runner's state in each job's row, where every server sees it:
-- when a worker took the job up (NULL while it waits in the queue) and when
-- its cancellation was asked for (NULL if never). Jobs recorded before
-- either existed had started when they were recorded.
ALTER TABLE jobs ADD COLUMN run_start_time TEXT COLLATE "C";
ALTER TABLE jobs ADD COLUMN cancel_requested_at TEXT COLLATE "C";
UPDATE jobs SET run_start_time = start_time;
