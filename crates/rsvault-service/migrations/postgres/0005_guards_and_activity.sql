-- Multi-user authorization: resource guards (Microsoft.DataProtection/
-- resourceGuards, ids stored lower-case), the one guard a vault may be
-- linked to (its `VaultProxy`), and the unlocks `unlockDelete` grants for a
-- guarded delete (one per resource, until it expires or is used).
CREATE TABLE resource_guards (
    id TEXT COLLATE "C" PRIMARY KEY,
    subscription TEXT COLLATE "C" NOT NULL,
    resource_group TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    location TEXT COLLATE "C" NOT NULL,
    tags TEXT NOT NULL,
    description TEXT,
    exclusions TEXT NOT NULL,
    created TEXT COLLATE "C" NOT NULL,
    updated TEXT COLLATE "C" NOT NULL
);
CREATE TABLE guard_proxies (
    vault BIGINT PRIMARY KEY REFERENCES vaults(id) ON DELETE CASCADE,
    guard TEXT COLLATE "C" NOT NULL REFERENCES resource_guards(id),
    description TEXT,
    updated TEXT COLLATE "C" NOT NULL
);
CREATE TABLE guard_unlocks (
    vault BIGINT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    resource TEXT COLLATE "C" NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (vault, resource)
);
-- The activity log: one row per write made through the API, with its
-- caller, operation, scope, outcome and client address. Append-only: the
-- trigger refuses every change and deletion of a row.
CREATE TABLE activity_log (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    at_ms BIGINT NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    subscription TEXT COLLATE "C" NOT NULL,
    resource_group TEXT COLLATE "C",
    resource_id TEXT COLLATE "C" NOT NULL,
    operation TEXT COLLATE "C" NOT NULL,
    method TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    http_status INTEGER NOT NULL,
    caller TEXT COLLATE "C" NOT NULL,
    caller_oid TEXT COLLATE "C" NOT NULL,
    client_ip TEXT COLLATE "C" NOT NULL,
    correlation_id TEXT COLLATE "C" NOT NULL,
    message TEXT
);
CREATE INDEX activity_log_by_time ON activity_log (subscription, at_ms);
CREATE FUNCTION activity_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the activity log is append-only';
END;
$$;
CREATE TRIGGER activity_log_append_only BEFORE UPDATE OR DELETE ON activity_log
    FOR EACH ROW EXECUTE FUNCTION activity_log_append_only();
