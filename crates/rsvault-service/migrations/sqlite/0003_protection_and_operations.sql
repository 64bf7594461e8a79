CREATE TABLE protected_items (
        id INTEGER PRIMARY KEY,
        vault INTEGER NOT NULL REFERENCES vaults(id),
        provider TEXT NOT NULL,
        vm_subscription TEXT NOT NULL,
        vm_resource_group TEXT NOT NULL,
        vm_name TEXT NOT NULL,
        policy TEXT NOT NULL,
        state TEXT NOT NULL,
        data_id TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (provider, vm_subscription COLLATE NOCASE, vm_resource_group COLLATE NOCASE, vm_name COLLATE NOCASE)
    );
    CREATE TABLE operations (
        id INTEGER PRIMARY KEY,
        vault INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        op_id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        start_time TEXT NOT NULL,
        end_time TEXT,
        error_code TEXT,
        error_message TEXT,
        job_id TEXT
    );
