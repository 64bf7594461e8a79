CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        vault INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        job_id TEXT NOT NULL UNIQUE,
        operation TEXT NOT NULL,
        status TEXT NOT NULL,
        entity TEXT NOT NULL,
        container TEXT NOT NULL,
        start_time TEXT NOT NULL,
        end_time TEXT,
        user_triggered INTEGER NOT NULL,
        tasks TEXT NOT NULL,
        progress REAL NOT NULL,
        bag TEXT NOT NULL,
        errors TEXT NOT NULL
    );
    CREATE TABLE recovery_points (
        id INTEGER PRIMARY KEY,
        item INTEGER NOT NULL REFERENCES protected_items(id),
        name TEXT NOT NULL UNIQUE,
        time TEXT NOT NULL,
        consistency TEXT NOT NULL,
        expiry TEXT,
        disks TEXT NOT NULL
    );
