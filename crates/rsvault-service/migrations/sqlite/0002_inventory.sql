CREATE TABLE disks (
        id INTEGER PRIMARY KEY,
        subscription TEXT NOT NULL,
        resource_group TEXT NOT NULL,
        name TEXT NOT NULL,
        location TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (subscription COLLATE NOCASE, resource_group COLLATE NOCASE, name COLLATE NOCASE)
    );
    CREATE TABLE vms (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        subscription TEXT NOT NULL,
        resource_group TEXT NOT NULL,
        name TEXT NOT NULL,
        location TEXT NOT NULL,
        vm_id TEXT NOT NULL,
        power_state TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (provider COLLATE NOCASE, subscription COLLATE NOCASE, resource_group COLLATE NOCASE, name COLLATE NOCASE)
    );
