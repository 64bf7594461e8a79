CREATE TABLE vaults (
        id INTEGER PRIMARY KEY,
        subscription TEXT NOT NULL,
        resource_group TEXT NOT NULL,
        name TEXT NOT NULL,
        location TEXT NOT NULL,
        sku TEXT NOT NULL,
        tags TEXT NOT NULL,
        properties TEXT NOT NULL,
        redundancy TEXT NOT NULL,
        cross_region_restore TEXT NOT NULL,
        store TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (subscription COLLATE NOCASE, resource_group COLLATE NOCASE, name COLLATE NOCASE)
    );
    CREATE TABLE policies (
        id INTEGER PRIMARY KEY,
        vault INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        properties TEXT NOT NULL,
        UNIQUE (vault, name COLLATE NOCASE)
    );
