-- Hypervisor hosts running the rsvault agent (Microsoft.HybridCompute/
-- machines, ids stored lower-case), and the one-time enrolment tokens that
-- make them (by the SHA-256 of the secret; the secret is never kept).
CREATE TABLE agent_hosts (
    id TEXT PRIMARY KEY,
    subscription TEXT NOT NULL,
    resource_group TEXT NOT NULL,
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    principal TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    enrolled TEXT NOT NULL,
    last_contact_ms INTEGER,
    last_error TEXT
);
CREATE TABLE enroll_tokens (
    hash TEXT PRIMARY KEY,
    subscription TEXT NOT NULL,
    resource_group TEXT NOT NULL,
    location TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
