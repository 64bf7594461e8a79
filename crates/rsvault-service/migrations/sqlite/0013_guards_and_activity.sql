-- Multi-user authorization: resource guards (Microsoft.DataProtection/
-- resourceGuards, ids stored lower-case), the one guard a vault may be
-- linked to (its `VaultProxy`), and the unlocks `unlockDelete` grants for a
-- guarded delete (one per resource, until it expires or is used).
CREATE TABLE resource_guards (
    id TEXT PRIMARY KEY,
    subscription TEXT NOT NULL,
    resource_group TEXT NOT NULL,
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    tags TEXT NOT NULL,
    description TEXT,
    exclusions TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE guard_proxies (
    vault INTEGER PRIMARY KEY REFERENCES vaults(id) ON DELETE CASCADE,
    guard TEXT NOT NULL REFERENCES resource_guards(id),
    description TEXT,
    updated TEXT NOT NULL
);
CREATE TABLE guard_unlocks (
    vault INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    resource TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (vault, resource)
);
-- The activity log: one row per write made through the API, with its
-- caller, operation, scope, outcome and client address. Append-only: the
-- triggers refuse every change and deletion of a row.
CREATE TABLE activity_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    at_ms INTEGER NOT NULL,
    at TEXT NOT NULL,
    subscription TEXT NOT NULL,
    resource_group TEXT,
    resource_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    caller TEXT NOT NULL,
    caller_oid TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    message TEXT
);
CREATE INDEX activity_log_by_time ON activity_log (subscription, at_ms);
CREATE TRIGGER activity_log_no_update BEFORE UPDATE ON activity_log
BEGIN
    SELECT RAISE(ABORT, 'the activity log is append-only');
END;
CREATE TRIGGER activity_log_no_delete BEFORE DELETE ON activity_log
BEGIN
    SELECT RAISE(ABORT, 'the activity log is append-only');
END;
